//! Each window mode's accept/reject pattern over real HTTP, with 1-2 s windows.

use std::time::{Duration, Instant};

use sessioncast::sandbox::{HeaderDialect, SandboxConfig, WindowMode};
use tokio::time::{sleep, sleep_until};

use crate::common::{go_ms, header, messangi_body, post, send, start, unix_ms};

fn config(rate: &str, mode: WindowMode) -> SandboxConfig {
    SandboxConfig {
        rate: Some(rate.parse().unwrap()),
        window_mode: mode,
        headers: HeaderDialect::Note,
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn anchored_window_starts_at_first_request_and_reanchors_after_it() {
    let sb = start(config("2/1s", WindowMode::Anchored)).await;
    let t0 = Instant::now();
    let first = post(&sb, &messangi_body("+15551234567", "a")).await;
    // The window opens at this request, so exactly the whole window is left.
    assert_eq!(header(&first, "ratelimit-reset").as_deref(), Some("1s"));
    assert_eq!(send(&sb).await, 200);
    let third = post(&sb, &messangi_body("+15551234567", "c")).await;
    assert_eq!(third.status(), 429);
    assert_eq!(header(&third, "retry-after").as_deref(), Some("1"));
    sleep_until((t0 + Duration::from_millis(1_050)).into()).await;
    let fourth = post(&sb, &messangi_body("+15551234567", "d")).await;
    assert_eq!(fourth.status(), 200);
    assert_eq!(
        header(&fourth, "ratelimit-reset").as_deref(),
        Some("1s"),
        "re-anchored"
    );
    assert_eq!(header(&fourth, "ratelimit-remaining").as_deref(), Some("1"));
}

#[tokio::test]
async fn aligned_window_follows_the_clock() {
    let sb = start(config("2/1s", WindowMode::Aligned)).await;
    // Start early in a clock second so three quick requests share one aligned window.
    let phase = unix_ms() % 1000;
    if !(100..500).contains(&phase) {
        sleep(Duration::from_millis(((1100 - phase) % 1000) as u64)).await;
    }
    let phase = (unix_ms() % 1000) as f64;
    let first = post(&sb, &messangi_body("+15551234567", "a")).await;
    let reset = go_ms(&header(&first, "ratelimit-reset").unwrap());
    assert!(
        (700.0..=1001.0).contains(&(reset + phase)),
        "reset {reset} ms at phase {phase} ms"
    );
    assert_eq!(send(&sb).await, 200);
    assert_eq!(send(&sb).await, 429);
    // Just past the clock boundary: a new window, although the first request was < 1 s ago.
    sleep(Duration::from_millis((1050 - (unix_ms() % 1000)) as u64)).await;
    assert_eq!(send(&sb).await, 200);
}

#[tokio::test]
async fn sliding_log_counts_the_last_window_of_accepted_requests() {
    let sb = start(config("2/1s", WindowMode::Sliding)).await;
    let t0 = Instant::now();
    assert_eq!(send(&sb).await, 200);
    sleep(Duration::from_millis(500)).await;
    assert_eq!(send(&sb).await, 200);
    let third = post(&sb, &messangi_body("+15551234567", "c")).await;
    assert_eq!(third.status(), 429);
    let wait = go_ms(&header(&third, "ratelimit-reset").unwrap());
    assert!(
        (300.0..=500.0).contains(&wait),
        "next slot frees when the first request ages out: {wait}"
    );
    sleep_until((t0 + Duration::from_millis(1_050)).into()).await;
    assert_eq!(send(&sb).await, 200, "the first request left the window");
    assert_eq!(
        send(&sb).await,
        429,
        "the second is still inside it (a fixed window would admit this)"
    );
}

#[tokio::test]
async fn token_bucket_refills_one_token_per_slice() {
    let sb = start(config("4/2s", WindowMode::Bucket)).await;
    for _ in 0..4 {
        assert_eq!(send(&sb).await, 200);
    }
    let fifth = post(&sb, &messangi_body("+15551234567", "e")).await;
    assert_eq!(fifth.status(), 429);
    assert_eq!(
        header(&fifth, "retry-after").as_deref(),
        Some("1"),
        "0.5 s to the next token, rounded up"
    );
    sleep(Duration::from_millis(600)).await;
    assert_eq!(send(&sb).await, 200, "one token came back");
    assert_eq!(send(&sb).await, 429, "only one");
}

#[tokio::test]
async fn leaky_bucket_refuses_close_requests_without_any_header() {
    let sb = start(config("4/1s", WindowMode::Leaky)).await;
    let first = post(&sb, &messangi_body("+15551234567", "a")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit-limit"), None, "nginx sends none");
    let second = post(&sb, &messangi_body("+15551234567", "b")).await;
    assert_eq!(second.status(), 429);
    assert_eq!(header(&second, "retry-after"), None);
    sleep(Duration::from_millis(260)).await;
    assert_eq!(send(&sb).await, 200, "250 ms apart is the rate");
}

#[tokio::test]
async fn a_server_can_enforce_less_than_its_headers_announce() {
    let sb = start(SandboxConfig {
        real_rate: Some("2/2s".parse().unwrap()),
        ..config("4/2s", WindowMode::Anchored)
    })
    .await;
    assert_eq!(send(&sb).await, 200);
    assert_eq!(send(&sb).await, 200);
    let third = post(&sb, &messangi_body("+15551234567", "c")).await;
    assert_eq!(third.status(), 429);
    assert_eq!(header(&third, "ratelimit-limit").as_deref(), Some("4"));
    assert_eq!(
        header(&third, "ratelimit-remaining").as_deref(),
        Some("1"),
        "the headers still count against the announced 4"
    );
}
