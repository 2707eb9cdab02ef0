//! A limit announced without its window (`X-RateLimit-Limit: 4` with a remaining count and a
//! reset, no policy): it is read against the declared window until the refills of `remaining`
//! prove that window too short, then against a window inferred from those refills.
//!
//! Between the first answer and a later one the server gave back `remaining_now −
//! remaining_first + accepted since` requests of quota (a fixed window all at once at its reset,
//! a token bucket continuously). A server admitting L per W gives back at most `L·elapsed/W + L`
//! in `elapsed` (a fixed window lags by up to one window; a bucket's fraction of a request is cut
//! off the count by one at most), so `W ≥ L·elapsed / (refilled + L)`: when that exceeds the
//! declared window (with its margin, and a tenth more for jitter), the declared window is too
//! short. The window then used is `L·elapsed / (refilled − 1)`, the slow end of what the count
//! allows, the smallest over the run: it converges as refills accumulate. An accepted request
//! that leaves L − 1 found the quota full, so what refilled before it was lost to the cap and
//! the count starts again (a bucket sent to more slowly than it refills, a new fixed window
//! each time: neither is mistaken for a longer window). (A sandbox token
//! bucket `4/2s` with `X-RateLimit-*` under a declared `10/1s` was paced at 4 per second and
//! drew 429s for the whole run.)

use std::time::Duration;

use tokio::time::Instant;

use super::{Pacer, Rate};

/// What the refills of one windowless limit said so far.
#[derive(Debug, Clone, Copy)]
pub(super) struct Windowless {
    limit: u32,
    /// The first answer counted: when, and what remained.
    start: Instant,
    start_remaining: u32,
    /// Answers since then that were not 429s: requests the server took from the quota.
    accepted: u32,
    /// The window inferred once the declared one was proven too short.
    window: Option<Duration>,
    /// Set when the refills proved a token bucket (`pacer_bucket`): no window describes it.
    pub(super) bucket: bool,
}

impl Windowless {
    /// The inferred policy, once there is one.
    pub(super) fn rate(&self) -> Option<Rate> {
        let window = self.window.filter(|_| !self.bucket);
        window.map(|w| Rate::new(self.limit, w))
    }
}

impl Pacer {
    /// Feeds one answer that carried `limit` without a window.
    pub(super) fn observe_windowless(
        &mut self,
        at: Instant,
        limit: u32,
        remaining: Option<u32>,
        throttled: bool,
    ) {
        let Some(remaining) = remaining else {
            return;
        };
        let declared = self.declared.window + self.margin;
        // An accepted request that leaves L − 1 found the quota full: whatever refilled before it
        // was lost to the cap (a bucket we send to more slowly than it refills, each new fixed
        // window), so the count starts again here.
        let full = !throttled && remaining.saturating_add(1) >= limit;
        let w = match &mut self.windowless {
            Some(w) if w.limit == limit && !full => w,
            Some(w) if w.limit == limit => {
                w.start = at;
                w.start_remaining = remaining;
                w.accepted = 0;
                return;
            }
            _ => {
                self.windowless = Some(Windowless {
                    limit,
                    start: at,
                    start_remaining: remaining,
                    accepted: 0,
                    window: None,
                    bucket: false,
                });
                return;
            }
        };
        if w.bucket {
            return;
        }
        if !throttled {
            w.accepted = w.accepted.saturating_add(1);
        }
        let refilled = i64::from(remaining) + i64::from(w.accepted) - i64::from(w.start_remaining);
        let elapsed = at.saturating_duration_since(w.start).as_secs_f64();
        let l = f64::from(limit);
        let at_least = l * elapsed / (refilled as f64 + l);
        if refilled < 2 || (w.window.is_none() && at_least <= declared.as_secs_f64() * 1.1) {
            return;
        }
        let Ok(estimate) = Duration::try_from_secs_f64(l * elapsed / (refilled - 1) as f64) else {
            return;
        };
        // Whole milliseconds, rounded up: never faster than the count allows, and readable.
        let estimate =
            Duration::from_millis(u64::try_from(estimate.as_millis()).unwrap_or(u64::MAX))
                + Duration::from_millis(1);
        let first = w.window.is_none();
        let window = w.window.map_or(estimate, |old| old.min(estimate));
        w.window = Some(window.max(self.declared.window));
        if first {
            let rate = Rate::new(limit, window);
            self.tightened();
            self.note(format!(
                "server limit {limit} without a window refills as {rate}: overrides declared {}",
                self.declared
            ));
        }
    }
}
