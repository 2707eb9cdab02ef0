//! `last_inbound_at` values, for campaigns and the sandbox alike: RFC 3339 with any offset, Unix
//! seconds as webhooks carry them (`1764300000`), or relative to now (`-3h`, `1h 0m ago`) so
//! example and test files never go stale.

use jiff::{SignedDuration, Timestamp};

/// Why text is not an inbound time; each gives examples of what is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("`{0}` is not a relative time; write e.g. `-3h`, `3h ago` or `90m ago`")]
    NotRelative(String),
    #[error("`{0}` is too far in the past")]
    TooFarBack(String),
    #[error("`{0}` is not Unix time in seconds (milliseconds? divide by 1000); write e.g. `1764300000` or RFC 3339 such as `2026-11-23T09:30:00-05:00`")]
    NotUnixSeconds(String),
    /// A wall-clock time alone could be any of 26 hours: the zone is never guessed. `fixed` is
    /// the time as RFC 3339 wants it, without its offset.
    #[error(
        "`{input}` has no time zone offset; add it, e.g. `{fixed}Z` for UTC or `{fixed}-05:00`"
    )]
    NoOffset { input: String, fixed: String },
    #[error("`{0}` is not a time; write RFC 3339 such as `2026-11-23T09:30:00-05:00`, Unix seconds such as `1764300000`, or relative such as `-3h` or `3h ago`")]
    NotATime(String),
}

/// Parse an inbound time against `now`.
pub fn parse_inbound(input: &str, now: Timestamp) -> Result<Timestamp, InboundError> {
    let s = input.trim();
    let relative = s
        .strip_prefix('-')
        .or_else(|| s.strip_suffix("ago"))
        .map(str::trim);
    if let Some(rel) = relative {
        let too_far = || InboundError::TooFarBack(input.into());
        let d =
            humantime::parse_duration(rel).map_err(|_| InboundError::NotRelative(input.into()))?;
        let d = SignedDuration::try_from(d).map_err(|_| too_far())?;
        return now.checked_sub(d).map_err(|_| too_far());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // Unix seconds have 10 digits until 2286; 13 digits are milliseconds.
        return s
            .parse::<i64>()
            .ok()
            .filter(|_| s.len() <= 11)
            .and_then(|secs| Timestamp::from_second(secs).ok())
            .ok_or_else(|| InboundError::NotUnixSeconds(input.into()));
    }
    s.parse::<Timestamp>().map_err(|_| {
        if s.parse::<jiff::civil::DateTime>().is_ok() {
            InboundError::NoOffset {
                input: input.into(),
                fixed: s.replace(' ', "T"),
            }
        } else {
            InboundError::NotATime(input.into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_absolute_and_relative_forms() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_inbound("2026-11-23T09:30:00-05:00", now)
                .unwrap()
                .to_string(),
            "2026-11-23T14:30:00Z"
        );
        assert_eq!(
            parse_inbound("-3h", now).unwrap().to_string(),
            "2026-11-23T09:00:00Z"
        );
        assert_eq!(
            parse_inbound("3h ago", now).unwrap().to_string(),
            "2026-11-23T09:00:00Z"
        );
        assert_eq!(
            parse_inbound("90m ago", now).unwrap().to_string(),
            "2026-11-23T10:30:00Z"
        );
    }

    #[test]
    fn accepts_unix_seconds_and_the_sandbox_demo_form() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_inbound("1764300000", now).unwrap().to_string(),
            "2025-11-28T03:20:00Z"
        );
        assert_eq!(
            parse_inbound("1h 0m ago", now).unwrap().to_string(),
            "2026-11-23T11:00:00Z"
        );
        let e = parse_inbound("1764300000000", now).unwrap_err().to_string();
        assert!(e.contains("milliseconds"), "{e}");
    }

    #[test]
    fn a_time_without_offset_says_to_add_it() {
        let e = parse_inbound("2026-11-28 12:00:00", Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`2026-11-28 12:00:00` has no time zone offset; add it, e.g. `2026-11-28T12:00:00Z` for UTC or `2026-11-28T12:00:00-05:00`"
        );
    }

    #[test]
    fn rejects_with_examples() {
        let now = Timestamp::UNIX_EPOCH;
        assert!(matches!(
            parse_inbound("yesterday", now),
            Err(InboundError::NotATime(_))
        ));
        assert!(matches!(
            parse_inbound("-3 parsecs", now),
            Err(InboundError::NotRelative(_))
        ));
    }
}
