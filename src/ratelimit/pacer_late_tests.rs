//! Senders that leave late (a loaded machine's timers, a slow ledger commit) against simulated
//! servers with whole-second resets, on a virtual clock: several senders holding slots, each
//! request answered 3 ms after it really left.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

use super::tests::{ms, rate};
use super::*;
use crate::ratelimit::parse_signal;
use crate::ratelimit::sim::{Counting, Dialect, SimServer};
use crate::ratelimit::Slot;

struct Run {
    /// Arrival times of the accepted requests.
    accepted: Vec<Instant>,
    throttled: usize,
}

enum Event {
    /// A sender wakes for its slot.
    Wake(Slot),
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

/// `senders` tasks send `n` messages (a 429 is sent again) as the pacer allows; the i-th
/// request to leave is `late(i)` behind its slot. `report` says whether the pacer learns when
/// requests really left (`Pacer::departed`).
fn drive(
    pacer: &mut Pacer,
    server: &mut SimServer,
    start: Instant,
    n: usize,
    senders: usize,
    late: impl Fn(usize) -> Duration,
    report: bool,
) -> Run {
    let mut run = Run {
        accepted: vec![],
        throttled: 0,
    };
    let mut queue = Queue::default();
    for _ in 0..senders {
        let slot = pacer.reserve(start);
        queue.push(slot.at, Event::Wake(slot));
    }
    let (mut left_count, mut in_flight) = (0, 0);
    while let Some((now, event)) = queue.pop() {
        match event {
            Event::Wake(slot) => {
                if run.accepted.len() + in_flight >= n {
                    pacer.release(slot);
                    continue;
                }
                if !pacer.confirm(slot, now) {
                    let again = pacer.reserve(now);
                    queue.push(again.at, Event::Wake(again));
                    continue;
                }
                let left = now + late(left_count);
                left_count += 1;
                let entry = if report {
                    pacer.departed(slot.at, left)
                } else {
                    slot.at
                };
                in_flight += 1;
                let response = server.handle(left);
                if response.ok {
                    run.accepted.push(left);
                } else {
                    run.throttled += 1;
                }
                let headers = response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()));
                let answered = left + ms(3);
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
                    queue.push(slot.at, Event::Wake(slot));
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
            let on_time = |_| Duration::ZERO;

            let run = drive(&mut pacer(), &mut server(), start, 41, 5, on_time, true);
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
                every_fifth_late,
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
                every_fifth_late,
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
    assert_eq!(p.next_at(now), t0 + ms(175 - 10 + 2_020));
    // Fast answers leave the log as it was.
    let mut p = Pacer::new(rate("4/2s"), ms(20));
    let mut now = t0;
    for _ in 0..4 {
        now = answer(&mut p, now, ms(4));
    }
    assert_eq!(p.next_at(now), t0 + ms(2_020));
}
