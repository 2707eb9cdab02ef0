//! Test-only rate-limited server: request instants → OK or 429, plus rate-limit headers in a
//! chosen dialect. Counts requests the three ways fixed-quota servers do (anchored, aligned,
//! sliding), or with the sandbox's own header-less limiters (nginx-like leaky bucket,
//! HAProxy-like rate estimate), and may enforce a lower limit than its headers announce.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How the server counts requests into windows.
#[derive(Debug, Clone, Copy)]
pub enum Counting {
    /// A window starts at the first request after the previous window ended.
    Anchored,
    /// Windows are aligned to a fixed clock origin, unrelated to our first request.
    Aligned { origin: Instant },
    /// At most L accepted requests in any trailing W.
    Sliding,
    /// Another limiter decides, given the Unix time of [`SimServer::wall`] (the tests pass
    /// the sandbox's, `src/sandbox/limiter.rs`: its leaky bucket and rate estimate); no
    /// headers, whatever the dialect. See [`SimServer::deciding`].
    Decider,
}

/// Which headers the server sends with every response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    None,
    /// The provider: `ratelimit-*` with a Go-duration reset.
    Note,
    Draft7,
    Draft10,
    XRateLimit,
}

/// Unix time of a request → admitted.
pub type Decider = Box<dyn FnMut(Duration) -> bool>;

pub struct SimServer {
    counting: Counting,
    dialect: Dialect,
    limit: u32,
    window: Duration,
    /// Accepted request instants still inside the current window(s).
    accepted: VecDeque<Instant>,
    window_start: Option<Instant>,
    /// Wall-clock time at `epoch`, for epoch-style resets.
    epoch: (Instant, SystemTime),
    /// What decides, for [`Counting::Decider`]: Unix time → admitted.
    decider: Option<Decider>,
    /// A stricter server behind the one whose headers are sent: it decides, and a 429 carries
    /// `Retry-After` from the announced reset (the sandbox's `--real-rate`).
    real: Option<Box<SimServer>>,
}

pub struct Response {
    pub ok: bool,
    pub headers: Vec<(String, String)>,
}

impl SimServer {
    pub fn new(
        counting: Counting,
        dialect: Dialect,
        limit: u32,
        window: Duration,
        epoch: Instant,
    ) -> Self {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        SimServer {
            counting,
            dialect,
            limit,
            window,
            accepted: VecDeque::new(),
            window_start: None,
            epoch: (epoch, wall),
            decider: None,
            real: None,
        }
    }

    /// A server without headers whose answers `decide` gives (the sandbox's limiters).
    pub fn deciding(epoch: Instant, decide: Decider) -> Self {
        let mut server = SimServer::new(
            Counting::Decider,
            Dialect::None,
            1,
            Duration::from_secs(1),
            epoch,
        );
        server.decider = Some(decide);
        server
    }

    /// The same server enforcing `limit` per window while its headers keep announcing its own
    /// (the sandbox's `--rate 4/2s --real-rate 3/2s`).
    pub fn enforcing(mut self, limit: u32) -> Self {
        let real = SimServer::new(
            self.counting,
            Dialect::None,
            limit,
            self.window,
            self.epoch.0,
        );
        self.real = Some(Box::new(real));
        self
    }

    /// The wall-clock time both sides agree on at instant `at`.
    pub fn wall(&self, at: Instant) -> SystemTime {
        self.epoch.1 + (at - self.epoch.0)
    }

    pub fn handle(&mut self, now: Instant) -> Response {
        let unix = self.wall(now).duration_since(SystemTime::UNIX_EPOCH);
        if let Some(decide) = self.decider.as_mut() {
            let ok = decide(unix.unwrap_or_default());
            return Response {
                ok,
                headers: vec![],
            };
        }
        let real_ok = self.real.as_mut().map(|r| r.handle(now).ok);
        let reset_at = self.roll(now);
        let ok = self.accepted.len() < self.limit as usize;
        if ok {
            self.accepted.push_back(now);
        }
        let reset_at = match self.counting {
            // A sliding server frees quota when its oldest accepted request expires.
            Counting::Sliding | Counting::Decider => {
                self.accepted.front().map_or(now, |f| *f + self.window)
            }
            _ => reset_at.unwrap_or(now + self.window),
        };
        let remaining = self.limit.saturating_sub(self.accepted.len() as u32);
        let mut headers = self.headers(now, remaining, reset_at - now);
        let ok = real_ok.unwrap_or(ok);
        if !ok && self.real.is_some() {
            let wait = super::duration::ceil_secs(reset_at - now).as_secs().max(1);
            headers.push(("Retry-After".into(), wait.to_string()));
        }
        Response { ok, headers }
    }

    /// Drops what left the window; returns the current window's end for fixed windows.
    fn roll(&mut self, now: Instant) -> Option<Instant> {
        match self.counting {
            Counting::Anchored => {
                let start = match self.window_start {
                    Some(s) if now < s + self.window => s,
                    _ => now,
                };
                self.reset_fixed(start);
                Some(start + self.window)
            }
            Counting::Aligned { origin } => {
                let k = ((now - origin).as_nanos() / self.window.as_nanos()) as u32;
                let start = origin + self.window * k;
                self.reset_fixed(start);
                Some(start + self.window)
            }
            Counting::Sliding | Counting::Decider => {
                while self
                    .accepted
                    .front()
                    .is_some_and(|f| *f + self.window <= now)
                {
                    self.accepted.pop_front();
                }
                None
            }
        }
    }

    fn reset_fixed(&mut self, start: Instant) {
        if self.window_start != Some(start) {
            self.window_start = Some(start);
            self.accepted.clear();
        }
    }

    fn headers(&self, now: Instant, remaining: u32, reset: Duration) -> Vec<(String, String)> {
        let (l, w) = (self.limit, self.window.as_secs());
        // Integer dialects round up: whole seconds cannot express the sub-second resets of
        // scaled-down test windows, and truncating would tell the client to come back early.
        let t = super::duration::ceil_secs(reset).as_secs();
        let pairs: Vec<(&str, String)> = match self.dialect {
            Dialect::None => vec![],
            Dialect::Note => vec![
                ("ratelimit-limit", l.to_string()),
                ("ratelimit-remaining", remaining.to_string()),
                ("ratelimit-reset", go_format(reset)),
                ("ratelimit-policy", format!("{l};w= {w}")),
            ],
            Dialect::Draft7 => vec![
                (
                    "RateLimit",
                    format!("limit={l}, remaining={remaining}, reset={t}"),
                ),
                ("RateLimit-Policy", format!("{l};w={w}")),
            ],
            Dialect::Draft10 => vec![
                ("RateLimit-Policy", format!("\"default\";q={l};w={w}")),
                ("RateLimit", format!("\"default\";r={remaining};t={t}")),
            ],
            Dialect::XRateLimit => {
                let at = self
                    .wall(now + reset)
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                vec![
                    ("X-RateLimit-Limit", l.to_string()),
                    ("X-RateLimit-Remaining", remaining.to_string()),
                    (
                        "X-RateLimit-Reset",
                        super::duration::ceil_secs(at).as_secs().to_string(),
                    ),
                ]
            }
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// Formats like Go's `Duration.String` closely enough: `1m5.25s`, `1.9s`, `0s`.
fn go_format(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    let rest = d - Duration::from_secs(minutes * 60);
    if minutes > 0 {
        format!("{minutes}m{}s", rest.as_secs_f64())
    } else {
        format!("{}s", rest.as_secs_f64())
    }
}
