//! Acceptance tests of sending: campaigns executed against a real sandbox on loopback, judged by
//! what the sandbox received (its stats and message log).

use sessioncast::campaign::{self, Campaign};
use sessioncast::execute::{self, Event, Setup, Summary};
use sessioncast::plan::build;
use sessioncast::ratelimit::{default_margin, Pacer};
use sessioncast::render::render;
use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::collections::HashMap;
use std::time::Duration;

const TOKEN: &str = "test-token";

/// What one scenario produced.
struct Outcome {
    summary: Summary,
    stats: Stats,
    events: Vec<Event>,
    /// Recipient → how many times the sandbox logged a delivery to it.
    delivered: HashMap<String, usize>,
}

/// A campaign of `n` recipients × one text message at `rate`, sent to `sandbox`.
fn campaign_file(dir: &std::path::Path, base_url: &str, rate: &str, n: usize) -> Campaign {
    let mut yaml = format!(
        "version: 1\nname: t\nprovider: {{ kind: cloud_api, base_url: \"{base_url}\", token_env: UNUSED_IN_TESTS, phone_number_id: \"1065\" }}\nrate: {rate}\nrecipients:\n"
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "  - {{ to: \"+1 415 555 {:04}\", last_inbound_at: 1h ago }}\n",
            100 + i
        ));
    }
    yaml.push_str("messages:\n  - { type: text, body: \"Hello {{ to }}\" }\n");
    let path = dir.join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (c, problems) = campaign::load(&path, jiff::Timestamp::now());
    c.unwrap_or_else(|| panic!("campaign does not load: {problems}"))
}

async fn scenario(mut config: SandboxConfig, rate: &str, n: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    config.token = Some(TOKEN.into());
    config.log = Some(log.clone());
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let campaign = campaign_file(dir.path(), &sandbox.base_url(), rate, n);
    let (requests, _) = render(&campaign);
    let plan = build(
        &campaign,
        requests.decided(),
        jiff::Timestamp::now(),
        &|_| None,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let setup = Setup {
        client: execute::client().unwrap(),
        token: TOKEN.into(),
        pacer: Pacer::new(campaign.rate, default_margin(campaign.rate)),
        events: tx,
        stop,
        max_duration: None,
        ledger: None,
    };
    let summary = execute::execute(&campaign, &plan, &requests, setup).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let stats = sandbox.stats();
    sandbox.shutdown().await;
    let mut delivered = HashMap::new();
    for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let to = v["to"].as_str().unwrap_or_default().to_string();
        // What the server received carries this recipient's send key, for its webhooks to echo.
        let digits = to.trim_start_matches('+');
        let key = v["body"]["biz_opaque_callback_data"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            key,
            sessioncast::provider::send_key(
                "t",
                &sessioncast::campaign::UserId::parse_in(&to, None).unwrap(),
                0
            ),
            "{line}"
        );
        assert!(key.ends_with(&format!("-{digits}-0")), "{line}");
        *delivered.entry(to).or_insert(0) += 1;
    }
    Outcome {
        summary,
        stats,
        events,
        delivered,
    }
}

fn sandbox(rate: &str, mode: WindowMode, headers: HeaderDialect) -> SandboxConfig {
    SandboxConfig {
        rate: Some(rate.parse().unwrap()),
        window_mode: mode,
        headers,
        ..SandboxConfig::default()
    }
}

/// Every recipient got its one message exactly once, and nothing else happened.
fn all_sent_once(name: &str, o: &Outcome, n: usize) {
    let s = &o.summary;
    assert_eq!(
        (s.sent, s.failed, s.unknown, s.expired, s.not_started),
        (n as u64, 0, 0, 0, 0),
        "{name}: {s:?}"
    );
    assert_eq!(o.stats.accepted, n as u64, "{name}: {:?}", o.stats);
    assert_eq!(o.stats.duplicates, 0, "{name}");
    assert_eq!(
        o.delivered.len(),
        n,
        "{name}: distinct recipients in the log"
    );
    assert!(o.delivered.values().all(|&k| k == 1), "{name}");
    assert_eq!(
        s.throttled, o.stats.rejected_rate,
        "{name}: every 429 counted"
    );
}

/// (a) + (b): 40 sends under 4/2s in every header dialect and window mode, concurrently.
/// The fastest schedule is 10 bursts of 4, `9 × 2 s` apart; the pacer adds its margin to each
/// of the 9 waits: 20 ms at 4/2s, raised by the measured answer-time spread up to 5 % (100 ms),
/// which a loaded machine can reach, so the bound allows the 5 %. Every dialect meets the same bound, including
/// `X-RateLimit-Reset` as a whole epoch second, whose rounding must not delay the next burst.
///
/// The six run at once on two worker threads, in real time: on a machine loaded by other builds,
/// a timer or the sandbox's own handling can run tens of milliseconds late, more than the margin
/// keeps for it, and once (in many runs) that drew a 429. The schedule itself is proven on a
/// virtual clock (`ratelimit::pacer::sim_tests`, `late_tests`); here a case that drew more
/// 429s than allowed is run once more on its own, and must then meet the same bounds (a
/// pacing fault repeats, a late timer does not). Every run, first or second, must deliver each
/// message exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_sends_under_4_per_2s_without_429s() {
    use HeaderDialect::*;
    use WindowMode::*;
    let cases = [
        ("anchored/note", Anchored, Note, 0),
        ("anchored/draft7", Anchored, Draft7, 0),
        ("anchored/draft10", Anchored, Draft10, 0),
        ("anchored/x-ratelimit", Anchored, XRateLimit, 0),
        ("aligned/note", Aligned, Note, 1),
        ("sliding/note", Sliding, Note, 1),
    ];
    let runs =
        cases.map(|(_, mode, headers, _)| scenario(sandbox("4/2s", mode, headers), "4/2s", 40));
    let outcomes = futures_join(runs).await;
    let max_margin = Duration::from_secs(2) / 20;
    let bound = Duration::from_secs(18).mul_f64(1.02) + max_margin * 9;
    let met = |o: &Outcome, max_429: u64| {
        o.stats.rejected_rate <= max_429
            && (o.stats.rejected_rate > 0 || o.summary.elapsed <= bound)
    };
    for ((name, mode, headers, max_429), o) in cases.iter().zip(&outcomes) {
        let (elapsed, n429) = (o.summary.elapsed, o.stats.rejected_rate);
        eprintln!("{name}: makespan {elapsed:?}, 429s {n429}");
        all_sent_once(name, o, 40);
        if met(o, *max_429) {
            continue;
        }
        let again = scenario(sandbox("4/2s", *mode, *headers), "4/2s", 40).await;
        let (elapsed, n429) = (again.summary.elapsed, again.stats.rejected_rate);
        eprintln!("{name} on its own: makespan {elapsed:?}, 429s {n429}");
        all_sent_once(name, &again, 40);
        assert!(
            again.stats.rejected_rate <= *max_429,
            "{name}: {:?}, and {:?} before",
            again.stats,
            o.stats
        );
        assert!(
            again.stats.rejected_rate > 0 || elapsed <= bound,
            "{name}: {elapsed:?} > {bound:?}"
        );
    }
}

/// Runs the scenarios concurrently, each on its own task.
async fn futures_join<const N: usize>(
    runs: [impl std::future::Future<Output = Outcome> + Send + 'static; N],
) -> Vec<Outcome> {
    let handles: Vec<_> = runs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// (c) The campaign declares 10/1s; the server allows 3/1s and says nothing. The pacer learns
/// from 429s: with k requests in flight (k = 5 at 10/1s) it takes at most k × 26 of them: 4
/// decreases by 0.7 from 10/s to below 3/s with up to 5 429s each while the window stays spent,
/// 4 failed bisection probes and 2 re-probes (the bound in `ratelimit::pacer_learn`). None is
/// counted as a failure and every message goes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_server_slower_than_declared() {
    let o = scenario(
        sandbox("3/1s", WindowMode::Anchored, HeaderDialect::None),
        "10/1s",
        30,
    )
    .await;
    all_sent_once("blind", &o, 30);
    let k = execute::in_flight("10/1s".parse().unwrap()) as u64;
    assert!(
        o.stats.rejected_rate <= k * (4 * 5 + 4 + 2),
        "{:?}",
        o.stats
    );
    eprintln!(
        "blind: makespan {:?}, 429s {}",
        o.summary.elapsed, o.stats.rejected_rate
    );
}

/// (c2) The campaign declares 10/1s; the server announces (and enforces) 4/2s in its headers.
/// Slots reserved under 10/1s before the first answer are re-planned, not counted as sends, and
/// the block after each window's fourth send re-plans the slots behind it: 12 messages go in
/// three bursts 2 s apart (about 4.4 s). Losing a window to stale reservations would take 6 s or
/// more; the bound allows for a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_header_policy_replans_reserved_slots() {
    let o = scenario(
        sandbox("4/2s", WindowMode::Anchored, HeaderDialect::Note),
        "10/1s",
        12,
    )
    .await;
    all_sent_once("policy", &o, 12);
    assert_eq!(o.stats.rejected_rate, 0, "{:?}", o.stats);
    let elapsed = o.summary.elapsed;
    eprintln!("policy: makespan {elapsed:?}");
    assert!(elapsed < Duration::from_millis(5_200), "{elapsed:?}");
    let pace = o
        .summary
        .pace
        .as_ref()
        .expect("the summary reports the pace");
    assert_eq!(
        (pace.rate.to_string().as_str(), pace.source),
        ("4/2s", "policy")
    );
    let notes: Vec<&str> = o
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Pace { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notes, ["server policy 4/2s overrides declared 10/1s"]);
}

/// (d) 5 % injected 500s and 2 % unanswered deliveries at 50/1s: every recipient ends sent,
/// failed or unknown, nothing is delivered twice, and the counts match what the server did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_never_resent() {
    let mut config = sandbox("50/1s", WindowMode::Anchored, HeaderDialect::Note);
    config.fail_rate = 0.05;
    config.drop_rate = 0.02;
    config.seed = Some(7);
    let o = scenario(config, "50/1s", 100).await;
    let s = &o.summary;
    assert_eq!(s.sent + s.failed + s.unknown, 100, "{s:?}");
    assert_eq!(o.stats.duplicates, 0);
    assert_eq!(s.failed, o.stats.faults, "{s:?} {:?}", o.stats);
    assert_eq!(s.unknown, o.stats.dropped, "{s:?} {:?}", o.stats);
    assert_eq!(o.stats.accepted, s.sent + s.unknown);
    assert!(
        o.stats.faults + o.stats.dropped > 0,
        "the seed injects faults"
    );
    let mut last: HashMap<String, &str> = HashMap::new();
    for e in &o.events {
        let (to, kind) = match e {
            Event::Sent { to, .. } => (to, "sent"),
            Event::Failed { to, .. } => (to, "failed"),
            Event::Unknown { to, .. } => (to, "unknown"),
            _ => continue,
        };
        assert!(last.insert(to.to_string(), kind).is_none(), "{to} twice");
    }
    assert_eq!(last.len(), 100);
    assert_eq!(s.exit(), sessioncast::exit::Exit::Incomplete);
}

/// The binary: a missing token variable is named (exit 1); `--sandbox` needs none and sends
/// everything, printing the JSON summary and the sandbox's counters.
#[test]
fn the_binary_sends_to_its_own_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let c = campaign_file(dir.path(), "https://api.example.com", "50/1s", 5);
    let bin = || {
        let mut cmd = assert_cmd::Command::cargo_bin("sessioncast").unwrap();
        cmd.args(["run", c.file.to_str().unwrap()]);
        cmd.env_remove("UNUSED_IN_TESTS");
        cmd
    };
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`UNUSED_IN_TESTS`"), "{err}");
    let out = bin()
        .args(["--sandbox", "--format", "json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["sent"].as_u64(), v["exit"].as_u64()),
        (Some(5), Some(0)),
        "{v}"
    );
    assert!(
        err.contains("sandbox: accepted 5, rejected_rate 0, duplicates 0"),
        "{err}"
    );
    assert_eq!(err.matches(" sent +1415555").count(), 5, "{err}");
}

/// With `--skip-invalid`, a repeated number whose kept row (here the latest `last_inbound_at`)
/// fails to render is still sent, from its other, valid row: an invalid row never costs a
/// valid one its message. Judged by what the sandbox logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_kept_row_gives_way_to_the_valid_row_of_the_same_number() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let mut config = sandbox("50/1s", WindowMode::Anchored, HeaderDialect::default());
    config.token = Some(TOKEN.into());
    config.log = Some(log.clone());
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("r.csv"),
        "to,last_inbound_at,pic\n\
         +14155550101,2h ago,https://cdn.example.com/older.jpg\n\
         +1 415 555 0101,1h ago,not a link\n\
         +14155550102,1h ago,https://cdn.example.com/other.jpg\n",
    )
    .unwrap();
    let yaml = format!(
        "version: 1\nname: t\nprovider: {{ kind: cloud_api, base_url: \"{}\", token_env: SKIP_TEST_TOKEN, phone_number_id: \"1065\" }}\nrate: 50/1s\nrecipients: {{ file: r.csv }}\nmessages:\n  - {{ type: image, url: \"{{{{ pic }}}}\" }}\n",
        sandbox.base_url()
    );
    let campaign = dir.path().join("c.yaml");
    std::fs::write(&campaign, yaml).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessioncast"))
        .arg("run")
        .arg(&campaign)
        .arg("--skip-invalid")
        .arg("--quiet")
        .arg("--state")
        .arg(dir.path().join("ledger.db"))
        .env("SKIP_TEST_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "+14155550101 is not dropped as `duplicate` after all: the row kept for it, "
        ) && stderr.contains("r.csv:3, is invalid; this row stands in for it\n  --> ")
            && stderr.contains("r.csv:2: column `to`"),
        "{stderr}"
    );
    sandbox.shutdown().await;
    let mut got: Vec<(String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let link = v["body"]["image"]["link"].as_str().unwrap_or_default();
            (v["to"].as_str().unwrap().to_string(), link.to_string())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "+14155550101".to_string(),
                "https://cdn.example.com/older.jpg".to_string()
            ),
            (
                "+14155550102".to_string(),
                "https://cdn.example.com/other.jpg".to_string()
            ),
        ],
        "{stderr}"
    );
}
