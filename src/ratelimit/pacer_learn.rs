//! Learning without headers: a 429 that the headers do not explain lowers the limit, and the
//! pacer probes back up (additive increase) towards the declared rate, so it converges on what
//! the server really admits and follows it when that changes.
//!
//! - **Decrease.** A 429 lowers the limit to the sends the server accepted in the trailing
//!   window (at least one; none accepted means the quota went to someone else and teaches
//!   nothing). A 429 within two windows of a probe undoes just that probe.
//! - **Increase.** Once the limit has held for `gap` windows during which the pacer was
//!   actually held back by it (a full window of sends), the limit rises by one. Every failed
//!   probe doubles `gap` (2 → 4 → … → 64 windows), so probing costs at most one 429 per gap.
//! - **Smooth.** From the first such 429 on, sends are spaced evenly (see `Pacer::smooth`).
//! - **Never above** the declared rate or a limit the server announced in its headers.
//!
//! # Bound on 429s without headers
//! `L_declared - L_true` while learning down (see the pacer's module docs), plus one per failed
//! probe: at most `1 + log2(T / 2W)` probes fail in a run of length T before the gap reaches 64
//! windows, then one per 64 windows. A later run starts from the learned limit (while it is
//! younger than [`LEARNED_TTL_WINDOWS`] windows and an hour) and probes from there.

use std::time::Duration;

use tokio::time::Instant;

use super::pacer::{later, Pacer};
use super::Rate;

/// First wait (in windows) before probing up after a decrease.
const FIRST_GAP: u32 = 2;
/// The longest wait between probes, in windows.
const MAX_GAP: u32 = 64;
/// A learned limit is forgotten by later runs after this many windows (and at least an hour).
pub const LEARNED_TTL_WINDOWS: u32 = 12;

/// Where a limit below the declared one came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Learned {
    /// When the limit was last lowered.
    pub at: Instant,
    /// No probe before this instant.
    probe_after: Instant,
    /// Windows to wait between probes.
    gap: u32,
    /// When the last probe raised the limit, so a 429 soon after it undoes only the probe.
    raised_at: Option<Instant>,
}

impl Pacer {
    /// The limit learned from 429s, with when it was learned, if the pacer is below its ceiling
    /// because of them.
    pub fn learned(&self) -> Option<(Rate, Instant)> {
        self.learned.map(|l| (self.primary, l.at))
    }

    /// How long a learned limit stays valid for later runs.
    pub fn learned_ttl(&self) -> Duration {
        (self.primary.window * LEARNED_TTL_WINDOWS).max(Duration::from_secs(3600))
    }

    /// A 429 the headers do not explain: lower the limit (see the module docs).
    pub(super) fn learn_down(&mut self, at: Instant) {
        let period = self.primary.window + self.margin;
        if let Some(mut l) = self.learned {
            if l.raised_at.is_some_and(|r| later(r, period * 2) > at) {
                // The probe overshot: back to the last limit that held, and wait longer.
                l.gap = (l.gap * 2).min(MAX_GAP);
                l.raised_at = None;
                l.at = at;
                l.probe_after = later(at, period * l.gap);
                self.learned = Some(l);
                let limit = self.primary.limit.saturating_sub(1).max(1);
                self.set_primary(limit);
                self.note(format!(
                    "429 after probing up: pace back to {}, next probe in {} windows",
                    self.primary, l.gap
                ));
                return;
            }
        }
        let Some(accepted) = self.accepted_within(at, self.primary.window) else {
            return;
        };
        self.smooth = true;
        if accepted >= self.primary.limit {
            return;
        }
        self.set_primary(accepted);
        let gap = self.learned.map_or(FIRST_GAP, |l| l.gap);
        self.learned = Some(Learned {
            at,
            probe_after: later(at, period * gap),
            gap,
            raised_at: None,
        });
        self.note(format!(
            "429 without a policy that explains it: pace now {}, probing up",
            self.primary
        ));
    }

    /// After an accepted send: probe one step up when the learned limit has held long enough
    /// and the pacer was actually held back by it.
    pub(super) fn probe_up(&mut self, at: Instant) {
        let Some(mut l) = self.learned else {
            return;
        };
        if at < l.probe_after || !self.window_full(at) {
            return;
        }
        let limit = self.primary.limit + 1;
        self.primary.limit = limit.min(self.ceiling);
        let period = self.primary.window + self.margin;
        if self.primary.limit >= self.ceiling {
            self.learned = None;
            self.note(format!("probed back up to {}", self.primary));
            return;
        }
        l.raised_at = Some(at);
        l.probe_after = later(at, period * l.gap);
        self.learned = Some(l);
        self.note(format!("probing up: pace now {}", self.primary));
    }

    /// Starts from a limit learned by an earlier run, still probing up from it.
    pub(super) fn resume_learned(&mut self, limit: u32, learned_at: Instant, now: Instant) {
        if limit == 0 || limit >= self.primary.limit {
            return;
        }
        self.set_primary(limit);
        let period = self.primary.window + self.margin;
        self.learned = Some(Learned {
            at: learned_at,
            probe_after: later(now, period * FIRST_GAP),
            gap: FIRST_GAP,
            raised_at: None,
        });
    }

    /// A 429 under an announced policy for another window (`limit` per `window`) that our own
    /// accepted sends never reached: the headers do not describe the real limiter, so what it
    /// accepted in that window becomes a constraint of its own.
    pub(super) fn learn_against_policy(&mut self, at: Instant, limit: u32, window: Duration) {
        let Some(accepted) = self.accepted_within(at, window) else {
            return;
        };
        if accepted < limit {
            self.smooth = true;
            let rate = Rate::new(accepted, window);
            self.adopt(rate);
            self.note(format!(
                "429 below the announced policy {}: pace now {}",
                Rate::new(limit, window),
                self.effective_rate()
            ));
        }
    }

    /// Our sends the server accepted in the trailing `window`; `None` when none was (the quota
    /// went to someone else).
    fn accepted_within(&self, at: Instant, window: Duration) -> Option<u32> {
        let from = at.checked_sub(window);
        let recent = |t: &&Instant| **t <= at && from.is_none_or(|f| **t > f);
        let sent = self.sends.iter().filter(recent).count();
        let refused = self.throttled.iter().filter(recent).count();
        let accepted = u32::try_from(sent.saturating_sub(refused)).unwrap_or(u32::MAX);
        (accepted >= 1).then_some(accepted)
    }

    /// Whether the primary limit is what holds the pacer back: its window is full, counting
    /// the slots already reserved ahead (concurrent senders).
    fn window_full(&self, at: Instant) -> bool {
        let from = at.checked_sub(self.primary.window + self.margin);
        let recent = self
            .sends
            .iter()
            .filter(|t| from.is_none_or(|f| **t > f))
            .count();
        recent >= self.primary.limit as usize
    }

    fn set_primary(&mut self, limit: u32) {
        if limit != self.primary.limit {
            self.primary.limit = limit;
            self.tightened();
        }
    }
}

#[cfg(test)]
#[path = "pacer_learn_tests.rs"]
mod tests;
