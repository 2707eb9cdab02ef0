//! Fixture corpus through the binary: every `fixtures/ok` campaign's dry-run preview and every
//! `fixtures/invalid` campaign's problems are snapshotted.

#[path = "support/cli.rs"]
mod support;

use support::{dry_run_json, sessioncast, NOW};

/// The fixture's path relative to the crate, as a user would type it.
fn rel(path: &std::path::Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn ok_fixtures_preview() {
    insta::glob!("fixtures/ok/*.yaml", |path| {
        let out = dry_run_json(&rel(path));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!lines.is_empty());
        insta::assert_yaml_snapshot!(lines);
        insta::assert_snapshot!("stderr", stderr);
    });
}

#[test]
fn ok_fixtures_pass_check() {
    insta::glob!("fixtures/ok/*.yaml", |path| {
        sessioncast()
            .args(["check", &rel(path), "--now", NOW])
            .assert()
            .code(0);
    });
}

#[test]
fn invalid_fixtures_report_every_problem() {
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let out = sessioncast()
            .args(["check", &rel(path), "--now", NOW])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty(), "problems go to stderr only");
        insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr));
    });
}

#[test]
fn five_problems_in_one_run_each_with_its_place() {
    let out = sessioncast()
        .args([
            "check",
            "tests/fixtures/invalid/five-problems.yaml",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = "tests/fixtures/invalid/five-problems.yaml";
    for needle in [
        // 21-character button title, with its YAML path and line.
        &format!("{file}:19:20: messages[1].interactive.buttons[2].title") as &str,
        "is 21 characters long",
        // A fourth button.
        "has 4 buttons",
        // The unknown field, with a suggestion.
        &format!("{file}:11:5: messages[0].captoin"),
        "did you mean `caption`?",
        // The bad phone number in CSV row 12.
        "tests/fixtures/invalid/five-problems.csv:12: column `to`",
        // The undefined template variable.
        "undefined variable `frist_name`",
        "did you mean `first_name`?",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(err.contains("5 problems found"), "{err}");
}
