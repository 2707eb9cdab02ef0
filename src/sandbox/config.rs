//! Sandbox configuration: what the stand-in provider enforces and how it misbehaves (input to `Sandbox::start`).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

// The wire format a request arrived in is the provider's, so a validator applies its rules.
pub use crate::provider::parse::Validator;
pub use crate::provider::Wire;
use crate::ratelimit::Rate;

/// How the quota window is laid over time. Real providers differ, so clients must cope with all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum WindowMode {
    /// Fixed window that starts at the first request and restarts at the first request after it ends.
    #[default]
    #[value(name = "anchored")]
    Anchored,
    /// Fixed windows aligned to the clock: window number = floor(unix_time / W).
    #[value(name = "aligned")]
    Aligned,
    /// Sliding log: at most L accepted requests in any span of W.
    #[value(name = "sliding")]
    Sliding,
    /// Token bucket holding at most L tokens, refilled at L per W.
    #[value(name = "bucket")]
    Bucket,
    /// Leaky bucket like nginx `limit_req` (rate L/W per second, no burst): a request is admitted
    /// only when the previous admitted one has drained, i.e. requests at least W/L apart.
    /// Sends no rate headers and no `Retry-After`, as nginx does.
    #[value(name = "leaky")]
    Leaky,
    /// Sliding-window estimate like HAProxy `sc_http_req_rate(W)` with `deny_status 429 if gt L`:
    /// the previous clock-aligned window's count weighted by how much of it still overlaps,
    /// plus the current window's count; every request counts, refused ones too.
    /// Sends no rate headers and no `Retry-After`.
    #[value(name = "estimate")]
    Estimate,
}

impl WindowMode {
    /// The header-less kinds imitate servers that announce nothing, whatever `--headers` says.
    pub fn sends_headers(self) -> bool {
        !matches!(self, WindowMode::Leaky | WindowMode::Estimate)
    }
}

/// Which rate-limit response headers the sandbox sends (api-reference §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum HeaderDialect {
    /// The provider note: `ratelimit-limit/-remaining/-policy` and `ratelimit-reset: 5m0s` (Go duration).
    #[default]
    #[value(name = "note")]
    Note,
    /// IETF draft-06: `RateLimit-Limit/-Remaining/-Reset` (seconds) + `RateLimit-Policy: 2;w=300`.
    #[value(name = "draft6")]
    Draft6,
    /// IETF draft-07: `RateLimit: limit=2, remaining=1, reset=300` + `RateLimit-Policy`.
    #[value(name = "draft7")]
    Draft7,
    /// IETF draft-10: `RateLimit-Policy: "default";q=2;w=300` + `RateLimit: "default";r=1;t=300`.
    #[value(name = "draft10")]
    Draft10,
    /// De-facto `X-RateLimit-Limit/-Remaining/-Reset`, reset as epoch seconds.
    #[value(name = "x-ratelimit")]
    XRateLimit,
    /// No rate headers at all, not even `Retry-After` on a 429: clients must cope blind.
    #[value(name = "none")]
    None,
}

/// Everything the sandbox enforces. Build it directly in tests or with `config_from_args` in the CLI.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Quota per window; `None` means unlimited (headers are then not sent).
    pub rate: Option<Rate>,
    /// When set, the quota really enforced, while the headers keep announcing `rate`: a server
    /// whose headers lie (a gateway configured apart from its limiter).
    pub real_rate: Option<Rate>,
    pub window_mode: WindowMode,
    pub headers: HeaderDialect,
    /// When set, every send needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Recipient (E.164, `+` optional) → time of their last inbound message.
    pub inbound: HashMap<String, SystemTime>,
    /// More of the same for phone numbers, keyed by their E.164 digits as a number (a
    /// `UserId`'s `phone_number`): how a run's million recipients are given, 24 bytes each
    /// instead of a map of strings. A number given twice takes its last time.
    pub inbound_numbers: Vec<(u64, SystemTime)>,
    /// How long the session window stays open after an inbound message (24 h on WhatsApp).
    pub window_length: Duration,
    /// Probability (0..=1) that an otherwise acceptable send fails with a 500 (code 131000).
    pub fail_rate: f64,
    /// Probability (0..=1) that an accepted send is delivered but never answered.
    pub drop_rate: f64,
    /// Probability (0..=1) that an accepted send is delivered and answered `200` with complete
    /// headers, but the connection closes halfway through the body.
    pub cut_rate: f64,
    /// Added before every answer on the send routes.
    pub delay: Duration,
    /// JSONL file receiving one `{"time","to","body"}` line per delivered message (appended).
    pub log: Option<PathBuf>,
    pub validator: Option<Validator>,
    /// Seed for fault injection, so tests see the same faults on every run.
    pub seed: Option<u64>,
    /// Webhook log: every webhook the sandbox emits, appended as one compact JSON line (the
    /// provider's POST body).
    pub webhook_log: Option<PathBuf>,
    /// Where to POST every webhook body (retried on failure, off the send path).
    pub webhook_url: Option<String>,
    /// The app secret signing POSTed Cloud API bodies (`X-Hub-Signature-256`); unsigned without it.
    pub app_secret: Option<String>,
    /// The format of the inbound messages of the `inbound` users (statuses follow each request's wire).
    pub webhook_provider: Wire,
    /// Share (0..=1) of delivered messages that are also reported `read`.
    pub read_rate: f64,
    /// Share (0..=1) of accepted sends later reported `failed` (131047 or 131026) instead of delivered.
    pub fail_after_accept_rate: f64,
    /// Share (0..=1) of delivered messages the recipient answers (an inbound with `context.id`).
    pub reply_rate: f64,
    /// Share (0..=1) of delivered sends whose statuses are emitted newest first and then all again
    /// (the platform delivers webhooks at least once, in no guaranteed order).
    pub disorder_rate: f64,
    /// Profile names of the `inbound` users, for their inbound messages' `contacts[]`.
    pub names: HashMap<String, String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            rate: None,
            real_rate: None,
            window_mode: WindowMode::default(),
            headers: HeaderDialect::default(),
            token: None,
            inbound: HashMap::new(),
            inbound_numbers: Vec::new(),
            window_length: Duration::from_secs(24 * 3600),
            fail_rate: 0.0,
            drop_rate: 0.0,
            cut_rate: 0.0,
            delay: Duration::ZERO,
            log: None,
            validator: None,
            seed: None,
            webhook_log: None,
            webhook_url: None,
            app_secret: None,
            webhook_provider: Wire::CloudApi,
            read_rate: 0.5,
            fail_after_accept_rate: 0.0,
            reply_rate: 0.0,
            disorder_rate: 0.0,
            names: HashMap::new(),
        }
    }
}

// Hand-written so that the token never reaches a log line through `{:?}`.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("rate", &self.rate)
            .field("real_rate", &self.real_rate)
            .field("window_mode", &self.window_mode)
            .field("headers", &self.headers)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field(
                "inbound",
                &(self.inbound.len() + self.inbound_numbers.len()),
            )
            .field("window_length", &self.window_length)
            .field("fail_rate", &self.fail_rate)
            .field("drop_rate", &self.drop_rate)
            .field("cut_rate", &self.cut_rate)
            .field("delay", &self.delay)
            .field("log", &self.log)
            .field("validator", &self.validator.is_some())
            .field("seed", &self.seed)
            .field("webhook_log", &self.webhook_log)
            .field("webhook_url", &self.webhook_url)
            .field("app_secret", &self.app_secret.as_ref().map(|_| "***"))
            .field("webhook_provider", &self.webhook_provider)
            .field("read_rate", &self.read_rate)
            .field("fail_after_accept_rate", &self.fail_after_accept_rate)
            .field("reply_rate", &self.reply_rate)
            .field("disorder_rate", &self.disorder_rate)
            .finish()
    }
}

/// Digits of a phone number, so `+15551234567` and `15551234567` name the same recipient.
/// Sorts `numbers` by number and keeps, of a number given more than once, its last time.
pub(crate) fn last_per_number(numbers: &mut Vec<(u64, SystemTime)>) {
    // A stable sort keeps equal numbers in the order given; reversed, the last comes first and
    // is the one `dedup` keeps.
    numbers.sort_by_key(|&(n, _)| n);
    numbers.reverse();
    numbers.dedup_by_key(|&mut (n, _)| n);
    numbers.reverse();
}

pub(crate) fn phone_key(phone: &str) -> String {
    // A business-scoped user id (`US.1349…`) is its own key, exactly as written.
    if crate::identity::Bsuid::looks_like(phone) {
        return phone.trim().to_string();
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    // A Mexican mobile as a WhatsApp id (`521` + 10 digits) is the E.164 `52` + 10 digits, as
    // campaigns normalize it; checked by shape, as this runs for every request.
    match digits.strip_prefix("521") {
        Some(rest) if rest.len() == 10 => format!("52{rest}"),
        _ => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let config = SandboxConfig {
            token: Some("s3cret-token".into()),
            ..SandboxConfig::default()
        };
        let config = SandboxConfig {
            app_secret: Some("app-s3cret".into()),
            ..config
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-token"), "{shown}");
        assert!(!shown.contains("app-s3cret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn phone_key_ignores_plus_and_spacing() {
        assert_eq!(phone_key("+1 555-123-4567"), "15551234567");
        assert_eq!(phone_key("15551234567"), "15551234567");
        assert_eq!(phone_key("5215512345678"), phone_key("+52 55 1234 5678"));
    }
}
