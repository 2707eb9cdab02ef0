//! Recipients from the inbox (a webhook log) through the binary: the same plan and the same
//! requests as the equivalent CSV campaign written by hand.

#[path = "support/cli.rs"]
mod support;

use support::{dry_run_json, sessioncast, NOW};

fn plan_json(campaign: &str) -> serde_json::Value {
    let out = sessioncast()
        .args(["plan", campaign, "--now", NOW, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn inbox_recipients_plan_exactly_as_the_equivalent_csv() {
    let inbox = plan_json("tests/fixtures/ok/inbox.yaml");
    let csv = plan_json("tests/fixtures/ok/inbox-equivalent.yaml");
    assert_eq!(inbox, csv);
    // Who: users who wrote within 24h (Bob wrote 30h ago; Dee is only in the joined CSV), each
    // once, the Mexican wa_id `521…` as its E.164 number, with their latest message's time (Cid's
    // older message comes later in the file).
    let who: Vec<(&str, &str)> = inbox["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["to"].as_str().unwrap(), r["deadline"].as_str().unwrap()))
        .collect();
    assert_eq!(
        who,
        [
            ("+525512345678", "2026-11-24T06:30:00Z"),
            ("+14155550103", "2026-11-24T09:30:00Z"),
            ("+14155550101", "2026-11-24T10:30:00Z"),
        ]
    );
}

#[test]
fn inbox_recipients_render_the_same_requests_as_the_equivalent_csv() {
    let inbox = dry_run_json("tests/fixtures/ok/inbox.yaml");
    let csv = dry_run_json("tests/fixtures/ok/inbox-equivalent.yaml");
    assert_eq!(inbox.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&inbox.stdout),
        String::from_utf8_lossy(&csv.stdout)
    );
    let out = String::from_utf8(inbox.stdout).unwrap();
    // Names from the latest profile; `lang` from the joined CSV (empty for Cid, not in it).
    for body in [
        "Hola Lupe",
        "Hi Cid, this is +14155550103",
        "Hi Ana M., this is",
    ] {
        assert!(out.contains(body), "missing {body:?} in {out}");
    }
}

#[test]
fn since_keeps_only_users_who_wrote_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok");
    for f in ["inbox.jsonl", "inbox-join.csv"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(fixtures.join("inbox.yaml"))
        .unwrap()
        .replace("since: 24h", "since: 2h 30m");
    let campaign = dir.path().join("c.yaml");
    std::fs::write(&campaign, yaml).unwrap();
    let plan = plan_json(campaign.to_str().unwrap());
    let to: Vec<&str> = plan["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    // Ana wrote 1h ago, Cid 2h ago; Lupe (5h) is out.
    assert_eq!(to, ["+14155550103", "+14155550101"]);
}
