//! Test support: the `sessioncast` binary, run from the crate root as a user would.

#![allow(dead_code)]

use assert_cmd::Command;

/// The fixed `--now` that keeps previews and plans reproducible.
pub const NOW: &str = "2026-11-23T12:00:00Z";

pub fn sessioncast() -> Command {
    let mut cmd = Command::cargo_bin("sessioncast").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    cmd
}

/// `sessioncast run CAMPAIGN --dry-run --format json --now NOW`: the exact requests, as JSON lines.
pub fn dry_run_json(campaign: &str) -> std::process::Output {
    sessioncast()
        .args([
            "run",
            campaign,
            "--dry-run",
            "--format",
            "json",
            "--now",
            NOW,
        ])
        .output()
        .unwrap()
}
