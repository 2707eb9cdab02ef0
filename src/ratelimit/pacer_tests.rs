//! Tests for the pacer on a virtual clock: schedules, tightening, backoff, persistence.
//!
//! The pacer takes every instant as an argument, so the tests step a virtual clock exactly
//! (`now = pacer.next_at(now)`) instead of sleeping; runs covering minutes take microseconds.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::*;
use crate::ratelimit::PacerState;

pub(super) fn rate(s: &str) -> Rate {
    s.parse().expect("test rate")
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends `n` requests as fast as the pacer allows, without a server.
pub(super) fn schedule(pacer: &mut Pacer, start: Instant, n: usize) -> Vec<Instant> {
    let mut now = start;
    (0..n)
        .map(|_| {
            now = pacer.next_at(now);
            pacer.record_send(now);
            now
        })
        .collect()
}

/// Asserts that no interval of length `span` holds more than `limit` sends.
pub(super) fn assert_at_most(sends: &[Instant], limit: usize, span: Duration) {
    for (i, w) in sends.windows(limit + 1).enumerate() {
        assert!(
            w[limit] - w[0] >= span,
            "sends {i}..={} lie within {span:?}",
            i + limit
        );
    }
}

#[test]
fn margin_rule_and_mode_rule() {
    assert_eq!(default_margin(rate("2/300s")), Duration::from_secs(1));
    assert_eq!(default_margin(rate("4/5s")), ms(20));
    assert_eq!(default_margin(rate("4/2s")), ms(20));
    assert_eq!(default_margin(rate("80/1s")), ms(20));
    assert_eq!(default_margin(rate("1000/1s")), ms(20));
    let mode = |r: &str| Pacer::new(rate(r), Duration::ZERO).mode();
    assert_eq!(mode("2/300s"), Mode::Window);
    assert_eq!(mode("4/2s"), Mode::Window);
    assert_eq!(mode("80/1s"), Mode::Even);
    assert_eq!(mode("5/250ms"), Mode::Even);
}

#[test]
fn window_mode_sends_bursts_of_l_every_window_plus_margin() {
    let r = rate("4/2s");
    let margin = default_margin(r);
    let mut pacer = Pacer::new(r, margin);
    assert_eq!(pacer.mode(), Mode::Window);
    let start = Instant::now();
    let sends = schedule(&mut pacer, start, 40);
    assert_eq!(*sends.last().unwrap() - sends[0], (r.window + margin) * 9);
    assert!(
        sends[..4].iter().all(|s| *s == start),
        "the first four go back to back"
    );
    assert_at_most(&sends, 4, r.window + margin);
}

#[test]
fn window_mode_provider_rate_fits_576_a_day() {
    let mut pacer = Pacer::new(rate("2/300s"), Duration::ZERO);
    let sends = schedule(&mut pacer, Instant::now(), 576);
    assert_eq!(
        *sends.last().unwrap() - sends[0],
        Duration::from_secs(287 * 300)
    );
}

#[test]
fn even_mode_spaces_sends_evenly() {
    let r = rate("80/1s");
    let mut pacer = Pacer::new(r, default_margin(r));
    let sends = schedule(&mut pacer, Instant::now(), 240);
    let interval = (r.window + default_margin(r)) / 80; // 1020 ms / 80
    assert!(sends.windows(2).all(|w| w[1] - w[0] == interval));
    assert_at_most(&sends, 80, r.window);
}

#[test]
fn policies_tighten_but_never_loosen() {
    let now = Instant::now();
    let mut pacer = Pacer::new(rate("2/300s"), Duration::from_secs(1));
    let looser = [(10, 300), (5, 10), (2, 100)];
    for (limit, w) in looser {
        let signal = Signal {
            limit: Some(limit),
            window: Some(Duration::from_secs(w)),
            ..Signal::default()
        };
        pacer.observe(now, &signal, false);
    }
    assert_eq!(pacer.effective_rate(), rate("2/300s"));
    // 1 per 60 s is not implied by 2 per 300 s (two could go back to back): add it.
    let extra = Signal {
        limit: Some(1),
        window: Some(Duration::from_secs(60)),
        ..Signal::default()
    };
    pacer.observe(now, &extra, false);
    pacer.record_send(now);
    assert_eq!(pacer.next_at(now), now + Duration::from_secs(61));
    assert_eq!(
        pacer.effective_rate(),
        rate("2/300s"),
        "still the slowest sustained rate"
    );
    // A bare limit applies to the declared window.
    pacer.observe(
        now,
        &Signal {
            limit: Some(1),
            ..Signal::default()
        },
        false,
    );
    assert_eq!(pacer.effective_rate(), rate("1/300s"));
}

#[test]
fn exhausted_quota_and_retry_after_block_until_reset_plus_margin() {
    let now = Instant::now();
    let margin = Duration::from_secs(1);
    let mut pacer = Pacer::new(rate("2/300s"), margin);
    let spent = Signal {
        remaining: Some(0),
        reset: Some(Duration::from_secs(120)),
        ..Signal::default()
    };
    pacer.observe(now, &spent, false);
    assert_eq!(pacer.next_at(now), now + Duration::from_secs(121));
    let mut pacer = Pacer::new(rate("2/300s"), margin);
    let throttled = Signal {
        reset: Some(Duration::from_secs(300)),
        retry_after: Some(Duration::from_secs(30)),
        ..Signal::default()
    };
    pacer.observe(now, &throttled, true);
    assert_eq!(
        pacer.next_at(now),
        now + Duration::from_secs(31),
        "Retry-After wins"
    );
    let mut pacer = Pacer::new(rate("2/300s"), margin);
    let huge = Signal {
        retry_after: Some(Duration::from_secs(86_400)),
        ..Signal::default()
    };
    pacer.observe(now, &huge, true);
    assert_eq!(
        pacer.next_at(now),
        now + MAX_WAIT + margin,
        "waits are capped"
    );
}

#[test]
fn coarse_resets_are_read_at_their_earliest_but_429s_wait_as_written() {
    let now = Instant::now();
    let r = rate("4/2s");
    let mut pacer = Pacer::new(r, ms(100));
    for _ in 0..4 {
        pacer.record_send(now);
    }
    // Window ends 2 s after `now`; the server wrote it as 3 s, up to 2 s late.
    let spent = Signal {
        remaining: Some(0),
        reset: Some(ms(3_000)),
        reset_slack: ms(2_000),
        ..Signal::default()
    };
    pacer.observe(now + ms(5), &spent, false);
    assert_eq!(
        pacer.next_at(now),
        now + ms(2_100),
        "the window log decides"
    );
    pacer.observe(now + ms(5), &spent, true);
    assert_eq!(
        pacer.next_at(now),
        now + ms(3_105),
        "a 429 waits the full reset"
    );
}

#[test]
fn backoff_without_headers_doubles_with_jitter_and_resets() {
    let now = Instant::now();
    let r = rate("4/2s");
    let mut pacer = Pacer::new(r, ms(100));
    let delay = |p: &mut Pacer, at: Instant| {
        p.observe(at, &Signal::default(), true);
        p.next_at(at) - at
    };
    let d1 = delay(&mut pacer, now);
    assert!(d1 >= ms(500) && d1 <= ms(1000), "{d1:?}");
    let d2 = delay(&mut pacer, now + ms(5_000));
    assert!(d2 >= ms(1000) && d2 <= ms(2000), "{d2:?}");
    let d3 = delay(&mut pacer, now + ms(10_000));
    assert!(
        d3 >= ms(2000) && d3 <= ms(4000),
        "not capped at W + margin: {d3:?}"
    );
    pacer.observe(now + ms(15_000), &Signal::default(), false);
    let d4 = delay(&mut pacer, now + ms(20_000));
    assert!(
        d4 >= ms(500) && d4 <= ms(1000),
        "a success resets the backoff: {d4:?}"
    );
}

#[test]
fn state_round_trips_across_processes() {
    let wall0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t0 = Instant::now();
    let r = rate("2/300s");
    let mut first = Pacer::new(r, Duration::from_secs(1));
    first.record_send(t0);
    first.record_send(t0);
    first.observe(
        t0,
        &Signal {
            limit: Some(1),
            ..Signal::default()
        },
        false,
    );
    let state = first.snapshot(
        t0 + Duration::from_secs(10),
        wall0 + Duration::from_secs(10),
    );
    let json = serde_json::to_string(&state).expect("serialise");
    let state: PacerState = serde_json::from_str(&json).expect("deserialise");

    // A later process: its monotonic clock is unrelated; 100 s of wall time have passed.
    let t1 = Instant::now() + Duration::from_secs(5_000);
    let mut second = Pacer::new(r, Duration::from_secs(1));
    second.restore(&state, t1, wall0 + Duration::from_secs(100));
    assert_eq!(
        second.effective_rate(),
        rate("1/300s"),
        "learned limits persist"
    );
    assert_eq!(second.next_at(t1), t1 + Duration::from_secs(201));

    let mut late = Pacer::new(r, Duration::from_secs(1));
    late.restore(&state, t1, wall0 + Duration::from_secs(400));
    assert_eq!(
        late.next_at(t1),
        t1,
        "sends older than the window are forgotten"
    );
}

#[test]
fn blocked_until_persists_and_clock_skew_only_delays() {
    let wall0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t0 = Instant::now();
    let mut first = Pacer::new(rate("2/300s"), Duration::from_secs(1));
    let spent = Signal {
        remaining: Some(0),
        reset: Some(Duration::from_secs(59)),
        ..Signal::default()
    };
    first.observe(t0, &spent, false);
    let state = first.snapshot(t0, wall0);
    assert_eq!(state.blocked_until_unix_ms, Some(1_700_000_060_000));
    let mut second = Pacer::new(rate("2/300s"), Duration::from_secs(1));
    second.restore(&state, t0, wall0 + Duration::from_secs(20));
    assert_eq!(second.next_at(t0), t0 + Duration::from_secs(40));

    // A send recorded "in the future" (wall clock moved back) counts as sent now.
    let skewed = PacerState {
        sends_unix_ms: vec![1_700_000_500_000, 1_700_000_500_000],
        ..PacerState::default()
    };
    let mut third = Pacer::new(rate("2/300s"), Duration::from_secs(1));
    third.restore(&skewed, t0, wall0);
    assert_eq!(third.next_at(t0), t0 + Duration::from_secs(301));
}

/// The lateness allowance is what the margin keeps beyond one answer-time spread and 100 ppm:
/// a send that late is counted at its slot, and the margin keeps that much on top of the
/// spread while the log may still count that send, even when the spread grows.
#[test]
fn the_margin_keeps_covering_the_lateness_the_log_absorbed() {
    let t0 = Instant::now();
    let r = rate("4/5s");
    let mut p = Pacer::new(r, default_margin(r));
    assert_eq!(
        p.lateness_allowance(),
        ms(10),
        "half the floor before any answer"
    );
    for rtt in [3, 5, 5, 100] {
        p.observe_rtt(ms(rtt));
    }
    assert_eq!(p.margin(), ms(20), "2 ms of spread: the floor");
    assert_eq!(
        p.lateness_allowance(),
        Duration::from_micros(17_500),
        "20 ms less 2 ms and 0.5 ms"
    );
    let s = p.reserve(t0);
    let late = Duration::from_micros(17_500);
    assert!(p.confirm(s, s.at + late));
    assert_eq!(p.departed(s.at, s.at + late), s.at, "absorbed");
    // The spread grows to 40 ms: the margin keeps the 17.5 ms on top while that send counts.
    for _ in 0..64 {
        p.observe_rtt(ms(3));
        p.observe_rtt(ms(43));
    }
    assert_eq!(p.margin(), ms(58), "40 + 17.5 + 0.5 ms");
    // Once it is past the log's memory, the spread and the drift.
    let s = p.reserve(t0 + ms(6_000));
    assert!(p.confirm(s, s.at));
    p.departed(s.at, s.at);
    p.observe_rtt(ms(3));
    assert_eq!(p.margin(), Duration::from_micros(40_500));
}
