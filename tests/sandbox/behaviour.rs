//! Envelope checks, the 24 h window (131047), auth, duplicates, the message log and the stats endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sessioncast::message::Issue;
use sessioncast::provider::parse::BodyError;
use sessioncast::sandbox::{Sandbox, SandboxConfig, Stats, Validator, Wire};

use crate::common::{client, cloud_body, header, messangi_body, post, post_cloud, start};

/// The error body minus its random trace id.
async fn error_body(r: reqwest::Response) -> Value {
    let mut body: Value = r.json().await.unwrap();
    let trace = body["error"].as_object_mut().unwrap().remove("fbtrace_id");
    assert!(trace.is_some_and(|t| t.as_str().is_some_and(|s| !s.is_empty())));
    body
}

#[tokio::test]
async fn malformed_requests_get_code_100_and_still_take_quota() {
    let validator: Validator =
        Arc::new(
            |wire, body: &Value| match body.pointer("/request/message") {
                Some(Value::String(s)) if wire == Wire::Messangi && s.chars().count() > 10 => {
                    Err(BodyError::Limit {
                        kind: "text",
                        issue: Issue {
                            path: "body".into(),
                            message: "is at most 10 characters".into(),
                            hint: None,
                        },
                    })
                }
                _ => Ok(()),
            },
        );
    let config = SandboxConfig {
        rate: Some("3/300s".parse().unwrap()),
        validator: Some(validator),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let bad = json!({"channel":"SMS","request":{"to":"+15551234567","type":"text"}});
    let r = post(&sb, &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("2"));
    let body = error_body(r).await;
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["message"], "(#100) Invalid parameter");
    assert!(body["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("`channel`"));
    let r = post(
        &sb,
        &messangi_body("+15551234567", "far too long for the rule"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        error_body(r).await["error"]["error_data"]["details"],
        "text.body is at most 10 characters"
    );
    assert_eq!(
        post(&sb, &messangi_body("+15551234567", "ok"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&sb, &messangi_body("+15551234567", "ok2"))
            .await
            .status(),
        429
    );
    let stats = sb.stats();
    assert_eq!(
        (stats.rejected_invalid, stats.accepted, stats.rejected_rate),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn closed_session_window_gets_131047_on_both_routes() {
    let now = SystemTime::now();
    let inbound = HashMap::from([
        (
            "+15550000001".to_string(),
            now - Duration::from_secs(25 * 3600),
        ),
        ("+15550000002".to_string(), now - Duration::from_secs(3600)),
    ]);
    let sb = start(SandboxConfig {
        inbound,
        ..SandboxConfig::default()
    })
    .await;
    let want = json!({"error":{
        "message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
        "error_data":{"messaging_product":"whatsapp",
            "details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}});
    let r = post(&sb, &messangi_body("+15550000001", "late")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_body(r).await, want);
    // The Cloud API may omit the `+`; it is the same recipient.
    let r = post_cloud(&sb, &cloud_body("15550000001", "late")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_body(r).await, want);
    assert_eq!(
        post(&sb, &messangi_body("+15550000002", "in time"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&sb, &messangi_body("+15550000003", "unknown"))
            .await
            .status(),
        200
    );
    let stats = sb.stats();
    assert_eq!((stats.rejected_window, stats.accepted), (2, 2));
}

#[tokio::test]
async fn token_is_required_and_never_echoed() {
    let config = SandboxConfig {
        token: Some("s3cret-tok".into()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    let url = format!("{}/notification", sb.base_url());
    let body = messangi_body("+15551234567", "hi");
    for auth in [None, Some("Bearer wrong-tok"), Some("s3cret-tok")] {
        let mut req = client().post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("s3cret") && !text.contains("wrong-tok"),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
            190
        );
    }
    let r = client()
        .post(&url)
        .bearer_auth("s3cret-tok")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((sb.stats().rejected_auth, sb.stats().accepted), (3, 1));
}

#[tokio::test]
async fn duplicates_are_counted_and_every_delivery_is_logged() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let sb = start(SandboxConfig {
        log: Some(log.path().to_path_buf()),
        ..SandboxConfig::default()
    })
    .await;
    let a = post(&sb, &messangi_body("+15550000001", "hello"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let b = post(&sb, &messangi_body("+15550000001", "hello"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(a["status"], "ACCEPTED");
    assert_ne!(
        a["messageId"], b["messageId"],
        "every delivery gets its own id"
    );
    post(&sb, &messangi_body("+15550000001", "different")).await;
    post(&sb, &messangi_body("+15550000002", "hello")).await;
    let c = post_cloud(&sb, &cloud_body("+15550000003", "hi"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        c["contacts"],
        json!([{"input":"+15550000003","wa_id":"15550000003"}])
    );
    assert!(c["messages"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("wamid."));
    assert_eq!((sb.stats().accepted, sb.stats().duplicates), (5, 1));
    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["to"], "+15550000001");
    assert_eq!(lines[0]["body"], messangi_body("+15550000001", "hello"));
    assert!(lines[0]["time"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());
}

#[tokio::test]
async fn stats_endpoint_reports_every_counter() {
    let config = SandboxConfig {
        rate: Some("1/300s".parse().unwrap()),
        ..SandboxConfig::default()
    };
    let sb = start(config).await;
    post(&sb, &messangi_body("+15551234567", "a")).await;
    post(&sb, &messangi_body("+15551234567", "b")).await;
    post(&sb, &json!({"channel":"WHATSAPP"})).await;
    let got: Value = client()
        .get(format!("{}/_sandbox/stats", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want = json!({"accepted":1,"rejected_rate":1,"rejected_window":0,"rejected_invalid":1,
        "rejected_auth":0,"faults":0,"dropped":0,"cut":0,"duplicates":0,
        "webhooks":{"sent":0,"delivered":0,"read":0,"failed":0,"inbound":0,"replies":0,
            "redelivered":0,"posted":0,"post_failures":0}});
    assert_eq!(got, want);
    assert_eq!(serde_json::from_value::<Stats>(got).unwrap(), sb.stats());
}

#[tokio::test]
async fn listens_on_loopback_only_and_stops_on_shutdown() {
    let err = Sandbox::start(SandboxConfig::default(), "0.0.0.0:0".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let sb = start(SandboxConfig::default()).await;
    let addr = sb.addr();
    assert!(sb.base_url().starts_with("http://127.0.0.1:"));
    sb.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
