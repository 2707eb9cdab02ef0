//! Tests driving the pacer against simulated servers: request instants → 429 counts.

use tokio::time::Instant;

use super::tests::{ms, rate};
use super::*;
use crate::ratelimit::parse_signal;
use crate::ratelimit::sim::{Counting, Dialect, SimServer};
use crate::sandbox::limiter::Limiter;
use crate::sandbox::WindowMode;

struct Run {
    accepted: Vec<Instant>,
    throttled: usize,
}

/// Drives `n` requests through the pacer against `server`, retrying each 429 after the
/// pacer's wait; zero latency.
fn drive(pacer: &mut Pacer, server: &mut SimServer, start: Instant, n: usize) -> Run {
    let (mut now, mut run) = (
        start,
        Run {
            accepted: vec![],
            throttled: 0,
        },
    );
    for _ in 0..n * 20 {
        if run.accepted.len() == n {
            break;
        }
        now = pacer.next_at(now);
        pacer.record_send(now);
        let response = server.handle(now);
        let headers = response
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let signal = parse_signal(headers, server.wall(now));
        pacer.observe(now, &signal, !response.ok);
        match response.ok {
            true => run.accepted.push(now),
            false => run.throttled += 1,
        }
    }
    assert_eq!(
        run.accepted.len(),
        n,
        "every request is eventually accepted"
    );
    run
}

#[test]
fn simulated_servers_with_headers_see_no_overload() {
    let epoch = Instant::now();
    let start = epoch + ms(10_700);
    let dialects = [
        Dialect::Note,
        Dialect::Draft7,
        Dialect::Draft10,
        Dialect::XRateLimit,
        Dialect::None,
    ];
    for dialect in dialects {
        for counting in [
            Counting::Anchored,
            Counting::Aligned { origin: epoch },
            Counting::Sliding,
        ] {
            let r = rate("4/2s");
            let mut server = SimServer::new(counting, dialect, 4, r.window, epoch);
            let mut pacer = Pacer::new(r, default_margin(r));
            let run = drive(&mut pacer, &mut server, start, 40);
            let bound = if matches!(counting, Counting::Anchored) {
                0
            } else {
                1
            };
            assert!(
                run.throttled <= bound,
                "{dialect:?} {counting:?}: {} 429s",
                run.throttled
            );
            // Epoch-second resets (X-RateLimit) round up, but cost nothing past the window log.
            let makespan = *run.accepted.last().unwrap() - start;
            assert_eq!(
                makespan,
                (r.window + default_margin(r)) * 9,
                "{dialect:?} {counting:?}"
            );
        }
    }
}

#[test]
fn quota_used_by_another_client_costs_one_429_when_headers_say_when() {
    let epoch = Instant::now();
    let start = epoch + ms(10_700);
    for dialect in [
        Dialect::Note,
        Dialect::Draft7,
        Dialect::Draft10,
        Dialect::XRateLimit,
    ] {
        for counting in [
            Counting::Anchored,
            Counting::Aligned { origin: epoch },
            Counting::Sliding,
        ] {
            let r = rate("4/2s");
            let mut server = SimServer::new(counting, dialect, 4, r.window, epoch);
            for _ in 0..4 {
                server.handle(start - ms(500)); // an earlier run we have no record of
            }
            let mut pacer = Pacer::new(r, default_margin(r));
            let run = drive(&mut pacer, &mut server, start, 12);
            assert_eq!(run.throttled, 1, "{dialect:?} {counting:?}");
            assert_eq!(
                pacer.effective_rate(),
                r,
                "foreign traffic teaches nothing about the quota"
            );
        }
    }
}

#[test]
fn learns_a_stricter_server_without_headers_within_the_documented_bound() {
    let epoch = Instant::now();
    let start = epoch + ms(10_300);
    let declared = rate("10/1s");
    // The bound in `pacer_learn` (one request in flight): 4 decreases from 10/s by 0.7 to
    // below 3/s, each with up to 1 + ⌈log2(W / 2g)⌉ = 4 429s while the window stays spent
    // (g = 102 ms), up to 4 failed bisection probes, and re-probes after 2 and 4 windows.
    let bound = 4 * 4 + 4 + 2;
    for counting in [
        Counting::Anchored,
        Counting::Aligned { origin: epoch },
        Counting::Sliding,
    ] {
        let mut server = SimServer::new(counting, Dialect::None, 3, declared.window, epoch);
        let mut pacer = Pacer::new(declared, default_margin(declared));
        let run = drive(&mut pacer, &mut server, start, 60);
        assert!(
            run.throttled >= 1 && run.throttled <= bound,
            "{counting:?}: {} 429s",
            run.throttled
        );
        // The run may end during a probe 6 % faster than a spacing that held, itself a few
        // percent under the true 333 ms: 299 ms (3.34/s) was seen under random backoff (once
        // in some fifty runs), so allow up to 13 %.
        assert!(
            pacer.effective_rate().per_second() <= 3.4,
            "{counting:?}: at the true rate or a probe just above it: {:?}",
            pacer.effective_rate()
        );
        // After the first 429, the last 30 sends hold the server's 3 per second within 12 %:
        // over 100 runs each, 0.95 (sliding, anchored) to 0.99 (aligned) on average, and 2
        // sliding runs of 100 at 0.897–0.90, with a probe refused among the 30 (the search's
        // probes hold for about 1/δ sends, so they run longer).
        let tail = &run.accepted[run.accepted.len() - 30..];
        let pace = 29.0 / (tail[29] - tail[0]).as_secs_f64();
        assert!(pace >= 0.88 * 3.0, "{counting:?}: {pace:.2}/s");
    }
}

#[test]
fn a_stricter_policy_header_is_adopted_before_any_429() {
    let epoch = Instant::now();
    let declared = rate("10/1s");
    let mut server = SimServer::new(
        Counting::Sliding,
        Dialect::Draft7,
        3,
        declared.window,
        epoch,
    );
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let run = drive(&mut pacer, &mut server, epoch, 30);
    assert_eq!(run.throttled, 0);
    assert_eq!(pacer.effective_rate(), rate("3/1s"));
}

/// The provider note's `2/300s` with its headers, one sender, 2 ms answers: two back to back
/// every 301 s (the 1 s margin), 300/301 = 0.9967 of the optimum at anchored, clock-aligned and
/// sliding servers alike, with no 429 (the target: 0.995).
#[test]
fn the_provider_notes_2_per_300s_is_paced_at_0_995_of_its_optimum() {
    let epoch = Instant::now();
    for counting in [
        Counting::Anchored,
        Counting::Aligned { origin: epoch },
        Counting::Sliding,
    ] {
        let r = rate("2/300s");
        let mut server = SimServer::new(counting, Dialect::Note, 2, r.window, epoch);
        let mut pacer = Pacer::new(r, default_margin(r));
        let run = drive_senders(&mut pacer, &mut server, epoch + ms(10_700), 1, 3_000);
        assert_eq!(run.refused, 0, "{counting:?}");
        let n = run.accepted.len();
        assert!(n >= 18, "{counting:?}: {n} accepted in 3,000 s");
        // n requests in bursts of two span ⌈n/2⌉ − 1 windows at best.
        let windows = u32::try_from(n.div_ceil(2) - 1).unwrap();
        let optimum = r.window * windows;
        let ratio = optimum.as_secs_f64() / (run.accepted[n - 1] - run.accepted[0]).as_secs_f64();
        assert!(ratio >= 0.995, "{counting:?}: {ratio:.4}");
        assert!(
            ratio < 1.0,
            "{counting:?}: {ratio:.4} is faster than the server admits"
        );
    }
}

/// A run through concurrent senders: what the server accepted and when the first 429 came.
struct Senders {
    accepted: Vec<Instant>,
    refused: usize,
    first_429: Option<Instant>,
}

impl Senders {
    /// The metric (bench/pace_report.py's `after_429`): the m requests accepted after
    /// the first 429's answer at the server's sustained spacing, `m × spacing`, ÷ the time from
    /// that answer to the last acceptance; `None` when nothing was refused.
    fn after_429(&self, spacing: Duration) -> Option<f64> {
        let first = self.first_429?;
        let after: Vec<_> = self.accepted.iter().filter(|t| **t > first).collect();
        let last = **after.last()?;
        Some(after.len() as f64 * spacing.as_secs_f64() / (last - first).as_secs_f64())
    }
}

/// Answer time of the simulated server; it handles each request half-way.
const RTT: Duration = Duration::from_millis(2);

/// Drives `senders` concurrent senders for `secs` seconds as the executor does: each reserves
/// a slot, sleeps to it, confirms it (or reserves again), sends, and reserves the next slot
/// when the answer comes.
fn drive_senders(
    pacer: &mut Pacer,
    server: &mut SimServer,
    start: Instant,
    senders: usize,
    secs: u64,
) -> Senders {
    let end = start + Duration::from_secs(secs);
    let mut run = Senders {
        accepted: vec![],
        refused: 0,
        first_429: None,
    };
    let mut slots: Vec<crate::ratelimit::Slot> =
        (0..senders).map(|_| pacer.reserve(start)).collect();
    for _ in 0..100_000 {
        slots.sort_by_key(|s| s.at);
        let slot = slots.remove(0);
        if slot.at >= end {
            break;
        }
        if !pacer.confirm(slot, slot.at) {
            slots.push(pacer.reserve(slot.at));
            continue;
        }
        let entry = pacer.departed(slot.at, slot.at);
        let response = server.handle(slot.at + RTT / 2);
        let at = slot.at + RTT;
        let headers = response
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let signal = parse_signal(headers, server.wall(at));
        pacer.observe_rtt(RTT);
        pacer.answered(entry, at);
        pacer.observe(at, &signal, !response.ok);
        if std::env::var_os("SIM_TRACE").is_some() {
            let t = (slot.at - start).as_millis();
            println!(
                "  {t:>6} {} {:?}",
                if response.ok { "ok " } else { "429" },
                pacer.take_notes()
            );
        }
        if response.ok {
            run.accepted.push(slot.at + RTT / 2);
        } else {
            run.refused += 1;
            run.first_429.get_or_insert(at);
        }
        slots.push(pacer.reserve(at));
    }
    run
}

/// The header-less servers of bench/pacing.sh and bench/limiters.sh: (name, server, declared
/// rate, its senders in flight as the executor runs them, the server's sustained spacing).
fn header_less_cases(epoch: Instant) -> Vec<(String, SimServer, Rate, usize, Duration)> {
    let sandbox = |mode, l, w| {
        let mut limiter = Limiter::new(Rate::new(l, w), mode);
        SimServer::deciding(epoch, Box::new(move |unix| limiter.check(unix).allowed))
    };
    let leaky = |l, w| sandbox(WindowMode::Leaky, l, w);
    let estimate = |l, w| sandbox(WindowMode::Estimate, l, w);
    let lying = |w| SimServer::new(Counting::Anchored, Dialect::Note, 4, w, epoch).enforcing(3);
    let s = Duration::from_secs;
    let mut cases = vec![];
    for declared in ["4/1s", "10/1s"] {
        cases.push(("leaky 4/1s", leaky(4, s(1)), rate(declared), ms(250)));
    }
    for declared in ["2/1s", "10/1s"] {
        cases.push(("nginx-like 2/1s", leaky(2, s(1)), rate(declared), ms(500)));
    }
    for declared in ["4/2s", "10/1s"] {
        cases.push(("estimate 4/2s", estimate(4, s(2)), rate(declared), ms(500)));
    }
    for declared in ["4/5s", "10/1s"] {
        cases.push((
            "haproxy-like 4/5s",
            estimate(4, s(5)),
            rate(declared),
            ms(1250),
        ));
    }
    for declared in ["4/2s", "10/1s"] {
        cases.push(("lying 3/2s", lying(s(2)), rate(declared), ms(667)));
    }
    cases
        .into_iter()
        .map(|(name, server, declared, spacing)| {
            let k = crate::execute::in_flight(declared);
            (
                format!("{name} declared {declared}"),
                server,
                declared,
                k,
                spacing,
            )
        })
        .collect()
}

/// Prints the after-429 ratio and 429 count of every header-less case over 12 s and 60 s:
/// `cargo test --lib report_header_less -- --ignored --nocapture`.
#[test]
#[ignore]
fn report_header_less() {
    for secs in [12, 60, 300] {
        let epoch = Instant::now();
        for (name, mut server, declared, k, spacing) in header_less_cases(epoch) {
            let start = epoch + ms(10_300);
            let mut pacer = Pacer::new(declared, default_margin(declared));
            let run = drive_senders(&mut pacer, &mut server, start, k, secs);
            println!(
                "{secs:>3}s {name:<32} k={k} after_429 {:>6} 429s {:>3} accepted {:>4} pace {}",
                run.after_429(spacing)
                    .map_or("-".into(), |r| format!("{r:.3}")),
                run.refused,
                run.accepted.len(),
                pacer.effective_rate()
            );
        }
    }
}

/// The bound on 429s without headers stated in `pacer_learn`, for a server admitting one
/// request per `spacing` that keeps refusing for up to `memory` after an overload, over a run
/// of `secs` with `k` requests in flight: decreases × the refusals while each settles, 4 failed
/// bisection probes, the failed re-probes, times k.
fn bound(declared: Rate, spacing: Duration, memory: Duration, secs: u64, k: usize) -> usize {
    let g = (declared.window + default_margin(declared)) / declared.limit;
    let ratio = spacing.as_secs_f64() / g.as_secs_f64();
    let decreases = (ratio.ln() / (1.0f64 / 0.7).ln()).ceil().max(1.0);
    let settling = 1.0
        + (memory.as_secs_f64() / (2.0 * g.as_secs_f64()))
            .log(1.5)
            .ceil()
            .max(0.0);
    let windows = secs as f64 / (2.0 * declared.window.as_secs_f64());
    let reprobes = 1.0 + windows.log2().max(0.0);
    ((decreases * settling + 4.0 + reprobes) * k as f64) as usize
}

/// Runs one header-less case of `header_less_cases` for `secs`: (after-429 ratio, 429s, bound).
fn header_less(name: &str, declared: &str, secs: u64, memory: Duration) -> (f64, usize, usize) {
    let epoch = Instant::now();
    let wanted = format!("{name} declared {declared}");
    let (_, mut server, declared, k, spacing) = header_less_cases(epoch)
        .into_iter()
        .find(|c| c.0 == wanted)
        .expect("a case of header_less_cases");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let run = drive_senders(&mut pacer, &mut server, epoch + ms(10_300), k, secs);
    let after = run
        .after_429(spacing)
        .expect("the declared rate draws a 429");
    (
        after,
        run.refused,
        bound(declared, spacing, memory, secs, k),
    )
}

/// nginx `limit_req` (the sandbox's leaky bucket) under a declared rate 2.5 and 5 times its
/// own: converged in 300 s at ≥ 0.9 of its pace from the first 429 (measured 0.977 and 0.970,
/// 15 and 16 429s; 0.870 and 0.787 over 12 s, where the search is most of the run).
#[test]
fn a_leaky_bucket_is_paced_at_its_rate_after_the_first_429() {
    for (name, memory) in [("leaky 4/1s", ms(1_000)), ("nginx-like 2/1s", ms(1_000))] {
        let (after, refused, bound) = header_less(name, "10/1s", 300, memory);
        assert!(after >= 0.9, "{name}: {after:.3}");
        assert!(refused <= bound, "{name}: {refused} 429s, bound {bound}");
    }
}

/// HAProxy's rate estimate (the sandbox's `estimate`) counts refused requests too, so a 429
/// keeps it refusing for up to two of its windows. At its own declared rate the first 429
/// only spreads the bursts out (measured 0.975 over 60 s, 0.922 over 12 s; one 429): its
/// memory is waited out, not taken for a refusal of the declared spacing. Under `10/1s` the
/// search pays for every step down (0.955-0.962 over 600 s, 0.93-0.95 over 300 s).
#[test]
fn a_rate_estimate_is_paced_at_its_rate_after_the_first_429() {
    let cases = [
        ("estimate 4/2s", "4/2s", 60, ms(4_000)),
        ("haproxy-like 4/5s", "4/5s", 120, ms(10_000)),
        ("estimate 4/2s", "10/1s", 600, ms(4_000)),
    ];
    for (name, declared, secs, memory) in cases {
        let (after, refused, bound) = header_less(name, declared, secs, memory);
        assert!(after >= 0.9, "{name} under {declared}: {after:.3}");
        assert!(refused <= bound, "{name}: {refused} 429s, bound {bound}");
    }
    // HAProxy's `http_req_rate(5s)` > 4 under a declared 10/1s, a rate 12.5 times its own:
    // 8 steps down, each paid with refusals it counts (means of eight phases 0.93 over 600 s,
    // 0.91 over 300 s, 0.78-0.80 over 60 s). Held here at 0.85, as the backoff jitter is
    // random, with its bound on 429s.
    let (after, refused, bound) = header_less("haproxy-like 4/5s", "10/1s", 600, ms(10_000));
    assert!(after >= 0.85, "{after:.3}");
    assert!(refused <= bound, "{refused} 429s, bound {bound}");
}

/// A server announcing `4/2s` that admits 3 per window: the count is learned per the announced
/// window and sent in bursts (0.99 and 0.97 from the first 429 over 12 s; before, a spacing of
/// 1/668ms at 0.77), and one more is re-probed after 8, 16, … windows.
#[test]
fn headers_that_overstate_the_limit_teach_a_count_per_window() {
    for (declared, secs, most) in [
        ("4/2s", 12, 2),
        ("10/1s", 12, 2),
        ("4/2s", 120, 6),
        ("10/1s", 120, 6),
    ] {
        let (after, refused, _) = header_less("lying 3/2s", declared, secs, ms(0));
        assert!(after >= 0.95, "under {declared}, {secs} s: {after:.3}");
        assert!(
            refused <= most,
            "under {declared}, {secs} s: {refused} 429s"
        );
    }
}

/// The mean after-429 ratio and the most 429s of a header-less case under `10/1s` over 60 s,
/// from eight phases of the server's clock-aligned windows (its jitter is random).
fn over_declared(name: &str) -> (f64, usize) {
    let (mut sum, mut most) = (0.0, 0);
    for phase in 0..8u64 {
        let epoch = Instant::now();
        let wanted = format!("{name} declared 10/1s");
        let (_, mut server, declared, k, spacing) = header_less_cases(epoch)
            .into_iter()
            .find(|c| c.0 == wanted)
            .expect("a case of header_less_cases");
        let mut pacer = Pacer::new(declared, default_margin(declared));
        let run = drive_senders(
            &mut pacer,
            &mut server,
            epoch + ms(10_000 + phase * 625),
            k,
            60,
        );
        sum += run.after_429(spacing).expect("10/1s draws a 429");
        most = most.max(run.refused);
    }
    (sum / 8.0, most)
}

/// A rate estimate (the sandbox's `estimate` 4/2s, HAProxy-like 4/5s) under a declared rate
/// 2.5 and 12.5 times its own, over a minute: the burst the first 429 ended, and how long the
/// server refused after it (its own refusals counted), set the pace near its rate, probed up
/// in 6 % steps, each held for about 1/δ sends, with one spacing left empty after each 429 once
/// the server is seen to count refusals. Measured means over 120 phases 0.887 and 0.793 (0.870
/// and 0.788 with probes held for three sends; 0.84-0.87 before the empty spacing and the
/// backoff growing by half; 0.822 and 0.569 before learning from the burst); the 0.9 is
/// met over 300 s (0.960 and 0.921 over 24 phases, 0.939 and 0.901 with three-send holds), not
/// over 60 s (held here at 0.8 and 0.7: the backoff jitter is random). The 429s stay far inside
/// the bound (`bound`: 274 and 489 with five in flight); measured at most 19 over 40 phases (28
/// with three-send holds).
#[test]
fn a_rate_estimate_under_a_faster_declared_rate_is_found_from_its_first_burst() {
    let (after, most) = over_declared("estimate 4/2s");
    assert!(after >= 0.8, "estimate 4/2s: {after:.3}");
    let limit = bound(rate("10/1s"), ms(500), ms(4_000), 60, 5);
    assert!(most <= limit, "estimate 4/2s: {most} 429s, bound {limit}");
    let (after, most) = over_declared("haproxy-like 4/5s");
    assert!(after >= 0.7, "haproxy-like 4/5s: {after:.3}");
    let limit = bound(rate("10/1s"), ms(1_250), ms(10_000), 60, 5);
    assert!(
        most <= limit,
        "haproxy-like 4/5s: {most} 429s, bound {limit}"
    );
}

/// The rate estimates under a declared rate above their own, from eight phases of their
/// clock-aligned windows, over 60 s: `cargo test --lib report_over_declared -- --ignored
/// --nocapture` (`SIM_SECS` for another length, `SIM_PHASES=32` for more runs, `SIM_ONLY=estimate`
/// for one server).
#[test]
#[ignore]
fn report_over_declared() {
    let secs = std::env::var("SIM_SECS").map_or(60, |s| s.parse().unwrap_or(60));
    for name in [
        "estimate 4/2s",
        "haproxy-like 4/5s",
        "leaky 4/1s",
        "nginx-like 2/1s",
    ] {
        if std::env::var("SIM_ONLY").is_ok_and(|only| !name.starts_with(&only)) {
            continue;
        }
        let phases = std::env::var("SIM_PHASES").map_or(8, |s| s.parse().unwrap_or(8));
        let mut sum = 0.0;
        for phase in 0..phases {
            let epoch = Instant::now();
            let wanted = format!("{name} declared 10/1s");
            let (_, mut server, declared, k, spacing) = header_less_cases(epoch)
                .into_iter()
                .find(|c| c.0 == wanted)
                .expect("a case");
            let mut pacer = Pacer::new(declared, default_margin(declared));
            let start = epoch + ms(10_000 + (phase % 8) * 625);
            let run = drive_senders(&mut pacer, &mut server, start, k, secs);
            let after = run.after_429(spacing).unwrap_or(0.0);
            sum += after;
            println!(
                "{secs}s {name:<20} phase {:>4}ms after_429 {after:.3} 429s {:>3} pace {}",
                (phase % 8) * 625,
                run.refused,
                pacer.effective_rate()
            );
        }
        println!("{secs}s {name:<20} mean {:.3}", sum / phases as f64);
    }
}

/// The best any client could do against a rate estimate once the declared `10/1s` drew its
/// first 429, for the after-429 ratio that `report_over_declared` measures the pacer by: the
/// same first burst (sends 102 ms apart until the first refusal), then each request at the first
/// millisecond the server would admit it, known without asking (a refused request would count).
/// Means over eight phases of the server's aligned windows, 12 s and 60 s:
/// `cargo test --lib report_rate_estimate_ceiling -- --ignored --nocapture`.
#[test]
#[ignore]
fn report_rate_estimate_ceiling() {
    for (name, limit, window, spacing) in [
        ("estimate 4/2s", 4, 2, ms(500)),
        ("haproxy-like 4/5s", 4, 5, ms(1_250)),
    ] {
        for secs in [12u64, 60] {
            let mut sum = 0.0;
            for phase in 0..8u64 {
                let start = Duration::from_secs(1_700_000_000) + ms(phase * 625);
                let mut server = Limiter::new(
                    Rate::new(limit, Duration::from_secs(window)),
                    WindowMode::Estimate,
                );
                let mut at = start;
                while server.check(at).allowed {
                    at += ms(102);
                }
                let first_429 = at + RTT;
                let (mut accepted, mut last) = (0u32, first_429);
                let mut t = first_429;
                while t < start + Duration::from_secs(secs) {
                    if server.clone().check(t).allowed {
                        assert!(server.check(t).allowed);
                        (accepted, last) = (accepted + 1, t);
                    }
                    t += ms(1);
                }
                sum +=
                    f64::from(accepted) * spacing.as_secs_f64() / (last - first_429).as_secs_f64();
            }
            println!("{secs:>3}s {name:<20} best after_429 {:.3}", sum / 8.0);
        }
    }
}
