//! `sessioncast webhook --listen`: the handshake, signatures checked over the raw bytes, what is
//! stored and when, over real sockets; the binary's own contract; and the sandbox posting to it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessioncast::sandbox::{Sandbox, SandboxConfig};
use sessioncast::webhook::receiver::{Receiver, ReceiverConfig, MAX_BODY};

/// A Cloud API inbound message with an accented word and an emoji with a skin-tone modifier.
const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","messages":[{"from":"15551234567","id":"wamid.1","timestamp":"1764300000","type":"text","text":{"body":"¡Hola! 👋🏽"}}]}}]}]}"#;
/// HMAC-SHA256(key "secret", BODY), computed outside this project (Python's `hmac` module).
const BODY_SIGNATURE: &str =
    "sha256=44756654323d52e13f0773c904d3a62bbe263e1515bf9a5617e55295a4e169da";

fn config(log: &Path) -> ReceiverConfig {
    ReceiverConfig {
        log: log.to_path_buf(),
        verify_token: Some("verify-me".into()),
        app_secret: Some("secret".into()),
        messangi_token: Some("m-token-123".into()),
    }
}

async fn start(config: ReceiverConfig) -> (Receiver, String) {
    let r = Receiver::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", r.addr());
    (r, base)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn post(url: &str, body: impl Into<reqwest::Body>, signature: Option<&str>) -> u16 {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        request = request.header("X-Hub-Signature-256", s);
    }
    request.send().await.unwrap().status().as_u16()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn the_handshake_answers_the_challenge_only_to_the_right_token() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    let get = |query: &'static str| {
        let url = format!("{base}/webhook?{query}");
        async move { client().get(url).send().await.unwrap() }
    };
    let ok = get("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444").await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for refused in [
        "hub.mode=subscribe&hub.verify_token=verify-m&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=verify-me-too&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "",
    ] {
        assert_eq!(get(refused).await.status(), 403, "{refused}");
    }
    let stats = r.shutdown().await.unwrap();
    assert_eq!((stats.verified, stats.handshakes_refused), (1, 5));

    // Without a configured verify token, nothing verifies.
    let (r, base) = start(ReceiverConfig {
        verify_token: None,
        ..config(log.path())
    })
    .await;
    let url = format!("{base}/?hub.mode=subscribe&hub.verify_token=&hub.challenge=1");
    assert_eq!(client().get(url).send().await.unwrap().status(), 403);
    r.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signed_body_is_stored_byte_for_byte_and_on_disk_before_the_200() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    assert_eq!(
        post(&format!("{base}/webhook"), BODY, Some(BODY_SIGNATURE)).await,
        200
    );
    // Read right after the answer: the line is already there.
    assert_eq!(read(log.path()), format!("{BODY}\n"));
    let events = sessioncast::webhook::parse_line(read(log.path()).trim_end()).unwrap();
    assert_eq!(events.len(), 1);

    // A pretty-printed signed body is stored as one compact line.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(BODY).unwrap()).unwrap();
    let signature = sessioncast::webhook::signature::sign(b"secret", pretty.as_bytes());
    assert_eq!(post(&base, pretty, Some(&signature)).await, 200);
    assert_eq!(read(log.path()), format!("{BODY}\n{BODY}\n"));
    assert_eq!(r.shutdown().await.unwrap().stored, 2);
}

#[tokio::test]
async fn tampered_unsigned_and_badly_signed_bodies_are_refused_and_not_stored() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    let url = format!("{base}/webhook");
    let tampered = BODY.replace("👋🏽", "👋🏿");
    assert_eq!(post(&url, tampered, Some(BODY_SIGNATURE)).await, 403);
    assert_eq!(post(&url, BODY, None).await, 401);
    let bare = BODY_SIGNATURE.trim_start_matches("sha256=");
    assert_eq!(post(&url, BODY, Some(bare)).await, 403);
    let other_secret = sessioncast::webhook::signature::sign(b"secret2", BODY.as_bytes());
    assert_eq!(post(&url, BODY, Some(&other_secret)).await, 403);
    // Genuine but not JSON: refused as bad, still not stored.
    let junk = sessioncast::webhook::signature::sign(b"secret", b"not json");
    assert_eq!(post(&url, "not json", Some(&junk)).await, 400);
    // Over the cap: refused before it is read in full.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY));
    let big_sig = sessioncast::webhook::signature::sign(b"secret", big.as_bytes());
    assert_eq!(post(&url, big, Some(&big_sig)).await, 413);
    assert_eq!(read(log.path()), "", "nothing stored");
    let stats = r.shutdown().await.unwrap();
    assert_eq!((stats.stored, stats.refused, stats.bad), (0, 4, 1));
}

#[tokio::test]
async fn messangi_callbacks_need_the_path_token() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    let callback = r#"{"callback":"status","id":"sbx-1","externalId":"k-15551234567-0","status":"DELIVERED","date":"2026-11-29T10:00:00Z","to":"15551234567"}"#;
    assert_eq!(
        post(&format!("{base}/messangi/m-token-124"), callback, None).await,
        403
    );
    assert_eq!(
        post(&format!("{base}/messangi/m-token-123"), callback, None).await,
        200
    );
    assert_eq!(read(log.path()), format!("{callback}\n"));
    r.shutdown().await.unwrap();

    let (r, base) = start(ReceiverConfig {
        messangi_token: None,
        ..config(log.path())
    })
    .await;
    assert_eq!(
        post(&format!("{base}/messangi/m-token-123"), callback, None).await,
        404
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_never_interleave_lines() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    let url = format!("{base}/webhook");
    let posts = (0..64).map(|i| {
        let body = BODY.replace("wamid.1", &format!("wamid.{i}-{}", "p".repeat(i * 97)));
        let signature = sessioncast::webhook::signature::sign(b"secret", body.as_bytes());
        let url = url.clone();
        tokio::spawn(async move { post(&url, body, Some(&signature)).await })
    });
    for p in posts.collect::<Vec<_>>() {
        assert_eq!(p.await.unwrap(), 200);
    }
    let text = read(log.path());
    let ids: std::collections::HashSet<String> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 64);
    r.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_sandbox_posts_signed_webhooks_the_receiver_accepts() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (r, base) = start(config(log.path())).await;
    let sb = Sandbox::start(
        SandboxConfig {
            webhook_url: Some(format!("{base}/webhook")),
            app_secret: Some("secret".into()),
            read_rate: 1.0,
            drop_rate: 1.0,
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let body = serde_json::json!({"messaging_product":"whatsapp","to":"+15551234567","type":"text",
        "text":{"body":"hi"},"biz_opaque_callback_data":"k-15551234567-0"});
    let lost = client()
        .post(format!("{}/v23.0/1/messages", sb.base_url()))
        .json(&body)
        .send()
        .await;
    assert!(lost.is_err(), "the answer was dropped");
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.stats().stored < 3 {
        assert!(Instant::now() < deadline, "{:?}", r.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut steps: Vec<String> = read(log.path())
        .lines()
        .flat_map(|l| sessioncast::webhook::parse_line(l).unwrap())
        .map(|e| match e {
            sessioncast::webhook::Event::Status(s) => {
                assert_eq!(s.key.as_deref(), Some("k-15551234567-0"));
                s.step.as_str().to_string()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    steps.sort();
    assert_eq!(steps, ["delivered", "read", "sent"]);
    assert_eq!(r.stats().refused, 0);
    sb.shutdown().await;
    r.shutdown().await.unwrap();
}

/// The binary: prints its address, stores a signed POST, stops on SIGTERM with exit 0, and
/// never prints a secret.
#[test]
fn the_command_serves_until_sigterm_and_keeps_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--log"])
        .arg(&log)
        .env("WHATSAPP_APP_SECRET", "secret")
        .env("WHATSAPP_VERIFY_TOKEN", "vt-SECRET-4711")
        .env_remove("MESSANGI_WEBHOOK_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line.trim().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(post(&base, BODY, Some(BODY_SIGNATURE)));
    assert_eq!(status, 200);
    assert_eq!(read(&log), format!("{BODY}\n"));
    // SIGTERM, as a service manager stops it.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stored 1"), "{stderr}");
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(
        !all.contains("vt-SECRET-4711") && !all.contains("secret\n"),
        "{all}"
    );

    // With neither secret set, it refuses to start: every webhook would be refused.
    let out = Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--log"])
        .arg(&log)
        .env_remove("WHATSAPP_APP_SECRET")
        .env_remove("MESSANGI_WEBHOOK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHATSAPP_APP_SECRET"));

    // A host name is not an address to bind: the hint says what is.
    let out = Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .args(["webhook", "--listen", "localhost:8090", "--log"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("e.g. 127.0.0.1:8090"));
}

/// `run --sandbox --sandbox-webhook-log`: a rehearsal keeps the platform's feedback, for `ingest`.
#[test]
fn a_sandbox_rehearsal_keeps_its_webhook_log() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("rehearsal.yaml");
    std::fs::write(
        &campaign,
        r#"version: 1
name: rehearsal
provider: { kind: cloud_api, base_url: "https://graph.example.com", token_env: WHATSAPP_TOKEN, phone_number_id: "42" }
rate: 100/1s
recipients:
  - { to: "+14155550101", last_inbound_at: 1h ago, vars: { name: Ana } }
  - { to: "+14155550102", last_inbound_at: 2h ago, vars: { name: Bo } }
  - { to: "+525512345678", last_inbound_at: 3h ago, vars: { name: Cy } }
messages:
  - { type: text, body: "Hi {{ name }}" }
"#,
    )
    .unwrap();
    let hooks = dir.path().join("hooks.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .args(["run", "--sandbox", "--quiet", "--format", "json", "--state"])
        .arg(dir.path().join("ledger.db"))
        .arg("--sandbox-webhook-log")
        .arg(&hooks)
        .arg(&campaign)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhooks: sent 3"), "{stderr}");
    let events: Vec<_> = read(&hooks)
        .lines()
        .flat_map(|l| sessioncast::webhook::parse_line(l).unwrap())
        .collect();
    let mut names = Vec::new();
    let mut keys = Vec::new();
    for e in &events {
        match e {
            sessioncast::webhook::Event::Inbound(m) => names.push(m.profile_name.clone().unwrap()),
            sessioncast::webhook::Event::Status(s) if s.step.as_str() == "sent" => {
                keys.push(s.key.clone().unwrap())
            }
            _ => {}
        }
    }
    assert_eq!(names, ["Cy", "Bo", "Ana"], "in the order they wrote");
    keys.sort();
    assert_eq!(keys.len(), 3);
    let suffixes: Vec<&str> = keys.iter().map(|k| &k[13..]).collect();
    assert_eq!(
        suffixes,
        ["14155550101-0", "14155550102-0", "525512345678-0"],
        "the send keys the requests carried"
    );

    // Only with --sandbox.
    let out = Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .args(["run", "--sandbox-webhook-log"])
        .arg(&hooks)
        .arg(&campaign)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
