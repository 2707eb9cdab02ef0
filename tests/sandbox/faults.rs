//! Fault injection: 500s (not delivered), dropped answers (delivered, connection closed), seeds, delay.

use std::time::{Duration, Instant};

use serde_json::Value;
use sessioncast::sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{messangi_body, post, send, start};

#[tokio::test]
async fn failures_answer_131000_and_deliver_nothing() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        fail_rate: 1.0,
        log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let r = post(&sb, &messangi_body("+15551234567", "x")).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 131000);
    assert_eq!((sb.stats().faults, sb.stats().accepted), (1, 0));
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "");
}

/// Sends one request on a raw connection and returns every byte the server wrote before closing.
async fn raw_exchange(sb: &Sandbox) -> Vec<u8> {
    let body = messangi_body("+15551234567", "lost answer").to_string();
    let request = format!(
        "POST /notification HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server must close the connection, not leave it hanging"
    );
    answer
}

#[tokio::test]
async fn dropped_answers_close_the_connection_but_count_and_log_the_delivery() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        drop_rate: 1.0,
        log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    assert!(
        raw_exchange(&sb).await.is_empty(),
        "not a single byte of answer"
    );
    let err = crate::common::client()
        .post(format!("{}/notification", sb.base_url()))
        .json(&messangi_body("+15551234567", "lost answer"))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none() && !err.is_timeout(), "{err}");
    let stats = sb.stats();
    assert_eq!((stats.accepted, stats.dropped, stats.duplicates), (2, 2, 1));
    assert_eq!(
        std::fs::read_to_string(log.path()).unwrap().lines().count(),
        2
    );
}

#[tokio::test]
async fn cut_answers_send_complete_headers_then_half_the_body() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = SandboxConfig {
        cut_rate: 1.0,
        log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let answer = String::from_utf8(raw_exchange(&sb).await).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("complete headers");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < length,
        "{} of {length}: {body}",
        body.len()
    );
    assert!(
        serde_json::from_str::<Value>(body).is_err(),
        "the body is cut: {body}"
    );
    let stats = sb.stats();
    assert_eq!((stats.accepted, stats.cut), (1, 1));
    assert_eq!(
        std::fs::read_to_string(log.path()).unwrap().lines().count(),
        1
    );
}

async fn statuses(seed: u64) -> Vec<u16> {
    let config = SandboxConfig {
        fail_rate: 0.5,
        seed: Some(seed),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let mut out = Vec::new();
    for _ in 0..16 {
        out.push(send(&sb).await);
    }
    out
}

#[tokio::test]
async fn seeded_faults_repeat_exactly() {
    let (a, b) = (statuses(42).await, statuses(42).await);
    assert_eq!(a, b);
    let failures = a.iter().filter(|s| **s == 500).count();
    assert!(
        (1..16).contains(&failures),
        "a 0.5 fail rate mixes outcomes: {a:?}"
    );
}

#[tokio::test]
async fn delay_holds_back_every_answer() {
    let sb = start(SandboxConfig {
        delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await;
    let t0 = Instant::now();
    assert_eq!(send(&sb).await, 200);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
}
