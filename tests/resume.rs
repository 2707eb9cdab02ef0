//! Acceptance tests of cron-safe runs: the real `sessioncast` binary, killed, repeated and run
//! twice at once against a sandbox on loopback, judged by what the sandbox received and what the
//! ledger says.

use rand::{RngExt, SeedableRng};
use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::Command;

const TOKEN_ENV: &str = "RESUME_TEST_TOKEN";
const TOKEN: &str = "tok-3c9f1e2d-never-printed";

/// A campaign file in a temp folder, sending to a sandbox.
struct Env {
    dir: tempfile::TempDir,
    sandbox: Option<Sandbox>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Env {
    /// `n` recipients × one text message at `rate`; the sandbox enforces the same rate and
    /// answers after `delay`.
    async fn new(n: usize, rate: &str, delay: Duration) -> Env {
        Env::with(n, rate, config(rate, delay), "").await
    }

    async fn with(n: usize, rate: &str, mut config: SandboxConfig, extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("delivered.jsonl");
        config.log = Some(log.clone());
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = sandbox.addr();
        let env = Env {
            dir,
            sandbox: Some(sandbox),
            addr,
            log,
        };
        env.write_campaign(n, rate, "Hello {{ to }}", extra);
        env
    }

    fn write_campaign(&self, n: usize, rate: &str, body: &str, extra: &str) {
        let mut yaml = format!(
            "version: 1\nname: resume-test\nprovider: {{ kind: cloud_api, base_url: \"http://{}\", token_env: {TOKEN_ENV}, phone_number_id: \"1065\" }}\nrate: {rate}\n{extra}recipients:\n",
            self.addr
        );
        for i in 0..n {
            yaml.push_str(&format!(
                "  - {{ to: \"+1 415 555 {:04}\", last_inbound_at: 1h ago }}\n",
                1000 + i
            ));
        }
        yaml.push_str(&format!(
            "messages:\n  - {{ type: text, body: \"{body}\" }}\n"
        ));
        std::fs::write(self.campaign(), yaml).unwrap();
    }

    fn campaign(&self) -> PathBuf {
        self.dir.path().join("campaign.yaml")
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join(".sessioncast").join("resume-test.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessioncast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env(TOKEN_ENV, TOKEN)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// `sessioncast run campaign.yaml ARGS...` to the end.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "campaign.yaml"];
        all.extend_from_slice(args);
        self.command(&all).output().await.unwrap()
    }

    /// `sessioncast status campaign.yaml --format json`.
    async fn status(&self) -> serde_json::Value {
        let out = self
            .command(&["status", "campaign.yaml", "--format", "json"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn stats(&self) -> Stats {
        self.sandbox.as_ref().unwrap().stats()
    }

    /// Recipient → how many times the sandbox delivered a message to them.
    fn delivered(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for line in std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let to = v["to"]
                .as_str()
                .unwrap()
                .trim_start_matches('+')
                .to_string();
            *seen.entry(to).or_insert(0) += 1;
        }
        seen
    }

    /// Replaces the sandbox with one configured by `config`, on the same address.
    async fn restart_sandbox(&mut self, mut config: SandboxConfig) {
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
        config.log = Some(self.log.clone());
        self.sandbox = Some(Sandbox::start(config, self.addr).await.unwrap());
    }
}

fn config(rate: &str, delay: Duration) -> SandboxConfig {
    SandboxConfig {
        rate: Some(rate.parse().unwrap()),
        window_mode: WindowMode::Anchored,
        headers: HeaderDialect::Note,
        token: Some(TOKEN.into()),
        delay,
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

fn count(status: &serde_json::Value, state: &str) -> u64 {
    status["counts"][state].as_u64().unwrap()
}

/// Nobody got a message twice, and the sandbox's own duplicate count agrees.
fn nobody_twice(env: &Env) {
    let twice: Vec<_> = env
        .delivered()
        .into_iter()
        .filter(|(_, k)| *k > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(env.stats().duplicates, 0);
}

/// SIGKILL at random moments, 20 times, then a run to the end: at most once, every message
/// settled, and `unknown` bounded by what can be in flight when a kill lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_nobody_receives_twice() {
    const N: usize = 200;
    const KILLS: usize = 20;
    // 20/1s keeps 10 requests in flight (half a second's worth); 100 ms answers keep them there.
    let env = Env::new(N, "20/1s", Duration::from_millis(100)).await;
    let in_flight = sessioncast::execute::in_flight("20/1s".parse().unwrap()) as u64;
    let seed: u64 = rand::random();
    eprintln!("kill moments seeded with {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed_mid_run = 0;
    for _ in 0..KILLS {
        let mut child = env.command(&["run", "campaign.yaml"]).spawn().unwrap();
        let after = Duration::from_millis(rng.random_range(50..600));
        tokio::time::sleep(after).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().await.unwrap();
    }
    let before_last = env.status().await;
    assert!(
        count(&before_last, "pending") > 0,
        "the kills should land before the campaign is done: {}",
        before_last["counts"]
    );
    let last = env.run(&[]).await;
    assert!(
        matches!(last.status.code(), Some(0 | 4)),
        "final run: {}",
        text(&last)
    );

    let status = env.status().await;
    let settled = ["sent", "failed", "expired", "unknown"]
        .iter()
        .map(|s| count(&status, s))
        .sum::<u64>();
    assert_eq!(settled, N as u64, "{}", status["counts"]);
    assert_eq!(count(&status, "pending") + count(&status, "attempting"), 0);
    let unknown = count(&status, "unknown");
    assert!(
        unknown <= KILLS as u64 * in_flight,
        "unknown {unknown} > {KILLS} kills × {in_flight} in flight"
    );
    nobody_twice(&env);
    // What the sandbox received is exactly the `sent` rows plus some of the `unknown` ones.
    let delivered = env.delivered();
    for row in status["recipients"].as_array().unwrap() {
        let to = row["to"].as_str().unwrap().trim_start_matches('+');
        let got = delivered.contains_key(to);
        match row["state"].as_str().unwrap() {
            "sent" => assert!(got, "{to} is `sent` but was never delivered"),
            "unknown" => {}
            state => assert!(!got, "{to} is `{state}` but was delivered"),
        }
    }
    eprintln!(
        "{killed_mid_run} of {KILLS} runs killed mid-run; final counts {}; sandbox {:?}",
        status["counts"],
        env.stats()
    );
    assert!(
        killed_mid_run >= KILLS / 2,
        "most kills must hit a live run"
    );

    // Re-running the finished campaign sends nothing and exits 0.
    let accepted = env.stats().accepted;
    let again = env.run(&[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(env.stats().accepted, accepted);
}

/// Two runs started together: one sends, the other exits 6 naming the holder's pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_one_sends_the_other_exits_6() {
    const N: usize = 12;
    let env = Env::new(N, "4/1s", Duration::ZERO).await;
    let a = env.command(&["run", "campaign.yaml"]).spawn().unwrap();
    let b = env.command(&["run", "campaign.yaml"]).spawn().unwrap();
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(6)], "{}\n{}", text(&a), text(&b));
    let loser = if a.status.code() == Some(6) { &a } else { &b };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("already running (pid "), "{err}");
    assert_eq!(env.stats().accepted, N as u64);
    assert_eq!(env.delivered().len(), N);
    nobody_twice(&env);
}

/// The token is in the environment only: not in the ledger, the sandbox log or any output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_written_anywhere() {
    let mut env = Env::new(6, "50/1s", Duration::ZERO).await;
    let mut outputs = vec![env.run(&[]).await];
    // A refused send (bad token at the provider) must not leak it either.
    let mut strict = config("50/1s", Duration::ZERO);
    strict.token = Some("another-token".into());
    env.restart_sandbox(strict).await;
    env.write_campaign(8, "50/1s", "Hello {{ to }}", "");
    outputs.push(env.run(&[]).await);
    for format in ["table", "json", "csv"] {
        outputs.push(
            env.command(&["status", "campaign.yaml", "--format", format])
                .output()
                .await
                .unwrap(),
        );
    }
    outputs.push(env.run(&["--dry-run"]).await);
    for out in &outputs {
        let all = text(out);
        assert!(!all.contains(TOKEN), "token printed: {all}");
    }
    let mut files = vec![env.log.clone()];
    for entry in std::fs::read_dir(env.ledger().parent().unwrap()).unwrap() {
        files.push(entry.unwrap().path());
    }
    assert!(files.len() >= 3, "ledger, lock and log expected: {files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
        assert!(!found, "token found in {}", file.display());
    }
    let status = env.status().await;
    assert_eq!(count(&status, "sent"), 6);
    // The refused send (401) delivered nothing: it is back to `pending`, with its attempt and
    // the reason recorded, for the run after the token is fixed.
    let refused = status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "pending" && r["attempts"].as_u64() >= Some(1))
        .count();
    assert!(refused >= 1, "the refused send is recorded: {status}");
    assert_eq!(count(&status, "failed"), 0);
}

/// `--max-duration` stops cleanly with exit 5 and work left; the next run finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_leaves_work_for_the_next_run() {
    const N: usize = 16;
    let env = Env::new(N, "8/1s", Duration::ZERO).await;
    let first = env.run(&["--max-duration", "1s", "--format", "json"]).await;
    assert_eq!(first.status.code(), Some(5), "{}", text(&first));
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let sent_first = summary["sent"].as_u64().unwrap();
    assert!(sent_first > 0 && sent_first < N as u64, "{summary}");
    assert_eq!(count(&env.status().await, "pending"), N as u64 - sent_first);
    let second = env.run(&[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(count(&env.status().await, "sent"), N as u64);
    assert_eq!(env.stats().accepted, N as u64);
    nobody_twice(&env);
}

/// Content frozen at first planning: a changed message is refused until `--rerender`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_content_is_refused_unless_rerender() {
    let env = Env::new(4, "50/1s", Duration::ZERO).await;
    let stop = env.run(&["--max-duration", "1ms"]).await;
    assert_eq!(stop.status.code(), Some(5), "{}", text(&stop));
    let pending = count(&env.status().await, "pending");
    assert!(pending > 0);
    env.write_campaign(4, "50/1s", "Changed {{ to }}", "");
    let refused = env.run(&[]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("differ from what was first planned") && err.contains("--rerender"),
        "{err}"
    );
    let accepted = env.stats().accepted;
    let rerendered = env.run(&["--rerender"]).await;
    assert_eq!(rerendered.status.code(), Some(0), "{}", text(&rerendered));
    assert_eq!(env.stats().accepted, accepted + pending);
    let log = std::fs::read_to_string(&env.log).unwrap();
    assert_eq!(log.matches("Changed +1415555").count() as u64, pending);
}

/// Answers that never come are `unknown`: not resent by later runs, only with --resend-unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_is_resent_only_when_asked() {
    let mut lossy = config("50/1s", Duration::ZERO);
    lossy.drop_rate = 1.0;
    let mut env = Env::with(3, "50/1s", lossy, "").await;
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(4), "{}", text(&first));
    assert_eq!(count(&env.status().await, "unknown"), 3);
    env.restart_sandbox(config("50/1s", Duration::ZERO)).await;
    let second = env.run(&[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(env.stats().accepted, 0, "unknown must not be resent");
    let third = env.run(&["--resend-unknown"]).await;
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    assert_eq!(env.stats().accepted, 3);
    assert_eq!(count(&env.status().await, "sent"), 3);
}

/// After `not_after` nothing is sent and the ledger is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_after_not_after() {
    let env = Env::with(
        3,
        "50/1s",
        config("50/1s", Duration::ZERO),
        "not_after: 2020-01-01T00:00:00Z\n",
    )
    .await;
    let out = env.run(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_after"));
    assert_eq!(env.stats().accepted, 0);
    assert!(!Path::new(&env.ledger()).exists());
}

/// The limiter remembers: a run started right after another does not burst into the server
/// window the first one used (the sandbox would answer 429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_run_respects_the_window_the_last_one_used() {
    let env = Env::new(2, "2/2s", Duration::ZERO).await;
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    // Two more recipients: the next run may only send once the first run's window is over.
    env.write_campaign(4, "2/2s", "Hello {{ to }}", "");
    let started = std::time::Instant::now();
    let second = env.run(&["--format", "json"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let summary: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(summary["sent"], 2, "{summary}");
    assert_eq!(env.stats().rejected_rate, 0, "{:?}", env.stats());
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the second run waited for the window: {:?}",
        started.elapsed()
    );
    nobody_twice(&env);
}

/// Transient provider failures stay failed until `--retry-failed` puts them back; recipients
/// removed from the file are left alone; recipients added are picked up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_and_changing_recipients() {
    let mut failing = config("50/1s", Duration::ZERO);
    failing.fail_rate = 1.0;
    let mut env = Env::with(3, "50/1s", failing, "").await;
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(4), "{}", text(&first));
    let status = env.status().await;
    assert_eq!(count(&status, "failed"), 3);
    assert!(status["recipients"][0]["retryable"].as_bool().unwrap());
    env.restart_sandbox(config("50/1s", Duration::ZERO)).await;
    // One recipient removed, two added: the plain run sends only to the new ones.
    env.write_campaign(5, "50/1s", "Hello {{ to }}", "");
    let text_of = std::fs::read_to_string(env.campaign()).unwrap();
    std::fs::write(
        env.campaign(),
        text_of.replace(
            "  - { to: \"+1 415 555 1000\", last_inbound_at: 1h ago }\n",
            "",
        ),
    )
    .unwrap();
    let second = env.run(&[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(env.stats().accepted, 2, "only the added recipients");
    let third = env.run(&["--retry-failed"]).await;
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    let status = env.status().await;
    assert_eq!(
        env.stats().accepted,
        4,
        "the two failures still in the file"
    );
    assert_eq!((count(&status, "sent"), count(&status, "pending")), (4, 1));
    nobody_twice(&env);
}
