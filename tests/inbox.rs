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
    // older message comes later in the file). A sender with only a business-scoped id is a
    // recipient by that id; Lin's id-only message counts for the phone an earlier message linked
    // it to (the phone is preferred).
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
            ("US.13491208655302741918", "2026-11-24T07:30:00Z"),
            ("+14155550103", "2026-11-24T09:30:00Z"),
            ("+14155550101", "2026-11-24T10:30:00Z"),
            ("+14155550104", "2026-11-24T11:00:00Z"),
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
    // Lin wrote 30m ago, Ana 1h ago, Cid 2h ago; Uma (4h) and Lupe (5h) are out.
    assert_eq!(to, ["+14155550103", "+14155550101", "+14155550104"]);
}

#[test]
fn a_business_scoped_id_is_sent_with_recipient_and_accepted_by_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("ledger.db");
    let campaign = "tests/fixtures/ok/bsuid-inline.yaml";
    let out = sessioncast()
        .args(["run", campaign, "--sandbox", "--format", "json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sandbox: accepted 2,"), "{stderr}");
    let status = sessioncast()
        .args(["status", campaign, "--format", "json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let rows: Vec<(&str, &str)> = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["to"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    // The ledger keys the id as given; the phone number is another person.
    assert_eq!(
        rows,
        [
            ("US.13491208655302741918", "sent"),
            ("+14155550101", "sent")
        ]
    );
}

#[test]
fn a_messangi_campaign_drops_business_scoped_ids_with_skip_invalid_and_keeps_duplicates_right() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("m.yaml");
    std::fs::write(
        &campaign,
        r#"version: 1
name: m
provider: { kind: messangi, base_url: "https://messangi.example.com", token_env: MESSANGI_API_KEY, from: "14155550100" }
rate: 2/300s
recipients:
  - { to: US.13491208655302741918, last_inbound_at: 2h ago }
  - { to: "+14155550101", last_inbound_at: 1h ago }
  - { to: "+1 415 555 0101", last_inbound_at: 2h ago }
messages:
  - { type: text, body: "Hi" }
"#,
    )
    .unwrap();
    let out = sessioncast()
        .args(["plan", campaign.to_str().unwrap(), "--skip-invalid"])
        .args(["--now", NOW, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Messangi documents no way"));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped = &plan["summary"]["dropped"];
    assert_eq!(
        (dropped["invalid"].as_u64(), dropped["duplicate"].as_u64()),
        (Some(1), Some(1))
    );
    let scheduled: Vec<_> = plan["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "scheduled")
        .map(|r| (r["to"].as_str().unwrap(), r["deadline"].as_str().unwrap()))
        .collect();
    // The row kept for the repeated number is the latest, as without the refused id.
    assert_eq!(scheduled, [("+14155550101", "2026-11-24T10:50:00Z")]);
}

#[test]
fn a_business_scoped_id_on_the_suppression_list_is_never_contacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("optout.txt"), "US.13491208655302741918\n").unwrap();
    let yaml = std::fs::read_to_string("tests/fixtures/ok/bsuid-inline.yaml").unwrap();
    let campaign = dir.path().join("c.yaml");
    std::fs::write(&campaign, format!("{yaml}suppress: optout.txt\n")).unwrap();
    let plan = plan_json(campaign.to_str().unwrap());
    let rows: Vec<(&str, &str)> = plan["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["to"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("+14155550101", "scheduled"),
            ("US.13491208655302741918", "dropped")
        ]
    );
    assert_eq!(plan["summary"]["dropped"]["suppressed"], 1);
}
