//! The sandbox as the platform: each delivered send → the webhooks the provider would post about
//! it (`sent`, then `delivered` and sometimes `read`, or a late `failed`; sometimes a reply), and
//! the inbound messages that opened the recipients' windows; appended to a webhook log (one POST
//! body per line) and/or POSTed, signed, to a URL.
//!
//! Events are produced when the send is delivered, including sends whose answer is then dropped
//! or cut: the platform knows what it accepted even when the client never heard back. That is
//! what lets `ingest` settle the client's `unknown` rows. The whole story of a message is emitted
//! at once, stamped with the times the platform would give it (delivered 1 s after sent, read 3 s
//! after, a reply 5 s after), so a test needs no waiting.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::config::{phone_key, SandboxConfig, Wire};
use super::state::App;
use crate::webhook::signature;

/// What the sandbox emitted as webhooks, so a test can compare a funnel with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStats {
    /// `sent` statuses: one per delivered send (also those whose answer was dropped or cut).
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    /// Late `failed` statuses (after a 200), with error 131047 or 131026.
    pub failed: u64,
    /// Inbound messages from the `--inbound` users (their `last_inbound_at`), replies excluded.
    pub inbound: u64,
    /// Inbound messages replying to a delivered send (`context.id` = its provider id).
    pub replies: u64,
    /// Status bodies emitted a second time (`disorder_rate`), on top of the counts above.
    #[serde(default)]
    pub redelivered: u64,
    /// Bodies POSTed to the webhook URL and answered 2xx.
    pub posted: u64,
    /// Bodies given up on after every retry failed.
    pub post_failures: u64,
}

/// The Cloud API's `metadata` of the sandbox's business number (fixed, as ingest does not use it).
const PHONE_NUMBER_ID: &str = "100000000000001";
const DISPLAY_NUMBER: &str = "15550000001";
const WABA_ID: &str = "100000000000002";

/// POST attempts per body before it is counted in `post_failures`, and the first pause (doubled
/// after each failure: 0.2 + 0.4 + 0.8 + 1.6 s), like a platform that retries a failing endpoint.
const POST_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Bodies POSTed at once: enough to keep up with any rate the sandbox admits.
const POST_CONCURRENCY: usize = 16;

/// A body waiting to be POSTed, with how to sign it.
pub(crate) struct Outgoing {
    body: Vec<u8>,
    wire: Wire,
}

/// Produces the webhooks; lives behind the sandbox's lock, so log lines never interleave.
pub(crate) struct Emitter {
    log: Option<(File, PathBuf)>,
    outbox: Option<UnboundedSender<Outgoing>>,
    rng: StdRng,
    read_rate: f64,
    fail_after_accept_rate: f64,
    reply_rate: f64,
    disorder_rate: f64,
    next_inbound: u64,
    /// Profile names by phone digits, for the users' inbound messages (and replies).
    names: HashMap<String, String>,
    pub counts: WebhookStats,
}

impl Emitter {
    /// `None` when neither a webhook log nor a URL is configured. The receiver is for the poster
    /// task (when a URL is configured).
    pub fn new(
        config: &SandboxConfig,
    ) -> io::Result<Option<(Emitter, Option<UnboundedReceiver<Outgoing>>)>> {
        if config.webhook_log.is_none() && config.webhook_url.is_none() {
            return Ok(None);
        }
        let log = match &config.webhook_log {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot open the webhook log {}: {e}", path.display()),
                        )
                    })?;
                Some((file, path.clone()))
            }
            None => None,
        };
        let (outbox, inbox) = match config.webhook_url {
            Some(_) => {
                let (tx, rx) = unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        // Its own generator, so turning webhooks on does not change which sends a seed faults.
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed ^ 0x5eb0_0c5e),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let mut emitter = Emitter {
            log,
            outbox,
            rng,
            read_rate: config.read_rate,
            fail_after_accept_rate: config.fail_after_accept_rate,
            reply_rate: config.reply_rate,
            disorder_rate: config.disorder_rate,
            next_inbound: 0,
            names: config
                .names
                .iter()
                .map(|(to, name)| (phone_key(to), name.clone()))
                .collect(),
            counts: WebhookStats::default(),
        };
        emitter.opening_messages(config);
        Ok(Some((emitter, inbox)))
    }

    /// One inbound message per `--inbound` user at their `last_inbound_at`: what the platform
    /// posted when they wrote, in the order they wrote.
    fn opening_messages(&mut self, config: &SandboxConfig) {
        let mut numbers = config.inbound_numbers.clone();
        super::config::last_per_number(&mut numbers);
        let numbers = numbers.into_iter().map(|(n, at)| (at, format!("+{n}")));
        let mut users: Vec<(SystemTime, String)> = config
            .inbound
            .iter()
            .map(|(to, at)| (*at, to.clone()))
            .chain(numbers)
            .collect();
        users.sort();
        for (at, to) in users {
            self.inbound(config.webhook_provider, &to, unix(at), None, "Hi!");
            self.counts.inbound += 1;
        }
    }

    /// The story of one delivered send: `sent`, then either a late `failed` or `delivered`, then
    /// `read` for a share, and a reply for a share (a reply implies the message was read). For
    /// `disorder_rate` of them the statuses come newest first and then all again, as a platform
    /// that delivers at least once and in no guaranteed order does.
    pub fn outcome(
        &mut self,
        wire: Wire,
        body: &Value,
        to: &str,
        provider_id: &str,
        now: SystemTime,
    ) {
        let key = send_key(wire, body);
        let key = key.as_deref();
        let t = unix(now);
        let status = |step: &str, at: i64, error: Option<i64>| match wire {
            Wire::CloudApi => cloud_status(provider_id, key, to, step, at, error),
            Wire::Messangi => messangi_status(provider_id, key, to, step, at, error),
        };
        let mut story = vec![status("sent", t, None)];
        self.counts.sent += 1;
        let mut reply = false;
        if roll(&mut self.rng, self.fail_after_accept_rate) {
            // What the platform reports after a 200: the window closed meanwhile, or the number
            // cannot receive the message.
            let code = if self.rng.random_bool(0.5) {
                131047
            } else {
                131026
            };
            story.push(status("failed", t + 1, Some(code)));
            self.counts.failed += 1;
        } else {
            story.push(status("delivered", t + 1, None));
            self.counts.delivered += 1;
            reply = roll(&mut self.rng, self.reply_rate);
            if reply || roll(&mut self.rng, self.read_rate) {
                story.push(status("read", t + 3, None));
                self.counts.read += 1;
            }
        }
        if roll(&mut self.rng, self.disorder_rate) {
            story.reverse();
            let again = story.clone();
            self.counts.redelivered += again.len() as u64;
            story.extend(again);
        }
        for body in story {
            self.emit(wire, body);
        }
        if reply {
            self.inbound(wire, to, t + 5, Some(provider_id), "Thanks, got it");
            self.counts.replies += 1;
        }
    }

    /// Stops queueing POSTs; the poster task finishes what is queued and ends.
    pub fn close(&mut self) {
        self.outbox = None;
    }

    fn inbound(&mut self, wire: Wire, from: &str, at: i64, reply_to: Option<&str>, text: &str) {
        self.next_inbound += 1;
        let seq = self.next_inbound;
        let suffix = format!("{seq:06}{:08X}", self.rng.random::<u32>());
        let name = self.names.get(&phone_key(from)).map(String::as_str);
        let body = match wire {
            Wire::CloudApi => cloud_inbound(&suffix, from, name, at, reply_to, text),
            Wire::Messangi => messangi_inbound(&suffix, from, name, at, reply_to, text),
        };
        self.emit(wire, body);
    }

    fn emit(&mut self, wire: Wire, body: Value) {
        let mut line = body.to_string().into_bytes();
        if let Some((file, path)) = self.log.as_mut() {
            line.push(b'\n');
            // One write per line keeps lines whole for a reader tailing the file.
            if let Err(e) = file.write_all(&line) {
                eprintln!(
                    "sandbox: cannot append to the webhook log {}: {e}",
                    path.display()
                );
            }
            line.pop();
        }
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(Outgoing { body: line, wire });
        }
    }
}

/// The send key the request carried, where each provider echoes it from.
fn send_key(wire: Wire, body: &Value) -> Option<String> {
    let v = match wire {
        Wire::CloudApi => body.get("biz_opaque_callback_data"),
        Wire::Messangi => body.get("request").and_then(|r| r.get("externalId")),
    };
    v.and_then(Value::as_str).map(str::to_string)
}

fn roll(rng: &mut StdRng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.clamp(0.0, 1.0))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The identity the platform names a user by: a business-scoped user id (`CC.digits`) as is, a
/// phone number as its wa_id, where a Mexican mobile (`52` + 10 digits) carries the extra `1`
/// the platform still uses (`521…`).
enum Identity {
    WaId(String),
    UserId(String),
}

fn identity(to: &str) -> Identity {
    if to.contains('.') {
        return Identity::UserId(to.to_string());
    }
    let digits = phone_key(to);
    match digits.strip_prefix("52") {
        Some(rest) if rest.len() == 10 => Identity::WaId(format!("521{rest}")),
        _ => Identity::WaId(digits),
    }
}

fn cloud_envelope(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": WABA_ID, "changes": [{ "field": "messages", "value": value }] }],
    })
}

fn metadata() -> Value {
    json!({ "display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID })
}

fn cloud_status(
    provider_id: &str,
    key: Option<&str>,
    to: &str,
    step: &str,
    at: i64,
    error: Option<i64>,
) -> Value {
    let mut s = json!({ "id": provider_id, "status": step, "timestamp": at.to_string() });
    match identity(to) {
        Identity::WaId(w) => s["recipient_id"] = json!(w),
        Identity::UserId(u) => s["recipient_user_id"] = json!(u),
    }
    // Documented as echoed on sent, delivered and read; not on failed.
    if let (Some(key), None) = (key, error) {
        s["biz_opaque_callback_data"] = json!(key);
    }
    match error {
        Some(code) => {
            let (title, details) = error_text(code);
            s["errors"] = json!([{
                "code": code, "title": title, "message": title,
                "error_data": { "details": details },
            }]);
        }
        None if step != "read" => {
            let conversation = provider_id.trim_start_matches("wamid.");
            s["conversation"] =
                json!({ "id": format!("CONV{conversation}"), "origin": { "type": "service" } });
            s["pricing"] = json!({
                "billable": false, "pricing_model": "PMP",
                "category": "service", "type": "free_customer_service",
            });
        }
        None => {}
    }
    cloud_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "statuses": [s],
    }))
}

fn cloud_inbound(
    suffix: &str,
    from: &str,
    name: Option<&str>,
    at: i64,
    reply_to: Option<&str>,
    text: &str,
) -> Value {
    let mut contact = json!({ "profile": { "name": name.unwrap_or("") } });
    let mut m = json!({
        "id": format!("wamid.SBXIN{suffix}"),
        "timestamp": at.to_string(),
        "type": "text",
        "text": { "body": text },
    });
    match identity(from) {
        Identity::WaId(w) => {
            contact["wa_id"] = json!(w);
            m["from"] = json!(w);
        }
        Identity::UserId(u) => {
            contact["user_id"] = json!(u);
            m["from_user_id"] = json!(u);
        }
    }
    if let Some(id) = reply_to {
        m["context"] = json!({ "from": DISPLAY_NUMBER, "id": id });
    }
    cloud_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [contact],
        "messages": [m],
    }))
}

fn messangi_status(
    provider_id: &str,
    key: Option<&str>,
    to: &str,
    step: &str,
    at: i64,
    error: Option<i64>,
) -> Value {
    let mut s = json!({
        "callback": "status",
        "id": provider_id,
        "status": step.to_ascii_uppercase(),
        "date": rfc3339(at),
        "to": phone_key(to),
    });
    if let Some(key) = key {
        s["externalId"] = json!(key);
    }
    if let Some(code) = error {
        s["errorCode"] = json!(code);
        s["errorMessage"] = json!(error_text(code).0);
    }
    s
}

fn messangi_inbound(
    suffix: &str,
    from: &str,
    name: Option<&str>,
    at: i64,
    reply_to: Option<&str>,
    text: &str,
) -> Value {
    let mut m = json!({
        "callback": "inbound",
        "id": format!("sbx-in-{suffix}"),
        "from": phone_key(from),
        "date": rfc3339(at),
        "type": "text",
        "text": text,
    });
    if let Some(name) = name {
        m["name"] = json!(name);
    }
    if let Some(id) = reply_to {
        m["replyTo"] = json!(id);
    }
    m
}

fn error_text(code: i64) -> (&'static str, &'static str) {
    match code {
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        _ => (
            "Message undeliverable",
            "Unable to deliver message (the sandbox's fail-after-accept rate).",
        ),
    }
}

/// POSTs each queued body to `url` (signed when a secret is set, as the Cloud API signs every
/// webhook; Messangi does not sign), retrying failures with backoff; never holds up a send.
/// Ends when the emitter is closed and everything queued has been tried.
pub(crate) async fn post_all(
    app: Arc<App>,
    url: String,
    secret: Option<String>,
    mut queue: UnboundedReceiver<Outgoing>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let slots = Arc::new(Semaphore::new(POST_CONCURRENCY));
    let mut posts = JoinSet::new();
    while let Some(out) = queue.recv().await {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (client, url, secret, app) = (
            client.clone(),
            url.clone(),
            secret.clone(),
            Arc::clone(&app),
        );
        posts.spawn(async move {
            let ok = post_one(&client, &url, secret.as_deref(), &out).await;
            let mut inner = app.lock();
            if let Some(e) = inner.emitter.as_mut() {
                if ok {
                    e.counts.posted += 1;
                } else {
                    e.counts.post_failures += 1;
                }
            }
            drop(permit);
        });
        while posts.try_join_next().is_some() {}
    }
    while posts.join_next().await.is_some() {}
}

async fn post_one(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    out: &Outgoing,
) -> bool {
    let mut pause = FIRST_BACKOFF;
    for attempt in 1..=POST_ATTEMPTS {
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(out.body.clone());
        if let (Some(secret), Wire::CloudApi) = (secret, out.wire) {
            request = request.header(
                signature::HEADER,
                signature::sign(secret.as_bytes(), &out.body),
            );
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => return true,
            _ if attempt == POST_ATTEMPTS => break,
            _ => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    false
}
