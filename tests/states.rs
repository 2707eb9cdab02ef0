//! Acceptance tests of what the ledger's states mean to the operator: drop reasons per state,
//! exit codes after a killed run, a cut answer, stop-class answers, unreadable ledgers, expiry
//! of passed deadlines and exports. Each drives the real `sessioncast` binary against a sandbox
//! on loopback and judges by what the sandbox received and what the binary printed.

use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};
use tokio::process::Command;

const TOKEN_ENV: &str = "STATES_TEST_TOKEN";
const TOKEN: &str = "tok-5d1a-states-never-printed";

/// A campaign in a temp folder, sending to a sandbox.
struct Env {
    dir: tempfile::TempDir,
    sandbox: Option<Sandbox>,
    addr: SocketAddr,
    log: PathBuf,
    /// One fixed `last_inbound_at` (an hour before the test) for `simple` campaigns: a relative
    /// time would move the deadline at every run and reopen expired rows.
    inbound: String,
}

/// `+1 415 555 1000 + i`.
fn number(i: usize) -> String {
    format!("+1415555{:04}", 1000 + i)
}

impl Env {
    async fn new(mut config: SandboxConfig) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("delivered.jsonl");
        config.log = Some(log.clone());
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = sandbox.addr();
        Env {
            dir,
            sandbox: Some(sandbox),
            addr,
            log,
            inbound: (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string(),
        }
    }

    /// Writes `campaign.yaml` with `recipients` (YAML, after `recipients:`) and `messages`
    /// (YAML list items).
    fn campaign(&self, rate: &str, recipients: &str, messages: &str) {
        let yaml = format!(
            "version: 1\nname: states-test\nprovider: {{ kind: cloud_api, base_url: \"http://{}\", token_env: {TOKEN_ENV}, phone_number_id: \"1065\" }}\nrate: {rate}\nrecipients:{recipients}\nmessages:\n{messages}",
            self.addr
        );
        std::fs::write(self.dir.path().join("campaign.yaml"), yaml).unwrap();
    }

    /// `n` inline recipients who wrote an hour ago, one text message each.
    fn simple(&self, n: usize) {
        let mut r = String::from("\n");
        for i in 0..n {
            r.push_str(&format!(
                "  - {{ to: \"{}\", last_inbound_at: \"{}\" }}\n",
                number(i),
                self.inbound
            ));
        }
        self.campaign(
            "50/1s",
            &r,
            "  - { type: text, body: \"Hello {{ to }}\" }\n",
        );
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str], token: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessioncast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env(TOKEN_ENV, token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn exec(&self, args: &[&str]) -> Output {
        self.command(args, TOKEN).output().await.unwrap()
    }

    /// `sessioncast run campaign.yaml ARGS... --format json`.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "campaign.yaml", "--format", "json"];
        all.extend_from_slice(args);
        self.exec(&all).await
    }

    async fn status(&self) -> serde_json::Value {
        let out = self
            .exec(&["status", "campaign.yaml", "--format", "json"])
            .await;
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `plan --format json`: number → drop reason (or "scheduled").
    async fn plan(&self) -> HashMap<String, String> {
        let out = self
            .exec(&["plan", "campaign.yaml", "--format", "json"])
            .await;
        assert!(out.status.success(), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let what = r["reason"].as_str().unwrap_or("scheduled").to_string();
                (r["to"].as_str().unwrap().to_string(), what)
            })
            .collect()
    }

    fn stats(&self) -> Stats {
        self.sandbox.as_ref().unwrap().stats()
    }

    /// Recipient (E.164) → how many messages the sandbox delivered to them.
    fn delivered(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        for line in log.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let to = v["to"].as_str().unwrap().trim_start_matches('+');
            *seen.entry(format!("+{to}")).or_insert(0) += 1;
        }
        seen
    }

    async fn restart_sandbox(&mut self, mut config: SandboxConfig) {
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
        config.log = Some(self.log.clone());
        self.sandbox = Some(Sandbox::start(config, self.addr).await.unwrap());
    }
}

fn config() -> SandboxConfig {
    SandboxConfig {
        rate: Some("50/1s".parse().unwrap()),
        window_mode: WindowMode::Anchored,
        headers: HeaderDialect::Note,
        token: Some(TOKEN.into()),
        ..SandboxConfig::default()
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run's JSON summary (the last line of stdout).
fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{}", text(out)));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn count(status: &serde_json::Value, state: &str) -> u64 {
    status["counts"][state].as_u64().unwrap()
}

/// Rows of `status --format json` for one number.
fn rows_of<'a>(status: &'a serde_json::Value, to: &str) -> Vec<&'a serde_json::Value> {
    status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["to"] == to)
        .collect()
}

/// Four recipients, each settled by a different outcome (unknown, failed, expired, sent): plan,
/// dry run and run name each one's state instead of calling them all `already_sent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_reasons_tell_sent_failed_expired_and_unknown_apart() {
    let mut lossy = config();
    lossy.drop_rate = 1.0;
    let mut env = Env::new(lossy).await;
    env.simple(1);
    assert_eq!(env.run(&[]).await.status.code(), Some(4));
    let mut failing = config();
    failing.fail_rate = 1.0;
    env.restart_sandbox(failing).await;
    env.simple(2);
    assert_eq!(env.run(&[]).await.status.code(), Some(4));
    let mut closed = config();
    closed.inbound = HashMap::from([(number(2), SystemTime::UNIX_EPOCH)]);
    env.restart_sandbox(closed).await;
    env.simple(3);
    assert_eq!(env.run(&[]).await.status.code(), Some(0));
    env.restart_sandbox(config()).await;
    env.simple(4);
    let fourth = env.run(&[]).await;
    assert_eq!(fourth.status.code(), Some(0), "{}", text(&fourth));

    let want = [
        (number(0), "already_unknown"),
        (number(1), "already_failed"),
        (number(2), "already_expired"),
        (number(3), "already_sent"),
    ];
    let plan = env.plan().await;
    for (to, reason) in &want {
        assert_eq!(plan[to], *reason, "{plan:?}");
    }
    let out = env
        .exec(&["plan", "campaign.yaml", "--format", "json"])
        .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (_, reason) in &want {
        assert_eq!(doc["summary"]["dropped"][reason], 1, "{doc}");
    }
    let csv = env
        .exec(&["plan", "campaign.yaml", "--format", "csv"])
        .await;
    let csv = String::from_utf8_lossy(&csv.stdout);
    for (to, reason) in &want {
        assert!(csv.contains(&format!("{to},dropped,{reason}")), "{csv}");
    }
    let dry = env.exec(&["run", "campaign.yaml", "--dry-run"]).await;
    for (to, reason) in &want {
        let listed = stderr(&dry)
            .lines()
            .any(|l| l.contains(to.as_str()) && l.contains(reason));
        assert!(listed, "{to} {reason}: {}", text(&dry));
    }
    let before = env.stats().accepted;
    let fifth = env.run(&[]).await;
    assert!(
        stderr(&fifth).contains(
            "skipping 4 recipients (1 already_expired, 1 already_failed, 1 already_sent, 1 already_unknown)"
        ),
        "{}",
        text(&fifth)
    );
    assert_eq!(
        env.stats().accepted,
        before,
        "nothing settled is sent again"
    );
}

/// A run killed with requests in flight exits 137; the next run turns them `unknown`, counts
/// them in its summary and exits 4; the run after that has nothing new to report and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_unknowns_reach_the_next_runs_exit_code_once() {
    let mut slow = config();
    slow.delay = Duration::from_secs(30);
    let mut env = Env::new(slow).await;
    env.simple(2);
    let mut child = env
        .command(&["run", "campaign.yaml", "--format", "json"], TOKEN)
        .spawn()
        .unwrap();
    // Wait until both requests are in flight: recorded `attempting` in the ledger.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = env.status().await;
        if count(&status, "attempting") == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    let killed = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed),
        Some(9)
    );

    env.restart_sandbox(config()).await;
    let next = env.run(&[]).await;
    assert_eq!(next.status.code(), Some(4), "{}", text(&next));
    assert_eq!(summary(&next)["unknown"], 2, "{}", text(&next));
    assert!(stderr(&next).contains("2 requests were in flight"));
    let again = env.run(&[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(summary(&again)["unknown"], 0);
    assert_eq!(count(&env.status().await, "unknown"), 2);
    assert_eq!(env.stats().accepted, 0, "unknown is not resent");
}

/// A 200 whose body is cut mid-way: the provider accepted the message (the status line says
/// so), so it is `sent` without a provider id, and never sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_mid_body_is_sent_without_an_id() {
    let mut cutting = config();
    cutting.cut_rate = 1.0;
    let mut env = Env::new(cutting).await;
    env.simple(2);
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(env.stats().cut, 2, "the sandbox cut both answers");
    let status = env.status().await;
    assert_eq!(count(&status, "sent"), 2, "{status}");
    for row in status["recipients"].as_array().unwrap() {
        assert!(row["provider_id"].is_null(), "{row}");
    }
    env.restart_sandbox(config()).await;
    let second = env.run(&["--resend-unknown"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(env.stats().accepted, 0, "a cut answer is never resent");
}

/// The keys `status --help` and the README document are exactly what `status --format json`
/// prints, and its CSV has one row per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_keys_match_help_and_readme() {
    let env = Env::new(config()).await;
    let mut r = String::from("\n");
    for i in 0..2 {
        r.push_str(&format!(
            "  - {{ to: \"{}\", last_inbound_at: 1h ago }}\n",
            number(i)
        ));
    }
    let two = "  - { type: text, body: \"one\" }\n  - { type: text, body: \"two\" }\n";
    env.campaign("50/1s", &r, two);
    assert_eq!(env.run(&[]).await.status.code(), Some(0));
    let status = env.status().await;
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let counts = keys(&status["counts"]);
    let row = keys(&status["recipients"][0]);
    let documented = |text: &str| -> (Vec<String>, Vec<String>) {
        let quoted = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|k| k.trim().trim_matches('"').to_string())
                .collect()
        };
        let c = text.split("{\"counts\":{").nth(1).unwrap();
        let c = &c[..c.find('}').unwrap()];
        let r = text.split("\"recipients\":[{").nth(1).unwrap();
        let r = &r[..r.find('}').unwrap()];
        (quoted(c), quoted(r))
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("| `sessioncast status"))
        .unwrap();
    assert_eq!(documented(line), (counts.clone(), row.clone()), "README");
    let help = env.exec(&["status", "--help"]).await;
    let help = String::from_utf8_lossy(&help.stdout).replace('\n', " ");
    for stale in ["{\"summary\"", "one row per recipient"] {
        assert!(!help.contains(stale), "status --help says {stale}: {help}");
    }
    let help = help.split_whitespace().collect::<Vec<_>>().join("");
    assert_eq!(documented(&help), (counts, row), "status --help");

    let csv = env
        .exec(&["status", "campaign.yaml", "--format", "csv"])
        .await;
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(csv.lines().count(), 1 + 4, "one row per message:\n{csv}");
}

/// A wrong token: the run stops after one request (401, #190), and that recipient is not
/// stranded: its row goes back to `pending`, its later message is not failed, `plan` schedules
/// it, and the run with the right token reaches every recipient exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_strands_nobody() {
    let env = Env::new(config()).await;
    let mut r = String::from("\n");
    for i in 0..3 {
        r.push_str(&format!(
            "  - {{ to: \"{}\", last_inbound_at: 1h ago }}\n",
            number(i)
        ));
    }
    let two = "  - { type: text, body: \"one\" }\n  - { type: text, body: \"two\" }\n";
    env.campaign("50/1s", &r, two);
    let wrong = env
        .command(&["run", "campaign.yaml", "--format", "json"], "tok-wrong")
        .output()
        .await
        .unwrap();
    assert_eq!(wrong.status.code(), Some(5), "{}", text(&wrong));
    assert!(env.stats().rejected_auth >= 1);
    assert_eq!(env.stats().accepted, 0);
    let status = env.status().await;
    assert_eq!(count(&status, "pending"), 6, "{status}");
    assert_eq!(count(&status, "failed"), 0, "{status}");
    let plan = env.plan().await;
    assert!(plan.values().all(|r| r == "scheduled"), "{plan:?}");

    let fixed = env.run(&[]).await;
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    let delivered = env.delivered();
    for i in 0..3 {
        assert_eq!(delivered.get(&number(i)), Some(&2), "{delivered:?}");
    }
    assert_eq!(env.stats().duplicates, 0);
    assert_eq!(count(&env.status().await, "sent"), 6);
}

/// A ledger that exists but cannot be read is an error (exit 1) in every command that reads
/// it, never "has not been run yet" (which would plan everyone again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ledger_is_an_error_everywhere() {
    let env = Env::new(config()).await;
    env.simple(2);
    std::fs::write(env.path("not-a-db.db"), "name,phone\nAna,+1415\n").unwrap();
    std::fs::create_dir(env.path("folder.db")).unwrap();
    std::fs::write(env.path("a-file"), "x").unwrap();
    let cases = [
        ("not-a-db.db", "cannot read the ledger"),
        ("folder.db", "is a directory"),
        // `status`, `plan` and the dry run say "Not a directory"; a run fails on its lock file.
        ("a-file/ledger.db", "a-file/ledger.db"),
    ];
    for (state, why) in cases {
        let commands: [&[&str]; 4] = [
            &["status", "campaign.yaml", "--state", state],
            &["plan", "campaign.yaml", "--state", state],
            &["run", "campaign.yaml", "--dry-run", "--state", state],
            &["run", "campaign.yaml", "--state", state],
        ];
        for args in commands {
            let out = env.exec(args).await;
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
            let err = stderr(&out);
            assert!(err.contains(why), "{args:?}: {err}");
            assert!(!err.contains("has not been run"), "{args:?}: {err}");
        }
    }
    assert_eq!(env.stats().accepted, 0);
}

/// `last_inbound_at` such that the deadline (24h window, 10m margin) is `from_now` away.
fn inbound_for_deadline(from_now: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    let t = now - 24 * 3600 + 10 * 60 + from_now;
    jiff::Timestamp::from_second(t).unwrap().to_string()
}

/// An env whose ledger holds one `sent` row and one `pending` row whose deadline passes about
/// six seconds after the campaign is written (at 1/60s, the second recipient's slot comes after
/// its deadline), returned once that deadline has passed.
async fn with_a_pending_row_about_to_expire() -> Env {
    let env = Env::new(config()).await;
    let r = format!(
        "\n  - {{ to: \"{}\", last_inbound_at: \"{}\" }}\n  - {{ to: \"{}\", last_inbound_at: \"{}\" }}\n",
        number(0),
        inbound_for_deadline(5),
        number(1),
        inbound_for_deadline(6)
    );
    env.campaign("1/60s", &r, "  - { type: text, body: \"one\" }\n");
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let status = env.status().await;
    assert_eq!(rows_of(&status, &number(0))[0]["state"], "sent", "{status}");
    assert_eq!(
        rows_of(&status, &number(1))[0]["state"],
        "pending",
        "{status}"
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    env
}

/// Rows still `pending` whose deadline passed become `expired`, with the deadline, when
/// `status` looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_expires_passed_deadlines() {
    let env = with_a_pending_row_about_to_expire().await;
    let out = env
        .exec(&["status", "campaign.yaml", "--format", "json"])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("1 messages not yet sent are now `expired`"),
        "{}",
        text(&out)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows_of(&status, &number(1))[0];
    assert_eq!(row["state"], "expired", "{status}");
    assert!(
        row["reason"].as_str().unwrap().contains("deadline"),
        "{row}"
    );
    assert_eq!(count(&status, "pending"), 0);
    assert_eq!(env.stats().accepted, 1);
}

/// A run that finds such rows expires them first; the plan then calls their recipients
/// `window_closed` (nothing was sent to them), not something an earlier run handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_expires_passed_deadlines() {
    let env = with_a_pending_row_about_to_expire().await;
    let run = env.run(&[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        stderr(&run).contains("1 messages not yet sent are now `expired`"),
        "{}",
        text(&run)
    );
    let status = env.status().await;
    let row = rows_of(&status, &number(1))[0];
    assert_eq!(row["state"], "expired", "{status}");
    assert!(
        row["reason"].as_str().unwrap().contains("deadline"),
        "{row}"
    );
    assert_eq!(env.plan().await[&number(1)], "window_closed");
    assert_eq!(env.stats().accepted, 1);
}

/// `status --format csv --only failed,unknown` lists the customers to follow up, with their own
/// CSV columns, so the list goes back to the CRM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_carry_variables_and_filter_by_state() {
    let mut closed = config();
    closed.inbound = HashMap::from([(number(1), SystemTime::UNIX_EPOCH)]);
    let env = Env::new(closed).await;
    let csv = format!(
        "to,last_inbound_at,name,order_id\n\"{}\",1h ago,\"Doe, Jane\",A-1\n{},1h ago,Ana,A-2\n{},1h ago,Bo,A-3\n",
        number(0),
        number(1),
        number(2)
    );
    std::fs::write(env.path("people.csv"), csv).unwrap();
    env.campaign(
        "50/1s",
        " { file: people.csv }\n",
        "  - { type: text, body: \"Hi {{ name }}, order {{ order_id }}\" }\n",
    );
    let run = env.run(&[]).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let out = env
        .exec(&[
            "status",
            "campaign.yaml",
            "--format",
            "csv",
            "--only",
            "expired",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[header.len() - 2..], ["name", "order_id"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(&rows[0][0], number(1));
    assert_eq!(&rows[0][2], "expired");
    assert_eq!(&rows[0][header.len() - 2], "Ana");
    assert_eq!(&rows[0][header.len() - 1], "A-2");

    let out = env
        .exec(&[
            "status",
            "campaign.yaml",
            "--format",
            "json",
            "--only",
            "sent",
            "--only",
            "failed,unknown",
        ])
        .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["recipients"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{doc}");
    assert_eq!(rows_of(&doc, &number(0))[0]["vars"]["name"], "Doe, Jane");
    assert_eq!(
        count(&doc, "expired"),
        1,
        "counts stay those of the whole ledger"
    );

    let bad = env
        .exec(&["status", "campaign.yaml", "--only", "delivered"])
        .await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(stderr(&bad).contains("not a state"), "{}", text(&bad));
}
