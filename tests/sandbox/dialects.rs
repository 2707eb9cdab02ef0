//! Every header dialect's exact values on a 200 and on a 429, under the provider note's 2/300s policy.

use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig};

use crate::common::{go_ms, header, messangi_body, post, start, unix_ms};

async fn sandbox(dialect: HeaderDialect) -> Sandbox {
    let config = SandboxConfig {
        rate: Some("2/300s".parse().unwrap()),
        headers: dialect,
        ..SandboxConfig::default()
    };
    start(config).await
}

/// First answer (200) and third answer (429) of a fresh 2/300s window.
async fn first_and_rejected(dialect: HeaderDialect) -> (reqwest::Response, reqwest::Response) {
    let sb = sandbox(dialect).await;
    let first = post(&sb, &messangi_body("+15551234567", "a")).await;
    assert_eq!(
        post(&sb, &messangi_body("+15551234567", "b"))
            .await
            .status(),
        200
    );
    let third = post(&sb, &messangi_body("+15551234567", "c")).await;
    assert_eq!(
        (first.status().as_u16(), third.status().as_u16()),
        (200, 429)
    );
    (first, third)
}

fn assert_headers(r: &reqwest::Response, want: &[(&str, &str)]) {
    for (name, value) in want {
        assert_eq!(
            header(r, name).as_deref(),
            Some(*value),
            "{name} in {:?}",
            r.headers()
        );
    }
}

#[tokio::test]
async fn note_dialect_is_the_provider_notes_exact_form() {
    let (first, third) = first_and_rejected(HeaderDialect::Note).await;
    assert_headers(
        &first,
        &[
            ("ratelimit-limit", "2"),
            ("ratelimit-remaining", "1"),
            ("ratelimit-reset", "5m0s"),
            ("ratelimit-policy", "2;w=300"),
        ],
    );
    assert_headers(
        &third,
        &[("ratelimit-remaining", "0"), ("retry-after", "300")],
    );
    let reset = header(&third, "ratelimit-reset").unwrap();
    assert!(reset.starts_with("4m59.") || reset == "5m0s", "{reset}");
    assert!(go_ms(&reset) > 299_000.0);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"errors":{"reason":"Too Many Requests"}})
    );
}

#[tokio::test]
async fn draft6_sends_separate_integer_fields() {
    let (first, third) = first_and_rejected(HeaderDialect::Draft6).await;
    let want = [
        ("RateLimit-Limit", "2"),
        ("RateLimit-Remaining", "1"),
        ("RateLimit-Reset", "300"),
    ];
    assert_headers(&first, &want);
    assert_headers(&first, &[("RateLimit-Policy", "2;w=300")]);
    assert_headers(
        &third,
        &[
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "300"),
            ("Retry-After", "300"),
        ],
    );
}

#[tokio::test]
async fn draft7_sends_one_dictionary_field() {
    let (first, third) = first_and_rejected(HeaderDialect::Draft7).await;
    assert_headers(
        &first,
        &[
            ("RateLimit", "limit=2, remaining=1, reset=300"),
            ("RateLimit-Policy", "2;w=300"),
        ],
    );
    assert_headers(
        &third,
        &[
            ("RateLimit", "limit=2, remaining=0, reset=300"),
            ("Retry-After", "300"),
        ],
    );
    let value = header(&first, "ratelimit").unwrap();
    assert!(
        sfv::Parser::parse_dictionary(value.as_bytes()).is_ok(),
        "valid structured field: {value}"
    );
    assert!(sfv::Parser::parse_list(b"2;w=300").is_ok());
    assert!(first.headers().get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn draft10_sends_named_policy_and_service_limit() {
    let (first, third) = first_and_rejected(HeaderDialect::Draft10).await;
    assert_headers(
        &first,
        &[
            ("RateLimit-Policy", "\"default\";q=2;w=300"),
            ("RateLimit", "\"default\";r=1;t=300"),
        ],
    );
    assert_headers(
        &third,
        &[
            ("RateLimit", "\"default\";r=0;t=300"),
            ("Retry-After", "300"),
        ],
    );
    for v in [
        header(&first, "ratelimit").unwrap(),
        header(&first, "ratelimit-policy").unwrap(),
    ] {
        assert!(
            sfv::Parser::parse_list(v.as_bytes()).is_ok(),
            "valid structured field: {v}"
        );
    }
}

#[tokio::test]
async fn x_ratelimit_reset_is_an_epoch_time() {
    let (first, third) = first_and_rejected(HeaderDialect::XRateLimit).await;
    assert_headers(
        &first,
        &[("X-RateLimit-Limit", "2"), ("X-RateLimit-Remaining", "1")],
    );
    assert_headers(
        &third,
        &[("X-RateLimit-Remaining", "0"), ("Retry-After", "300")],
    );
    let reset: u128 = header(&first, "x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let expected = unix_ms() / 1000 + 300;
    assert!(
        reset.abs_diff(expected) <= 2,
        "reset {reset}, expected about {expected}"
    );
}

#[tokio::test]
async fn none_sends_no_rate_headers_at_all() {
    let (first, third) = first_and_rejected(HeaderDialect::None).await;
    for r in [&first, &third] {
        let names: Vec<&str> = r.headers().keys().map(|k| k.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| !n.contains("ratelimit") && *n != "retry-after"),
            "{names:?}"
        );
    }
}
