//! Tests for header parsing: realistic header sets per dialect → expected `Signal`.

use super::*;
use proptest::prelude::*;

const NOW_SECS: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn parse(headers: &[(&str, &str)]) -> Signal {
    parse_signal(headers.iter().copied(), now())
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn provider_note_429_with_go_duration_reset() {
    let s = parse(&[
        ("ratelimit-limit", "2"),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", "5m0s"),
        ("ratelimit-policy", "2;w=300"),
    ]);
    let expected = Signal {
        limit: Some(2),
        window: secs(300),
        remaining: Some(0),
        reset: secs(300),
        reset_slack: Duration::ZERO,
        retry_after: None,
    };
    assert_eq!(s, expected);
    assert_eq!(s.wait(), secs(300));
}

#[test]
fn provider_note_spacing_and_fractional_reset() {
    let s = parse(&[
        ("ratelimit-limit", "2"),
        ("ratelimit-remaining", "1"),
        ("ratelimit-reset", "4m59.2s"),
        ("ratelimit-policy", "2;w= 300"),
    ]);
    assert_eq!(
        (s.limit, s.window, s.remaining),
        (Some(2), secs(300), Some(1))
    );
    assert_eq!(
        s.reset,
        Some(Duration::from_millis(299_200)),
        "4m59.2s kept as written: the pacer adds its margin"
    );
}

#[test]
fn retry_after_wins_over_every_reset() {
    let s = parse(&[
        ("ratelimit-limit", "2"),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", "5m0s"),
        ("ratelimit-policy", "2;w=300"),
        ("x-ratelimit-reset", "600"),
        ("Retry-After", "290"),
    ]);
    assert_eq!(s.reset, secs(300));
    assert_eq!(s.wait(), secs(290));
}

#[test]
fn retry_after_http_date_is_measured_from_the_date_header() {
    // The server's clock is 100 s behind ours; its Date header keeps the wait honest.
    let s = parse(&[
        ("Date", "Tue, 14 Nov 2023 22:11:40 GMT"),
        ("Retry-After", "Tue, 14 Nov 2023 22:12:40 GMT"),
    ]);
    assert_eq!(s.retry_after, secs(60));
    let no_date = parse(&[("Retry-After", "Tue, 14 Nov 2023 22:14:00 GMT")]);
    assert_eq!(no_date.retry_after, secs(40));
    let past = parse(&[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]);
    assert_eq!(past.retry_after, secs(0));
}

#[test]
fn draft06_separate_fields_with_policy_list() {
    let s = parse(&[
        ("RateLimit-Limit", "10"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "48"),
        ("RateLimit-Policy", "10;w=1, 50;w=60"),
    ]);
    let expected = Signal {
        limit: Some(10),
        window: secs(1),
        remaining: Some(0),
        reset: secs(48),
        reset_slack: Duration::from_secs(1),
        retry_after: None,
    };
    assert_eq!(
        s, expected,
        "the policy matching the limit gives the window"
    );
    assert_eq!(s.wait(), secs(48));
}

#[test]
fn draft06_policy_alone_takes_the_most_restrictive() {
    let s = parse(&[("RateLimit-Policy", "10;w=1, 50;w=60;comment=\"hourly\"")]);
    assert_eq!((s.limit, s.window), (Some(50), secs(60)));
    // A limit with no matching policy keeps the limit and claims no window.
    let s = parse(&[("RateLimit-Limit", "7"), ("RateLimit-Policy", "10;w=1")]);
    assert_eq!((s.limit, s.window), (Some(7), None));
}

#[test]
fn early_draft_limit_with_appended_policies() {
    let s = parse(&[("RateLimit-Limit", "10, 10;w=1, 50;w=60")]);
    assert_eq!(s.limit, Some(10));
}

#[test]
fn draft07_dictionary() {
    let s = parse(&[
        ("RateLimit", "limit=100, remaining=50, reset=5"),
        ("RateLimit-Policy", "100;w=10"),
    ]);
    let expected = Signal {
        limit: Some(100),
        window: secs(10),
        remaining: Some(50),
        reset: secs(5),
        reset_slack: Duration::from_secs(1),
        retry_after: None,
    };
    assert_eq!(s, expected);
}

#[test]
fn draft10_named_policies_match_by_name() {
    let s = parse(&[
        (
            "RateLimit-Policy",
            "\"burst\";q=100;w=60,\"daily\";q=1000;w=86400",
        ),
        ("RateLimit", "\"burst\";r=0;t=30"),
    ]);
    let expected = Signal {
        limit: Some(100),
        window: secs(60),
        remaining: Some(0),
        reset: secs(30),
        reset_slack: Duration::from_secs(1),
        retry_after: None,
    };
    assert_eq!(s, expected);
}

#[test]
fn draft10_uses_the_most_restrictive_item_and_split_lines() {
    let s = parse(&[
        ("RateLimit-Policy", "\"burst\";q=100;w=60"),
        ("ratelimit-policy", "\"daily\";q=1000;w=86400"),
        ("RateLimit", "\"burst\";r=40;t=30, \"daily\";r=0;t=3600"),
    ]);
    assert_eq!(
        (s.limit, s.window, s.remaining, s.reset),
        (Some(1000), secs(86400), Some(0), secs(3600))
    );
    assert_eq!(s.wait(), Some(MAX_WAIT), "waits are capped at 15 minutes");
}

#[test]
fn draft10_ignores_partition_keys_and_byte_quotas() {
    let s = parse(&[
        ("RateLimit-Policy", "\"bytes\";q=65536;qu=\"content-bytes\";w=10, \"default\";q=1000;w=3600;pk=:cHsdsRa894==:"),
        ("RateLimit", "\"default\";r=999;pk=:dHJpYWwxMjEzMjM=:"),
    ]);
    let expected = Signal {
        limit: Some(1000),
        window: secs(3600),
        remaining: Some(999),
        reset: None,
        reset_slack: Duration::ZERO,
        retry_after: None,
    };
    assert_eq!(s, expected);
}

#[test]
fn x_ratelimit_epoch_seconds_github_style() {
    let s = parse(&[
        ("X-RateLimit-Limit", "60"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1700000030"),
        ("X-RateLimit-Used", "60"),
    ]);
    let expected = Signal {
        limit: Some(60),
        window: None,
        remaining: Some(0),
        reset: secs(30),
        reset_slack: Duration::from_secs(1),
        retry_after: None,
    };
    assert_eq!(s, expected);
}

#[test]
fn absolute_resets_measured_from_date_may_be_read_two_seconds_late() {
    // The server rounds both its clock (`Date`) and the reset to whole seconds: the reset is
    // 3 s away as written, but may really be just over 1 s away.
    let s = parse(&[
        ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "1700000003"),
    ]);
    assert_eq!((s.reset, s.reset_slack), (secs(3), Duration::from_secs(2)));
    assert_eq!(
        s.wait(),
        secs(3),
        "a 429 still waits for the reset as written"
    );
    let standard = parse(&[
        ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("RateLimit", "limit=4, remaining=0, reset=3"),
        ("X-RateLimit-Reset", "1700000003"),
    ]);
    assert_eq!(
        standard.reset_slack,
        Duration::from_secs(1),
        "relative whole seconds: `3` means (2, 3] s, whatever the Date"
    );
}

#[test]
fn x_rate_limit_spelling_epoch_millis_and_delta() {
    let s = parse(&[
        ("x-rate-limit-limit", "20"),
        ("x-rate-limit-remaining", "3"),
        ("x-rate-limit-reset", "1700000002500"),
    ]);
    assert_eq!(
        (s.limit, s.remaining, s.reset),
        (Some(20), Some(3), Some(Duration::from_millis(2500)))
    );
    assert_eq!(s.reset_slack, Duration::from_millis(1));
    let delta = parse(&[("X-RateLimit-Reset", "17")]);
    assert_eq!(delta.reset, secs(17));
    let go = parse(&[("X-RateLimit-Reset", "1m30s")]);
    assert_eq!(go.reset, secs(90));
    let date = parse(&[("X-RateLimit-Reset", "2023-11-14T22:14:00Z")]);
    assert_eq!(date.reset, secs(40));
}

#[test]
fn standard_fields_win_over_x_ratelimit() {
    let s = parse(&[
        ("X-RateLimit-Limit", "500"),
        ("X-RateLimit-Reset", "1700000600"),
        ("RateLimit-Limit", "5"),
        ("RateLimit-Reset", "10"),
    ]);
    assert_eq!((s.limit, s.reset), (Some(5), secs(10)));
    assert_eq!(s.wait(), secs(10));
}

#[test]
fn names_are_case_insensitive() {
    let s = parse(&[
        ("RATELIMIT-LIMIT", "2"),
        ("RateLimit-Policy", "2;w=300"),
        ("retry-AFTER", "3"),
    ]);
    assert_eq!(
        (s.limit, s.window, s.retry_after),
        (Some(2), secs(300), secs(3))
    );
}

#[test]
fn malformed_fields_are_discarded() {
    let s = parse(&[
        ("ratelimit-limit", "abc"),
        ("ratelimit-reset", "soon"),
        ("ratelimit-policy", ";;;w="),
        ("RateLimit", "limit=, remaining"),
        ("Retry-After", "tomorrow"),
        ("X-RateLimit-Limit", "0"),
        ("X-RateLimit-Reset", "later"),
        ("Content-Type", "application/json"),
    ]);
    assert!(s.is_empty(), "{s:?}");
    assert_eq!(s.wait(), None);
}

#[test]
fn negative_values_become_zero_and_zero_quotas_are_dropped() {
    let s = parse(&[
        ("ratelimit-limit", "0"),
        ("ratelimit-remaining", "-5"),
        ("ratelimit-reset", "-3"),
        ("ratelimit-policy", "2;w=0, -1;w=10"),
        ("retry-after", "-20"),
    ]);
    let expected = Signal {
        limit: None,
        window: None,
        remaining: Some(0),
        reset: secs(0),
        reset_slack: Duration::from_secs(1),
        retry_after: secs(0),
    };
    assert_eq!(s, expected);
}

#[test]
fn repeated_item_fields_are_malformed() {
    // An Item field sent twice joins to a List, which the drafts say to discard.
    let s = parse(&[("ratelimit-remaining", "3"), ("ratelimit-remaining", "4")]);
    assert_eq!(s.remaining, None);
}

proptest! {
    #[test]
    fn arbitrary_values_never_panic(values in proptest::collection::vec(".{0,40}", 9)) {
        let names = [
            "ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining",
            "ratelimit-reset", "x-ratelimit-reset", "x-ratelimit-limit", "retry-after", "date",
        ];
        let headers: Vec<(&str, &str)> =
            names.iter().zip(values.iter()).map(|(n, v)| (*n, v.as_str())).collect();
        let s = parse(&headers);
        prop_assert!(s.wait().is_none_or(|w| w <= MAX_WAIT));
        prop_assert!(s.limit.is_none_or(|l| l >= 1));
    }
}
