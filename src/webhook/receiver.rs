//! The webhook receiver behind `sessioncast webhook --listen`: provider POSTs → checked (signature
//! or path token) → appended to a webhook log, on disk before the provider hears 200.
//!
//! - `GET <any path>?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`: Meta's subscription
//!   handshake. 200 with `C` as text/plain when `T` equals the verify token; 403 otherwise.
//! - `POST /messangi/<token>`: a Messangi callback. Messangi does not sign its callbacks and is
//!   configured with nothing but a URL, so the shared secret is a path segment of that URL,
//!   compared in constant time (404 when no Messangi token is configured, 403 when it differs).
//! - `POST <any other path>`: a Cloud API webhook. It must carry `X-Hub-Signature-256:
//!   sha256=<hex HMAC-SHA256(app secret, raw body)>`, checked in constant time: missing → 401,
//!   wrong → 403, and nothing is stored.
//!
//! An accepted body must be JSON; it is appended as one compact line and fsynced before the 200,
//! so an event the provider saw acknowledged is never lost (a crash before that makes the
//! provider retry, and `ingest` deduplicates). One writer at a time keeps lines whole.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::signature;

/// Bodies larger than this are refused with 413 before they are read in full. The platform's
/// batches are a few kilobytes; 1 MiB leaves ample room and bounds what a stranger can make us read.
pub const MAX_BODY: usize = 1 << 20;

/// What the receiver checks against. The secrets come from the environment (see the command);
/// none of them is ever printed.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// The webhook log accepted bodies are appended to.
    pub log: PathBuf,
    /// Meta's verify token for the subscription handshake; without it every handshake is refused.
    pub verify_token: Option<String>,
    /// The app secret signing Cloud API webhooks; without it every Cloud API POST is refused.
    pub app_secret: Option<String>,
    /// The path token of Messangi callbacks; without it `/messangi/…` does not exist.
    pub messangi_token: Option<String>,
}

// Hand-written so that no secret reaches a log line through `{:?}`.
impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("ReceiverConfig")
            .field("log", &self.log)
            .field("verify_token", &hidden(&self.verify_token))
            .field("app_secret", &hidden(&self.app_secret))
            .field("messangi_token", &hidden(&self.messangi_token))
            .finish()
    }
}

/// What the receiver has answered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverStats {
    /// Bodies appended to the log (and answered 200).
    pub stored: u64,
    /// POSTs refused for a missing (401) or wrong (403) signature or Messangi token.
    pub refused: u64,
    /// Signed POSTs that were not JSON (400), or that could not be written (500).
    pub bad: u64,
    /// Handshakes answered with the challenge.
    pub verified: u64,
    /// Handshakes refused (403).
    pub handshakes_refused: u64,
}

struct App {
    config: ReceiverConfig,
    log: Mutex<File>,
    stats: Mutex<ReceiverStats>,
}

impl App {
    fn count(&self, f: impl FnOnce(&mut ReceiverStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// A running receiver. `shutdown` stops taking connections and lets requests in flight finish.
pub struct Receiver {
    addr: SocketAddr,
    app: Arc<App>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Receiver {
    /// Opens (creating) the log for appending, binds `addr` and serves in the background.
    pub async fn start(config: ReceiverConfig, addr: SocketAddr) -> io::Result<Receiver> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot open the webhook log {}: {e}", config.log.display()),
                )
            })?;
        let app = Arc::new(App {
            config,
            log: Mutex::new(file),
            stats: Mutex::default(),
        });
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = router(Arc::clone(&app));
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Receiver {
            addr,
            app,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> ReceiverStats {
        *self
            .app
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting connections, waits for the requests in flight to be answered, and
    /// returns the final counts.
    pub async fn shutdown(self) -> io::Result<ReceiverStats> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result?,
            Err(e) => return Err(io::Error::other(e)),
        }
        Ok(*self
            .app
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/messangi/{token}", post(messangi))
        .route("/", get(handshake).post(cloud_api))
        .route("/{*path}", get(handshake).post(cloud_api))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn handshake(State(app): State<Arc<App>>, Query(q): Query<Handshake>) -> Response {
    let ok = q.mode.as_deref() == Some("subscribe")
        && matches!((&app.config.verify_token, &q.verify_token), (Some(want), Some(got)) if same(want, got));
    match (ok, q.challenge) {
        (true, Some(challenge)) => {
            app.count(|s| s.verified += 1);
            ([(CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response()
        }
        _ => {
            app.count(|s| s.handshakes_refused += 1);
            (StatusCode::FORBIDDEN, "verification refused\n").into_response()
        }
    }
}

async fn cloud_api(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = app.config.app_secret.as_deref() else {
        app.count(|s| s.refused += 1);
        return (
            StatusCode::FORBIDDEN,
            "no app secret configured: Cloud API webhooks are refused\n",
        )
            .into_response();
    };
    let Some(header) = headers.get(signature::HEADER).and_then(|v| v.to_str().ok()) else {
        app.count(|s| s.refused += 1);
        return (StatusCode::UNAUTHORIZED, "missing X-Hub-Signature-256\n").into_response();
    };
    if !signature::verify(secret.as_bytes(), &body, header) {
        app.count(|s| s.refused += 1);
        return (StatusCode::FORBIDDEN, "invalid X-Hub-Signature-256\n").into_response();
    }
    store(app, body).await
}

async fn messangi(State(app): State<Arc<App>>, Path(token): Path<String>, body: Bytes) -> Response {
    let Some(want) = app.config.messangi_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !same(want, &token) {
        app.count(|s| s.refused += 1);
        return (StatusCode::FORBIDDEN, "invalid token\n").into_response();
    }
    store(app, body).await
}

/// Appends the body as one compact JSON line and fsyncs, off the async threads; 200 only after.
async fn store(app: Arc<App>, body: Bytes) -> Response {
    let line = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v @ serde_json::Value::Object(_)) => format!("{v}\n"),
        _ => {
            app.count(|s| s.bad += 1);
            return (StatusCode::BAD_REQUEST, "the body is not a JSON object\n").into_response();
        }
    };
    let writer = Arc::clone(&app);
    let written = tokio::task::spawn_blocking(move || {
        let mut file = writer.log.lock().unwrap_or_else(PoisonError::into_inner);
        let before = file.metadata()?.len();
        let written = file
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data());
        if written.is_err() {
            // No torn line left behind for the provider's retry to follow.
            let _ = file.set_len(before);
        }
        written
    })
    .await;
    match written {
        Ok(Ok(())) => {
            app.count(|s| s.stored += 1);
            StatusCode::OK.into_response()
        }
        Ok(Err(e)) => {
            // The provider retries a 500: nothing is lost, and the operator sees why.
            eprintln!(
                "webhook: cannot append to {}: {e}",
                app.config.log.display()
            );
            app.count(|s| s.bad += 1);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Equality in time independent of where the strings differ (their lengths may leak, which
/// says nothing useful about a random token).
fn same(want: &str, got: &str) -> bool {
    want.as_bytes().ct_eq(got.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_every_secret() {
        let config = ReceiverConfig {
            log: PathBuf::from("hooks.jsonl"),
            verify_token: Some("vt-s3cret".into()),
            app_secret: Some("app-s3cret".into()),
            messangi_token: Some("m-s3cret".into()),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("hooks.jsonl"), "{shown}");
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("abc", ""));
    }
}
