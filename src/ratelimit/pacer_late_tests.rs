//! Senders that leave late (a loaded machine's timers, a slow ledger commit) against simulated
//! servers with whole-second resets, on a virtual clock: several senders holding slots, each
//! request answered 3 ms after it really left.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::tests::{ms, rate};
use super::*;
use crate::ratelimit::parse_signal;
use crate::ratelimit::sim::{Counting, Dialect, Response, SimServer};
use crate::ratelimit::Slot;

struct Run {
    /// Arrival times of the accepted requests.
    accepted: Vec<Instant>,
    throttled: usize,
    /// When the refused requests arrived.
    refused: Vec<Instant>,
    /// How late each request left its slot.
    late: Vec<Duration>,
    /// How late each sender woke for its slot, whether it then used it or not.
    woke_late: Vec<Duration>,
}

/// A simulated server: request instant → verdict and headers.
trait Server {
    fn handle(&mut self, at: Instant) -> Response;
    fn wall(&self, at: Instant) -> SystemTime;
}

impl Server for SimServer {
    fn handle(&mut self, at: Instant) -> Response {
        SimServer::handle(self, at)
    }
    fn wall(&self, at: Instant) -> SystemTime {
        SimServer::wall(self, at)
    }
}

/// A leaky bucket with no burst and no headers, like nginx `limit_req` without `burst`: a
/// request arriving less than `spacing` after the last accepted one is refused.
struct Leaky {
    spacing: Duration,
    last: Option<Instant>,
}

impl Server for Leaky {
    fn handle(&mut self, at: Instant) -> Response {
        let ok = self.last.is_none_or(|l| at >= l + self.spacing);
        if ok {
            self.last = Some(at);
        }
        Response {
            ok,
            headers: vec![],
        }
    }
    fn wall(&self, _: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

/// How late the i-th sender to wake does so (`timer`: past its slot, before confirming it), and
/// how long its request then waits before leaving (`commit`: a slow ledger commit).
struct Late {
    timer: Box<dyn Fn(usize) -> Duration>,
    commit: Box<dyn Fn(usize) -> Duration>,
}

impl Late {
    fn commit(f: impl Fn(usize) -> Duration + 'static) -> Late {
        Late {
            timer: Box::new(|_| Duration::ZERO),
            commit: Box::new(f),
        }
    }

    fn timer(f: impl Fn(usize) -> Duration + 'static) -> Late {
        Late {
            timer: Box::new(f),
            commit: Box::new(|_| Duration::ZERO),
        }
    }

    fn none() -> Late {
        Late::commit(|_| Duration::ZERO)
    }
}

enum Event {
    /// A sender's timer fires for its slot.
    Wake(Slot),
    /// A confirmed request leaves.
    Depart(Slot),
    /// The answer to a request: its sender is free again.
    Answer,
}

/// Events by time, in the order pushed among equal times.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    events: std::collections::HashMap<u64, Event>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: Instant, e: Event) {
        self.seq += 1;
        self.events.insert(self.seq, e);
        self.heap.push(Reverse((at, self.seq)));
    }

    fn pop(&mut self) -> Option<(Instant, Event)> {
        let Reverse((at, seq)) = self.heap.pop()?;
        Some((at, self.events.remove(&seq)?))
    }
}

/// `senders` tasks send `n` messages (a 429 is sent again) as the pacer allows, late as `late`
/// says; each request is answered 3 ms after it left. `report` says whether the pacer learns
/// when requests really left (`Pacer::departed`).
fn drive(
    pacer: &mut Pacer,
    server: &mut dyn Server,
    start: Instant,
    n: usize,
    senders: usize,
    late: &Late,
    report: bool,
) -> Run {
    let mut run = Run {
        accepted: vec![],
        throttled: 0,
        refused: vec![],
        late: vec![],
        woke_late: vec![],
    };
    let mut queue = Queue::default();
    let (mut woken, mut left_count, mut in_flight) = (0, 0, 0);
    let mut wake = |queue: &mut Queue, slot: Slot| {
        queue.push(slot.at + (late.timer)(woken), Event::Wake(slot));
        woken += 1;
    };
    for _ in 0..senders {
        let slot = pacer.reserve(start);
        wake(&mut queue, slot);
    }
    while let Some((now, event)) = queue.pop() {
        match event {
            Event::Wake(slot) => {
                run.woke_late.push(now - slot.at);
                if run.accepted.len() + in_flight >= n {
                    pacer.release(slot);
                    continue;
                }
                if !pacer.confirm(slot, now) {
                    let again = pacer.reserve(now);
                    wake(&mut queue, again);
                    continue;
                }
                in_flight += 1;
                queue.push(now + (late.commit)(left_count), Event::Depart(slot));
                left_count += 1;
            }
            Event::Depart(slot) => {
                run.late.push(now - slot.at);
                let entry = if report {
                    pacer.departed(slot.at, now)
                } else {
                    slot.at
                };
                let response = server.handle(now);
                if response.ok {
                    run.accepted.push(now);
                } else {
                    run.throttled += 1;
                    run.refused.push(now);
                }
                let headers = response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()));
                let answered = now + ms(3);
                pacer.observe_rtt(ms(3));
                if report {
                    pacer.answered(entry, answered);
                }
                pacer.observe(
                    answered,
                    &parse_signal(headers, server.wall(answered)),
                    !response.ok,
                );
                queue.push(answered, Event::Answer);
            }
            Event::Answer => {
                in_flight -= 1;
                if run.accepted.len() + in_flight < n {
                    let slot = pacer.reserve(now);
                    wake(&mut queue, slot);
                }
            }
        }
        if run.accepted.len() >= n && in_flight == 0 {
            break;
        }
    }
    assert_eq!(run.accepted.len(), n, "every message is accepted");
    run
}

/// Every fifth request leaves 45 ms behind its slot (more than the 20 ms margin), so now the
/// first, now another send of a burst is late.
fn every_fifth_late(i: usize) -> Duration {
    if i.is_multiple_of(5) {
        ms(45)
    } else {
        Duration::ZERO
    }
}

/// The pace of 41 accepted requests against the fastest a `4/2s` server admits (ten windows:
/// the last one opens the eleventh burst, so the declared 10/1s costs nothing there).
fn pace(run: &Run) -> f64 {
    let span = *run.accepted.last().unwrap() - run.accepted[0];
    20.0 / span.as_secs_f64()
}

/// Declared 10/1s, the server announces 4/2s with whole-second resets (`t=2` for 1.7 s). On
/// time, the bursts follow the window log, not the rounded reset (which held each burst 0.3 s
/// too long: 0.86 of the pace). Late (every fifth request 45 ms behind its slot), counting a
/// request at its slot's instant let the next burst start before the server's window, measured
/// from the late arrival, had ended: 429s at a sliding log and at clock-aligned windows alike.
/// With the departure reported, none after the first answers.
#[test]
fn whole_second_resets_and_late_departures() {
    let epoch = Instant::now();
    let start = epoch + ms(10_700);
    let declared = rate("10/1s");
    for dialect in [Dialect::Draft7, Dialect::Draft10] {
        for counting in [Counting::Sliding, Counting::Aligned { origin: epoch }] {
            let case = format!("{dialect:?} {counting:?}");
            let server = || SimServer::new(counting, dialect, 4, Duration::from_secs(2), epoch);
            let pacer = || Pacer::new(declared, default_margin(declared));

            let run = drive(
                &mut pacer(),
                &mut server(),
                start,
                41,
                5,
                &Late::none(),
                true,
            );
            eprintln!(
                "{case}, on time: pace {:.3}, 429s {}",
                pace(&run),
                run.throttled
            );
            assert_eq!(run.throttled, 0, "{case}");
            assert!(pace(&run) >= 0.985, "{case}: {:.3}", pace(&run));

            let blind = drive(
                &mut pacer(),
                &mut server(),
                start,
                41,
                5,
                &Late::commit(every_fifth_late),
                false,
            );
            // (Aligned windows refuse a late request only when it crosses into the next
            // window with the next burst; these phases do not.)
            if matches!(counting, Counting::Sliding) {
                assert!(blind.throttled >= 2, "{case}: {} 429s", blind.throttled);
            }

            let run = drive(
                &mut pacer(),
                &mut server(),
                start,
                41,
                5,
                &Late::commit(every_fifth_late),
                true,
            );
            eprintln!(
                "{case}, late: pace {:.3}, 429s {}",
                pace(&run),
                run.throttled
            );
            assert_eq!(run.throttled, 0, "{case}");
            assert!(pace(&run) >= 0.96, "{case}: {:.3}", pace(&run));
        }
    }
}

/// The race behind the 429s that reading whole-second resets early once caused: reserving a
/// slot a window ahead pruned the log from that slot's instant, dropping the window's real
/// sends; a block then withdrew the reserved slot, and the next one was placed as if the
/// window were empty.
#[test]
fn a_block_that_withdraws_slots_reserved_ahead_keeps_the_sends_behind_them() {
    let t0 = Instant::now();
    let mut p = Pacer::new(rate("10/1s"), ms(20));
    let policy = Signal {
        limit: Some(4),
        window: Some(Duration::from_secs(2)),
        ..Signal::default()
    };
    for i in 0..4 {
        let s = p.reserve(t0 + ms(102 * i));
        assert!(p.confirm(s, s.at));
        p.observe(s.at + ms(3), &policy, false);
    }
    let ahead = p.reserve(t0 + ms(310));
    assert_eq!(ahead.at, t0 + ms(2_020), "the window log");
    // Spent until some time in (1, 2] s from now: the log agrees, the block is the earliest
    // reading, and it withdraws the slot reserved ahead.
    let spent = Signal {
        remaining: Some(0),
        reset: Some(ms(2_000)),
        reset_slack: ms(1_000),
        ..policy
    };
    p.observe(t0 + ms(310), &spent, false);
    assert!(!p.confirm(ahead, ahead.at));
    let again = p.reserve(t0 + ms(1_400));
    assert_eq!(
        again.at,
        t0 + ms(2_020),
        "the window's four sends are still in the log"
    );
}

/// The early reading of a whole-second reset is used only while the window log agrees: when
/// the server says its window is spent and the log would send before the earliest reading
/// (another client used the quota), the reset is waited out as written.
#[test]
fn a_reset_the_log_does_not_explain_is_waited_out_as_written() {
    let now = Instant::now();
    let mut pacer = Pacer::new(rate("4/2s"), ms(20));
    pacer.record_send(now);
    let spent = Signal {
        limit: Some(4),
        window: Some(Duration::from_secs(2)),
        remaining: Some(0),
        reset: Some(ms(2_000)),
        reset_slack: ms(1_000),
        ..Signal::default()
    };
    pacer.observe(now + ms(3), &spent, false);
    assert_eq!(pacer.next_at(now), now + ms(2_023), "as written");

    let mut pacer = Pacer::new(rate("4/2s"), ms(20));
    for i in 0..4 {
        pacer.record_send(now + ms(100 * i));
    }
    pacer.observe(now + ms(303), &spent, false);
    assert_eq!(
        pacer.next_at(now),
        now + ms(2_020),
        "the log agrees with the earliest reading (1.323 s): it decides"
    );
}

/// A cold server answers the first request after 175 ms, the next ones after 4 ms, and may
/// open its window (`4/2s`, anchored) as late as it answers: the next burst is planned from
/// then, not from the departure (which met a 429 at express-rate-limit).
#[test]
fn a_slow_first_answer_holds_the_next_burst_back_to_when_the_server_may_have_counted_it() {
    let t0 = Instant::now();
    let mut p = Pacer::new(rate("4/2s"), ms(20));
    let answer = |p: &mut Pacer, now: Instant, rtt: Duration| {
        let slot = p.reserve(now);
        assert!(p.confirm(slot, slot.at));
        let entry = p.departed(slot.at, slot.at);
        p.observe_rtt(rtt);
        p.answered(entry, slot.at + rtt);
        slot.at + rtt
    };
    let mut now = answer(&mut p, t0, ms(175));
    for _ in 0..3 {
        now = answer(&mut p, now, ms(4));
    }
    // Less the allowance: the 20 ms margin less 100 ppm of 2 s (no spread among 4 ms answers).
    assert_eq!(
        p.next_at(now),
        t0 + ms(175 + 2_020) - Duration::from_micros(19_800)
    );
    // Fast answers leave the log as it was.
    let mut p = Pacer::new(rate("4/2s"), ms(20));
    let mut now = t0;
    for _ in 0..4 {
        now = answer(&mut p, now, ms(4));
    }
    assert_eq!(p.next_at(now), t0 + ms(2_020));
    // Every burst's first answer slow (24 ms among 4 ms ones, as express-rate-limit answers):
    // the margin holds that 20 ms spread, so such an answer is within it and moves nothing.
    // (Counting the spread again on top held each window 2.04 s apart: 0.98 of the pace.)
    let mut p = Pacer::new(rate("4/2s"), ms(20));
    for rtt in [24, 4, 4, 4, 24, 4, 4, 4] {
        p.observe_rtt(ms(rtt));
    }
    assert_eq!(p.margin(), Duration::from_micros(20_200), "20 ms + 100 ppm");
    let mut now = answer(&mut p, t0, ms(24));
    for _ in 0..3 {
        now = answer(&mut p, now, ms(4));
    }
    assert_eq!(p.next_at(now), t0 + Duration::from_micros(2_020_200));
    // One slower than the margin allows for moves the next burst by what it exceeds it.
    let mut now = answer(&mut p, t0 + ms(5_000), ms(60));
    for _ in 0..3 {
        now = answer(&mut p, now, ms(4));
    }
    let margin = p.margin();
    assert_eq!(
        p.next_at(now),
        t0 + ms(5_000 + 60 - 4 + 2_000) + Duration::from_micros(200),
        "the answer less the fastest, plus the drift (margin {margin:?})"
    );
}

/// The span from the first accepted arrival to the last.
fn span(run: &Run) -> Duration {
    *run.accepted.last().unwrap() - run.accepted[0]
}

/// Declared `4/1s` (one send per 255 ms) against a sliding `4/1s` server: every fifth sender's
/// timer fires 60 ms late. Each late send costs only what its lateness exceeds the allowance
/// the margin keeps for it (20 ms less 100 ppm), not a spacing: its slot stays valid, the log
/// takes the real departure and the next slot follows one spacing after it. (Withdrawing the
/// slot sent the request to the end of the schedule: a hole of 255 ms per late timer.)
#[test]
fn a_late_timer_costs_an_even_schedule_only_its_lateness() {
    let t0 = Instant::now();
    let declared = rate("4/1s");
    let pacer = || Pacer::new(declared, default_margin(declared));
    let server = || SimServer::new(Counting::Sliding, Dialect::None, 4, ms(1_000), t0);
    let on_time = drive(&mut pacer(), &mut server(), t0, 41, 2, &Late::none(), true);
    let late = Late::timer(|i| if i % 5 == 0 { ms(60) } else { ms(0) });
    let run = drive(&mut pacer(), &mut server(), t0, 41, 2, &late, true);
    let lost = span(&run).saturating_sub(span(&on_time));
    eprintln!("on time {:?}, late {:?}", span(&on_time), span(&run));
    assert_eq!((on_time.throttled, run.throttled), (0, 0));
    assert_eq!(span(&on_time), ms(40 * 255));
    // Each late send after the first costs its lateness less the allowance (the 20 ms margin
    // less 100 ppm of 1 s, once 3 ms answers have measured no spread), give or take the 20 ms
    // the first one moved the schedule before any answer.
    let allowance = ms(20) - Duration::from_micros(100);
    let bound: Duration = run.late[1..]
        .iter()
        .map(|l| l.saturating_sub(allowance))
        .sum();
    assert!(bound >= ms(300), "the late timers were used: {bound:?}");
    assert!(lost <= bound + ms(20), "lost {lost:?} > {bound:?}");
}

/// Spaced for a leaky bucket (after a 429 without headers: `smooth`), a late send is followed
/// one spacing after it really left: the bucket (one per 250 ms, no burst) refuses nothing, and
/// the run loses exactly the lateness. A sender so late that the next slot's request already
/// went gives its slot up rather than arrive right behind it.
#[test]
fn a_leaky_bucket_sees_one_spacing_after_each_late_departure() {
    let t0 = Instant::now();
    let declared = rate("4/1s");
    let pacer = || {
        let mut p = Pacer::new(declared, default_margin(declared));
        p.smooth = true;
        p
    };
    let leaky = || Leaky {
        spacing: ms(250),
        last: None,
    };
    let on_time = drive(&mut pacer(), &mut leaky(), t0, 31, 2, &Late::none(), true);
    assert_eq!(on_time.throttled, 0);
    assert_eq!(span(&on_time), ms(30 * 255));
    for (late_ms, every) in [(30, 3), (300, 7)] {
        let late = Late::timer(move |i| ms(if i % every == 1 { late_ms } else { 0 }));
        let run = drive(&mut pacer(), &mut leaky(), t0, 31, 2, &late, true);
        let lost = span(&run) - span(&on_time);
        eprintln!("{late_ms} ms late: lost {lost:?}, 429s {}", run.throttled);
        assert_eq!(run.throttled, 0, "{late_ms} ms late");
        let bound: Duration = run.woke_late[1..].iter().sum();
        assert!(bound >= ms(late_ms), "late timers were used");
        assert!(
            lost <= bound + ms(1),
            "{late_ms} ms late: lost {lost:?} > {bound:?}"
        );
    }
}

/// The 429s at `1000/1s` on a loaded machine: a slow ledger commit holds back the requests of
/// 35 slots, which then leave together, followed by on-time ones. Logged at their slots, the
/// batch and the next second's on-time sends make more than 1000 in one second at a sliding
/// server; logged when they left (less the allowance), the next second's slots move back by
/// what the batch was late beyond it.
#[test]
fn a_late_batch_does_not_crowd_the_next_second_at_1000_per_second() {
    let t0 = Instant::now();
    let declared = rate("1000/1s");
    let senders = crate::execute::in_flight(declared);
    let server = || SimServer::new(Counting::Sliding, Dialect::None, 1000, ms(1_000), t0);
    // Requests 300..335 wait for one commit that ends at the 335th's slot.
    let late = || {
        Late::commit(|i| {
            Duration::from_micros(1_020)
                * (335usize.saturating_sub(i).min(35) as u32 * u32::from(i >= 300))
        })
    };
    let blind = drive(
        &mut Pacer::new(declared, default_margin(declared)),
        &mut server(),
        t0,
        2_500,
        senders,
        &late(),
        false,
    );
    assert!(blind.throttled > 0, "logged at their slots: 429s");
    let run = drive(
        &mut Pacer::new(declared, default_margin(declared)),
        &mut server(),
        t0,
        2_500,
        senders,
        &late(),
        true,
    );
    eprintln!(
        "blind: 429s {}; reported: {:?}",
        blind.throttled,
        span(&run)
    );
    assert_eq!(run.throttled, 0);
    // At most the batch's lateness (35.7 ms) on the whole run.
    assert!(span(&run) <= Duration::from_micros(1_020) * 2_499 + ms(36));
}

/// Bursts (`4/2s` against a sliding `4/2s` server with draft-7 headers, five senders): a burst
/// member whose timer fires 45 ms late keeps its window instead of being sent to the end of the
/// schedule (a whole window later when the next burst was already reserved).
#[test]
fn a_burst_member_whose_timer_fires_late_keeps_its_window() {
    let t0 = Instant::now();
    let declared = rate("4/2s");
    let pacer = || Pacer::new(declared, default_margin(declared));
    let server = || SimServer::new(Counting::Sliding, Dialect::Draft7, 4, ms(2_000), t0);
    let late = Late::timer(every_fifth_late);
    let run = drive(&mut pacer(), &mut server(), t0, 41, 5, &late, true);
    eprintln!("pace {:.3}, 429s {}", pace(&run), run.throttled);
    assert_eq!(run.throttled, 0);
    assert!(pace(&run) >= 0.96, "{:.3}", pace(&run));
}

/// A token bucket (the sandbox's `--window-mode bucket`): `limit` tokens, one back every
/// `per_token`, with `X-RateLimit-*` headers that carry no window (remaining cut to a whole
/// number, reset to the next token as an epoch second rounded up).
struct Bucket {
    limit: u32,
    per_token: Duration,
    tokens: f64,
    last: Option<Instant>,
    epoch: Instant,
}

impl Bucket {
    /// A full bucket of 4 refilling one token per 500 ms, its clock starting at `epoch`.
    fn full_4_per_2s(epoch: Instant) -> Bucket {
        Bucket {
            limit: 4,
            per_token: ms(500),
            tokens: 4.0,
            last: None,
            epoch,
        }
    }
}

impl Server for Bucket {
    fn handle(&mut self, at: Instant) -> Response {
        let cap = f64::from(self.limit);
        if let Some(last) = self.last {
            let refill = (at - last).as_secs_f64() / self.per_token.as_secs_f64();
            self.tokens = (self.tokens + refill).min(cap);
        }
        self.last = Some(at);
        let ok = self.tokens >= 1.0;
        if ok {
            self.tokens -= 1.0;
        }
        let next = self
            .per_token
            .mul_f64(1.0 + self.tokens.floor() - self.tokens);
        let reset = self.wall(at + next).duration_since(SystemTime::UNIX_EPOCH);
        let reset = crate::ratelimit::duration::ceil_secs(reset.unwrap_or_default()).as_secs();
        Response {
            ok,
            headers: vec![
                ("X-RateLimit-Limit".into(), self.limit.to_string()),
                (
                    "X-RateLimit-Remaining".into(),
                    (self.tokens.floor() as u32).to_string(),
                ),
                ("X-RateLimit-Reset".into(), reset.to_string()),
            ],
        }
    }
    fn wall(&self, at: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (at - self.epoch)
    }
}

/// `X-RateLimit-Limit: 4` from a token bucket refilling 4 per 2 s, under a declared `10/1s`:
/// read against the declared second, the limit paced 4 per second, twice the bucket's rate, and
/// met 429s for the whole run; read against a window inferred from the refills (4 per 2.2 s,
/// in bursts) it reached 0.85 of the bucket's pace. Remaining coming back one token at a time
/// half a second after the quota was full proves a bucket: it is paced as one, a token per
/// request, and reaches its pace (a burst of 4, then one per 500 ms) without a 429. A fixed
/// `4/2s` window under its own declared rate is never taken for a longer one, nor for a bucket.
#[test]
fn a_limit_without_a_window_that_refills_one_at_a_time_is_paced_as_a_token_bucket() {
    let t0 = Instant::now() + ms(10_300);
    let declared = rate("10/1s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let mut bucket = Bucket::full_4_per_2s(t0 - ms(10_300));
    let run = drive(&mut pacer, &mut bucket, t0, 41, 5, &Late::none(), true);
    let notes = pacer.take_notes();
    eprintln!("429s {}, span {:?}, {notes:?}", run.throttled, span(&run));
    assert!(pacer.windowless.and_then(|w| w.rate()).is_none());
    assert!(
        notes
            .iter()
            .any(|n| n.contains("paced as a token bucket of 4")),
        "{notes:?}"
    );
    assert_eq!(run.throttled, 0);
    // The bucket's optimum for 41: a burst of 4, then one per 500 ms.
    let optimum = ms(500) * 37;
    let ratio = optimum.as_secs_f64() / span(&run).as_secs_f64();
    assert!(ratio >= 0.98, "{ratio:.3}");
    let ended = pacer.effective_rate();
    assert!(ended.limit == 1 && ended.window >= ms(500), "{ended}");

    let declared = rate("4/2s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let epoch = t0 - ms(10_300);
    let mut fixed = SimServer::new(Counting::Anchored, Dialect::XRateLimit, 4, ms(2_000), epoch);
    let run = drive(&mut pacer, &mut fixed, t0, 41, 5, &Late::none(), true);
    assert!(pacer.windowless.and_then(|w| w.rate()).is_none());
    assert!(pacer.bucket_rate().is_none());
    assert_eq!(run.throttled, 0);
    assert!(pace(&run) >= 0.98, "{:.3}", pace(&run));
}

/// The same token bucket under a slower declared `2/2s` (one send a second, well below its
/// 2 per second): the bucket stays full and its refills are lost to the cap, which must not be
/// read as a longer window.
#[test]
fn a_full_bucket_is_not_taken_for_a_longer_window() {
    let t0 = Instant::now() + ms(10_300);
    let declared = rate("2/2s");
    let mut pacer = Pacer::new(declared, default_margin(declared));
    let mut bucket = Bucket::full_4_per_2s(t0 - ms(10_300));
    let run = drive(&mut pacer, &mut bucket, t0, 31, 1, &Late::none(), true);
    assert!(pacer.windowless.and_then(|w| w.rate()).is_none());
    assert_eq!(run.throttled, 0);
    // 15 bursts of 2, 2.02 s apart.
    assert!(span(&run) <= ms(15 * 2_020 + 10), "{:?}", span(&run));
}
