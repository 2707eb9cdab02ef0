//! Learning and probing: a pacer driven by hand through 429s without headers, and learned limits
//! across runs.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::super::{default_margin, Pacer, PacerState, Rate, Signal, StoredRate};
use super::LEARNED_TTL_WINDOWS;

fn rate(s: &str) -> Rate {
    s.parse().unwrap()
}

/// Sends `n` requests as the pacer allows, each answered by `ok(index, at)`; returns the end.
fn run(
    pacer: &mut Pacer,
    mut now: Instant,
    n: usize,
    ok: impl Fn(usize, Instant) -> bool,
) -> Instant {
    for i in 0..n {
        now = pacer.next_at(now);
        pacer.record_send(now);
        pacer.observe(now, &Signal::default(), !ok(i, now));
    }
    now
}

#[test]
fn recovers_the_declared_pace_after_a_transient_429() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let t0 = Instant::now();
    // The third send is refused once (someone else's burst), then the server admits 10/1s.
    let end = run(&mut pacer, t0, 3, |i, _| i != 2);
    assert_eq!(pacer.effective_rate(), rate("1/146ms"), "102 ms ÷ 0.7");
    let notes = pacer.take_notes();
    assert_eq!(
        notes,
        ["429 without a policy that explains it: pace now 1/146ms, probing up"]
    );
    // Bisection between the refused 102 ms and the good spacing, each probe held for a
    // declared window and about 1/δ sends (6, 11, 20, 32 for steps of 18, 10, 5 and 3 %),
    // until within 3 %; then a re-probe finds the declared rate again.
    let end = run(&mut pacer, end, 120, |_, _| true);
    assert_eq!(pacer.effective_rate(), declared);
    assert!(pacer.learned().is_none());
    assert!(end - t0 < Duration::from_secs(14), "{:?}", end - t0);
    let notes = pacer.take_notes();
    assert_eq!(notes[0], "probing up: pace now 1/124ms", "{notes:?}");
    assert_eq!(
        notes.last().map(String::as_str),
        Some("probed back up to 10/1s")
    );
    // And never above the declared rate.
    let from = end;
    let end = run(&mut pacer, from, 41, |_, _| true);
    assert_eq!(pacer.effective_rate(), declared);
    assert!(end - from >= Duration::from_millis(102) * 40);
}

#[test]
fn a_leaky_bucket_is_found_to_within_a_few_percent_and_held() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    // A server that really admits one request per 300 ms (3 per second, leaky-bucket style).
    let last_ok = std::cell::Cell::new(None::<Instant>);
    let server = |_, at: Instant| {
        let ok = last_ok
            .get()
            .is_none_or(|l| at - l >= Duration::from_millis(300));
        if ok {
            last_ok.set(Some(at));
        }
        ok
    };
    let t0 = Instant::now();
    let end = run(&mut pacer, t0, 200, server);
    let (pace, _) = pacer.learned().expect("still learned");
    assert!(
        pace.window >= Duration::from_millis(300) && pace.window <= Duration::from_millis(315),
        "{pace}"
    );
    let notes = pacer.take_notes();
    assert!(
        notes.iter().any(|n| n.starts_with("429 after probing up")),
        "{notes:?}"
    );
    // 200 requests at 3/s take 66.3 s at best: at least 0.95 of the server's pace overall,
    // the first 429 included.
    let pace = 199.0 * 0.3 / (end - t0).as_secs_f64();
    assert!(pace >= 0.95, "{pace:.3}");
}

/// A server admitting one request per 300 ms with a burst of two (GCRA): `counts_refused`
/// moves its theoretical arrival time on for refused requests too, as HAProxy's rate estimate
/// counts them; otherwise only admissions do, as nginx's leaky bucket.
fn gcra(counts_refused: bool) -> impl Fn(usize, Instant) -> bool {
    let (t, tolerance) = (Duration::from_millis(300), Duration::from_millis(600));
    let tat = std::cell::Cell::new(None::<Instant>);
    move |_, at: Instant| {
        let due = tat.get().unwrap_or(at).max(at);
        let ok = due - at <= tolerance;
        if ok || counts_refused {
            tat.set(Some(due + t));
        }
        ok
    }
}

/// Sends `n` requests as the pacer allows against `server`; returns the answers, in order.
fn answers(pacer: &mut Pacer, n: usize, server: impl Fn(usize, Instant) -> bool) -> Vec<bool> {
    let log = std::cell::RefCell::new(Vec::new());
    run(pacer, Instant::now(), n, |i, at| {
        let ok = server(i, at);
        log.borrow_mut().push(ok);
        ok
    });
    log.into_inner()
}

#[test]
fn a_server_that_counts_refusals_gets_an_empty_spacing_after_each_429() {
    let declared = rate("10/1s");
    let counted = "429s count against the server's limit: one spacing is left empty after each";
    // Refused at the spacing that held, right after a refused probe: the refusal was counted.
    // From then on each 429 is followed by an admission, not by a second 429 and a backoff.
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let log = answers(&mut pacer, 400, gcra(true));
    let notes = pacer.take_notes();
    assert!(notes.iter().any(|n| n == counted), "{notes:?}");
    // (`x` refused, `.` admitted.) The burst's 429 and the first failed probe come in pairs:
    // `....xx....................xx......`; after that, only single 429s: 2 pairs and 6 to 10
    // single ones in 30 runs (without the empty spacing, 6 to 10 pairs and 1 to 3 single ones
    // in 8 runs).
    let pattern: String = log.iter().map(|ok| if *ok { '.' } else { 'x' }).collect();
    let pairs = pattern.matches("xx").count();
    let single = pattern.matches('x').count() - 2 * pairs;
    assert!(pairs <= 3 && single >= 5, "{pattern}");
    // nginx's leaky bucket admits one spacing after a refusal: it is never told otherwise.
    let mut pacer = Pacer::new(declared, default_margin(declared));
    answers(&mut pacer, 400, gcra(false));
    let notes = pacer.take_notes();
    assert!(!notes.iter().any(|n| n == counted), "{notes:?}");
}

/// While a learned pace settles, the backoff grows by half per refusal, not double: a server
/// that counts refusals is not fed often, and its first admission is not overshot by much.
#[test]
fn the_learning_backoff_grows_by_half() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let sent = std::cell::RefCell::new(Vec::new());
    // Three accepted, then refused for good (a server gone quiet for a long while).
    run(&mut pacer, Instant::now(), 12, |i, at| {
        sent.borrow_mut().push(at);
        i < 3
    });
    let sent = sent.into_inner();
    let gaps: Vec<f64> = sent
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // Each wait is its nominal delay plus up to half of it at random: six steps on, the nominal
    // delay is 1.5^6 = 11.4 times as long (doubling: 64), so the wait 7.6–17.1 times as long.
    let (early, late) = (gaps[4], gaps[10]);
    let grown = late / early;
    assert!((7.5..=17.1).contains(&grown), "{gaps:?}");
}

#[test]
fn a_learned_limit_is_kept_with_its_time_and_expires() {
    let declared = rate("10/1s");
    let wall0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let t0 = Instant::now();
    let mut first = Pacer::new(declared, default_margin(declared));
    let end = run(&mut first, t0, 3, |i, _| i != 2);
    let state = first.snapshot(end, wall0);
    assert_eq!(
        state.tightened,
        [StoredRate {
            limit: 1,
            window_ms: 146,
            learned_unix_ms: Some(1_700_000_000_000),
            source: Some("throttled".into()),
        }]
    );
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.contains(r#""source":"throttled""#), "{json}");

    // A run ten minutes later starts from it, and probes up.
    let t1 = Instant::now();
    let mut soon = Pacer::new(declared, default_margin(declared));
    soon.restore(&state, t1, wall0 + Duration::from_secs(600));
    assert_eq!(soon.effective_rate(), rate("1/146ms"));
    run(&mut soon, t1, 80, |_, _| true);
    assert_eq!(soon.effective_rate(), declared, "not bound by it");

    // Past the TTL (12 windows, at least an hour) it is forgotten.
    assert_eq!(LEARNED_TTL_WINDOWS, 12);
    let mut later = Pacer::new(declared, default_margin(declared));
    later.restore(&state, t1, wall0 + Duration::from_secs(3_601));
    assert_eq!(later.effective_rate(), declared);
}

#[test]
fn a_stored_limit_without_a_time_is_a_starting_point_not_a_bound() {
    // What earlier versions wrote: `tightened: [{limit, window_ms}]`, never expiring.
    let old: PacerState =
        serde_json::from_str(r#"{"sends_unix_ms":[],"blocked_until_unix_ms":null,"tightened":[{"limit":1,"window_ms":2000}]}"#)
            .unwrap();
    let declared = rate("4/2s");
    let t0 = Instant::now();
    let mut pacer = Pacer::new(declared, default_margin(declared));
    pacer.restore(&old, t0, SystemTime::now());
    assert_eq!(pacer.effective_rate(), rate("1/2s"));
    run(&mut pacer, t0, 40, |_, _| true);
    assert_eq!(pacer.effective_rate(), declared);
}

#[test]
fn announced_policies_are_a_ceiling_for_probing() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let t0 = Instant::now();
    let policy = Signal {
        limit: Some(5),
        window: Some(Duration::from_secs(1)),
        ..Signal::default()
    };
    pacer.observe(t0, &policy, false);
    assert_eq!(
        pacer.take_notes(),
        ["server policy 5/1s overrides declared 10/1s"]
    );
    // A 429 the policy does not explain (two accepted of five): 204 ms ÷ 0.7, probing up to
    // the announced 5/1s only.
    let end = run(&mut pacer, t0, 3, |i, _| i != 2);
    assert_eq!(pacer.effective_rate(), rate("1/292ms"));
    let end = run(&mut pacer, end, 110, |_, _| true);
    assert_eq!(pacer.effective_rate(), rate("5/1s"));
    let from = end;
    let end = run(&mut pacer, from, 21, |_, _| true);
    assert!(end - from >= Duration::from_millis(204) * 20);
}

#[test]
fn the_margin_follows_measured_jitter_between_floor_and_five_percent() {
    let declared = rate("4/5s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    assert_eq!(pacer.margin(), Duration::from_millis(20));
    for ms in [3, 4, 5, 4] {
        pacer.observe_rtt(Duration::from_millis(ms));
    }
    assert_eq!(
        pacer.margin(),
        Duration::from_millis(20),
        "2 ms of spread: the floor"
    );
    pacer.observe_rtt(Duration::from_millis(43));
    assert_eq!(
        pacer.margin(),
        Duration::from_millis(20),
        "one slow answer is left out"
    );
    pacer.observe_rtt(Duration::from_millis(60));
    assert_eq!(
        pacer.margin(),
        Duration::from_micros(40_500),
        "40 ms spread + 100 ppm of 5 s"
    );
    pacer.observe_rtt(Duration::from_secs(3));
    pacer.observe_rtt(Duration::from_secs(3));
    assert_eq!(pacer.margin(), Duration::from_millis(250), "at most 5 %");
}

#[test]
fn probing_works_with_slots_reserved_ahead_by_concurrent_senders() {
    // Five senders at 10/1s each hold a slot ahead; answers come 3 ms after each send.
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let t0 = Instant::now();
    let end = run(&mut pacer, t0, 2, |i, _| i != 1);
    assert_eq!(pacer.effective_rate(), rate("1/146ms"));
    let mut slots: std::collections::VecDeque<_> = (0..5).map(|_| pacer.reserve(end)).collect();
    while let Some(slot) = slots.pop_front() {
        if slot.at - t0 > Duration::from_secs(6) {
            break;
        }
        if !pacer.confirm(slot, slot.at) {
            slots.push_back(pacer.reserve(slot.at));
            continue;
        }
        pacer.observe_rtt(Duration::from_millis(3));
        pacer.observe(
            slot.at + Duration::from_millis(3),
            &Signal::default(),
            false,
        );
        slots.push_back(pacer.reserve(slot.at));
    }
    assert!(
        pacer.effective_rate().per_second() >= 9.0,
        "{:?}",
        pacer.effective_rate()
    );
}

/// Declared 10/1s, five senders in flight, a server announcing 4/2s whose reset (anchored at
/// the window's first request) ends a millisecond after the window log would: the block re-plans
/// the slots behind it, so each burst starts right after the block, not a slot or more later.
#[test]
fn a_block_replans_the_slots_reserved_behind_it() {
    let ms = Duration::from_millis;
    let mut p = Pacer::new(rate("10/1s"), ms(20));
    let t0 = Instant::now();
    let mut slots: Vec<_> = (0..5).map(|_| p.reserve(t0)).collect();
    let mut log = vec![];
    while log.len() < 12 {
        slots.sort_by_key(|s| s.at);
        let s = slots.remove(0);
        if p.confirm(s, s.at) {
            log.push((s.at - t0).as_millis());
            let n = log.len() as u32;
            let window_start = t0 + ms(2021) * ((n - 1) / 4);
            let signal = Signal {
                limit: Some(4),
                window: Some(Duration::from_secs(2)),
                remaining: Some(4 - ((n - 1) % 4 + 1)),
                reset: Some((window_start + ms(2001)) - (s.at + ms(3))),
                ..Signal::default()
            };
            p.observe(s.at + ms(3), &signal, false);
        }
        slots.push(p.reserve(s.at + ms(3)));
    }
    assert_eq!(
        log,
        [0, 102, 204, 306, 2021, 2123, 2225, 2327, 4042, 4144, 4246, 4348]
    );
}

#[test]
fn a_429_below_an_announced_policy_is_learned_as_a_count_per_its_window() {
    // The headers announce 4/2s; the server really admits 3/2s.
    let mut pacer = Pacer::new(rate("10/1s"), Duration::from_millis(20));
    let t0 = Instant::now();
    let mut now = t0;
    for i in 0..4u32 {
        now = pacer.next_at(now);
        pacer.record_send(now);
        let signal = Signal {
            limit: Some(4),
            window: Some(Duration::from_secs(2)),
            remaining: Some(3 - i),
            ..Signal::default()
        };
        pacer.observe(now, &signal, i == 3);
    }
    // Three of ours went through in the announced window: 3 per 2 s, sent in bursts at the
    // declared spacing, not one per 667 ms; stored as learned from 429s.
    assert_eq!(pacer.learned().map(|(r, _)| r), Some(rate("3/2s")));
    assert_eq!(pacer.effective_rate(), rate("3/2s"));
    let notes = pacer.take_notes();
    assert_eq!(
        notes.last().map(String::as_str),
        Some("429 below the announced policy 4/2s: 3 accepted per window, pace now 3/2s")
    );
    let next = pacer.next_at(now);
    assert_eq!(
        next,
        t0 + Duration::from_millis(2_020 + 102),
        "after the window"
    );
    // Accepted windows of 3: after eight windows, one more per window is probed; its 429
    // restores 3 and waits twice as long for the next probe.
    let mut at = next;
    let mut refused = 0;
    while at < t0 + Duration::from_secs(40) {
        at = pacer.next_at(at);
        pacer.record_send(at);
        let ok = pacer
            .accepted_within(at, Duration::from_millis(2_020))
            .unwrap_or(0)
            <= 3;
        refused += usize::from(!ok);
        let signal = Signal {
            limit: Some(4),
            window: Some(Duration::from_secs(2)),
            remaining: Some(0),
            ..Signal::default()
        };
        pacer.observe(at, &signal, !ok);
    }
    let notes = pacer.take_notes();
    assert!(
        notes.contains(&"probing up: pace now 4/2s".to_string()),
        "{notes:?}"
    );
    assert!(
        notes.contains(&"429 after probing up: pace back to 3/2s".to_string()),
        "{notes:?}"
    );
    assert!(
        (1..=3).contains(&refused),
        "{refused} failed probes in 40 s"
    );
    assert_eq!(pacer.effective_rate(), rate("3/2s"));
}

/// nginx `limit_req` at 2r/s without burst (one request per 500 ms) under a declared 10/1s, five
/// senders holding slots ahead, answers after 1 ms: the pace converges on the server's spacing, within the bound on 429s (`pacer_learn`: 5 decreases from 102 ms to past
/// 500 ms with up to 1 + ⌈log2(1 s / 204 ms)⌉ = 4 each, 4 failed probes, 2 re-probes; times 5).
#[test]
fn a_leaky_bucket_behind_five_senders_is_paced_at_its_rate_after_the_first_429() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let t0 = Instant::now();
    let mut last_ok: Option<Instant> = None;
    let (mut accepted, mut refused, mut first_429) = (vec![], 0, None);
    let mut slots: Vec<_> = (0..5).map(|_| pacer.reserve(t0)).collect();
    while accepted.len() < 60 {
        slots.sort_by_key(|s| s.at);
        let s = slots.remove(0);
        let now = s.at + Duration::from_millis(1);
        if pacer.confirm(s, now) {
            let ok = last_ok.is_none_or(|l| now - l >= Duration::from_millis(500));
            if ok {
                last_ok = Some(now);
                accepted.push(now);
            } else {
                refused += 1;
                first_429.get_or_insert(now);
            }
            pacer.observe_rtt(Duration::from_millis(1));
            pacer.observe(now + Duration::from_millis(1), &Signal::default(), !ok);
        }
        slots.push(pacer.reserve(now + Duration::from_millis(1)));
    }
    assert!(refused <= 5 * (5 * 4 + 4 + 2), "{refused} 429s");
    let first = first_429.expect("the declared rate is too fast");
    let after: Vec<_> = accepted.iter().filter(|t| **t > first).collect();
    let pace = after.len() as f64 * 0.5 / (*after[after.len() - 1] - first).as_secs_f64();
    // Measured 0.849: the 0.9 target is not met here; most of the loss is the five decreases
    // from 10/s (about 5 s at a quarter to a half of the server's rate).
    assert!(
        pace >= 0.8,
        "{pace:.3} of the server's pace after the first 429"
    );
    let (learned, _) = pacer.learned().expect("still learned");
    assert!(
        learned.window >= Duration::from_millis(500)
            && learned.window <= Duration::from_millis(520),
        "converged on the server's 500 ms: {learned}"
    );
}

#[test]
fn a_429_after_most_of_the_quota_went_through_only_adds_the_jitter_to_the_spacing() {
    let declared = rate("4/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let t0 = Instant::now();
    pacer.observe_rtt(Duration::from_millis(1));
    pacer.observe_rtt(Duration::from_millis(9));
    pacer.observe_rtt(Duration::from_millis(9));
    let end = run(&mut pacer, t0, 4, |i, _| i != 3);
    assert_eq!(
        pacer.take_notes(),
        ["429 without headers: sends spaced 1/255ms plus the answer-time spread"]
    );
    assert!(pacer.learned().is_none());
    assert_eq!(pacer.effective_rate(), declared);
    // One send per 255 ms + 8 ms of spread from now on.
    let later = end + Duration::from_secs(5);
    let a = pacer.next_at(later);
    pacer.record_send(a);
    assert_eq!(pacer.next_at(a) - a, Duration::from_millis(263));
}

/// A server that counts refused requests too and wants 1.5 s between any two (like HAProxy's
/// `http_req_rate(5s)` at a low limit): the learned spacing grows past the declared window,
/// which it once could not, and the 429s stop.
#[test]
fn the_learned_spacing_may_grow_past_the_declared_window() {
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let last = std::cell::Cell::new(None::<Instant>);
    let server = |_, at: Instant| {
        let ok = last
            .get()
            .is_none_or(|l| at - l >= Duration::from_millis(1500));
        last.set(Some(at));
        ok
    };
    let t0 = Instant::now();
    let refused = std::cell::Cell::new(0);
    run(&mut pacer, t0, 60, |i, at| {
        let ok = server(i, at);
        refused.set(refused.get() + usize::from(!ok));
        ok
    });
    let (pace, _) = pacer.learned().expect("learned");
    assert!(
        pace.window >= Duration::from_millis(1300),
        "near 1.5 s, or a probe below: {pace}"
    );
    // 8 decreases from 102 ms past 1.5 s, each followed by the refusals while it settles (the
    // backoff grows by half from two spacings until one is accepted), and failed probes
    // (measured 28–30 over ten runs; 32 when the backoff doubled); before the spacing could
    // grow past the window, they had no end.
    assert!(refused.get() <= 36, "{} 429s", refused.get());
}

/// express-rate-limit anchors its window when it handles the first request, which a cold
/// server may do well after it arrived: the next burst, on time by our log, meets a 429 whose
/// headers announce the same `4/2s` our four accepted sends reached. The policy explains it:
/// the pacer waits for the reset and keeps sending bursts, learning nothing.
#[test]
fn a_429_that_the_announced_policy_explains_keeps_the_bursts() {
    let declared = rate("4/2s");
    let mut pacer = Pacer::new(declared, Duration::from_millis(20));
    let t0 = Instant::now();
    let policy = |remaining| Signal {
        limit: Some(4),
        window: Some(Duration::from_secs(2)),
        remaining: Some(remaining),
        reset: Some(Duration::from_millis(150)),
        ..Signal::default()
    };
    for i in 0..4 {
        pacer.record_send(t0);
        pacer.observe(t0, &policy(3 - i), false);
    }
    let next = pacer.next_at(t0);
    assert_eq!(next, t0 + Duration::from_millis(2_020));
    pacer.record_send(next);
    let refused = Signal {
        retry_after: Some(Duration::from_secs(1)),
        ..policy(0)
    };
    pacer.observe(next, &refused, true);
    assert!(pacer.learned().is_none());
    assert!(pacer.take_notes().is_empty());
    let after = pacer.next_at(next);
    assert_eq!(after, next + Duration::from_millis(1_020), "Retry-After");
    pacer.record_send(after);
    assert_eq!(pacer.next_at(after), after, "bursts, not spaced evenly");
}

/// A probe a fraction δ faster than the spacing that held counts as good only after about 1/δ
/// accepted sends: a server that lets a small excess build up (here a burst of two) refuses a
/// spacing δ too short only after that many. Held for three sends and a declared window,
/// probes 5–20 % too fast passed as good and were refused again later, each time slowing the
/// pace by a tenth ("429 without a policy that explains it").
#[test]
fn a_probe_counts_as_good_only_after_about_one_over_its_step_in_sends() {
    let declared = rate("10/1s");
    let slowed = |counts_refused| {
        let mut pacer = Pacer::new(declared, default_margin(declared));
        answers(&mut pacer, 400, gcra(counts_refused));
        let notes = pacer.take_notes();
        let n = notes
            .iter()
            .filter(|n| n.starts_with("429 without a policy"))
            .count();
        (n, notes)
    };
    let ((leaky, a), (counting, b)) = (slowed(false), slowed(true));
    // Measured over 30 runs each: 2 to 5 per server; held for three sends, 6 to 9 (12 runs).
    assert!(leaky + counting <= 10, "{a:?}\n{b:?}");
}
