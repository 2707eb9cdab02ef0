//! Ledger crash-safety test: a child process marks rows `attempting` and is SIGKILLed mid-run;
//! every attempt it reported as committed must be on disk, and recovery must report it unknown.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{key, planned};
use crate::ledger::{Ledger, State};

/// Set (to the ledger path) only in the child process.
const CHILD_ENV: &str = "SESSIONCAST_LEDGER_CRASH_CHILD";
/// More rows than the child can mark before it is killed, so the kill lands mid-run.
const ROWS: u32 = 20_000;
/// The parent kills the child once it has reported this many committed attempts.
const KILL_AFTER: u32 = 200;

#[test]
#[ignore = "helper: run in a child process by killed_run_keeps_every_committed_attempt"]
fn crash_child() {
    let path = std::env::var_os(CHILD_ENV).expect("only run by the crash-safety test");
    let mut ledger = Ledger::open(Path::new(&path)).expect("child open");
    let mut out = std::io::stdout().lock();
    for i in 0..ROWS {
        ledger.mark_attempting(&key(i)).expect("child mark");
        // Printed only after the commit returned: the parent treats it as a durability claim.
        writeln!(out, "marked {i}").expect("child write");
        out.flush().expect("child flush");
    }
}

#[test]
fn killed_run_keeps_every_committed_attempt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let mut ledger = Ledger::open(&path).expect("open");
    let rows: Vec<_> = (0..ROWS).map(|i| planned(i, "p", 1000)).collect();
    ledger.sync_planned(&rows).expect("sync");
    drop(ledger);

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "ledger::tests::crash::crash_child"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let last_reported = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.strip_prefix("marked ")?.parse::<u32>().ok())
        .find(|&i| i >= KILL_AFTER)
        .expect("child reported progress");
    child.kill().expect("SIGKILL child"); // `Child::kill` is SIGKILL on Unix
    child.wait().expect("reap child");

    let mut ledger = Ledger::open(&path).expect("reopen after kill");
    for i in 0..=last_reported {
        assert_eq!(
            ledger.state_of(&key(i)).expect("state"),
            Some(State::Attempting)
        );
    }
    let counts = ledger.counts().expect("counts");
    assert_eq!(counts.attempting + counts.pending, u64::from(ROWS));
    let recovered = ledger.recover_interrupted().expect("recover");
    assert_eq!(recovered as u64, counts.attempting);
    let after = ledger.counts().expect("counts");
    assert_eq!((after.unknown, after.attempting), (counts.attempting, 0));
}
