//! Rate-limit response headers: (dialect, policy, limiter decision, now) → header fields on the answer.
//!
//! Integer resets are rounded up so that a client that obeys them never comes back early.
//! Field names go out lower-case (HTTP/1 via hyper), exactly as in the provider note; names are
//! case-insensitive, so `RateLimit-Limit` readers see the same field.

use std::fmt::Write as _;
use std::time::Duration;

use axum::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::config::HeaderDialect;
use super::limiter::Decision;
use crate::ratelimit::Rate;

/// Adds the dialect's fields, and `Retry-After` when the request was rejected for quota.
pub(crate) fn apply(
    out: &mut HeaderMap,
    dialect: HeaderDialect,
    rate: Rate,
    d: &Decision,
    now_epoch: Duration,
    rejected: bool,
) {
    for (name, value) in fields(dialect, rate, d, now_epoch) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(HeaderName::from_static(name), value);
        }
    }
    if rejected && dialect != HeaderDialect::None {
        out.insert(RETRY_AFTER, HeaderValue::from(ceil_secs(d.reset).max(1)));
    }
}

/// The dialect's (lower-case name, value) pairs.
fn fields(
    dialect: HeaderDialect,
    rate: Rate,
    d: &Decision,
    now: Duration,
) -> Vec<(&'static str, String)> {
    let (limit, remaining, reset) = (d.limit, d.remaining, ceil_secs(d.reset));
    let w = ceil_secs(rate.window).max(1);
    let policy = format!("{limit};w={w}");
    match dialect {
        HeaderDialect::Note => vec![
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", go_duration(ceil_ms(d.reset))),
            ("ratelimit-policy", policy),
        ],
        HeaderDialect::Draft6 => vec![
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", reset.to_string()),
            ("ratelimit-policy", policy),
        ],
        HeaderDialect::Draft7 => vec![
            (
                "ratelimit",
                format!("limit={limit}, remaining={remaining}, reset={reset}"),
            ),
            ("ratelimit-policy", policy),
        ],
        HeaderDialect::Draft10 => vec![
            ("ratelimit-policy", format!("\"default\";q={limit};w={w}")),
            ("ratelimit", format!("\"default\";r={remaining};t={reset}")),
        ],
        HeaderDialect::XRateLimit => vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", ceil_secs(now + d.reset).to_string()),
        ],
        HeaderDialect::None => Vec::new(),
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Rounds up to whole milliseconds, which keeps Go durations short and ASCII (no `µs`).
fn ceil_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Formats like Go's `time.Duration.String()`: `5m0s`, `4m59.5s`, `1h0m0s`, `250ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => return "0s".to_string(),
        1..=999 => return format!("{ns}ns"),
        1_000..=999_999 => return format!("{}µs", decimal(ns, 3)),
        1_000_000..=999_999_999 => return format!("{}ms", decimal(ns, 6)),
        _ => {}
    }
    let secs = ns / 1_000_000_000;
    let (hours, minutes) = (secs / 3600, secs / 60 % 60);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if secs >= 60 {
        let _ = write!(out, "{minutes}m");
    }
    let in_minute = (secs % 60) * 1_000_000_000 + ns % 1_000_000_000;
    let _ = write!(out, "{}s", decimal(in_minute, 9));
    out
}

/// `v / 10^digits` as a decimal without trailing zeros (Go's fmtFrac + fmtInt).
fn decimal(v: u128, digits: u32) -> String {
    let unit = 10u128.pow(digits);
    let (whole, frac) = (v / unit, v % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_matches_go_formatting() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_100), "1.1µs"),
            (Duration::from_micros(2_200), "2.2ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_millis(3_300), "3.3s"),
            (Duration::from_secs(245), "4m5s"),
            (Duration::from_millis(245_001), "4m5.001s"),
            (Duration::from_secs(299), "4m59s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(18_367_001), "5h6m7.001s"),
            (Duration::new(480, 1), "8m0.000000001s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    fn decision(remaining: u32, reset_ms: u64) -> Decision {
        Decision {
            allowed: remaining > 0,
            limit: 2,
            remaining,
            reset: Duration::from_millis(reset_ms),
        }
    }

    fn rendered(dialect: HeaderDialect, d: &Decision, rejected: bool) -> Vec<(String, String)> {
        let mut map = HeaderMap::new();
        let now = Duration::from_secs(1_700_000_000);
        apply(
            &mut map,
            dialect,
            "2/300s".parse().unwrap(),
            d,
            now,
            rejected,
        );
        let mut v: Vec<_> = map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        v.sort();
        v
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = list
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn note_dialect_matches_the_provider_note() {
        let got = rendered(HeaderDialect::Note, &decision(1, 300_000), false);
        let want = [
            ("ratelimit-limit", "2"),
            ("ratelimit-remaining", "1"),
            ("ratelimit-reset", "5m0s"),
            ("ratelimit-policy", "2;w=300"),
        ];
        assert_eq!(got, pairs(&want));
    }

    #[test]
    fn rejection_adds_rounded_up_retry_after() {
        let got = rendered(HeaderDialect::Draft7, &decision(0, 297_500), true);
        let want = [
            ("ratelimit", "limit=2, remaining=0, reset=298"),
            ("ratelimit-policy", "2;w=300"),
            ("retry-after", "298"),
        ];
        assert_eq!(got, pairs(&want));
    }

    #[test]
    fn x_ratelimit_reset_is_epoch_seconds_and_none_sends_nothing() {
        let got = rendered(HeaderDialect::XRateLimit, &decision(0, 1_500), false);
        assert!(
            got.contains(&("x-ratelimit-reset".into(), "1700000002".into())),
            "{got:?}"
        );
        assert!(rendered(HeaderDialect::None, &decision(0, 1_500), true).is_empty());
    }
}
