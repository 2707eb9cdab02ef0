//! `last_inbound_at` values: RFC 3339 with any offset, or relative to now (`-3h`, `3h ago`) so
//! example and test files never go stale.

use jiff::{SignedDuration, Timestamp};

/// Parse an inbound time against `now`.
pub fn parse_inbound(input: &str, now: Timestamp) -> Result<Timestamp, String> {
    let s = input.trim();
    let relative = s
        .strip_prefix('-')
        .or_else(|| s.strip_suffix("ago"))
        .map(str::trim);
    if let Some(rel) = relative {
        let d = humantime::parse_duration(rel).map_err(|_| {
            format!("`{input}` is not a relative time; write e.g. `-3h`, `3h ago` or `90m ago`")
        })?;
        let d =
            SignedDuration::try_from(d).map_err(|_| format!("`{input}` is too far in the past"))?;
        return now
            .checked_sub(d)
            .map_err(|_| format!("`{input}` is too far in the past"));
    }
    s.parse::<Timestamp>().map_err(|_| {
        format!("`{input}` is not a time; write RFC 3339 such as `2026-11-23T09:30:00-05:00`, or relative such as `-3h` or `3h ago`")
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
    fn rejects_with_examples() {
        let now = Timestamp::UNIX_EPOCH;
        assert!(parse_inbound("yesterday", now)
            .unwrap_err()
            .contains("RFC 3339"));
        assert!(parse_inbound("-3 parsecs", now)
            .unwrap_err()
            .contains("relative"));
    }
}
