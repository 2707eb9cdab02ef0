//! Tests of `classify`: every row of api-reference §2.4 and the sandbox's own answers.

use super::*;
use serde_json::json;

fn cloud(status: u16, code: i64) -> Class {
    let body = json!({"error": {"message": format!("(#{code}) Title"), "type": "OAuthException",
        "code": code, "error_data": {"messaging_product": "whatsapp", "details": "why"}, "fbtrace_id": "X"}});
    classify(status, body.to_string().as_bytes())
}

fn kind(c: &Class) -> &'static str {
    match c {
        Class::Sent { .. } => "sent",
        Class::Throttled => "throttled",
        Class::WindowClosed => "window",
        Class::Failed {
            retryable: false, ..
        } => "failed",
        Class::Failed {
            retryable: true, ..
        } => "retryable",
        Class::Stop { .. } => "stop",
        Class::Unknown { .. } => "unknown",
    }
}

#[test]
fn every_row_of_the_error_table() {
    let rows: &[(u16, i64, &str)] = &[
        (400, 131047, "window"),
        (400, 130429, "throttled"),
        (400, 131056, "throttled"),
        (400, 131048, "stop"),
        (400, 131026, "failed"),
        (400, 80007, "throttled"),
        (429, 4, "throttled"),
        (400, 4, "throttled"),
        (500, 131000, "retryable"),
        (503, 131016, "retryable"),
        (400, 131057, "retryable"),
        (400, 2, "retryable"),
        (400, 100, "failed"),
        (401, 190, "stop"),
        (401, 0, "stop"),
        (403, 10, "stop"),
        (403, 200, "stop"),
        (403, 299, "stop"),
        (400, 368, "stop"),
        (400, 131031, "stop"),
    ];
    for &(status, code, want) in rows {
        assert_eq!(
            kind(&cloud(status, code)),
            want,
            "HTTP {status} code {code}"
        );
    }
}

#[test]
fn code_wins_over_status() {
    // A 500 carrying 131047 is still a closed window, and a 400 carrying 130429 a throttle.
    assert_eq!(cloud(500, 131047), Class::WindowClosed);
    assert_eq!(cloud(400, 130429), Class::Throttled);
}

#[test]
fn status_decides_without_a_code() {
    assert_eq!(classify(429, b""), Class::Throttled);
    assert_eq!(classify(410, b"gone"), Class::WindowClosed);
    assert_eq!(kind(&classify(401, b"")), "stop");
    assert_eq!(kind(&classify(403, b"{}")), "stop");
    assert_eq!(kind(&classify(400, b"bad request")), "failed");
    assert_eq!(kind(&classify(502, b"<html>bad gateway</html>")), "unknown");
    assert_eq!(kind(&classify(500, b"")), "unknown");
    // An unknown code on a 5xx is a clear answer from the provider, not a lost request.
    assert_eq!(kind(&cloud(500, 999_999)), "retryable");
    assert_eq!(kind(&cloud(400, 999_999)), "failed");
}

#[test]
fn window_closed_from_the_text_alone() {
    let body = br#"{"status":"ERROR","description":"more than 24 hours have passed"}"#;
    assert_eq!(classify(400, body), Class::WindowClosed);
    assert_eq!(classify(400, b"Re-engagement message"), Class::WindowClosed);
}

#[test]
fn provider_id_in_every_known_place() {
    let id = |body: serde_json::Value| match classify(200, body.to_string().as_bytes()) {
        Class::Sent { provider_id } => provider_id,
        other => panic!("not sent: {other:?}"),
    };
    assert_eq!(
        id(json!({"messages": [{"id": "wamid.A"}], "id": "no"})),
        Some("wamid.A".into())
    );
    assert_eq!(
        id(json!({"messageId": "m1", "id": "no"})),
        Some("m1".into())
    );
    assert_eq!(id(json!({"id": 42})), Some("42".into()));
    assert_eq!(id(json!({"data": {"id": "d1"}})), Some("d1".into()));
    assert_eq!(id(json!({"status": "ACCEPTED"})), None);
    assert_eq!(
        classify(202, b"not json"),
        Class::Sent { provider_id: None }
    );
}

#[test]
fn reasons_carry_status_message_and_details() {
    match cloud(400, 100) {
        Class::Failed { reason, .. } => assert_eq!(reason, "HTTP 400 (#100) Title: why"),
        other => panic!("{other:?}"),
    }
    match classify(502, b"  upstream down  ") {
        Class::Unknown { reason } => assert_eq!(reason, "HTTP 502 upstream down"),
        other => panic!("{other:?}"),
    }
}

/// The answers the embedded sandbox gives, started for real on loopback.
#[tokio::test]
async fn the_sandboxs_own_answers() {
    use crate::ratelimit::Rate;
    use crate::sandbox::{HeaderDialect, Sandbox, SandboxConfig};
    use std::time::{Duration, SystemTime};
    let config = SandboxConfig {
        rate: Some(Rate::new(1, Duration::from_secs(60))),
        headers: HeaderDialect::None,
        token: Some("tok".into()),
        inbound: [("+15550000002".to_string(), SystemTime::UNIX_EPOCH)].into(),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v23.0/1/messages", sandbox.base_url());
    let send = |to: &str, token: &str| {
        let body = json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}});
        client.post(&url).bearer_auth(token).json(&body).send()
    };
    let mut seen = Vec::new();
    for (to, token) in [
        ("+15550000001", "wrong"),
        ("+15550000002", "tok"),
        ("+15550000001", "tok"),
    ] {
        let r = send(to, token).await.unwrap();
        let status = r.status().as_u16();
        seen.push(classify(status, &r.bytes().await.unwrap()));
    }
    // 401 → stop; closed window takes the one quota slot; then the quota is spent → 429.
    assert_eq!(kind(&seen[0]), "stop");
    assert_eq!(seen[1], Class::WindowClosed);
    assert_eq!(seen[2], Class::Throttled);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_sandboxs_success_and_fault_answers() {
    use crate::sandbox::{Sandbox, SandboxConfig};
    let start = |fail_rate| {
        let config = SandboxConfig {
            fail_rate,
            ..SandboxConfig::default()
        };
        Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
    };
    let (ok, faulty) = (start(0.0).await.unwrap(), start(1.0).await.unwrap());
    let client = reqwest::Client::new();
    let cloud = json!({"messaging_product": "whatsapp", "to": "+15550000001", "type": "text", "text": {"body": "hi"}});
    let messangi = json!({"channel": "WHATSAPP", "request": {"from": "15550000000", "to": "15550000001", "type": "text", "text": "hi"}});
    let mut seen = Vec::new();
    for (base, path, body) in [
        (ok.base_url(), "/v23.0/1/messages", &cloud),
        (ok.base_url(), "/notification", &messangi),
        (faulty.base_url(), "/v23.0/1/messages", &cloud),
    ] {
        let r = client
            .post(format!("{base}{path}"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        seen.push(classify(status, &r.bytes().await.unwrap()));
    }
    let id = |c: &Class| match c {
        Class::Sent { provider_id } => provider_id.clone().unwrap_or_default(),
        other => format!("{other:?}"),
    };
    assert!(id(&seen[0]).starts_with("wamid.SBX"), "{:?}", seen[0]);
    assert!(id(&seen[1]).starts_with("sbx-"), "{:?}", seen[1]);
    assert_eq!(kind(&seen[2]), "retryable");
    ok.shutdown().await;
    faulty.shutdown().await;
}
