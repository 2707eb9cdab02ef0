//! The binary's contract: exit codes, the schema command, help text, and that the token's value
//! never appears in any output.

#[path = "support/cli.rs"]
mod support;

use std::path::PathBuf;
use support::{sessioncast, NOW};

const SECRET: &str = "tok-SECRET-9f8e7d6c5b4a";

fn campaigns() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["campaigns", "tests/fixtures/ok", "tests/fixtures/invalid"]
        .iter()
        .flat_map(|d| std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn exit_codes() {
    sessioncast()
        .args(["check", "campaigns/demo.yaml"])
        .assert()
        .code(0);
    sessioncast()
        .args(["check", "tests/fixtures/invalid/syntax.yaml"])
        .assert()
        .code(3);
    sessioncast()
        .args(["check", "no/such/file.yaml"])
        .assert()
        .code(3);
    sessioncast()
        .args(["check", "--bogus-flag"])
        .assert()
        .code(2);
    sessioncast()
        .args([
            "run",
            "campaigns/demo.yaml",
            "--dry-run",
            "--now",
            "yesterday",
        ])
        .assert()
        .code(2);
    sessioncast()
        .args(["plan", "campaigns/demo.yaml", "--format", "xml"])
        .assert()
        .code(2);
}

#[test]
fn bad_flag_values_say_what_is_wrong_and_what_would_be_right() {
    let out = sessioncast()
        .args(["status", "campaigns/demo.yaml", "--only", "sent,bogus"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`bogus` is not a state; write one of pending, attempting, sent, failed, expired, unknown"),
        "{err}"
    );
    let out = sessioncast()
        .args(["webhook", "--listen", "localhost", "--log", "w.jsonl"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`localhost` is not an address to listen on; write IP:PORT, e.g. 127.0.0.1:8090 or 0.0.0.0:8090"),
        "{err}"
    );
}

#[test]
fn every_shipped_example_passes_check() {
    for f in campaigns()
        .iter()
        .filter(|p| p.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/campaigns")))
    {
        let out = sessioncast().arg("check").arg(f).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn demo_dry_run_prints_one_json_object_per_request() {
    let out = sessioncast()
        .args([
            "run",
            "campaigns/demo.yaml",
            "--dry-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut n = 0;
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["to", "message_index", "method", "url", "headers", "body"]
        );
        assert_eq!(v["headers"]["Authorization"], "Bearer ***");
        assert_eq!(v["method"], "POST");
        n += 1;
    }
    assert!(
        n > 40,
        "expected requests for most of the 40 recipients, got {n}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("window_closed"),
        "expired recipients are listed: {err}"
    );
}

#[test]
fn the_token_never_appears_in_any_output() {
    for f in campaigns() {
        for args in [
            vec!["check"],
            vec!["plan", "--format", "json"],
            vec!["plan"],
            vec!["run", "--dry-run", "--format", "json"],
            vec!["run", "--dry-run"],
        ] {
            let out = sessioncast()
                .args(&args)
                .arg(&f)
                .args(["--now", NOW])
                .env("MESSANGI_API_KEY", SECRET)
                .env("WHATSAPP_TOKEN", SECRET)
                .output()
                .unwrap();
            for stream in [&out.stdout, &out.stderr] {
                assert!(
                    !String::from_utf8_lossy(stream).contains(SECRET),
                    "{args:?} {} leaked the token",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn schema_describes_every_top_level_key_and_kind() {
    let out = sessioncast().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "version",
        "name",
        "provider",
        "rate",
        "window",
        "recipients",
        "vars",
        "messages",
        "suppress",
        "not_after",
    ] {
        assert!(props.contains_key(key), "schema lacks `{key}`");
    }
    let text = serde_json::to_string(&schema).unwrap();
    for kind in [
        "text",
        "image",
        "video",
        "audio",
        "document",
        "contacts",
        "location",
        "interactive",
        "when",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "schema lacks `{kind}`"
        );
    }
    // The inbox form of `recipients:` with its keys.
    let recipients = serde_json::to_string(&schema["definitions"]["RecipientsSpec"]).unwrap();
    for key in ["inbox", "since", "join"] {
        assert!(
            recipients.contains(&format!("\"{key}\"")),
            "schema lacks recipients `{key}`"
        );
    }
}

#[test]
fn help_teaches_the_flow_and_exit_codes() {
    let out = sessioncast().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("sessioncast check campaigns/demo.yaml"));
    assert!(
        help.contains("\n  sessioncast status campaigns/demo.yaml "),
        "one command per line"
    );
    assert!(help.contains("3 invalid campaign"));
    assert!(help.contains("6 another run holds this campaign"));
    let run = sessioncast().args(["run", "--help"]).output().unwrap();
    let run = String::from_utf8_lossy(&run.stdout);
    for flag in [
        "--state",
        "--max-duration",
        "--resend-unknown",
        "--retry-failed",
        "--rerender",
    ] {
        assert!(run.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn status_of_a_campaign_never_run_is_all_zero() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("none.db");
    let out = sessioncast()
        .args([
            "status",
            "campaigns/demo.yaml",
            "--format",
            "json",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for state in [
        "pending",
        "attempting",
        "sent",
        "failed",
        "expired",
        "unknown",
    ] {
        assert_eq!(v["counts"][state], 0, "{state}");
    }
    assert_eq!(v["recipients"], serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not been run yet"));
    assert!(!state.exists(), "status creates no ledger");
    let csv = sessioncast()
        .args([
            "status",
            "campaigns/demo.yaml",
            "--format",
            "csv",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("to,message,state,provider_id,"));
}

#[test]
fn the_same_file_and_now_give_byte_identical_plans() {
    for format in ["table", "json", "csv"] {
        let run = || {
            sessioncast()
                .args([
                    "plan",
                    "campaigns/demo.yaml",
                    "--format",
                    format,
                    "--now",
                    NOW,
                ])
                .output()
                .unwrap()
        };
        let (a, b) = (run(), run());
        assert_eq!(a.status.code(), Some(0));
        assert!(!a.stdout.is_empty());
        assert_eq!(a.stdout, b.stdout, "{format} output differs between runs");
    }
}

#[test]
fn plan_json_lists_every_recipient_with_a_status() {
    let out = sessioncast()
        .args([
            "plan",
            "campaigns/demo.yaml",
            "--format",
            "json",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["recipients"].as_array().unwrap();
    assert_eq!(rows.len(), 40);
    assert_eq!(doc["summary"]["recipients_in_file"], 40);
    let scheduled = rows.iter().filter(|r| r["status"] == "scheduled").count();
    assert_eq!(doc["summary"]["scheduled"], scheduled);
    assert!(
        rows.iter().any(|r| r["reason"] == "window_closed"),
        "the demo has expired recipients"
    );
    // Scheduled rows come in send order, each before its deadline.
    for (i, r) in rows
        .iter()
        .filter(|r| r["status"] == "scheduled")
        .enumerate()
    {
        assert_eq!(r["order"], i);
        assert!(r["eta"].as_str().unwrap() < r["deadline"].as_str().unwrap());
    }
}
