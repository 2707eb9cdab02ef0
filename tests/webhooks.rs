//! `sessioncast ingest` through the real binary: a sandbox on loopback drops every answer so the
//! ledger holds `unknown` rows, then webhook logs (the fixtures in tests/fixtures/webhooks/, or
//! statuses built from what the sandbox received) settle them. Judged by `status`/`report`
//! output, exit codes and what the sandbox received.

use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig, WindowMode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use tokio::process::Command;

const TOKEN_ENV: &str = "WEBHOOKS_TEST_TOKEN";
const TOKEN: &str = "tok-webhooks-never-printed";
/// The fixtures' send keys are made for this campaign name (`3e5b6f00b665-…`).
const NAME: &str = "webhook-fixtures";
const NUMBERS: [&str; 3] = ["+14155550101", "+14155550102", "+525512345678"];

struct Env {
    dir: tempfile::TempDir,
    sandbox: Sandbox,
    log: PathBuf,
}

impl Env {
    /// A campaign of `NAME` to `recipients` (one text each) run once against a sandbox that
    /// drops `drop_rate` of its answers.
    async fn run_lossy(recipients: &[String], drop_rate: f64) -> Env {
        Env::run_lossy_with(recipients, drop_rate, |_| {}).await
    }

    /// `run_lossy` with the sandbox's webhook story set by `story` (read, reply and late-failure
    /// rates, disorder).
    async fn run_lossy_with(
        recipients: &[String],
        drop_rate: f64,
        story: impl FnOnce(&mut SandboxConfig),
    ) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("delivered.jsonl");
        let config = SandboxConfig {
            rate: Some("1000/1s".parse().unwrap()),
            window_mode: WindowMode::Anchored,
            headers: HeaderDialect::Note,
            token: Some(TOKEN.into()),
            drop_rate,
            log: Some(log.clone()),
            webhook_log: Some(dir.path().join("platform.jsonl")),
            ..SandboxConfig::default()
        };
        let mut config = config;
        story(&mut config);
        let failing = config.fail_rate > 0.0;
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let env = Env { dir, sandbox, log };
        env.campaign(env.sandbox.addr(), recipients);
        let run = env
            .exec(&["run", "campaign.yaml", "--format", "json"])
            .await;
        let code = if drop_rate > 0.0 || failing { 4 } else { 0 };
        assert_eq!(run.status.code(), Some(code), "{}", text(&run));
        env
    }

    fn campaign(&self, addr: SocketAddr, recipients: &[String]) {
        let inbound = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
        let list: String = recipients
            .iter()
            .map(|to| format!("  - {{ to: \"{to}\", last_inbound_at: \"{inbound}\" }}\n"))
            .collect();
        let yaml = format!(
            "version: 1\nname: {NAME}\nprovider: {{ kind: cloud_api, base_url: \"http://{addr}\", token_env: {TOKEN_ENV}, phone_number_id: \"1065\" }}\nrate: 1000/1s\nrecipients:\n{list}messages:\n  - {{ type: text, body: \"Hello {{{{ to }}}}\" }}\n"
        );
        std::fs::write(self.dir.path().join("campaign.yaml"), yaml).unwrap();
    }

    async fn exec(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sessioncast"))
            .args(args)
            .current_dir(self.dir.path())
            .env(TOKEN_ENV, TOKEN)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap()
    }

    /// `ingest campaign.yaml FILE --format json`: exit code and summary.
    async fn ingest(&self, file: &Path) -> (Option<i32>, serde_json::Value, Output) {
        let file = file.to_str().unwrap();
        let out = self
            .exec(&["ingest", "campaign.yaml", file, "--format", "json"])
            .await;
        let doc =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), doc, out)
    }

    /// `report --format json ARGS...`.
    async fn report(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["report", "campaign.yaml", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.exec(&all).await;
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `status --format json`: number → its (only) row.
    async fn rows(&self) -> std::collections::HashMap<String, serde_json::Value> {
        let out = self
            .exec(&["status", "campaign.yaml", "--format", "json"])
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["to"].as_str().unwrap().to_string(), r.clone()))
            .collect()
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn fixtures_env() -> Env {
    let numbers: Vec<String> = NUMBERS.iter().map(|n| n.to_string()).collect();
    let env = Env::run_lossy(&numbers, 1.0).await;
    let rows = env.rows().await;
    assert!(rows.values().all(|r| r["state"] == "unknown"), "{rows:?}");
    env
}

fn at(unix: i64) -> String {
    format!("{:.3}", jiff::Timestamp::from_second(unix).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_statuses_settle_unknown_and_never_move_back() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("out-of-order.jsonl")).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(doc["applied"], 3);
    assert_eq!(doc["transitions"]["unknown->sent"], 1);
    let row = &env.rows().await[NUMBERS[0]];
    assert_eq!(row["state"], "sent");
    assert_eq!(row["provider_id"], "wamid.F1");
    assert_eq!(row["delivered_at"], at(1764400200).as_str());
    assert_eq!(row["read_at"], at(1764400300).as_str());
    // Twice: nothing changes, every event is a duplicate.
    let before = env.rows().await;
    let (code, again, _) = env.ingest(&fixture("out-of-order.jsonl")).await;
    assert_eq!(
        (code, &again["applied"], &again["duplicate"]),
        (Some(0), &0.into(), &3.into())
    );
    assert_eq!(env.rows().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_apply_once() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("duplicates.jsonl")).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(
        (&doc["applied"], &doc["duplicate"]),
        (&2.into(), &2.into()),
        "{doc}"
    );
    let row = &env.rows().await[NUMBERS[1]];
    assert_eq!(
        (&row["state"], &row["provider_id"]),
        (&"sent".into(), &"wamid.F2".into())
    );
    assert_eq!(row["delivered_at"], at(1764400200).as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_their_code_and_131047_after_sent_is_expired() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("failed.jsonl")).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(doc["transitions"]["sent->expired"], 1, "{doc}");
    let rows = env.rows().await;
    // The failure carried no send key: found by the provider id the `sent` status gave it.
    let a = &rows[NUMBERS[0]];
    assert_eq!(
        (&a["state"], &a["error_code"]),
        (&"expired".into(), &131047.into())
    );
    let b = &rows[NUMBERS[1]];
    assert_eq!(
        (&b["state"], &b["error_code"]),
        (&"failed".into(), &131026.into())
    );
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("Message undeliverable"),
        "{b}"
    );
    assert_eq!(b["retryable"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mexican_521_wa_id_and_its_reply_find_the_plus_52_recipient() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("mexican.jsonl")).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(
        (&doc["applied"], &doc["replies"]),
        (&3.into(), &1.into()),
        "{doc}"
    );
    let row = &env.rows().await[NUMBERS[2]];
    assert_eq!(
        (&row["state"], &row["provider_id"]),
        (&"sent".into(), &"wamid.MX".into())
    );
    assert_eq!(row["replied_at"], at(1764400500).as_str());
    let report = env.report(&["--per-recipient"]).await;
    let mx = report["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["to"] == NUMBERS[2])
        .unwrap();
    assert_eq!(mx["last_inbound_at"], at(1764400500).as_str(), "{report}");
    assert_eq!(report["messages"][0]["replied"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messangi_callbacks_match_by_external_id_and_skip_other_campaigns() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("messangi.jsonl")).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(
        (&doc["applied"], &doc["other_campaign"]),
        (&2.into(), &1.into()),
        "{doc}"
    );
    let rows = env.rows().await;
    let a = &rows[NUMBERS[0]];
    assert_eq!(
        (&a["state"], &a["provider_id"]),
        (&"sent".into(), &"msg-1".into())
    );
    assert_eq!(a["delivered_at"], "2026-11-29T03:00:00.000Z");
    let b = &rows[NUMBERS[1]];
    assert_eq!(
        (&b["state"], &b["error_code"]),
        (&"failed".into(), &131026.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_by_number_and_the_rest_applied() {
    let env = fixtures_env().await;
    let (code, doc, out) = env.ingest(&fixture("bad.jsonl")).await;
    assert_eq!(code, Some(3), "{}", text(&out));
    assert_eq!(
        (&doc["applied"], &doc["bad_lines"]),
        (&1.into(), &3.into()),
        "{doc}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [2, 3, 4] {
        assert!(stderr.contains(&format!("bad.jsonl:{line}: ")), "{stderr}");
    }
    assert!(
        stderr.contains("statuses[0].timestamp: missing"),
        "{stderr}"
    );
    assert_eq!(env.rows().await[NUMBERS[0]]["state"], "sent");
}

/// Statuses as the Cloud API would post them for every request the sandbox received (it logs
/// each body, with its send key): `sent` then `delivered`, each line twice (providers retry).
fn statuses_for(log: &Path) -> String {
    let mut out = String::new();
    let delivered = std::fs::read_to_string(log).unwrap();
    for (i, line) in delivered.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = v["body"]["biz_opaque_callback_data"].as_str().unwrap();
        let to = v["to"].as_str().unwrap().trim_start_matches('+');
        for (step, t) in [("delivered", 1764400200 + i), ("sent", 1764400100 + i)] {
            let body = serde_json::json!({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[{"id":format!("wamid.E2E{i}"),"status":step,"timestamp":t.to_string(),"recipient_id":to,"biz_opaque_callback_data":key}]}}]}]});
            out.push_str(&format!("{body}\n{body}\n"));
        }
    }
    out
}

/// The acceptance loop: answers lost (`unknown`), the provider's statuses ingested (`sent`, with
/// the provider id), and a second run sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_become_sent_and_nothing_is_sent_again() {
    let numbers: Vec<String> = (0..20)
        .map(|i| format!("+1415555{:04}", 2000 + i))
        .collect();
    let env = Env::run_lossy(&numbers, 1.0).await;
    assert_eq!(env.sandbox.stats().accepted, 20);
    let log = env.dir.path().join("webhooks.jsonl");
    std::fs::write(&log, statuses_for(&env.log)).unwrap();
    let (code, doc, out) = env.ingest(&log).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(doc["transitions"]["unknown->sent"], 20, "{doc}");
    assert_eq!(
        (&doc["applied"], &doc["duplicate"]),
        (&40.into(), &40.into())
    );
    let rows = env.rows().await;
    assert!(
        rows.values().all(|r| r["state"] == "sent"
            && r["provider_id"].as_str().unwrap().starts_with("wamid.E2E")
            && r["delivered_at"].is_string()),
        "{rows:?}"
    );
    let again = env
        .exec(&["run", "campaign.yaml", "--format", "json"])
        .await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(env.sandbox.stats().accepted, 20, "nothing was sent again");
}

/// The whole loop offline: the sandbox drops every answer but writes the statuses the platform
/// would post to its webhook log; ingesting that log settles every `unknown` row with the
/// provider id the sandbox gave it, the funnel agrees with the sandbox, and nothing is resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_webhook_log_settles_every_lost_answer() {
    let numbers: Vec<String> = (0..40)
        .map(|i| format!("+1415555{:04}", 3000 + i))
        .collect();
    // Every answer lost; the platform's story of each message as the real one tells it: some
    // read, some answered, some refused after the 200 (131047/131026), some statuses repeated
    // and in reverse order.
    let env = Env::run_lossy_with(&numbers, 1.0, |c| {
        c.read_rate = 0.5;
        c.reply_rate = 0.25;
        c.fail_after_accept_rate = 0.25;
        c.disorder_rate = 0.3;
    })
    .await;
    let platform = env.dir.path().join("platform.jsonl");
    // Status id per recipient, as the sandbox posted it.
    let mut ids = std::collections::HashMap::new();
    for line in std::fs::read_to_string(&platform).unwrap().lines() {
        for event in sessioncast::webhook::parse_line(line).unwrap() {
            if let sessioncast::webhook::Event::Status(s) = event {
                ids.insert(format!("+{}", s.recipient.unwrap()), s.provider_id);
            }
        }
    }
    assert_eq!(ids.len(), 40, "a status for every request");
    let (code, doc, out) = env.ingest(&platform).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    let rows = env.rows().await;
    assert_eq!(rows.len(), 40);
    for (to, row) in &rows {
        assert_ne!(row["state"], "unknown", "{row}");
        assert_eq!(row["provider_id"], ids[to].as_str(), "{row}");
    }
    let stats = env.sandbox.stats();
    let told = &stats.webhooks;
    let funnel = &env.report(&[]).await["messages"][0];
    // The funnel is what the platform told, step by step.
    assert_eq!(funnel["planned"], stats.accepted, "{doc}");
    assert_eq!(funnel["unknown"], 0, "{funnel}");
    assert_eq!(funnel["sent"], told.sent - told.failed, "{funnel} {told:?}");
    assert_eq!(funnel["delivered"], told.delivered, "{funnel} {told:?}");
    assert_eq!(funnel["read"], told.read, "{funnel} {told:?}");
    assert_eq!(funnel["replied"], told.replies, "{funnel} {told:?}");
    let refused = funnel["failed"].as_u64().unwrap() + funnel["expired"].as_u64().unwrap();
    assert_eq!(refused, told.failed, "{funnel} {told:?}");
    assert!(
        told.failed > 0 && told.replies > 0 && told.redelivered > 0,
        "{told:?}"
    );
    // Ingesting the same log again changes nothing.
    let (code, _, out) = env.ingest(&platform).await;
    assert_eq!(code, Some(0), "{}", text(&out));
    assert_eq!(&env.report(&[]).await["messages"][0], funnel);
    let accepted = stats.accepted;
    let again = env
        .exec(&["run", "campaign.yaml", "--format", "json"])
        .await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        env.sandbox.stats().accepted,
        accepted,
        "nothing was sent again"
    );
}

/// A failure known only from the answer keeps the code the answer carried: the sandbox's fault
/// is Meta's 500 with code 131000, and `status` and `report` show it without any webhook.
#[tokio::test]
async fn failures_from_the_answer_keep_the_providers_error_code() {
    let numbers: Vec<String> = NUMBERS.iter().map(|n| n.to_string()).collect();
    let env = Env::run_lossy_with(&numbers, 0.0, |c| c.fail_rate = 1.0).await;
    assert_eq!(
        env.sandbox.stats().faults,
        3,
        "every request was answered with the fault"
    );
    for (to, row) in env.rows().await {
        assert_eq!(row["state"], "failed", "{to}: {row}");
        assert_eq!(row["error_code"], 131000, "{to}: {row}");
    }
    let funnel = &env.report(&[]).await["messages"][0];
    assert_eq!(funnel["failed"], 3, "{funnel}");
    assert_eq!(
        funnel["failed_by_code"],
        serde_json::json!({"131000": 3}),
        "{funnel}"
    );
}
