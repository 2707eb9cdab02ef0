//! Server rate-limit signals: HTTP response headers (every dialect we know) → one [`Signal`].
//!
//! Accepted: IETF `RateLimit` drafts ≤06 (separate fields), 07 (one Dictionary) and 08–10
//! (named policies), the provider's variant of them (Go-duration resets, `2;w= 300`),
//! `X-RateLimit-*` / `X-Rate-Limit-*`, and `Retry-After`. Names are case-insensitive; repeated
//! fields are joined with `", "` as HTTP list fields are. A malformed field is discarded, never
//! fatal: servers are not trusted to be well-formed.

use std::time::{Duration, SystemTime};

use super::duration::{parse_absolute, parse_delta_secs, parse_reset_heuristic, until, Reset};
use super::structured::parse_standard;

/// No computed wait exceeds this: a broken or hostile header must not park a campaign for days.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// What one response told us about the server's quota. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signal {
    /// Quota per window (standard limit, policy `q`, or `X-RateLimit-Limit`); always ≥ 1.
    pub limit: Option<u32>,
    /// The window that quota applies to (policy `w=`).
    pub window: Option<Duration>,
    /// Requests left in the current window.
    pub remaining: Option<u32>,
    /// Time until the quota resets or more quota becomes available (standard first, then `X-`).
    pub reset: Option<Duration>,
    /// How much sooner than `reset` the quota may really reset: the header's resolution. A
    /// relative reset in whole seconds (`reset=2`, `t=2`, `RateLimit-Reset: 2`) means anything
    /// in (1, 2] s from a server that rounds up; an absolute one (`X-RateLimit-Reset:
    /// 1700000002`) measured from a whole-second `Date` may be read up to 2 s late; the
    /// provider's Go durations (milliseconds) have none.
    pub reset_slack: Duration,
    /// `Retry-After`, as a delay from now.
    pub retry_after: Option<Duration>,
}

impl Signal {
    /// How long the server asks us to hold off when throttled: `Retry-After` wins, then the
    /// reset time; capped at [`MAX_WAIT`].
    pub fn wait(&self) -> Option<Duration> {
        self.retry_after.or(self.reset).map(|d| d.min(MAX_WAIT))
    }

    /// True when the response carried no rate-limit information at all.
    pub fn is_empty(&self) -> bool {
        *self == Signal::default()
    }
}

/// Reads every rate-limit dialect from a response's headers. `now` is the local wall clock at
/// receipt; absolute times are measured from the response's `Date` header when it has one, so
/// a server clock that differs from ours does not shorten the wait.
pub fn parse_signal<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    now: SystemTime,
) -> Signal {
    let fields = Fields::collect(headers);
    let get = |name: &str| fields.get(name);
    let date = get("date").and_then(|d| httpdate::parse_http_date(d.trim()).ok());
    let reference = date.unwrap_or(now);
    let standard = parse_standard(get);
    let x = parse_x_ratelimit(&fields, reference);
    // `Date` is truncated to the second, so the server's clock may be up to 1 s past it.
    let date_resolution = date.map_or(Duration::ZERO, |_| Duration::from_secs(1));
    let (reset, reset_slack) = match (standard.reset, x.reset) {
        (Some(reset), _) => (Some(reset), standard.reset_resolution),
        (None, Some(x)) => (
            Some(x.wait),
            x.resolution.map_or(Duration::ZERO, |r| r + date_resolution),
        ),
        (None, None) => (None, Duration::ZERO),
    };
    Signal {
        limit: standard.limit.or(x.limit),
        window: standard.window,
        remaining: standard.remaining.or(x.remaining),
        reset,
        reset_slack,
        retry_after: get("retry-after").and_then(|v| parse_retry_after(v, reference)),
    }
}

/// Header fields by lower-case name, repeated ones joined in arrival order.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn collect<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in headers {
            let name = name.trim().to_ascii_lowercase();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value.trim());
                }
                None => out.push((name, value.trim().to_string())),
            }
        }
        Fields(out)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first present of `x-ratelimit-<suffix>` and `x-rate-limit-<suffix>`.
    fn get_x(&self, suffix: &str) -> Option<&str> {
        ["x-ratelimit-", "x-rate-limit-"]
            .iter()
            .find_map(|prefix| self.get(&format!("{prefix}{suffix}")))
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, reference: SystemTime) -> Option<Duration> {
    parse_delta_secs(value).or_else(|| parse_absolute(value).map(|at| until(reference, at)))
}

#[derive(Default)]
struct XFields {
    limit: Option<u32>,
    remaining: Option<u32>,
    reset: Option<Reset>,
}

/// `X-RateLimit-*`: meanings vary by implementation, so read them leniently.
fn parse_x_ratelimit(fields: &Fields, reference: SystemTime) -> XFields {
    XFields {
        limit: fields
            .get_x("limit")
            .and_then(leading_int)
            .filter(|v| *v > 0),
        remaining: fields.get_x("remaining").and_then(leading_int),
        reset: fields
            .get_x("reset")
            .and_then(|v| parse_reset_heuristic(v, reference)),
    }
}

/// The integer before any `,` or `;` (some servers append policy comments); negatives are 0.
fn leading_int(value: &str) -> Option<u32> {
    let head = value.split([',', ';']).next()?.trim();
    let v: i64 = head.parse().ok()?;
    Some(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
