//! Helpers shared by the sandbox tests: start a server, build request bodies, read headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sessioncast::sandbox::{Sandbox, SandboxConfig};

pub async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

pub fn messangi_body(to: &str, text: &str) -> Value {
    json!({"channel":"WHATSAPP","request":{"from":"15550001111","to":to,"type":"text","message":text}})
}

pub fn cloud_body(to: &str, text: &str) -> Value {
    json!({"messaging_product":"whatsapp","to":to,"type":"text","text":{"body":text}})
}

pub async fn post(sb: &Sandbox, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/notification", sb.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn post_cloud(sb: &Sandbox, body: &Value) -> reqwest::Response {
    let url = format!("{}/v23.0/1234567890/messages", sb.base_url());
    client().post(url).json(body).send().await.unwrap()
}

/// Sends a valid Messangi text and returns the status code.
pub async fn send(sb: &Sandbox) -> u16 {
    post(sb, &messangi_body("+15551234567", "hi"))
        .await
        .status()
        .as_u16()
}

pub fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// Parses the Go durations the note dialect sends (`5m0s`, `1.5s`, `250ms`, `0s`) into milliseconds.
pub fn go_ms(s: &str) -> f64 {
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap();
        let n: f64 = rest[..n_end].parse().unwrap();
        let u_end = rest[n_end..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| n_end + i);
        total += n * match &rest[n_end..u_end] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            other => panic!("unexpected unit {other} in {s}"),
        };
        rest = &rest[u_end..];
    }
    total
}

pub fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}
