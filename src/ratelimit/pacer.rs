//! The pacer: declared `Rate` + send history + server signals → the earliest instant the next
//! request may go.
//!
//! # Modes
//! - [`Mode::Window`] (declared window longer than 1 s, e.g. `2/300s`): a sliding log of the
//!   last L send times; the next send may go at `log[len - L] + W + margin`. This sends L
//!   back-to-back every `W + margin`, the fastest schedule a fixed window anchored at the first
//!   request allows, and it is also safe against clock-aligned windows and sliding-log servers
//!   because no interval of length `W` ever holds more than L sends. (A token bucket with burst
//!   L is not: it lets 2L-1 requests into one window.)
//! - [`Mode::Even`] (window of 1 s or less, e.g. `80/1s`): sends spaced `(W + margin) / L`
//!   apart, so per-second tiers see a smooth stream; the sliding log stays on as a safety net.
//!
//! # Server signals: tighten, never loosen
//! - A policy (limit and window) stricter than what we enforce is adopted: same window → lower
//!   limit; another window → an extra sliding-log constraint. Looser policies are ignored. A
//!   limit without a window is read against the declared window until its refills prove that
//!   window too short (`pacer_window`), or prove a token bucket (`pacer_bucket`).
//! - `remaining == 0` with a reset: nothing is sent before `at + reset + margin`. A reset is
//!   only as exact as it is written: whole delta seconds (`t=2`) mean anything in (1, 2] s, an
//!   epoch second measured from `Date` may be up to 2 s late (`Signal::reset_slack`). The
//!   earliest reading is used while the window log already holds the next send past it (the
//!   log keeps the rest); when the log would send sooner, the server counted something the log
//!   does not, and the reset is waited out as written.
//! - A 429 (`throttled`): the window counts as exhausted until `at + wait + margin`, where wait
//!   is `Retry-After` or the reset; with neither, exponential backoff with equal jitter from
//!   `min(1 s, W)` (from two spacings once spaced evenly, jitter only added), doubling (growing
//!   by half once spaced evenly) until a request is accepted (at most 15 min; a server that
//!   counts refused requests is not fed while it decays).
//! - Learning: a 429 that carries no limit (or a limit our accepted sends never reached: the
//!   headers do not describe the real limiter) slows the pace to a learned spacing between
//!   sends, which the pacer then searches up and down to the server's real rate; see
//!   `pacer_learn`. If none of our sends in the trailing window was accepted, the quota was
//!   used by someone else and says nothing about its size, so only the backoff applies.
//!
//! # Margin
//! Each window gets a margin against network jitter, lateness and clock error. It starts at a
//! floor ([`default_margin`]) and grows with what is measured: the spread of answer times (a
//! send's arrival may shift by up to that spread; the slowest of the last 64 answers is left
//! out, as the first one also paid for the connection), plus how late requests usually leave
//! their slots (the median of the last 64), plus 100 ppm of the window for clock drift, at most
//! 5 % of the window. What it keeps beyond the spread and the drift is the lateness allowance
//! ([`Pacer::lateness_allowance`]): a request leaving later than that is logged when it left,
//! less the allowance, and re-plans the slots it crowds (`Pacer::departed`), so it costs only
//! its own lateness. An answer says how late the server may have counted its request: one
//! slower than the margin's jitter share allows moves the request in the log by the excess
//! (`Pacer::answered`). Rarer, longer lateness does not raise the margin (a margin paid by
//! every window cost an even schedule more than the late sends did), but the margin never
//! drops below the spread plus what it allowed a send the log still counts. (Twice the spread,
//! the jitter share counted again on top, held an express-rate-limit server's 2 s windows
//! 2.04 s apart when the first answer of each came 20 ms slower than the rest.)
//!
//! # Bound on 429s without headers
//! See `pacer_learn`: logarithmic in how far the declared rate is above the real one, plus a
//! few probes per search, times the requests in flight.

use std::collections::VecDeque;
use std::time::Duration;

use rand::RngExt;
use tokio::time::Instant;

use super::headers::{Signal, MAX_WAIT};
use super::Rate;

/// Server policies with larger quotas are not tracked: the send log would grow too long.
const MAX_TRACKED_LIMIT: u32 = 100_000;
/// At most this many extra server constraints; more says the server is confused.
const MAX_SERVER_RATES: usize = 8;
/// Durations added to instants are capped here so that absurd inputs cannot overflow.
const FAR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How sends are spread inside a window; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// L back-to-back sends, then wait for the oldest to leave the window.
    Window,
    /// One send every `(W + margin) / L`.
    Even,
}

/// Windows of this length or shorter are paced evenly.
pub const EVEN_MODE_MAX_WINDOW: Duration = Duration::from_secs(1);

/// The floor of the margin added to each window; measured jitter raises it (see the module
/// docs). Fixed windows get 0.4 % of the window, at least 20 ms and at most 1 s: the provider's
/// `2/300s` gets a second (99.7 % of the optimum pace) against clock drift and jitter a short
/// run cannot measure, `4/5s` 20 ms (99.6 %). Per-second tiers (paced evenly) get 2 %: their
/// servers measure smooth rates (`1000/1s` gets 20 ms, so at most 980 requests in any second).
pub fn default_margin(rate: Rate) -> Duration {
    if rate.window <= EVEN_MODE_MAX_WINDOW {
        rate.window / 50
    } else {
        (rate.window / 250).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

/// Answer times remembered for the jitter estimate.
pub(super) const RTT_SAMPLES: usize = 64;

/// Decides when the next request may be sent. Owned by one task (or behind a mutex).
#[derive(Debug, Clone)]
pub struct Pacer {
    pub(super) declared: Rate,
    /// The declared window with the limit lowered by learning and same-window policies.
    pub(super) primary: Rate,
    /// Stricter server policies with other windows.
    pub(super) server: Vec<Rate>,
    pub(super) margin: Duration,
    /// The margin before any measurement.
    floor: Duration,
    /// Recent answer times, for the jitter part of the margin.
    rtts: VecDeque<Duration>,
    /// The highest limit for the primary window: declared, or lower when the server said so.
    pub(super) ceiling: u32,
    /// Set while the primary limit is below the ceiling because of 429s (see `pacer_learn`).
    pub(super) learned: Option<super::pacer_learn::Learned>,
    /// A lower count per announced window, learned from 429s (see `pacer_learn`).
    pub(super) quota: Option<super::pacer_learn::Quota>,
    /// Why the pace changed, oldest first, until taken by [`Pacer::take_notes`].
    pub(super) notes: Vec<String>,
    /// When the server last announced a policy.
    pub(super) policy_at: Option<Instant>,
    /// A limit announced without a window, and the window its refills show (`pacer_window`).
    pub(super) windowless: Option<super::pacer_window::Windowless>,
    /// The same limit read as a token bucket, once its refills prove one (`pacer_bucket`).
    pub(super) bucket: Option<Box<super::pacer_bucket::Bucket>>,
    /// Set by the first 429 without headers: sends are spaced evenly from then on, whatever
    /// the mode, because a server that says nothing may be smoothing (leaky bucket, HAProxy's
    /// rate estimate) and refuse bursts that fit a fixed window.
    pub(super) smooth: bool,
    /// Set by the switch to even spacing until a request is accepted (see `pacer_learn`).
    pub(super) settling: bool,
    /// Spread of recent answer times (slowest but one − fastest).
    pub(super) spread: Duration,
    /// Recent departures, for the margin (see `pacer_slots`): when, how late, and how much of
    /// that the log absorbed (counted at the slot).
    pub(super) lateness: VecDeque<(Instant, Duration, Duration)>,
    /// How late each of the last [`RTT_SAMPLES`] requests left its slot, for the margin.
    pub(super) late_samples: VecDeque<Duration>,
    /// The answer time last fed to [`Pacer::observe_rtt`]: the answer [`Pacer::observe`] gets
    /// next is to a request sent this long before it.
    last_rtt: Duration,
    /// Send instants, oldest first, trimmed to what any constraint can still need.
    pub(super) sends: VecDeque<Instant>,
    /// When 429s were observed, for learning.
    pub(super) throttled: VecDeque<Instant>,
    pub(super) blocked_until: Option<Instant>,
    backoff_level: u32,
    /// Counts every tightening of the limits, so that slots reserved before one are re-checked.
    pub(super) tightenings: u64,
    /// Slots reserved and not yet confirmed or released: (slot id, instant).
    pub(super) pending: Vec<(u64, Instant)>,
    pub(super) next_slot: u64,
}

impl Pacer {
    /// A pacer enforcing `rate` with `margin` added to every window.
    pub fn new(rate: Rate, margin: Duration) -> Self {
        let rate = Rate::new(rate.limit.max(1), rate.window.min(FAR));
        Pacer {
            declared: rate,
            primary: rate,
            server: Vec::new(),
            margin: margin.min(FAR),
            floor: margin.min(FAR),
            rtts: VecDeque::new(),
            ceiling: rate.limit,
            learned: None,
            quota: None,
            notes: Vec::new(),
            policy_at: None,
            windowless: None,
            bucket: None,
            smooth: false,
            settling: false,
            spread: Duration::ZERO,
            lateness: VecDeque::new(),
            late_samples: VecDeque::new(),
            last_rtt: Duration::ZERO,
            sends: VecDeque::new(),
            throttled: VecDeque::new(),
            blocked_until: None,
            backoff_level: 0,
            tightenings: 0,
            pending: Vec::new(),
            next_slot: 0,
        }
    }

    /// The pacing mode, chosen by the declared window (even for windows of 1 s or less).
    pub fn mode(&self) -> Mode {
        if self.declared.window <= EVEN_MODE_MAX_WINDOW {
            Mode::Even
        } else {
            Mode::Window
        }
    }

    /// Earliest instant the next request may be sent; does not reserve it.
    pub fn next_at(&self, now: Instant) -> Instant {
        let mut at = now.max(self.blocked_until.unwrap_or(now));
        for rate in self.constraints() {
            let limit = rate.limit as usize;
            if let Some(oldest) = self.sends.len().checked_sub(limit).map(|i| self.sends[i]) {
                at = at.max(later(oldest, rate.window + self.margin));
            }
        }
        if let (true, Some(&last)) = (self.mode() == Mode::Even || self.smooth, self.sends.back()) {
            at = at.max(later(last, self.even_interval()));
        }
        self.bucket_next(at).unwrap_or(at)
    }

    /// The next send after `at` in the window log: a slot already reserved, or where the log
    /// would place the next one (the block and the even spacing left out).
    fn log_next_after(&self, at: Instant) -> Instant {
        let free = self
            .constraints()
            .filter_map(|c| {
                let i = self.sends.len().checked_sub(c.limit as usize)?;
                Some(later(self.sends[i], c.window + self.margin))
            })
            .fold(at, Instant::max);
        let reserved = self.sends.iter().find(|s| **s > at).copied();
        reserved.map_or(free, |r| r.min(free))
    }

    /// Records that a request is being sent at `at` (the present), taking its slot.
    pub fn record_send(&mut self, at: Instant) {
        self.insert_send(at);
        self.prune(at);
    }

    pub(super) fn insert_send(&mut self, at: Instant) {
        let pos = self.sends.partition_point(|s| *s <= at);
        self.sends.insert(pos, at);
    }

    /// Feeds back one response: its rate-limit `signal` and whether it was throttled (a 429
    /// or a provider throttling code). Its answer time, if measured, goes to
    /// [`Pacer::observe_rtt`] first: learning needs to know when the request went out.
    pub fn observe(&mut self, at: Instant, signal: &Signal, throttled: bool) {
        let sent = at.checked_sub(self.last_rtt).unwrap_or(at);
        if let Some(limit) = signal.limit {
            self.policy_at = Some(at);
            if signal.window.is_none() {
                self.observe_windowless(at, limit, signal.remaining, throttled);
                self.observe_bucket(sent, at, limit, signal.remaining, throttled);
            }
            self.adopt(Rate::new(
                limit,
                signal.window.unwrap_or(self.primary.window),
            ));
        }
        if let (Some(0), Some(reset)) = (signal.remaining, signal.reset) {
            // The window is spent until some time in [reset − resolution, reset]. When our own
            // log already holds the next send past the earliest of those, log and header agree
            // and the earliest reading costs nothing (a whole-second reset written `2` for
            // 1.7 s would otherwise hold every burst 0.3 s too long). When the log would send
            // sooner, the server counted something the log does not (another client's
            // requests, or one of ours arriving later than planned): wait for it as written.
            let earliest = later(at, reset.saturating_sub(signal.reset_slack).min(MAX_WAIT));
            let written = later(at, reset.min(MAX_WAIT));
            let agrees = self.log_next_after(at) >= earliest;
            let until = if agrees { earliest } else { written };
            self.block_until(later(until, self.margin));
        }
        if !throttled {
            self.backoff_level = 0;
            self.probe_up(at, sent);
            return;
        }
        self.throttled.push_back(at);
        // An announced policy explains the 429 when our accepted sends reached it (a window
        // the server anchored a little later than our log: wait for its reset, keep the
        // bursts); otherwise the headers do not describe the real limiter and it is learned.
        let slowed = match signal.limit {
            Some(limit) => {
                let inferred = self.windowless.and_then(|w| w.rate()).map(|r| r.window);
                let window = signal.window.or(inferred).unwrap_or(self.primary.window);
                let windowed = signal.window.is_some();
                self.learn_against_policy(at, sent, Rate::new(limit, window), windowed)
            }
            None => self.learn_down(at, sent),
        };
        // A slower pace learned from this 429 holds the next send back by itself; a backoff
        // on top cost a leaky bucket half a second per 429.
        let wait = match signal.wait() {
            Some(wait) => wait + self.margin,
            None if slowed => return,
            None => self.next_backoff(),
        };
        self.block_until(later(at, wait));
    }

    /// The rate currently enforced with the lowest sustained throughput (after tightening).
    pub fn effective_rate(&self) -> Rate {
        let slower = |a: Rate, b: Rate| {
            let a_per = u128::from(a.limit) * b.window.as_nanos();
            let b_per = u128::from(b.limit) * a.window.as_nanos();
            if b_per < a_per {
                b
            } else {
                a
            }
        };
        let learned = self.learned().map(|(rate, _)| rate);
        let primary = learned.map_or(self.primary, |l| slower(self.primary, l));
        let inferred = self.windowless.and_then(|w| w.rate());
        self.server
            .iter()
            .copied()
            .chain(inferred)
            .chain(self.bucket_rate())
            .fold(primary, slower)
    }

    /// The margin added to every window.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Feeds one answer time (request sent → answer headers) into the margin (module docs).
    pub fn observe_rtt(&mut self, rtt: Duration) {
        if self.rtts.len() == RTT_SAMPLES {
            self.rtts.pop_front();
        }
        self.rtts.push_back(rtt.min(FAR));
        self.last_rtt = rtt.min(FAR);
        // The largest sample is left out: the first answer also paid for the connection.
        let (lo, hi, _) = self.rtts.iter().fold(
            (FAR, Duration::ZERO, Duration::ZERO),
            |(lo, second, top), r| {
                let (second, top) = if *r > top {
                    (top, *r)
                } else {
                    (second.max(*r), top)
                };
                (lo.min(*r), second, top)
            },
        );
        let window = self.primary.window;
        self.spread = hi - lo.min(hi);
        let lateness = self.absorbed_lateness().max(self.usual_lateness());
        let measured = self.spread + lateness + self.drift();
        let cap = (window / 20).max(self.floor);
        self.margin = measured.clamp(self.floor, cap);
    }

    /// Whether any answer time was measured yet.
    pub(super) fn has_answers(&self) -> bool {
        !self.rtts.is_empty()
    }

    /// The slowest of the recent answer times.
    pub(super) fn slowest_answer(&self) -> Duration {
        self.rtts.iter().copied().max().unwrap_or(Duration::ZERO)
    }

    /// The fastest of the recent answer times; zero while there is only one (the first
    /// answer, which also paid for the connection, says nothing about the fastest).
    pub(super) fn fastest_answer(&self) -> Duration {
        let min = self.rtts.iter().copied().min();
        min.filter(|_| self.rtts.len() > 1)
            .unwrap_or(Duration::ZERO)
    }

    /// Why the pace changed since the last call, oldest first.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub(super) fn note(&mut self, why: String) {
        if self.notes.len() < 64 {
            self.notes.push(why);
        }
    }

    /// Adopts `rate` if it is stricter than what is already enforced; never loosens.
    pub(super) fn adopt(&mut self, rate: Rate) {
        if rate.limit == 0 || rate.window.is_zero() || rate.limit > MAX_TRACKED_LIMIT {
            return;
        }
        let rate = Rate::new(rate.limit, rate.window.min(FAR));
        if rate.window == self.primary.window {
            self.lower_primary_limit(rate.limit);
            return;
        }
        let covers = |c: &Rate| c.limit <= rate.limit && c.window >= rate.window;
        if self.constraints().any(|c| covers(&c)) || self.server.len() >= MAX_SERVER_RATES {
            return;
        }
        self.server
            .retain(|c| !(rate.limit <= c.limit && rate.window >= c.window));
        self.server.push(rate);
        self.tightened();
        self.note(format!(
            "server policy {rate} overrides declared {}",
            self.declared
        ));
    }

    /// A policy the server announced for the primary window: a ceiling probing never passes.
    fn lower_primary_limit(&mut self, limit: u32) {
        if limit < self.ceiling {
            self.ceiling = limit;
            self.note(format!(
                "server policy {} overrides declared {}",
                Rate::new(limit, self.primary.window),
                self.declared
            ));
        }
        if limit < self.primary.limit {
            self.primary.limit = limit;
            self.tightened();
        }
    }

    pub(super) fn constraints(&self) -> impl Iterator<Item = Rate> + '_ {
        let inferred = self.windowless.and_then(|w| w.rate());
        let quota = self.quota.map(|q| q.rate);
        std::iter::once(self.primary)
            .chain(self.server.iter().copied())
            .chain(inferred)
            .chain(quota)
    }

    /// The spacing of even sends: the declared rate's, or the spacing learned from 429s; once
    /// the server has refused without headers (a leaky bucket or rate estimate may be counting
    /// each gap), each gap also gets the measured answer-time spread, so that jitter does not
    /// bring two arrivals closer than the rate.
    pub(super) fn even_interval(&self) -> Duration {
        let declared = self.declared_interval();
        let base = self.learned.map_or(declared, |l| l.interval.max(declared));
        if self.smooth {
            base + self.spread
        } else {
            base
        }
    }

    /// Nothing is sent before `until`. A block that reaches further than before re-plans every
    /// reserved slot: the slots it covers are void, and the later ones were placed behind them.
    pub(super) fn block_until(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|b| until > b) {
            self.blocked_until = Some(until);
            if !self.pending.is_empty() {
                self.tightened();
            }
        }
    }

    /// How long sends must be remembered: the longest window plus the margin.
    pub fn memory(&self) -> Duration {
        let longest = self.constraints().map(|c| c.window).max();
        longest.unwrap_or(self.primary.window) + self.margin
    }

    /// Forgets sends no constraint can need at `now`, the present (not a reserved slot's
    /// instant). Reserved slots are kept on top of the L sends each constraint needs: they may
    /// still be withdrawn, and the sends behind them must then be there. (Pruning from a slot's
    /// instant a window ahead dropped the window's real sends; when a block then withdrew the
    /// reserved slots, the next one was placed as if the window were empty, and went into a
    /// 429. Only a block as long as the rounded-up reset hid it.)
    pub(super) fn prune(&mut self, now: Instant) {
        let memory = self.memory();
        let keep =
            self.constraints().map(|c| c.limit).max().unwrap_or(1) as usize + self.pending.len();
        while let Some(&front) = self.sends.front() {
            if self.sends.len() > keep || later(front, memory) <= now {
                self.sends.pop_front();
            } else {
                break;
            }
        }
        let window = self.primary.window + self.margin;
        while self
            .throttled
            .front()
            .is_some_and(|t| later(*t, window) <= now)
        {
            self.throttled.pop_front();
        }
    }

    /// Exponential backoff with equal jitter: half the nominal delay fixed, half random (once
    /// spaced evenly: the nominal delay fixed, up to half of it more at random).
    fn next_backoff(&mut self) -> Duration {
        // From two sends' spacing when sends are spaced evenly: a leaky bucket admits again
        // one spacing after its last admission, and a rate estimate that counts the refused
        // request (HAProxy) two spacings after it; not capped at a second, which is less
        // than one spacing of a slow server.
        let mut base = self.primary.window.min(Duration::from_secs(1));
        if self.smooth {
            base = self.even_interval() * 2;
            // After a refused burst, from a declared window: the server counts over one.
            if self.learned.is_some_and(|l| l.bursty_settling()) {
                base = base.max(self.primary.window);
            }
        }
        // Not capped at the window: a server that counts refused requests too (HAProxy's
        // rate estimate over several windows) keeps refusing while it is fed, and a backoff
        // held at one declared window fed it once a window until the learned pace fell far
        // below its rate. Any acceptance resets the growth.
        let cap = MAX_WAIT.max(base);
        // Growing by half while learning, not doubling: every retry costs a server that counts
        // refusals one spacing, and every overshoot past its first admission a spacing too;
        // doubling overshot by more than the retries it saved (the sandbox's rate estimate under
        // `10/1s`, simulated: 0.857 → 0.870 of its pace over a minute).
        let growth: f64 = if self.smooth { 1.5 } else { 2.0 };
        let grown = base.as_secs_f64() * growth.powi(self.backoff_level.min(64) as i32);
        let nominal = Duration::try_from_secs_f64(grown).map_or(cap, |d| d.min(cap));
        self.backoff_level = self.backoff_level.saturating_add(1);
        let half = nominal / 2;
        let jitter = half.mul_f64(rand::rng().random_range(0.0..=1.0));
        if self.smooth {
            // Never earlier than the nominal delay: coming back early to a server that counts
            // refused requests costs it another refusal, and it pushes the next admission back.
            return nominal + jitter;
        }
        half + jitter
    }
}

/// `at + d` without overflow (durations are capped at construction, so this cannot saturate
/// in practice).
pub(super) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d.min(FAR)).unwrap_or(at)
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "pacer_sim_tests.rs"]
mod sim_tests;

#[cfg(test)]
#[path = "pacer_late_tests.rs"]
mod late_tests;
