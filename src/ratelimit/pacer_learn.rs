//! Learning without headers: a 429 that the headers do not explain slows the pace, and the
//! pacer probes back up, searching for the server's real rate as a spacing between sends (a
//! rate in any unit, not a whole number of requests per window), and holds it.
//!
//! - **Spacing.** From the first such 429 on, sends are spaced evenly, one per `interval` (plus
//!   the answer-time spread; see `Pacer::smooth`). The first 429 of a burst schedule (`4/2s`
//!   sent as 4 back to back) only spreads the bursts out at the declared rate, and until a
//!   request is accepted after it, further 429s are that burst's overload answering (a rate
//!   estimate that counts refused requests keeps refusing for up to two of its windows) and
//!   teach nothing; the first 429 of an even schedule after at least half the window's quota
//!   went through only adds the spread (jitter brought two arrivals too close).
//! - **Count per announced window.** A server that announces its window (`4/2s`) and refuses
//!   after fewer of ours in it than it announces (3) has headers that overstate its quota: the
//!   count accepted becomes a quota per that window (`3/2s`), sent in bursts like any window,
//!   not a spacing (which lost a quarter of the pace). One more per window is probed after 8
//!   windows, then 16, 32, 64 after each failed probe (one 429 each, and a wait for the
//!   announced reset); a probe that holds the announced count for a window drops the quota.
//! - **Decrease.** A 429 at spacing `g` marks `g` refused; the pace drops back to the shortest
//!   spacing that held, or without one to `g × 10/7` (a rate 0.7 times as fast). A 429 for a
//!   request sent before the last change, or before any request at the new pace was accepted,
//!   is the old overload answering and teaches nothing: only the backoff applies, growing by
//!   half from two spacings (never less: the jitter only adds) without a cap at the window, so
//!   that a server that counts refused requests (HAProxy's estimate) is not fed while it
//!   decays. How long the refusals lasted is the server's *memory*.
//! - **Refusals that count.** A server that still refuses at a spacing that held, right after a
//!   refused probe, counts refused requests against its limit (HAProxy's estimate does; nginx's
//!   leaky bucket does not). From then on each 429 that changes the pace is followed by one
//!   spacing left empty: the refused request used it. (Sent at the good spacing instead, the
//!   next request was refused as well, and the backoff after it cost two spacings more.)
//! - **Increase.** A spacing that held for a probe period (a declared window plus margin, or
//!   the server's memory when longer) and for enough accepted sends is marked good, and the
//!   next probe goes halfway between it and the longest refused one (a bisection on the
//!   spacing); with nothing refused yet, a rate 10/7 as fast. Enough sends is at least three,
//!   and about 1/δ (at most 32) for a probe a fraction δ faster than the good spacing: a
//!   spacing δ too short is refused only once the excess adds up to a whole request, which
//!   a window, a token bucket or a rate estimate lets build up for about 1/δ sends. (Held for
//!   three sends and a probe period, probes 5–20 % too fast passed as good against a rate
//!   estimate, and were refused again and again later.) Once good and refused are within 3 %,
//!   the pace stays at the good one; it is re-probed 3 % faster after `gap` windows (2 → 4 → …
//!   → 64, doubling at each failed re-probe) and at least 32 sends, so a server that raised its
//!   limit is followed.
//! - **Never above** the declared rate or a limit the server announced in its headers.
//!
//! # Bound on 429s without headers
//! With one request in flight and declared spacing `g`: `D = ⌈log(r_declared / r_true) /
//! log(10/7)⌉` decreases, each followed by at most `1 + ⌈log1.5(R / 2g)⌉` 429s while the
//! server keeps refusing for `R` (at most `W` for windows that do not count refused requests;
//! those 429s teach nothing; the backoff grows by half from two spacings), plus one per failed
//! bisection probe until within 3 % (`⌈log2(0.3 / 0.03)⌉ = 4` per search), plus one per failed
//! re-probe (at most `1 + log2(T / 2W)` in a run of length T). With
//! k requests in flight up to k answers can report the same overload, so multiply by k.
//! A learned count per announced window costs one 429 per failed probe: at most
//! `1 + log2(T / 8W)` in a run of length T, plus the first.
//! A later run starts from the learned spacing (a learned count `3/2s` as one per 667 ms),
//! while it is younger than [`LEARNED_TTL_WINDOWS`] windows and an hour, and probes up from
//! there.

use std::time::Duration;

use tokio::time::Instant;

use super::headers::MAX_WAIT;
use super::pacer::{later, Mode, Pacer};
use super::Rate;

/// First wait (in windows) before re-probing a converged spacing.
const FIRST_GAP: u32 = 2;
/// The longest wait between re-probes, in windows.
const MAX_GAP: u32 = 64;
/// Windows before a learned quota is first probed one higher (doubling at each failed probe).
const FIRST_QUOTA_GAP: u32 = 8;
/// A learned limit is forgotten by later runs after this many windows (and at least an hour).
pub const LEARNED_TTL_WINDOWS: u32 = 12;
/// Without a known good spacing, a 429 slows the rate to this fraction.
const DECREASE: f64 = 0.7;
/// The search stops when good and refused spacings are this close (relative).
const CONVERGED: f64 = 0.03;
/// Probing up from a spacing estimated from a burst: this much shorter at a time.
const NEAR_STEP: f64 = 0.94;
/// Accepted sends at a spacing before it counts as good: at least this many, and about 1/δ
/// for a probe a fraction δ faster than the good spacing (see [`Learned::hold`]).
const HOLD_SENDS: u32 = 3;
/// At most this many (a 3 % probe would otherwise hold 34).
const MAX_HOLD_SENDS: u32 = 32;

/// The spacing learned from 429s, and the search state around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Learned {
    /// One send per `interval` (before the answer-time spread is added).
    pub interval: Duration,
    /// The shortest spacing that held for a probe period.
    ok: Option<Duration>,
    /// The longest spacing the server refused.
    bad: Option<Duration>,
    /// When the pace last went down, kept in the ledger for the expiry.
    pub at: Instant,
    /// When `interval` took effect: answers to earlier sends say nothing about it.
    since: Instant,
    /// Accepted answers to sends made at `interval`.
    accepted: u32,
    /// When the first of them came: a probe period is counted from there, since after a
    /// decrease the server may refuse everything until its window ends.
    first_ok: Option<Instant>,
    /// The last change was a decrease: until a send at the new pace is accepted, 429s are the
    /// old overload answering.
    settling: bool,
    /// The longest the server kept refusing after a decrease (from the decrease to the first
    /// acceptance): how long it remembers an overload. A server that counts refused requests
    /// too (HAProxy's rate estimate) remembers for several of its periods, and a probe judged
    /// sooner than that is judged before its own refusals could show.
    memory: Duration,
    /// Converged: no probe before this instant.
    probe_after: Option<Instant>,
    /// Windows between re-probes of a converged spacing.
    gap: u32,
    /// Re-probing a converged spacing: 3 % faster at a time until a 429.
    reprobe: bool,
    /// The burst the first 429 ended: when its first accepted request went and how many were
    /// accepted (two or more: the server lets bursts through, so it counts requests over a
    /// window rather than spacing them). The first acceptance after the 429 closes it: that
    /// many and one more in the time since its first is the server's rate, near enough.
    burst: Option<(Instant, u32)>,
    /// 429s between the first one and the first acceptance after it.
    refused_since_burst: u32,
    /// The spacing came from such a burst: probe up in small steps, not halfway to the
    /// declared rate (every refusal costs a server that counts refusals a spacing, and more).
    near: bool,
    /// The server counts refused requests too: back at a spacing that held, right after a
    /// refused probe, it still refused. Each 429 is then followed by one spacing left empty.
    counts_refused: bool,
}

/// A count per announced window learned from 429s below the announced limit (a server whose
/// headers overstate its quota); sent in bursts like any window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Quota {
    /// What is enforced: the count that was accepted per announced window.
    pub rate: Rate,
    /// What the headers announce: the most probing goes to.
    announced: Rate,
    /// When it was learned, kept in the ledger for the expiry.
    pub at: Instant,
    /// When the current count took effect.
    since: Instant,
    /// No probe of one more per window before this.
    probe_after: Instant,
    /// Windows between probes.
    gap: u32,
    /// The count is one above what held, until it holds for a window.
    probing: bool,
}

impl Learned {
    fn new(interval: Duration, at: Instant) -> Self {
        Learned {
            interval,
            ok: None,
            bad: None,
            at,
            since: at,
            accepted: 0,
            first_ok: None,
            settling: true,
            memory: Duration::ZERO,
            probe_after: None,
            gap: FIRST_GAP,
            reprobe: false,
            burst: None,
            refused_since_burst: 1,
            near: false,
            counts_refused: false,
        }
    }
}

impl Learned {
    /// Waiting for the first acceptance after a burst was refused.
    pub(super) fn bursty_settling(&self) -> bool {
        self.burst.is_some()
    }

    /// Accepted sends at `interval` before it counts as good: about 1/δ for a probe δ faster
    /// than the good spacing ([`hold_for`]). A converged pace is re-probed after its gap and as
    /// many sends as the longest probe holds: a leaky bucket refuses every re-probe at once, and
    /// re-probing after fewer sends (the gap alone) cost nginx-like 2/1s under `10/1s` 0.934 →
    /// 0.918 in the simulator.
    fn hold(&self) -> u32 {
        if self.probe_after.is_some() {
            return MAX_HOLD_SENDS;
        }
        self.ok.map_or(HOLD_SENDS, |ok| hold_for(ok, self.interval))
    }
}

impl Pacer {
    /// The pace learned from 429s (one request per the learned spacing, to the millisecond),
    /// with when it was learned, while the pacer is below its ceiling because of them.
    pub fn learned(&self) -> Option<(Rate, Instant)> {
        let quota = self.quota.map(|q| (q.rate, q.at));
        quota.or(self
            .learned
            .map(|l| (Rate::new(1, round_ms(l.interval)), l.at)))
    }

    /// How long a learned limit stays valid for later runs.
    pub fn learned_ttl(&self) -> Duration {
        (self.primary.window * LEARNED_TTL_WINDOWS).max(Duration::from_secs(3600))
    }

    /// The spacing of the declared (or announced) rate: the fastest the pacer ever goes.
    pub(super) fn declared_interval(&self) -> Duration {
        (self.primary.window + self.margin) / self.primary.limit.max(1)
    }

    /// A 429 the headers do not explain, for a request sent at `sent`: slow down (see the
    /// module docs). True when the pace changed, so the new spacing holds the next send back
    /// and no further backoff is needed.
    pub(super) fn learn_down(&mut self, at: Instant, sent: Instant) -> bool {
        let declared = self.declared_interval();
        let mut l = match self.learned {
            // Already learning: the answers to our own sends are what is being measured. After
            // a decrease, 429s before any acceptance are the old overload answering, for one
            // window; a server that still refuses everything after it (one that counts refused
            // requests too, like HAProxy's estimate) is refusing the new spacing.
            // Until one is accepted, however long that takes: a server that counts refused
            // requests (HAProxy's estimate) keeps refusing for several of its periods, and
            // reading that as a refusal of the new spacing slowed the pace far below its rate.
            // The backoff, growing without a cap at the window, stops feeding it meanwhile.
            Some(mut l) if sent < l.since || (l.settling && l.accepted == 0) => {
                l.refused_since_burst += 1;
                // Refused at a spacing that held, sent after the failed probe was answered:
                // the server still counts that refusal (HAProxy's estimate does; a leaky
                // bucket, which does not, admits one spacing after it).
                if sent >= l.since && l.ok == Some(l.interval) && !l.counts_refused {
                    l.counts_refused = true;
                    self.note(
                        "429s count against the server's limit: one spacing is left empty after each"
                            .into(),
                    );
                }
                self.learned = Some(l);
                return false;
            }
            Some(l) => l,
            None => {
                // None of ours accepted: the quota went to someone else and says nothing.
                let Some(accepted) = self.accepted_within(at, self.primary.window) else {
                    return false;
                };
                // Until a request is accepted after the switch to even spacing, 429s are the
                // overload of the refused burst answering (a server that counts refused
                // requests keeps refusing for a while), not a refusal of the spacing.
                if self.settling {
                    return false;
                }
                if !self.smooth && self.mode() == Mode::Window {
                    // Bursts were refused: spread them out at the declared rate first.
                    (self.smooth, self.settling) = (true, true);
                    self.tightened();
                    self.note(format!(
                        "429 without headers: sends spaced evenly, pace now {}",
                        Rate::new(1, round_ms(declared))
                    ));
                    return false;
                }
                // Our own window log explains a 429 when the window held the whole quota.
                if accepted >= self.primary.limit {
                    self.smooth = true;
                    return false;
                }
                if !self.smooth && accepted * 2 >= self.primary.limit {
                    // Most of the window's quota went through: likely jitter bringing two
                    // arrivals too close. Add the measured spread to the spacing first.
                    self.smooth = true;
                    self.note(format!(
                        "429 without headers: sends spaced {} plus the answer-time spread",
                        Rate::new(1, round_ms(declared))
                    ));
                    return false;
                }
                self.smooth = true;
                let mut l = Learned::new(declared, sent);
                l.burst = self
                    .first_send_within(at, self.primary.window)
                    .filter(|_| accepted >= 2)
                    .map(|first| (first, accepted));
                l
            }
        };
        let refused = l.interval;
        if l.ok.is_none() {
            // The burst's estimate itself was refused (a server that does not count refusals):
            // search as without it.
            l.near = false;
        }
        l.bad = Some(l.bad.map_or(refused, |b| b.max(refused)));
        let probe = l.ok.is_some_and(|ok| ok > refused);
        l.interval = match l.ok {
            Some(ok) if ok > refused => ok,
            // A spacing that held before was refused: a little slower (timing noise can let
            // a spacing hold that is just too short).
            Some(ok) if ok == refused => {
                l.ok = None;
                refused.mul_f64(1.1)
            }
            _ => {
                l.ok = None;
                refused.div_f64(DECREASE).min(MAX_WAIT.max(refused))
            }
        };
        if l.reprobe {
            // A failed re-probe of a converged pace: wait twice as long for the next.
            l.gap = (l.gap * 2).min(MAX_GAP);
            l.reprobe = false;
        }
        l.probe_after = None;
        (l.at, l.since, l.accepted, l.first_ok, l.settling) = (at, at, 0, None, true);
        self.converge(&mut l, at);
        self.learned = Some(l);
        self.tightened();
        if l.counts_refused {
            // The refused request counts as one sent: the next goes two spacings after it.
            self.block_until(later(sent, self.even_interval() * 2));
        }
        let pace = Rate::new(1, round_ms(l.interval));
        self.note(if probe {
            format!("429 after probing up: pace back to {pace}")
        } else {
            format!("429 without a policy that explains it: pace now {pace}, probing up")
        });
        true
    }

    /// An accepted answer to a request sent at `sent`: after a probe period at the learned
    /// spacing, mark it good and probe faster (see the module docs).
    pub(super) fn probe_up(&mut self, at: Instant, sent: Instant) {
        self.settling = false;
        self.probe_quota(at);
        let Some(mut l) = self.learned else {
            return;
        };
        if sent >= l.since {
            if l.settling && l.first_ok.is_none() {
                l.memory = l.memory.max(at.saturating_duration_since(l.since));
                if let Some((first, n)) = l.burst.take() {
                    // The server admitted `n` from `first` and the next only at `sent`.
                    // A server that counts refused requests too (HAProxy's estimate) spent that
                    // time on our 429s as well; one that does not is refused a faster probe.
                    let counted = n.saturating_add(l.refused_since_burst);
                    let spacing = sent.saturating_duration_since(first) / counted;
                    if spacing > l.interval {
                        l.interval = spacing.min(MAX_WAIT);
                        l.near = true;
                        let since = self.sends.back().map_or(at, |last| (*last).max(at));
                        (l.since, l.accepted, l.first_ok, l.settling) = (since, 0, None, false);
                        self.learned = Some(l);
                        self.tightened();
                        let pace = Rate::new(1, round_ms(l.interval));
                        self.note(format!(
                            "{n} accepted in a burst, then none until {}: pace now {pace}, probing up",
                            humantime_ms(sent.saturating_duration_since(first))
                        ));
                        return;
                    }
                }
            }
            l.accepted = l.accepted.saturating_add(1);
            l.first_ok.get_or_insert(at);
        }
        let period = self.probe_period(&l);
        let held = l.accepted >= l.hold()
            && l.first_ok.is_some_and(|f| at >= later(f, period))
            && l.probe_after.is_none_or(|p| at >= p);
        if !held {
            self.learned = Some(l);
            return;
        }
        let good = l.ok.map_or(l.interval, |ok| ok.min(l.interval));
        l.ok = Some(good);
        if l.bad.is_some_and(|b| b >= good) {
            l.bad = None; // the server got faster
        }
        l.interval = if l.reprobe || l.probe_after.is_some() {
            // Re-probe a converged pace a little faster, and on while that holds.
            (l.reprobe, l.bad) = (true, None);
            good.mul_f64(1.0 - CONVERGED)
        } else {
            match l.bad {
                // Near the server's rate: a small step, or halfway when that is smaller.
                Some(bad) if l.near => ((good + bad) / 2).max(good.mul_f64(NEAR_STEP)),
                Some(bad) => (good + bad) / 2,
                None => good.mul_f64(DECREASE),
            }
        };
        l.probe_after = None;
        // Slots already reserved keep the old spacing: the probe is judged on the sends after
        // them, which use the new one.
        let since = self.sends.back().map_or(at, |last| (*last).max(at));
        (l.since, l.accepted, l.first_ok, l.settling) = (since, 0, None, false);
        let declared = self.declared_interval();
        if l.interval <= declared {
            self.learned = None;
            self.note(format!("probed back up to {}", self.primary));
            return;
        }
        self.converge(&mut l, at);
        self.learned = Some(l);
        if l.probe_after.is_none() && !l.reprobe {
            let pace = Rate::new(1, round_ms(l.interval));
            self.note(format!("probing up: pace now {pace}"));
        }
    }

    /// Stops the search when the good and refused spacings are within [`CONVERGED`]: the pace
    /// holds at the good one until the next re-probe.
    fn converge(&self, l: &mut Learned, at: Instant) {
        let (Some(ok), Some(bad), false) = (l.ok, l.bad, l.reprobe) else {
            return;
        };
        // (A hair over 3 %, so that a failed 3 % re-probe counts as converged despite rounding.)
        if ok.saturating_sub(bad) <= ok.mul_f64(CONVERGED * 1.01) {
            l.interval = ok;
            let period = self.probe_period(l);
            l.probe_after = Some(later(at, period * l.gap));
        }
    }

    /// How long a spacing must hold before it counts as good: a declared window plus margin,
    /// or the server's measured memory of an overload when that is longer.
    fn probe_period(&self, l: &Learned) -> Duration {
        (self.primary.window + self.margin).max(l.memory)
    }

    /// Starts from a pace learned by an earlier run (`limit` per `window`), still probing up
    /// from it.
    pub(super) fn resume_learned(&mut self, rate: Rate, learned_at: Instant, now: Instant) {
        let interval = rate.window / rate.limit.max(1);
        if interval <= self.declared_interval() {
            return;
        }
        self.smooth = true;
        let mut l = Learned::new(interval, now);
        l.at = learned_at;
        self.learned = Some(l);
        self.tightened();
    }

    /// A 429 under an announced policy (`announced`) that our own accepted sends never
    /// reached: the headers do not describe the real limiter (or it counts its windows from
    /// another origin, or a send arrived late). When the server announces its window
    /// (`windowed`), the count it accepted in that window is learned as a lower quota per the
    /// same window, sent in bursts (see [`Quota`]): a server announcing `4/2s` that refuses the
    /// fourth of every burst admits 3 per 2 s, not one per 667 ms. Without a window the
    /// spacing is learned as without headers, and probed back up. (Adopting what was accepted
    /// as a hard limit left a clock-aligned `4/2s` at `1/2s` for good after one 429 from a
    /// late arrival.)
    pub(super) fn learn_against_policy(
        &mut self,
        at: Instant,
        sent: Instant,
        announced: Rate,
        windowed: bool,
    ) -> bool {
        // The server's window may have opened up to an answer time after our first send in
        // it (a cold server handling it late), and a margin later than our log's.
        let span = announced.window + self.margin + self.slowest_answer();
        let Some(accepted) = self.accepted_within(at, span) else {
            return false;
        };
        if accepted >= announced.limit {
            return false;
        }
        if windowed && self.learned.is_none() {
            return self.learn_quota(at, announced, accepted);
        }
        if !self.learn_down(at, sent) {
            return false;
        }
        let notes = self.notes.len();
        if let Some(last) = self.notes.get_mut(notes.wrapping_sub(1)) {
            *last = format!(
                "429 below the announced policy {announced}: {}",
                last.trim_start_matches("429 without a policy that explains it: ")
            );
        }
        true
    }

    /// The server announced `announced` and refused after `accepted` of ours in its window:
    /// that count per window becomes the quota (a failed probe of one more restores it and
    /// waits twice as long for the next). True when the quota changed.
    fn learn_quota(&mut self, at: Instant, announced: Rate, accepted: u32) -> bool {
        let window = announced.window;
        let q = match self.quota {
            Some(q) if q.probing => Quota {
                rate: Rate::new(accepted.min(q.rate.limit - 1).max(1), window),
                gap: (q.gap * 2).min(MAX_GAP),
                probing: false,
                ..q
            },
            Some(q) if accepted >= q.rate.limit => return false,
            Some(q) => Quota {
                rate: Rate::new(accepted, window),
                ..q
            },
            None => Quota {
                rate: Rate::new(accepted, window),
                announced,
                at,
                since: at,
                probe_after: at,
                gap: FIRST_QUOTA_GAP,
                probing: false,
            },
        };
        let probe_after = later(at, (window + self.margin) * q.gap);
        let probe_failed = self.quota.is_some_and(|q| q.probing);
        self.quota = Some(Quota {
            at,
            since: at,
            probe_after,
            ..q
        });
        self.tightened();
        self.note(if probe_failed {
            format!("429 after probing up: pace back to {}", q.rate)
        } else {
            format!(
                "429 below the announced policy {announced}: {} accepted per window, pace now {}",
                q.rate.limit, q.rate
            )
        });
        true
    }

    /// An accepted answer while a quota is learned: after `gap` windows, probe one more per
    /// window; a probe that held for a window is kept (up to the announced limit, where the
    /// quota is dropped).
    fn probe_quota(&mut self, at: Instant) {
        let Some(mut q) = self.quota else {
            return;
        };
        let window = q.rate.window + self.margin;
        if q.probing {
            // Held: a whole window passed since the probe began, and one window held the
            // probed count (a window the log or a block kept short proves nothing).
            let full = self.accepted_within(at, window).unwrap_or(0) >= q.rate.limit;
            if at < later(q.since, window) || !full {
                return;
            }
            if q.rate.limit >= q.announced.limit {
                self.quota = None;
                self.note(format!("probed back up to {}", q.announced));
                return;
            }
            q.probing = false;
            q.probe_after = later(at, window * q.gap);
            self.quota = Some(q);
            return;
        }
        if at < q.probe_after {
            return;
        }
        let limit = (q.rate.limit + 1).min(q.announced.limit);
        (q.rate, q.probing, q.since) = (Rate::new(limit, q.rate.window), true, at);
        self.quota = Some(q);
        self.note(format!("probing up: pace now {}", q.rate));
    }

    /// Our first send in the trailing `window`.
    fn first_send_within(&self, at: Instant, window: Duration) -> Option<Instant> {
        let from = at.checked_sub(window);
        self.sends
            .iter()
            .find(|t| **t <= at && from.is_none_or(|f| **t > f))
            .copied()
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
}

/// Accepted sends a probe from `good` to `probe` must hold: a spacing a fraction δ too short
/// is refused only once the excess adds up to one request, after about 1/δ sends.
fn hold_for(good: Duration, probe: Duration) -> u32 {
    let step = good.as_secs_f64() / probe.as_secs_f64() - 1.0;
    if step.is_nan() || step <= 0.0 {
        return HOLD_SENDS;
    }
    // (Saturating: a step too small to measure holds the longest.)
    ((1.0 / step).ceil() as u32).clamp(HOLD_SENDS, MAX_HOLD_SENDS)
}

/// `1.9s`, `640ms`: a duration for a log line.
fn humantime_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// Rounded up to whole milliseconds, for display and the ledger (never faster than learned).
fn round_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
#[path = "pacer_learn_tests.rs"]
mod tests;
