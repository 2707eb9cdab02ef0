//! The sandbox as the platform: the webhooks it writes and POSTs, read back with the project's own
//! webhook parser, for sends whose answers arrived, were dropped or were cut.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sessioncast::sandbox::{Sandbox, SandboxConfig, Wire};
use sessioncast::webhook::{parse_line, Event, Inbound, Status, Step};

use crate::common::{client, post, post_cloud, start};

fn cloud_send(to: &str, key: &str) -> Value {
    json!({"messaging_product":"whatsapp","to":to,"type":"text","text":{"body":"hi"},
           "biz_opaque_callback_data":key})
}

fn messangi_send(to: &str, key: &str) -> Value {
    json!({"channel":"WHATSAPP","request":{"from":"15550001111","to":to,"type":"text",
           "message":"hi","externalId":key}})
}

/// Every event in a webhook log, parsed the way `ingest` parses it; also checks the log's form:
/// one compact JSON object per line.
fn events(path: &std::path::Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "whole lines only");
    text.lines()
        .flat_map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(line, v.to_string(), "compact JSON, one body per line");
            parse_line(line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .collect()
}

fn statuses(events: &[Event]) -> Vec<&Status> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some(s),
            Event::Inbound(_) => None,
        })
        .collect()
}

fn inbound(events: &[Event]) -> Vec<&Inbound> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Inbound(m) => Some(m),
            Event::Status(_) => None,
        })
        .collect()
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn every_accepted_send_is_reported_with_its_key_even_when_its_answer_is_lost() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        drop_rate: 0.4,
        cut_rate: 0.3,
        read_rate: 1.0,
        seed: Some(11),
        webhook_log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let before = now_s();
    // key → the provider id the answer carried (when an answer arrived in full).
    let mut answered = HashMap::new();
    for i in 0..12 {
        let key = format!("0123456789ab-1555000{i:04}-0");
        let sent = client()
            .post(format!("{}/v23.0/1234567890/messages", sb.base_url()))
            .json(&cloud_send(&format!("+1555000{i:04}"), &key))
            .send()
            .await;
        let Ok(r) = sent else { continue };
        let Ok(body) = r.json::<Value>().await else {
            continue;
        };
        answered.insert(key, body["messages"][0]["id"].as_str().unwrap().to_string());
    }
    let stats = sb.stats();
    assert_eq!(stats.accepted, 12);
    assert!(
        stats.dropped > 0 && stats.cut > 0 && answered.len() < 12,
        "the seed loses some answers: {stats:?}"
    );

    let events = events(log.path());
    let mut story: BTreeMap<String, Vec<(&Status, Step)>> = BTreeMap::new();
    for s in statuses(&events) {
        let key = s
            .key
            .clone()
            .expect("sent/delivered/read echo the send key");
        story.entry(key).or_default().push((s, s.step));
    }
    assert_eq!(
        story.len(),
        12,
        "one story per accepted send, answered or not"
    );
    for (key, steps) in &story {
        let kinds: Vec<Step> = steps.iter().map(|(_, step)| *step).collect();
        assert_eq!(kinds, [Step::Sent, Step::Delivered, Step::Read], "{key}");
        let ids: Vec<&str> = steps.iter().map(|(s, _)| s.provider_id.as_str()).collect();
        assert!(ids
            .iter()
            .all(|id| *id == ids[0] && id.starts_with("wamid.SBX")));
        if let Some(answer_id) = answered.get(key) {
            assert_eq!(
                ids[0], answer_id,
                "the webhook names the id the answer gave"
            );
        }
        let (sent, read) = (steps[0].0, steps[2].0);
        assert!(
            sent.at >= before && sent.at <= now_s(),
            "Unix seconds of the send"
        );
        assert!(read.at > sent.at, "read after sent");
        assert_eq!(
            sent.recipient.as_deref(),
            Some(&key[13..24]),
            "the wa_id of the recipient"
        );
    }
    let w = stats.webhooks;
    assert_eq!(
        (w.sent, w.delivered, w.read, w.failed, w.inbound, w.replies),
        (12, 12, 12, 0, 0, 0)
    );
}

#[tokio::test]
async fn messangi_callbacks_report_late_failures_with_their_code() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        fail_after_accept_rate: 1.0,
        webhook_log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let r = post(
        &sb,
        &messangi_send("+15551234567", "0123456789ab-15551234567-1"),
    )
    .await;
    assert_eq!(r.status(), 200, "accepted first, as the platform does");
    let id = r.json::<Value>().await.unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_string();

    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["callback"], "status");
    assert_eq!(lines[0]["status"], "SENT");
    assert_eq!(lines[0]["externalId"], "0123456789ab-15551234567-1");
    assert_eq!(lines[0]["to"], "15551234567");
    assert!(
        lines[0]["date"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );
    assert_eq!(lines[1]["status"], "FAILED");

    let events = events(log.path());
    let s = statuses(&events);
    assert_eq!((s[0].step, s[1].step), (Step::Sent, Step::Failed));
    assert!(s.iter().all(|s| s.provider_id == id));
    assert!(
        matches!(s[1].error_code(), Some(131047 | 131026)),
        "{:?}",
        s[1].errors
    );
    let w = sb.stats().webhooks;
    assert_eq!((w.sent, w.delivered, w.read, w.failed), (1, 0, 0, 1));
}

#[tokio::test]
async fn inbound_users_write_first_and_replies_answer_the_provider_id() {
    let log = tempfile::NamedTempFile::new().unwrap();
    // Within the window, or the sandbox refuses the send (131047).
    let (early, late) = (now_s() - 7200, now_s() - 3600);
    let t = |s: i64| UNIX_EPOCH + Duration::from_secs(s as u64);
    let config = SandboxConfig {
        inbound: HashMap::from([
            ("+525512345678".to_string(), t(late)),
            ("+15551234567".to_string(), t(early)),
        ]),
        names: HashMap::from([("+525512345678".to_string(), "Ana".to_string())]),
        reply_rate: 1.0,
        read_rate: 0.0,
        webhook_log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let r = post_cloud(&sb, &cloud_send("+525512345678", "k-525512345678-0")).await;
    let id = r.json::<Value>().await.unwrap()["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let events = events(log.path());
    let m = inbound(&events);
    assert_eq!(m.len(), 3, "two users' opening messages and one reply");
    // In the order the users wrote, at the time they wrote.
    assert_eq!(
        (m[0].from.as_deref(), m[0].at),
        (Some("15551234567"), early)
    );
    assert_eq!(
        (m[1].from.as_deref(), m[1].at),
        (Some("5215512345678"), late),
        "a Mexican mobile arrives as the platform's 521 wa_id"
    );
    assert_eq!(m[1].profile_name.as_deref(), Some("Ana"));
    assert_eq!(m[2].reply_to.as_deref(), Some(id.as_str()));
    assert_eq!(m[2].from.as_deref(), Some("5215512345678"));
    assert_eq!(
        m[2].profile_name.as_deref(),
        Some("Ana"),
        "the same profile"
    );
    let ids: std::collections::HashSet<&str> = m.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "inbound ids are unique");
    let s = statuses(&events);
    let steps: Vec<Step> = s.iter().map(|s| s.step).collect();
    assert_eq!(
        steps,
        [Step::Sent, Step::Delivered, Step::Read],
        "a reply implies read"
    );
    assert!(m[2].at > s[2].at, "the reply comes after the read");
    let w = sb.stats().webhooks;
    assert_eq!((w.inbound, w.replies, w.read), (2, 1, 1));
}

/// A receiver that refuses its first POST (to exercise the retry) and records the rest.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let refused = Arc::new(Mutex::new(false));
    let store = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (store, refused) = (Arc::clone(&store), Arc::clone(&refused));
            async move {
                let mut first = refused.lock().unwrap();
                if !*first {
                    *first = true;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                store.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn wait_posted(sb: &Sandbox, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sb.stats().webhooks.posted < n {
        assert!(
            Instant::now() < deadline,
            "posted {:?}",
            sb.stats().webhooks
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn posts_are_signed_with_the_app_secret_and_retried() {
    let (url, got) = receiver().await;
    let config = SandboxConfig {
        webhook_url: Some(url),
        app_secret: Some("secret".into()),
        read_rate: 0.0,
        drop_rate: 1.0,
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let lost = client()
        .post(format!("{}/v23.0/1234567890/messages", sb.base_url()))
        .json(&cloud_send("+15551234567", "k-15551234567-0"))
        .send()
        .await;
    assert!(lost.is_err(), "the answer was dropped");
    wait_posted(&sb, 2).await;
    assert_eq!(sb.stats().webhooks.post_failures, 0);

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "sent and delivered, the refused one retried");
    for (headers, body) in &got {
        // Computed here independently of the sandbox's own signing code.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-hub-signature-256"], expected.as_str());
        assert_eq!(headers["content-type"], "application/json");
        let events = parse_line(std::str::from_utf8(body).unwrap()).unwrap();
        assert!(
            matches!(&events[0], Event::Status(s) if s.key.as_deref() == Some("k-15551234567-0"))
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn messangi_inbound_follows_the_configured_provider() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        inbound: HashMap::from([(
            "+15551234567".to_string(),
            UNIX_EPOCH + Duration::from_secs(1_764_300_000),
        )]),
        webhook_provider: Wire::Messangi,
        webhook_log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let _sb = start(config).await;
    let text = std::fs::read_to_string(log.path()).unwrap();
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["callback"], "inbound");
    assert_eq!(v["date"], "2025-11-28T03:20:00Z");
    let m = inbound(&events(log.path()))[0].clone();
    assert_eq!(
        (m.from.as_deref(), m.at),
        (Some("15551234567"), 1_764_300_000)
    );
}

#[tokio::test]
async fn disorder_sends_statuses_newest_first_and_twice() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        disorder_rate: 1.0,
        read_rate: 1.0,
        webhook_log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let r = post_cloud(&sb, &cloud_send("+15551234567", "k-15551234567-0")).await;
    assert_eq!(r.status(), 200);
    let events = events(log.path());
    let steps: Vec<Step> = statuses(&events).iter().map(|s| s.step).collect();
    use Step::{Delivered, Read, Sent};
    assert_eq!(steps, [Read, Delivered, Sent, Read, Delivered, Sent]);
    let w = sb.stats().webhooks;
    assert_eq!((w.sent, w.delivered, w.read, w.redelivered), (1, 1, 1, 3));
}
