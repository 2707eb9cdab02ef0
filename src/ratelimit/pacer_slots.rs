//! Send slots reserved ahead: (pacer, now) → a [`Slot`] in the schedule that one sender owns,
//! checked again when its time comes.
//!
//! Concurrent senders (hundreds at per-second tiers) each reserve their own slot and sleep
//! until it, so they neither wake together to race for the next one nor lose time to the
//! timer: a slot keeps its planned instant however late the timer fires, so an even schedule
//! does not drift. A reserved slot counts as a send in the window log from the start, so every
//! window still holds at most L of them.
//!
//! The server may tighten the limits while a slot waits (a stricter policy, a learned limit, a
//! block after `remaining == 0` or a 429), so [`Pacer::confirm`] withdraws a slot that was taken
//! before a tightening or falls in a block, and one used too late. Giving a slot back only
//! removes a send from the log, which never makes another reserved slot unsafe.
//!
//! Withdrawn slots leave the log at once, when the tightening is observed, not when their
//! sender wakes: otherwise the slots reserved under the declared rate would count as sends under
//! the server's slower policy until their time came, and push the next valid slots a whole
//! window later (declared `10/1s` against a server announcing `4/2s` lost 40 % of the pace).

use std::time::Duration;

use tokio::time::Instant;

use super::pacer::{later, RTT_SAMPLES};
use super::{Mode, Pacer};

/// A send slot taken by [`Pacer::reserve`]; use it through [`Pacer::confirm`] or give it back
/// with [`Pacer::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When the request may go.
    pub at: Instant,
    /// The pacer's tightening count when the slot was taken.
    tightenings: u64,
    /// Identifies the slot among those pending, since instants may repeat.
    id: u64,
}

impl Pacer {
    /// Takes the earliest free slot at or after `now` and records it as a send.
    pub fn reserve(&mut self, now: Instant) -> Slot {
        let at = self.next_at(now);
        self.insert_send(at);
        let id = self.next_slot;
        self.next_slot += 1;
        self.pending.push((id, at));
        self.prune(now);
        Slot {
            at,
            tightenings: self.tightenings,
            id,
        }
    }

    /// A tightening: every pending slot was taken under looser limits; withdraw them all.
    pub(super) fn tightened(&mut self) {
        self.tightenings += 1;
        self.withdraw_reserved(|_| true);
    }

    /// Takes the pending slots at instants matching `which` out of the send log now; their
    /// senders find them withdrawn when they wake.
    pub(super) fn withdraw_reserved(&mut self, which: impl Fn(Instant) -> bool) {
        let (gone, kept): (Vec<_>, Vec<_>) = self.pending.iter().partition(|(_, at)| which(*at));
        self.pending = kept;
        for (_, at) in gone {
            self.remove_send(at);
        }
    }

    fn remove_send(&mut self, at: Instant) {
        if let Some(i) = self.sends.iter().rposition(|s| *s == at) {
            self.sends.remove(i);
        }
    }

    /// Whether the request may go now in `slot`; if not, the slot is given back and the
    /// sender reserves another. A slot is withdrawn when the limits tightened or a block began
    /// that it falls in. A slot used late stays valid: [`Pacer::departed`] logs the request
    /// when it really leaves and re-plans what it crowds, so lateness costs only itself.
    /// (Withdrawing a slot more than half the margin late sent its request to the end of the
    /// schedule and left a hole of one spacing in an even one: 10–20 % of a leaky bucket's
    /// pace on a loaded machine.) Only when sends are spaced for a server that counts gaps
    /// (`smooth`) is a slot that a later one overtook, less than a spacing ago, withdrawn: its
    /// request would arrive too close behind.
    pub fn confirm(&mut self, slot: Slot, now: Instant) -> bool {
        let valid = slot.tightenings == self.tightenings
            && self.pending.iter().any(|(id, _)| *id == slot.id)
            && self.blocked_until.is_none_or(|b| slot.at >= b)
            && !self.overtaken(slot.at, now);
        if valid {
            self.pending.retain(|(id, _)| *id != slot.id);
            self.bucket_confirmed(now);
        } else {
            self.release(slot);
        }
        valid
    }

    /// Spaced sends only: a send after `at` in the log has already gone (it is no longer
    /// reserved) less than a spacing before `now`.
    fn overtaken(&self, at: Instant, now: Instant) -> bool {
        if !self.smooth {
            return false;
        }
        let interval = self.even_interval();
        let reserved = |s: Instant| self.pending.iter().any(|(_, p)| *p == s);
        self.sends
            .iter()
            .any(|s| *s > at && *s <= now && later(*s, interval) > now && !reserved(*s))
    }

    /// The request confirmed in a slot at `slot_at` leaves at `now`. Lateness up to
    /// [`Pacer::lateness_allowance`] is what the margin keeps for it; beyond that (a timer
    /// firing late on a loaded machine, a slow ledger commit) the log takes the departure less
    /// that allowance, and the slots it now crowds are re-planned from there with those after
    /// them: in a window log, those that would make L + 1 sends in a window; in an even
    /// schedule, also those less than one spacing after it. Spaced for a server that counts
    /// gaps (`smooth`: a leaky bucket), the allowance is zero: the next send is due one spacing
    /// after the real departure. (Keeping the slot's instant let a late batch followed by
    /// on-time sends crowd a window; counting the slot's instant let a burst start before the
    /// server's window, measured from the late arrival, had ended.) Returns the request's
    /// instant in the log, for [`Pacer::answered`].
    pub fn departed(&mut self, slot_at: Instant, now: Instant) -> Instant {
        let (allowance, spaced) = if self.smooth {
            (Duration::ZERO, true)
        } else {
            (self.lateness_allowance(), self.mode() == Mode::Even)
        };
        let late = now.saturating_duration_since(slot_at);
        self.observe_lateness(now, late, late.min(allowance));
        self.relog(slot_at, now.checked_sub(allowance).unwrap_or(now), spaced)
    }

    /// Moves the log's `entry` to `at` when that is later, and re-plans the reserved slots it
    /// crowds (module docs). Returns the entry's new instant.
    fn relog(&mut self, entry: Instant, at: Instant, spaced: bool) -> Instant {
        if at <= entry {
            return entry;
        }
        let Some(i) = self.sends.iter().rposition(|s| *s == entry) else {
            return entry;
        };
        self.sends.remove(i);
        self.insert_send(at);
        if spaced {
            let next = later(at, self.even_interval());
            let first = self.pending.iter().map(|(_, p)| *p).filter(|p| *p < next);
            if let Some(first) = first.min() {
                self.withdraw_reserved(|p| p >= first);
            }
        }
        // Every slot from the first crowded one on is re-planned: withdrawing only that one
        // would leave a hole in the schedule that later reservations, placed after the last
        // slot, never fill.
        while let Some(crowded) = self.crowded_by(at) {
            self.withdraw_reserved(|p| p >= crowded);
        }
        at
    }

    /// The request logged at `entry` (see [`Pacer::departed`]) was answered at `at`, after
    /// its answer time was fed to [`Pacer::observe_rtt`]. The server counted it somewhere
    /// between its departure and `at` less the fastest answer time; a server that was slow to
    /// answer (a cold start: 175 ms against 4 ms after) may have opened its window that late.
    /// The entry moves so that the margin after it reaches that latest reading (plus the
    /// drift): an answer within the margin's share for arrival jitter moves nothing.
    pub fn answered(&mut self, entry: Instant, at: Instant) -> Instant {
        let counted = at.checked_sub(self.fastest_answer()).unwrap_or(at);
        // The margin after the log's entry must reach past `counted` by the clock drift; its
        // arrival-jitter share is what this answer measures, so all of it may be used here.
        let reach = self.margin.saturating_sub(self.drift());
        self.relog(entry, counted.checked_sub(reach).unwrap_or(counted), false)
    }

    /// Feeds how late one request left its slot at `now`, and how much of it the log absorbed;
    /// kept for the log's memory.
    fn observe_lateness(&mut self, now: Instant, late: Duration, absorbed: Duration) {
        let memory = self.memory();
        while self
            .lateness
            .front()
            .is_some_and(|(at, ..)| later(*at, memory) <= now)
        {
            self.lateness.pop_front();
        }
        if !absorbed.is_zero() {
            self.lateness.push_back((now, late, absorbed));
        }
        if self.late_samples.len() == RTT_SAMPLES {
            self.late_samples.pop_front();
        }
        self.late_samples.push_back(late);
    }

    /// How late requests usually leave their slots: the median of the last [`RTT_SAMPLES`]
    /// departures, those not yet made counting as on time (one late first send is not usual).
    /// The margin keeps at least this much for lateness; rarer, longer delays are logged when
    /// they left and cost only themselves (a margin raised by every window for them cost an
    /// even schedule more than the late sends did).
    pub(super) fn usual_lateness(&self) -> Duration {
        // On the stack: this runs for every answer.
        let mut late = [Duration::ZERO; RTT_SAMPLES];
        for (slot, sample) in late.iter_mut().zip(&self.late_samples) {
            *slot = *sample;
        }
        *late.select_nth_unstable(RTT_SAMPLES / 2 - 1).1
    }

    /// What the margin keeps for clock drift between us and the server: 100 ppm of the window.
    pub(super) fn drift(&self) -> Duration {
        self.primary.window / 10_000
    }

    /// The most lateness the log absorbed (counted a send at its slot though it left that much
    /// later) for a send it may still count: the margin keeps covering it. (A margin that
    /// shrank under it let the next window start before the late arrival's had ended: 429s at
    /// `1000/1s` after a late batch followed by on-time sends.)
    pub(super) fn absorbed_lateness(&self) -> Duration {
        let absorbed = self.lateness.iter().map(|(_, _, a)| *a).max();
        absorbed.unwrap_or(Duration::ZERO)
    }

    /// How late a request may leave its slot and still be counted at it: what the margin
    /// keeps beyond arrival jitter (the measured answer-time spread, which shifts an arrival by
    /// at most that much) and 100 ppm of the window for clock drift; half the margin until an
    /// answer has measured the spread. Later departures are logged when they left.
    pub fn lateness_allowance(&self) -> Duration {
        let jitter = if self.has_answers() {
            self.spread + self.drift()
        } else {
            self.margin / 2
        };
        self.margin.saturating_sub(jitter)
    }

    /// A reserved slot that the send at `at` leaves too close: in a run of L + 1 sends shorter
    /// than a constraint's window plus margin.
    fn crowded_by(&self, at: Instant) -> Option<Instant> {
        let k = self.sends.iter().position(|s| *s == at)?;
        let len = self.sends.len();
        let reserved = |i: usize| self.pending.iter().any(|(_, p)| *p == self.sends[i]);
        let gap = |a: usize, b: usize| self.sends[b].saturating_duration_since(self.sends[a]);
        for c in self.constraints() {
            let l = c.limit as usize;
            for j in k.saturating_sub(l)..=k {
                if j + l < len && gap(j, j + l) < c.window + self.margin {
                    if let Some(i) = (j..=j + l).rev().find(|i| reserved(*i)) {
                        return Some(self.sends[i]);
                    }
                }
            }
        }
        None
    }

    /// Gives back a slot that will not be used (the run stopped, or the slot was withdrawn).
    /// A slot already withdrawn is out of the log; nothing else is removed.
    pub fn release(&mut self, slot: Slot) {
        if let Some(i) = self.pending.iter().position(|(id, _)| *id == slot.id) {
            self.pending.remove(i);
            self.remove_send(slot.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ratelimit::{Rate, Signal};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn pacer(rate: &str, margin: Duration) -> Pacer {
        Pacer::new(rate.parse::<Rate>().unwrap(), margin)
    }

    #[test]
    fn reserved_slots_follow_the_even_schedule_without_drift() {
        let now = Instant::now();
        let mut pacer = pacer("1000/1s", ms(20));
        let slots: Vec<Slot> = (0..3000).map(|_| pacer.reserve(now)).collect();
        let at: Vec<Instant> = slots.iter().map(|s| s.at).collect();
        assert_eq!(at[2999] - at[0], Duration::from_micros(1020) * 2999);
        assert!(at.windows(1001).all(|w| w[1000] - w[0] >= ms(1020)));
        // Each sender wakes a tick late: its slot keeps its instant.
        for s in &slots[..10] {
            assert!(pacer.confirm(*s, s.at + ms(1)));
        }
    }

    #[test]
    fn slots_are_withdrawn_when_limits_tighten_or_a_block_begins() {
        let now = Instant::now();
        let mut pacer = pacer("10/1s", ms(20));
        let slots: Vec<Slot> = (0..4).map(|_| pacer.reserve(now)).collect();
        assert_eq!(slots[3].at - now, ms(306), "one every 102 ms");
        let spent = Signal {
            remaining: Some(0),
            reset: Some(ms(150)),
            ..Signal::default()
        };
        pacer.observe(now, &spent, false);
        assert!(!pacer.confirm(slots[1], slots[1].at), "falls in the block");
        // The block re-plans every reserved slot (those after it were placed behind the void
        // ones); the next one goes right at the block's end.
        assert!(!pacer.confirm(slots[2], slots[2].at), "re-planned");
        let after = pacer.reserve(slots[1].at);
        assert_eq!(after.at, now + ms(170), "the block's end: reset + margin");
        assert!(pacer.confirm(after, after.at));
        let slots = [slots[0], slots[1], after, pacer.reserve(after.at)];
        let tighter = Signal {
            limit: Some(5),
            ..Signal::default()
        };
        pacer.observe(now, &tighter, false);
        assert!(
            !pacer.confirm(slots[3], slots[3].at),
            "taken under a looser limit"
        );
        let again = pacer.reserve(slots[3].at);
        assert_eq!(again.at, after.at + ms(204), "one every 204 ms now");
        assert!(pacer.confirm(again, again.at));
    }

    #[test]
    fn late_slots_stay_valid_and_released_slots_free_their_place() {
        let now = Instant::now();
        let mut pacer = pacer("4/2s", ms(100));
        let slots: Vec<Slot> = (0..4).map(|_| pacer.reserve(now)).collect();
        assert!(
            pacer.confirm(slots[0], now + ms(51)),
            "more than half the margin late: logged when it leaves"
        );
        assert_eq!(pacer.departed(slots[0].at, now + ms(51)), now + ms(1));
        assert!(pacer.confirm(slots[1], now + ms(50)));
        pacer.release(slots[2]);
        assert_eq!(pacer.reserve(now + ms(60)).at, now + ms(60));
        assert_eq!(pacer.next_at(now + ms(60)), now + ms(2_100));
    }
}

#[cfg(test)]
mod reconcile_tests {
    use std::time::Duration;

    use super::*;
    use crate::ratelimit::{Rate, Signal};

    /// Declared 10/1s, the first answer announces 4/2s: the slots reserved under 10/1s leave
    /// the log at once, so the next slots follow the 4/2s schedule from the first send, not a
    /// window after the withdrawn ones.
    #[test]
    fn slots_reserved_under_the_declared_rate_are_replanned_when_a_slower_policy_appears() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut pacer = Pacer::new("10/1s".parse::<Rate>().unwrap(), ms(20));
        let slots: Vec<Slot> = (0..5).map(|_| pacer.reserve(now)).collect();
        assert!(pacer.confirm(slots[0], now));
        let policy = Signal {
            limit: Some(4),
            window: Some(Duration::from_secs(2)),
            remaining: Some(3),
            ..Signal::default()
        };
        pacer.observe(now + ms(5), &policy, false);
        // A sixth sender reserves right away: 102 ms after the first send (even spacing),
        // not after the four withdrawn slots.
        let next = pacer.reserve(now + ms(5));
        assert_eq!(next.at, now + ms(102));
        for s in &slots[1..] {
            assert!(!pacer.confirm(*s, s.at), "taken under 10/1s");
        }
        let mut at: Vec<Instant> = vec![now, next.at];
        assert!(pacer.confirm(next, next.at));
        for _ in 0..6 {
            let s = pacer.reserve(*at.last().unwrap());
            assert!(pacer.confirm(s, s.at));
            at.push(s.at);
        }
        let offsets: Vec<u128> = at.iter().map(|t| (*t - now).as_millis()).collect();
        assert_eq!(offsets, [0, 102, 204, 306, 2_020, 2_122, 2_224, 2_326]);
    }
}
