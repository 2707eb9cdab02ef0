//! `--verbose` logging through `tracing`, to stderr: `-v` logs each HTTP exchange (method, URL,
//! status, time taken); `-vv` adds the request and answer bodies. The token is never logged:
//! the only header logged is the authorization as `Bearer ***`, and URLs lose any userinfo.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Where HTTP exchanges are logged (`-v`: info; `-vv`: debug adds bodies).
pub const HTTP: &str = "sessioncast::http";

/// Install the stderr logger for `verbose` (the count of `-v`). Without `-v` nothing is
/// installed, so logging costs nothing on the send path.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    // Only this crate's events: the HTTP libraries' own debug logs are not ours to vouch for.
    let filter = Targets::new().with_target("sessioncast", level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// `url` without userinfo (`https://user:pw@host` → `https://***@host`), for logs.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string().into()
        }
        _ => url.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_never_reaches_a_log() {
        let r = redact_url("https://user:s3cret@graph.example.com/v1/messages");
        assert_eq!(r, "https://***@graph.example.com/v1/messages");
        assert_eq!(redact_url("https://h.example/x"), "https://h.example/x");
    }
}
