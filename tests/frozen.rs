//! A run sends exactly what its ledger froze: the real binary posts to a plain HTTP server on
//! loopback that records every request's raw bytes, and each frozen payload in the SQLite ledger
//! is compared, byte for byte, with the request the server received for that row.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::post;
use std::sync::{Arc, Mutex};

const TOKEN_ENV: &str = "FROZEN_TEST_TOKEN";

/// Every request received: its path and its raw body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn record(State(log): State<Received>, uri: Uri, body: Bytes) -> &'static str {
    log.lock()
        .unwrap()
        .push((uri.path().to_string(), body.to_vec()));
    r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.frozen"}]}"#
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_sends_byte_for_byte_the_payload_the_ledger_froze() {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .fallback(post(record))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    // Non-ASCII text, escapes, a `when:`-selected message, a templated reply and a media caption:
    // what a re-render or a re-serialization could change.
    let yaml = format!(
        r#"version: 1
name: frozen-test
provider: {{ kind: cloud_api, base_url: "http://{addr}", token_env: {TOKEN_ENV}, phone_number_id: "1065" }}
rate: 50/1s
vars: {{ store: "Acme \"Ñandú\" <b>" }}
recipients:
  - {{ to: "+1 415 555 0101", last_inbound_at: 1h ago, vars: {{ name: "José 🌷", vip: "yes" }} }}
  - {{ to: "+1 415 555 0102", last_inbound_at: 2h ago, vars: {{ name: "Ann\\tB", vip: "no" }} }}
messages:
  - type: text
    body: "¡Hola {{{{ name }}}}! Your order from {{{{ store }}}} shipped.\nTrack it: https://t.example.com/{{{{ to }}}}"
  - type: image
    when: 'vip == "yes"'
    url: "https://cdn.example.com/{{{{ vip }}}}.jpg"
    caption: "For {{{{ name }}}} — thank you"
"#
    );
    let campaign = dir.path().join("c.yaml");
    std::fs::write(&campaign, yaml).unwrap();
    let ledger = dir.path().join("ledger.db");
    run_quiet(&campaign, &ledger).await;
    server.abort();

    let db = rusqlite::Connection::open(&ledger).unwrap();
    let mut stmt = db
        .prepare("SELECT recipient, message_index, state, payload FROM deliveries ORDER BY 1, 2")
        .unwrap();
    let rows: Vec<(String, i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let received = received.lock().unwrap().clone();
    assert_eq!(rows.len(), 3, "two texts and one image: {rows:?}");
    assert_eq!(received.len(), 3, "one request per row");
    for (recipient, index, state, payload) in &rows {
        assert_eq!(state, "sent", "{recipient}/{index}");
        // The request that carries this row's send key (`…-<recipient>-<index>`).
        let key = format!("-{}-{index}\"", recipient.trim_start_matches('+'));
        let hits: Vec<_> = received
            .iter()
            .filter(|(_, body)| String::from_utf8_lossy(body).contains(&key))
            .collect();
        assert_eq!(hits.len(), 1, "{key} in {received:?}");
        let (path, body) = hits[0];
        // The frozen payload is method, URL and body: rebuilt from what arrived, it must be
        // the very same bytes.
        let mut sent =
            format!(r#"{{"method":"POST","url":"http://{addr}{path}","body":"#).into_bytes();
        sent.extend_from_slice(body);
        sent.push(b'}');
        assert_eq!(
            String::from_utf8_lossy(&sent),
            payload.as_str(),
            "{recipient}/{index}"
        );
        assert_eq!(sent, payload.as_bytes());
    }
    // Sanity: the unicode went out as written, not as escapes.
    assert!(received
        .iter()
        .any(|(_, b)| String::from_utf8_lossy(b).contains("¡Hola José 🌷!")));
}

/// The first request is answered only after this has rewritten, in the ledger file, the
/// payload of every row still `pending`: as another program could between the start of a run
/// and its sends.
#[derive(Clone)]
struct Altering {
    received: Received,
    ledger: std::path::PathBuf,
    /// Every row's payload just before the rewrite.
    before: Arc<Mutex<Option<Rows>>>,
}

/// (recipient, payload) of every row.
type Rows = Vec<(String, String)>;

async fn record_altering(State(s): State<Altering>, uri: Uri, body: Bytes) -> &'static str {
    {
        let mut before = s.before.lock().unwrap();
        if before.is_none() {
            let db = rusqlite::Connection::open(&s.ledger).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut stmt = db
                .prepare("SELECT recipient, payload FROM deliveries ORDER BY 1")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            *before = Some(rows);
            db.execute(
                "UPDATE deliveries SET payload = replace(payload, 'Hello', 'Altered')
                 WHERE state = 'pending'",
                [],
            )
            .unwrap();
        }
    }
    s.received
        .lock()
        .unwrap()
        .push((uri.path().to_string(), body.to_vec()));
    r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.frozen"}]}"#
}

/// The executor reads each body from the ledger, a block of 1,024 recipients at a time, and
/// renders nothing: after the ledger's pending payloads are rewritten mid-run, the recipients
/// of the next block receive the rewritten text, which no rendering of the campaign produces.
/// (At 1000/1s at most 256 requests are in flight, so the second block is read only after
/// hundreds of answers, all given after the rewrite.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bodies_sent_are_read_from_the_ledger_not_rendered_again() {
    const N: usize = 1030;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.db");
    let state = Altering {
        received: Arc::default(),
        ledger: ledger.clone(),
        before: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(post(record_altering))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut csv = String::from("to,last_inbound_at\n");
    for i in 0..N {
        csv.push_str(&format!("+1415{:07},1h ago\n", 2_000_000 + i));
    }
    std::fs::write(dir.path().join("r.csv"), csv).unwrap();
    let yaml = format!(
        r#"version: 1
name: frozen-read
provider: {{ kind: cloud_api, base_url: "http://{addr}", token_env: {TOKEN_ENV}, phone_number_id: "1065" }}
rate: 1000/1s
recipients: {{ file: r.csv }}
messages:
  - {{ type: text, body: "Hello {{{{ to }}}}" }}
"#
    );
    let campaign = dir.path().join("c.yaml");
    std::fs::write(&campaign, yaml).unwrap();
    run_quiet(&campaign, &ledger).await;
    server.abort();

    let before = state
        .before
        .lock()
        .unwrap()
        .clone()
        .expect("a request arrived");
    let db = rusqlite::Connection::open(&ledger).unwrap();
    let mut stmt = db
        .prepare("SELECT recipient, state, payload FROM deliveries ORDER BY 1")
        .unwrap();
    let after: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let received = state.received.lock().unwrap().clone();
    assert_eq!((after.len(), received.len()), (N, N));
    let body_of = |payload: &str| {
        let start =
            format!(r#"{{"method":"POST","url":"http://{addr}/v23.0/1065/messages","body":"#);
        payload
            .strip_prefix(start.as_str())
            .and_then(|b| b.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{payload}"))
            .to_string()
    };
    let mut altered = 0;
    for ((recipient, state, now), (was_recipient, was)) in after.iter().zip(&before) {
        assert_eq!((recipient, state.as_str()), (was_recipient, "sent"));
        let key = format!("-{}-0\"", recipient.trim_start_matches('+'));
        let hits: Vec<_> = received
            .iter()
            .filter(|(_, body)| String::from_utf8_lossy(body).contains(&key))
            .collect();
        assert_eq!(hits.len(), 1, "{key}");
        let sent = String::from_utf8(hits[0].1.clone()).unwrap();
        // Each body is one the ledger held for the row: frozen, or rewritten before it was read.
        assert!(
            sent == body_of(was) || sent == body_of(now),
            "{recipient}: {sent}"
        );
        if sent.contains("Altered") {
            assert_eq!(sent, body_of(now));
            altered += 1;
        }
    }
    assert!(
        altered >= N - 1024,
        "the second block was read after the rewrite: {altered} altered bodies"
    );
}

/// Runs `campaign` with its ledger at `ledger`, quietly, and asserts it succeeded.
async fn run_quiet(campaign: &std::path::Path, ledger: &std::path::Path) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .arg("run")
        .arg(campaign)
        .arg("--state")
        .arg(ledger)
        .arg("--quiet")
        .env(TOKEN_ENV, "tok-frozen")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
