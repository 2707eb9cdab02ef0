//! The embedded provider stand-in: `SandboxConfig` → an HTTP server on loopback that behaves like the provider.
//!
//! It answers Messangi `POST /notification` and Cloud API `POST /{version}/{phone_number_id}/messages`,
//! and reports what it saw at `GET /_sandbox/stats`. Each send goes through these checks, in order:
//!
//! 1. **Auth**: with a token configured, a missing or wrong bearer gets 401 (Cloud API code 190).
//!    It takes no quota: the provider cannot attribute an unauthenticated call to an account.
//! 2. **Envelope**: JSON, channel, recipient, type, then the core's validator if one is supplied
//!    → 400 (code 100). Such a call *does* take quota: the provider counts every authenticated call,
//!    and a client that loops on malformed requests must see the quota drain.
//!    A malformed call that arrives with the quota already spent still gets the 400, not a 429.
//! 3. **Quota** (`WindowMode`): past the limit → 429 `{"errors":{"reason":"Too Many Requests"}}`
//!    with `Retry-After` (except for `HeaderDialect::None`).
//! 4. **Session window**: a recipient whose last inbound message is older than `window_length`
//!    → 400 (code 131047). Recipients with no known inbound time count as open.
//! 5. **Faults**: `fail_rate` → 500 (code 131000), nothing delivered; `drop_rate` → delivered and
//!    logged, then the connection is closed without an answer (the client cannot know it went out);
//!    `cut_rate` → delivered and logged, answered 200 with complete headers, and the connection
//!    closed halfway through the body (the provider id is lost, the verdict is not).
//! 6. **Delivery**: counted, checked for an earlier identical (recipient, payload), appended to the log.
//!
//! Every answer on the send routes carries the dialect's rate headers (when a rate is set) and waits
//! `delay` first.

mod args;
mod config;
mod handlers;
mod headers;
pub(crate) mod limiter;
mod responses;
mod server;
mod state;
mod validate;
mod webhooks;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues for the sandbox. Clients open up to 256 connections at
/// once; the default backlog (128) would make the kernel drop the rest, and they would retry a
/// second later.
const BACKLOG: u32 = 1024;

/// Binds `addr` with a backlog of [`BACKLOG`] (and address reuse, so a restarted sandbox gets
/// its port back at once).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use args::{config_from_args, SandboxArgs};
pub use config::{HeaderDialect, SandboxConfig, Validator, WindowMode, Wire};
pub use headers::go_duration;
pub use state::Stats;
pub use webhooks::WebhookStats;

/// How long `shutdown` waits for queued webhook POSTs (each retried for about 3 s).
const POSTS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A running sandbox. Dropping it also stops the server and its webhook poster (queued POSTs
/// are lost); `shutdown` waits until the server has stopped and the queue is posted.
pub struct Sandbox {
    addr: SocketAddr,
    app: Arc<state::App>,
    /// Taken by `shutdown`; dropping it stops the server too.
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// POSTs the webhooks when a webhook URL is configured. It holds the app, whose emitter
    /// holds the queue's sender, so it never ends by itself: `Drop` aborts it.
    poster: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port) and starts serving in the background.
    ///
    /// Only loopback addresses are accepted: the sandbox has no real security and must not be
    /// reachable from the network.
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> io::Result<Sandbox> {
        if !addr.ip().is_loopback() {
            let msg = format!(
                "the sandbox only listens on loopback (127.0.0.1 or ::1), not {}",
                addr.ip()
            );
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        let post_to = match &config.webhook_url {
            Some(u) => Some(webhook_url(u)?),
            None => None,
        };
        let secret = config.app_secret.clone();
        let (app, queue) = state::App::new(config)?;
        let app = Arc::new(app);
        let poster = match (post_to, queue) {
            (Some(url), Some(queue)) => Some(tokio::spawn(webhooks::post_all(
                Arc::clone(&app),
                url,
                secret,
                queue,
            ))),
            _ => None,
        };
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let router = handlers::router(Arc::clone(&app));
        let task = tokio::spawn(server::serve(listener, router, stopped));
        Ok(Sandbox {
            addr,
            app,
            stop: Some(stop),
            task,
            poster,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far (the same numbers as `GET /_sandbox/stats`).
    pub fn stats(&self) -> Stats {
        self.app.stats()
    }

    /// Stops accepting, cuts open connections and waits for the server task to finish.
    /// Webhook POSTs still queued are given [`POSTS_GRACE`] to go out.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(e) = self.app.lock().emitter.as_mut() {
            e.close();
        }
        if let Some(poster) = self.poster.as_mut() {
            let _ = tokio::time::timeout(POSTS_GRACE, poster).await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // After `shutdown` the poster has finished (or had its grace); aborting is then a no-op.
        if let Some(poster) = &self.poster {
            poster.abort();
        }
    }
}

/// An `http://` or `https://` URL to POST webhooks to.
fn webhook_url(u: &str) -> io::Result<String> {
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(u.to_string()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            // Not repeated: its path may hold a shared token.
            "the webhook URL is not an http:// or https:// URL, e.g. http://127.0.0.1:8090/webhook",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The webhook poster holds the app and the app holds the poster's queue, so without an
    /// abort on drop the task (and every delivered message's state) outlived the sandbox.
    #[tokio::test]
    async fn dropping_a_sandbox_stops_its_webhook_poster() {
        let config = SandboxConfig {
            // Nothing listens on port 9 of loopback: every POST is refused and retried.
            webhook_url: Some("http://127.0.0.1:9/webhook".into()),
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("start");
        assert!(sandbox.poster.is_some(), "a webhook URL starts the poster");
        let app = Arc::downgrade(&sandbox.app);
        drop(sandbox);
        // The aborted task is dropped on its next poll, the server task on its stop signal.
        for _ in 0..100 {
            if app.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the sandbox's state is still held a second after the sandbox was dropped");
    }
}
