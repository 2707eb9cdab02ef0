//! Quota enforcement for the sandbox: (rate, window mode, now) → admit or reject, plus what the headers report.
//!
//! Times are durations since the Unix epoch so that clock-aligned windows and the tests can share one
//! time axis. `reset` always means "time until at least one more request will be admitted"; for the
//! fixed-window modes that is the end of the current window, which is what the provider note shows.

use std::collections::VecDeque;
use std::time::Duration;

use super::config::WindowMode;
use crate::ratelimit::Rate;

/// The limiter's answer for one request (or for a look without taking quota).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Time until more quota becomes available; zero when nothing has been used.
    pub reset: Duration,
}

#[derive(Debug, Clone)]
enum State {
    /// Anchored and aligned windows: when the current window started and how many it admitted.
    Fixed { start: Option<Duration>, count: u32 },
    /// Sliding log of admitted request times, oldest first.
    Log(VecDeque<Duration>),
    /// Token bucket; `last` is when `tokens` was last brought up to date.
    Bucket { tokens: f64, last: Option<Duration> },
    /// nginx-style leaky bucket: the queue (in requests) left at `last`, draining at L/W.
    Leaky { excess: f64, last: Option<Duration> },
    /// HAProxy-style counters: the aligned window `start` and the counts of it and the one before.
    Estimate {
        start: Duration,
        curr: u32,
        prev: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    rate: Rate,
    mode: WindowMode,
    state: State,
}

impl Limiter {
    pub fn new(rate: Rate, mode: WindowMode) -> Self {
        let state = match mode {
            WindowMode::Anchored | WindowMode::Aligned => State::Fixed {
                start: None,
                count: 0,
            },
            WindowMode::Sliding => State::Log(VecDeque::new()),
            WindowMode::Bucket => State::Bucket {
                tokens: f64::from(rate.limit),
                last: None,
            },
            WindowMode::Leaky => State::Leaky {
                excess: 0.0,
                last: None,
            },
            WindowMode::Estimate => State::Estimate {
                start: Duration::ZERO,
                curr: 0,
                prev: 0,
            },
        };
        Limiter { rate, mode, state }
    }

    /// Takes one unit of quota if available.
    pub fn check(&mut self, now: Duration) -> Decision {
        self.admit(now, true)
    }

    /// Reports the current quota without taking any (for answers that never reached the limiter).
    pub fn peek(&mut self, now: Duration) -> Decision {
        self.admit(now, false)
    }

    fn admit(&mut self, now: Duration, take: bool) -> Decision {
        let (rate, mode) = (self.rate, self.mode);
        match &mut self.state {
            State::Fixed { start, count } => fixed(rate, mode, start, count, now, take),
            State::Log(log) => sliding(rate, log, now, take),
            State::Bucket { tokens, last } => bucket(rate, tokens, last, now, take),
            State::Leaky { excess, last } => leaky(rate, excess, last, now, take),
            State::Estimate { start, curr, prev } => estimate(rate, start, curr, prev, now, take),
        }
    }
}

fn fixed(
    rate: Rate,
    mode: WindowMode,
    start: &mut Option<Duration>,
    count: &mut u32,
    now: Duration,
    take: bool,
) -> Decision {
    let w = rate.window;
    // Which window is open right now, and how much of it is used; computed without mutating so
    // that a peek never anchors a window.
    let (open, used) = match (mode, *start) {
        (WindowMode::Aligned, s) => {
            let aligned = align(now, w);
            (Some(aligned), if s == Some(aligned) { *count } else { 0 })
        }
        (_, Some(s)) if now < s + w => (Some(s), *count),
        _ => (None, 0),
    };
    let allowed = used < rate.limit;
    let used = if take && allowed { used + 1 } else { used };
    let open = if take && allowed {
        open.or(Some(now))
    } else {
        open
    };
    if take {
        (*start, *count) = (open, used);
    }
    Decision {
        allowed,
        limit: rate.limit,
        remaining: rate.limit - used,
        reset: open.map_or(Duration::ZERO, |s| (s + w).saturating_sub(now)),
    }
}

/// Start of the clock-aligned window containing `now`.
fn align(now: Duration, w: Duration) -> Duration {
    let w_ns = w.as_nanos().max(1);
    let start_ns = now.as_nanos() / w_ns * w_ns;
    Duration::from_nanos(u64::try_from(start_ns).unwrap_or(u64::MAX))
}

fn sliding(rate: Rate, log: &mut VecDeque<Duration>, now: Duration, take: bool) -> Decision {
    let w = rate.window;
    while log.front().is_some_and(|t| *t + w <= now) {
        log.pop_front();
    }
    let allowed = log.len() < rate.limit as usize;
    if take && allowed {
        log.push_back(now);
    }
    let used = u32::try_from(log.len()).unwrap_or(u32::MAX);
    Decision {
        allowed,
        limit: rate.limit,
        remaining: rate.limit.saturating_sub(used),
        reset: log
            .front()
            .map_or(Duration::ZERO, |t| (*t + w).saturating_sub(now)),
    }
}

fn bucket(
    rate: Rate,
    tokens: &mut f64,
    last: &mut Option<Duration>,
    now: Duration,
    take: bool,
) -> Decision {
    let capacity = f64::from(rate.limit);
    let per_token = rate.window.as_secs_f64() / capacity;
    // Refilling is additive and capped, so bringing the bucket up to date on a peek changes nothing.
    if let Some(prev) = *last {
        let refill = now.saturating_sub(prev).as_secs_f64() / per_token;
        *tokens = (*tokens + refill).min(capacity);
    }
    *last = Some(now);
    let allowed = *tokens >= 1.0;
    if take && allowed {
        *tokens -= 1.0;
    }
    let whole = tokens.floor();
    let reset = if *tokens >= capacity {
        Duration::ZERO
    } else {
        Duration::from_secs_f64((whole + 1.0 - *tokens) * per_token)
    };
    Decision {
        allowed,
        limit: rate.limit,
        remaining: whole as u32,
        reset,
    }
}

/// nginx `limit_req` with no burst (ngx_http_limit_req_module): the excess drains at the rate,
/// a request adds one, and a request that would leave more than one queued is refused without
/// changing the state. So admitted requests are at least W/L apart.
fn leaky(
    rate: Rate,
    excess: &mut f64,
    last: &mut Option<Duration>,
    now: Duration,
    take: bool,
) -> Decision {
    let per_second = rate.per_second();
    let drained = match *last {
        Some(prev) => (*excess - now.saturating_sub(prev).as_secs_f64() * per_second).max(0.0),
        None => 0.0,
    };
    // Exactly drained is admitted (nginx: `excess > burst` refuses); the epsilon absorbs rounding.
    let allowed = drained <= 1e-9;
    if take && allowed {
        (*excess, *last) = (drained + 1.0, Some(now));
    }
    let left = if take && allowed {
        drained + 1.0
    } else {
        drained
    };
    Decision {
        allowed,
        limit: 1,
        remaining: u32::from(left < 1.0),
        reset: Duration::from_secs_f64((left - 1.0).max(0.0) / per_second),
    }
}

/// HAProxy's `freq_ctr` over a period W: windows aligned to the clock; the estimate is the
/// current window's count (this request included) plus the previous window's count weighted by
/// the share of it still inside the trailing W, rounded down; refused when above L. Every
/// request is counted, admitted or not, as HAProxy tracks before it denies.
fn estimate(
    rate: Rate,
    start: &mut Duration,
    curr: &mut u32,
    prev: &mut u32,
    now: Duration,
    take: bool,
) -> Decision {
    let w = rate.window;
    let aligned = align(now, w);
    let (c, p) = if aligned == *start {
        (*curr, *prev)
    } else if aligned == *start + w {
        (0, *curr)
    } else {
        (0, 0)
    };
    let c = c + u32::from(take);
    let left = (w.saturating_sub(now - aligned)).as_secs_f64() / w.as_secs_f64();
    let est = u64::from(c) + (f64::from(p) * left).floor() as u64;
    let allowed = est <= u64::from(rate.limit);
    if take {
        (*start, *curr, *prev) = (aligned, c, p);
    }
    Decision {
        allowed,
        limit: rate.limit,
        remaining: u32::try_from(u64::from(rate.limit).saturating_sub(est)).unwrap_or(0),
        reset: (aligned + w).saturating_sub(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_700_000_000); // a multiple of 10 s

    fn at(ms: u64) -> Duration {
        T0 + Duration::from_millis(ms)
    }

    /// Runs requests at the given offsets (ms) and returns which were admitted.
    fn pattern(mode: WindowMode, rate: &str, offsets: &[u64]) -> Vec<bool> {
        let mut l = Limiter::new(rate.parse().unwrap(), mode);
        offsets.iter().map(|ms| l.check(at(*ms)).allowed).collect()
    }

    #[test]
    fn anchored_window_starts_at_first_request_and_reanchors() {
        let offsets = [5_000, 5_100, 5_200, 14_999, 15_000, 15_100, 15_200, 24_999];
        let got = pattern(WindowMode::Anchored, "2/10s", &offsets);
        assert_eq!(got, [true, true, false, false, true, true, false, false]);
    }

    #[test]
    fn aligned_window_follows_the_clock() {
        // Windows are [T0, T0+10 s) and [T0+10 s, ...): a burst across the boundary gets 2 + 2.
        let offsets = [9_800, 9_900, 9_950, 10_000, 10_001, 10_002];
        let got = pattern(WindowMode::Aligned, "2/10s", &offsets);
        assert_eq!(got, [true, true, false, true, true, false]);
    }

    #[test]
    fn sliding_log_never_admits_more_than_limit_in_any_window() {
        let offsets = [0, 6_000, 9_999, 10_000, 15_999, 16_000];
        let got = pattern(WindowMode::Sliding, "2/10s", &offsets);
        assert_eq!(got, [true, true, false, true, false, true]);
    }

    #[test]
    fn bucket_refills_gradually() {
        // Capacity 2, one token per 5 s.
        let offsets = [0, 0, 100, 4_999, 5_000, 5_001, 20_000, 20_000, 20_000];
        let got = pattern(WindowMode::Bucket, "2/10s", &offsets);
        assert_eq!(
            got,
            [true, true, false, false, true, false, true, true, false]
        );
    }

    #[test]
    fn leaky_bucket_admits_requests_spaced_by_the_rate() {
        // 2 per second: at least 500 ms apart; a refusal does not push the next admission back.
        let offsets = [0, 0, 400, 499, 500, 999, 1_000, 1_400, 1_500, 3_000, 3_001];
        let got = pattern(WindowMode::Leaky, "2/1s", &offsets);
        assert_eq!(
            got,
            [true, false, false, false, true, false, true, false, true, true, false]
        );
    }

    #[test]
    fn estimate_weights_the_previous_window_and_counts_refusals() {
        // 4 per 5 s; windows [T0, T0+5 s), [T0+5 s, T0+10 s), ...
        let offsets = [0, 1_000, 2_000, 3_000, 4_000, 5_000, 7_500, 7_600];
        let got = pattern(WindowMode::Estimate, "4/5s", &offsets);
        // The fifth request in the first window is refused (5 > 4); at 5 s the estimate is
        // 5 * 1.0 + 1 = 6; at 7.5 s it is floor(5 * 0.5) + 2 = 4, then 2 + 3 = 5.
        assert_eq!(got, [true, true, true, true, false, false, true, false]);
        // A steady stream at 4 per 5.05 s is admitted indefinitely.
        let steady: Vec<u64> = (0..40).map(|i| 1_000 + i * 1_263).collect();
        let got = pattern(WindowMode::Estimate, "4/5s", &steady);
        assert!(got.iter().all(|a| *a), "{got:?}");
    }

    #[test]
    fn fixed_window_reports_remaining_and_reset() {
        let mut l = Limiter::new("2/300s".parse().unwrap(), WindowMode::Anchored);
        assert_eq!(l.peek(at(0)).reset, Duration::ZERO);
        let first = l.check(at(0));
        assert_eq!(
            (first.remaining, first.reset),
            (1, Duration::from_secs(300))
        );
        let second = l.check(at(1_000));
        assert_eq!(
            (second.remaining, second.reset),
            (0, Duration::from_secs(299))
        );
        let third = l.check(at(2_500));
        assert!(!third.allowed);
        assert_eq!(
            (third.remaining, third.reset),
            (0, Duration::from_millis(297_500))
        );
    }

    #[test]
    fn peek_does_not_take_quota_or_anchor() {
        let mut l = Limiter::new("1/10s".parse().unwrap(), WindowMode::Anchored);
        assert!(l.peek(at(0)).allowed);
        assert!(l.peek(at(0)).allowed);
        let d = l.check(at(9_000));
        assert!(d.allowed);
        assert_eq!(
            d.reset,
            Duration::from_secs(10),
            "window anchored at the request, not the peek"
        );
    }

    #[test]
    fn sliding_and_bucket_reset_is_time_until_next_slot() {
        let mut s = Limiter::new("2/10s".parse().unwrap(), WindowMode::Sliding);
        s.check(at(0));
        assert_eq!(s.check(at(4_000)).reset, Duration::from_secs(6));
        let mut b = Limiter::new("4/2s".parse().unwrap(), WindowMode::Bucket);
        let d = b.check(at(0));
        assert_eq!(d.remaining, 3);
        assert!((d.reset.as_secs_f64() - 0.5).abs() < 1e-9, "{:?}", d.reset);
    }
}
