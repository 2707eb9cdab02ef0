//! Test support: campaign files in a temp folder, sent by the real `sessioncast` binary to
//! embedded sandboxes on loopback, and what each sandbox received and when (its delivery log).
//!
//! Include it with `#[path = "support/fleet.rs"] mod fleet;`.

#![allow(dead_code)]

use sessioncast::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::Command;

/// The variable the campaigns name in `token_env`, and its value (checked by the sandboxes).
pub const TOKEN_ENV: &str = "FLEET_TEST_TOKEN";
pub const TOKEN: &str = "tok-81c4-fleet-never-printed";

/// A sandbox whose every delivery is appended to `log` (`{"time","to","body"}` lines).
pub struct Provider {
    pub sandbox: Sandbox,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// One delivery as the sandbox logged it: when it arrived, and to whom (digits only).
#[derive(Debug, Clone)]
pub struct Received {
    pub at: jiff::Timestamp,
    pub to: String,
}

impl Provider {
    pub async fn start(mut config: SandboxConfig) -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("delivered.jsonl");
        config.log = Some(log.clone());
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Provider {
            sandbox,
            log,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sandbox.addr()
    }

    pub fn stats(&self) -> Stats {
        self.sandbox.stats()
    }

    /// Every delivery so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut all: Vec<Received> = text
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                Received {
                    at: v["time"].as_str().unwrap().parse().unwrap(),
                    to: v["to"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches('+')
                        .to_string(),
                }
            })
            .collect();
        all.sort_by_key(|r| r.at);
        all
    }

    /// Recipient → how many messages the sandbox delivered to them.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for r in self.received() {
            *seen.entry(r.to).or_insert(0) += 1;
        }
        seen
    }

    /// Nobody got a message twice, and the sandbox's own duplicate count agrees.
    pub fn assert_nobody_twice(&self) {
        let twice: Vec<_> = self
            .delivered()
            .into_iter()
            .filter(|(_, k)| *k > 1)
            .collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        assert_eq!(self.stats().duplicates, 0, "{:?}", self.stats());
    }
}

/// A sandbox enforcing `rate` in `mode`, announcing it with the provider note's headers, checking
/// the token and answering after `delay`.
pub fn config(rate: &str, mode: WindowMode, delay: Duration) -> SandboxConfig {
    SandboxConfig {
        rate: Some(rate.parse().unwrap()),
        window_mode: mode,
        headers: HeaderDialect::Note,
        token: Some(TOKEN.into()),
        delay,
        ..SandboxConfig::default()
    }
}

/// The recipient number of index `i` (+1 415 555 1000 on).
pub fn number(i: usize) -> String {
    format!("+1 415 555 {:04}", 1000 + i)
}

/// A Cloud API campaign `name` to the sandbox at `addr` from sender `phone_number_id`: one text
/// message to each recipient of `recipients` (indexes for [`number`]); `extra` is inserted as
/// top-level YAML before `recipients:`.
pub fn campaign(
    name: &str,
    addr: SocketAddr,
    phone_number_id: &str,
    rate: &str,
    recipients: Range<usize>,
    extra: &str,
) -> String {
    let mut yaml = format!(
        "version: 1\nname: {name}\nprovider: {{ kind: cloud_api, base_url: \"http://{addr}\", token_env: {TOKEN_ENV}, phone_number_id: \"{phone_number_id}\" }}\nrate: {rate}\n{extra}recipients:\n"
    );
    for i in recipients {
        yaml.push_str(&format!(
            "  - {{ to: \"{}\", last_inbound_at: 1h ago }}\n",
            number(i)
        ));
    }
    yaml.push_str("messages:\n  - { type: text, body: \"Hello {{ to }}\" }\n");
    yaml
}

/// A temp folder of campaign files where the binary runs; with a state URL, every command gets
/// it through `SESSIONCAST_STATE` (the password stays out of argv).
pub struct Folder {
    dir: tempfile::TempDir,
    state: Option<String>,
}

impl Folder {
    /// A folder whose runs keep their SQLite ledgers in it (the default place).
    pub fn sqlite() -> Folder {
        Folder {
            dir: tempfile::tempdir().unwrap(),
            state: None,
        }
    }

    /// A folder whose runs use the ledger at `url` (a `postgres://` URL).
    pub fn with_state(url: &str) -> Folder {
        Folder {
            dir: tempfile::tempdir().unwrap(),
            state: Some(url.to_string()),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path(file), text).unwrap();
    }

    /// `sessioncast ARGS...` in this folder, output piped, killed if dropped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessioncast"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env(TOKEN_ENV, TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("SESSIONCAST_STATE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = &self.state {
            cmd.env("SESSIONCAST_STATE", url);
        }
        cmd
    }

    /// `sessioncast ARGS...` started in the background, its stdout and stderr going to
    /// `NAME.out` and `NAME.err` in this folder (a pipe nobody reads would stall it).
    pub fn spawn(&self, name: &str, args: &[&str]) -> tokio::process::Child {
        let out = std::fs::File::create(self.path(&format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(self.path(&format!("{name}.err"))).unwrap();
        self.command(args).stdout(out).stderr(err).spawn().unwrap()
    }

    /// What a [`Folder::spawn`]ed command named `name` printed: stdout, then stderr.
    pub fn printed(&self, name: &str) -> (String, String) {
        let read = |ext: &str| {
            std::fs::read_to_string(self.path(&format!("{name}.{ext}"))).unwrap_or_default()
        };
        (read("out"), read("err"))
    }

    /// `sessioncast ARGS...` to the end.
    pub async fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// `sessioncast ARGS...` printing JSON on stdout; it must exit 0.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.output(args).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&out)))
    }

    /// No SQLite ledger was made here (the runs used the state URL).
    pub fn assert_no_sqlite(&self) {
        let default = self.path(".sessioncast");
        assert!(
            !default.exists(),
            "a SQLite ledger was made in {}",
            default.display()
        );
    }

    /// `sessioncast status CAMPAIGN --format json`.
    pub async fn status(&self, campaign: &str) -> serde_json::Value {
        self.json(&["status", campaign, "--format", "json"]).await
    }
}

/// Exit code, stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The count of `state` in a `status --format json` object.
pub fn count(status: &serde_json::Value, state: &str) -> u64 {
    status["counts"][state]
        .as_u64()
        .unwrap_or_else(|| panic!("no count of {state}: {}", status["counts"]))
}

/// The most deliveries in any span shorter than `window` (a sliding window over arrival times).
pub fn most_in_any_window(times: &[jiff::Timestamp], window: Duration) -> usize {
    let window = jiff::SignedDuration::try_from(window).unwrap();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}
