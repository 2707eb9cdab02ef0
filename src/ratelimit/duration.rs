//! Tolerant time values in rate-limit headers: header text → `Duration` (Go durations, epochs, dates).
//!
//! Servers write reset times in many shapes; the standard drafts say integer delta seconds, but
//! the provider writes Go durations (`5m0s`) and `X-RateLimit-Reset` is often an epoch or a date.
//! Everything here returns `None` for text it cannot read, and clamps past times to zero.

use std::time::{Duration, SystemTime};

/// Parses Go's `time.ParseDuration` grammar: `[+-]?(<decimal><unit>)+`, units `ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`; a lone `0` is also valid. Negative durations become zero.
/// The result keeps full precision.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, tail) = parse_go_component(rest)?;
        total = total.checked_add(nanos)?;
        rest = tail;
    }
    if negative {
        return Some(Duration::ZERO);
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    // The remainder is below 10^9, so it always fits in u32.
    let sub = u32::try_from(total % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

/// One `<decimal><unit>` component: returns its length in nanoseconds and the unparsed tail.
fn parse_go_component(text: &str) -> Option<(u128, &str)> {
    let int_len = text.bytes().take_while(u8::is_ascii_digit).count();
    let (int_digits, rest) = text.split_at(int_len);
    let (frac_digits, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            after.split_at(n)
        }
        None => ("", rest),
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let unit_len = rest
        .char_indices()
        .find(|(_, c)| c.is_ascii_digit() || *c == '.')
        .map_or(rest.len(), |(i, _)| i);
    let (unit, tail) = rest.split_at(unit_len);
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    let int: u128 = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().ok()?
    };
    let mut nanos = int.checked_mul(unit_nanos)?;
    // Fractions beyond nanosecond precision cannot matter; 18 digits keep the maths in range.
    let frac = &frac_digits[..frac_digits.len().min(18)];
    if !frac.is_empty() {
        let scale = 10u128.pow(u32::try_from(frac.len()).ok()?);
        let value: u128 = frac.parse().ok()?;
        nanos = nanos.checked_add((value * unit_nanos).div_ceil(scale))?;
    }
    Some((nanos, tail))
}

/// Rounds up to whole seconds, as servers that write whole seconds do (the test server).
#[cfg(test)]
pub fn ceil_secs(d: Duration) -> Duration {
    if d.subsec_nanos() == 0 {
        d
    } else {
        Duration::from_secs(d.as_secs().saturating_add(1))
    }
}

/// Delta seconds written as an integer (possibly negative, which means "now").
pub fn parse_delta_secs(text: &str) -> Option<Duration> {
    let value: i64 = text.trim().parse().ok()?;
    Some(Duration::from_secs(u64::try_from(value).unwrap_or(0)))
}

/// An absolute time as an HTTP-date (IMF-fixdate, RFC 850, asctime) or RFC 3339 timestamp.
pub fn parse_absolute(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(t) = httpdate::parse_http_date(text) {
        return Some(t);
    }
    text.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

/// Time from `reference` until `target`, zero when `target` is already past.
pub fn until(reference: SystemTime, target: SystemTime) -> Duration {
    target.duration_since(reference).unwrap_or(Duration::ZERO)
}

/// A reset read by [`parse_reset_heuristic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// Time from the reference until the reset.
    pub wait: Duration,
    /// For absolute times, the resolution they were written in (1 s for epoch seconds and
    /// dates, 1 ms for epoch milliseconds): the real reset may lie up to this much before or
    /// after the written one, depending on how the server rounded. `None` for relative values.
    pub resolution: Option<Duration>,
}

/// The `X-RateLimit-Reset` heuristic: integer ≥ 10^12 is epoch milliseconds, ≥ 10^9 epoch
/// seconds, a smaller integer delta seconds; then an HTTP-date or RFC 3339 time; then a Go
/// duration (as written, to the nanosecond).
pub fn parse_reset_heuristic(text: &str, reference: SystemTime) -> Option<Reset> {
    let text = text.trim();
    let absolute = |at: SystemTime, resolution| Reset {
        wait: until(reference, at),
        resolution: Some(resolution),
    };
    let relative = |wait| Reset {
        wait,
        resolution: None,
    };
    if let Ok(value) = text.parse::<i64>() {
        let epoch = SystemTime::UNIX_EPOCH;
        return Some(match u64::try_from(value).unwrap_or(0) {
            v if v >= 1_000_000_000_000 => {
                absolute(epoch + Duration::from_millis(v), Duration::from_millis(1))
            }
            v if v >= 1_000_000_000 => {
                absolute(epoch + Duration::from_secs(v), Duration::from_secs(1))
            }
            v => relative(Duration::from_secs(v)),
        });
    }
    if let Some(at) = parse_absolute(text) {
        return Some(absolute(at, Duration::from_secs(1)));
    }
    parse_go_duration(text).map(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(text: &str) -> Option<Duration> {
        parse_go_duration(text)
    }

    #[test]
    fn go_durations_from_the_provider_and_the_go_docs() {
        assert_eq!(go("5m0s"), Some(Duration::from_secs(300)));
        assert_eq!(go("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(go("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(go("0s"), Some(Duration::ZERO));
        assert_eq!(go("0"), Some(Duration::ZERO));
        assert_eq!(go("+2h45m1.5s"), Some(Duration::from_millis(9_901_500)));
        assert_eq!(go("3µs"), Some(Duration::from_micros(3)));
        assert_eq!(go("7us300ns"), Some(Duration::from_nanos(7_300)));
        assert_eq!(go(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(go("-5s"), Some(Duration::ZERO), "negative clamps to zero");
    }

    #[test]
    fn go_durations_reject_what_go_rejects() {
        for bad in [
            "",
            "300",
            "5",
            "s",
            "5x",
            "5m0",
            "1..5s",
            "m5",
            "--5s",
            "5 m",
            "99999999999999999999999h",
        ] {
            assert_eq!(go(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fractional_seconds_round_up() {
        assert_eq!(
            ceil_secs(Duration::from_millis(1500)),
            Duration::from_secs(2)
        );
        assert_eq!(
            ceil_secs(Duration::from_millis(250)),
            Duration::from_secs(1)
        );
        assert_eq!(
            ceil_secs(Duration::from_secs(300)),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn reset_heuristic_reads_epochs_deltas_dates_and_go_durations() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = |t: &str| parse_reset_heuristic(t, now).map(|r| r.wait);
        assert_eq!(h("1700000030"), Some(Duration::from_secs(30)));
        assert_eq!(h("1700000001500"), Some(Duration::from_millis(1500)));
        assert_eq!(h("42"), Some(Duration::from_secs(42)));
        assert_eq!(h("1699999990"), Some(Duration::ZERO), "past epoch clamps");
        assert_eq!(h("-3"), Some(Duration::ZERO));
        assert_eq!(
            h("Tue, 14 Nov 2023 22:14:20 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(h("2023-11-14T22:15:20Z"), Some(Duration::from_secs(120)));
        assert_eq!(
            h("1m0.2s"),
            Some(Duration::from_millis(60_200)),
            "kept as written"
        );
        assert_eq!(h("soon"), None);
    }

    #[test]
    fn absolute_resets_carry_their_resolution() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let r = |t: &str| parse_reset_heuristic(t, now).and_then(|r| r.resolution);
        assert_eq!(r("1700000030"), Some(Duration::from_secs(1)));
        assert_eq!(r("1700000001500"), Some(Duration::from_millis(1)));
        assert_eq!(
            r("Tue, 14 Nov 2023 22:14:20 GMT"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(r("42"), None, "delta seconds are relative");
        assert_eq!(r("1m0.2s"), None);
    }
}
