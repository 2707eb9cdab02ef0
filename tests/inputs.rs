//! Real-world inputs through the binary: the sandbox reading the shipped demo CSV, national
//! numbers, WhatsApp ids, webhook times, credentials in URLs, suppression lists and repeated rows.

#[path = "support/cli.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use support::{dry_run_json, sessioncast, NOW};

/// A running `sessioncast sandbox`, stopped when dropped.
struct Sandbox {
    child: Child,
    base: String,
}

impl Sandbox {
    fn start(args: &[&str]) -> Sandbox {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("sessioncast"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["sandbox", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.is_empty() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the sandbox did not start: {err}");
        }
        Sandbox {
            child,
            base: line.trim().to_string(),
        }
    }

    /// POST a Cloud API text message to `to`; the status line and body of the answer.
    fn send_text(&self, to: &str) -> String {
        let addr = self.base.trim_start_matches("http://");
        let body = format!(
            r#"{{"messaging_product":"whatsapp","recipient_type":"individual","to":"{to}","type":"text","text":{{"body":"hi"}}}}"#
        );
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /v23.0/1065/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sandbox_reads_the_shipped_demo_csv_with_campaign_times() {
    // The demo CSV writes times as `1h 0m ago`, as campaigns accept them.
    let sandbox = Sandbox::start(&["--inbound", "campaigns/data/demo-recipients.csv"]);
    // Ana wrote 1 h ago: her window is open.
    let open = sandbox.send_text("584125550100");
    assert!(open.starts_with("HTTP/1.1 200"), "{open}");
    // Pedro wrote 29 h 55 min ago: closed, with the Cloud API's 131047.
    let closed = sandbox.send_text("14155550125");
    assert!(closed.contains("131047"), "{closed}");
}

#[test]
fn schema_offers_default_country_and_a_per_recipient_country() {
    let out = sessioncast().arg("schema").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"default_country\""), "{text}");
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let inline = &schema["definitions"]["InlineRecipient"]["properties"];
    assert!(inline.get("country").is_some(), "{inline}");
}

#[test]
fn national_numbers_read_in_the_default_country_and_mexican_ids_deduplicated() {
    let out = sessioncast()
        .args([
            "plan",
            "tests/fixtures/ok/crm-export.yaml",
            "--format",
            "json",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for to in ["+14155550123", "+442079460958", "+525512345678"] {
        assert!(stdout.contains(to), "{to} missing: {stdout}");
    }
    assert!(!stdout.contains("+5215512345678"), "{stdout}");
}

#[test]
fn credentials_in_base_url_are_refused_and_never_printed_or_stored() {
    let campaign = "tests/fixtures/invalid/base-url-credentials.yaml";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    for args in [
        vec!["check", campaign, "--now", NOW],
        vec!["run", campaign, "--dry-run", "--now", NOW],
        vec![
            "run",
            campaign,
            "--sandbox",
            "--state",
            state.to_str().unwrap(),
        ],
    ] {
        let out = sessioncast()
            .args(&args)
            .env("WHATSAPP_TOKEN", "tok")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{args:?}: {all}");
        assert!(all.contains(":6:3: provider.base_url"), "{all}");
        assert!(all.contains("user name or password"), "{all}");
        assert!(!all.contains("hunter2"), "{args:?}: {all}");
    }
    assert!(
        !state.exists(),
        "no ledger is created for a refused campaign"
    );
}

#[test]
fn skip_invalid_refuses_a_mistake_in_the_campaigns_own_text() {
    let out = sessioncast()
        .args([
            "run",
            "tests/fixtures/invalid/campaign-text.yaml",
            "--dry-run",
            "--skip-invalid",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(out.stdout.is_empty(), "nothing is previewed");
    assert!(
        err.contains("2 of these are not in a recipient's own data but in the campaign"),
        "{err}"
    );
    assert!(!err.contains("only recipients' own data is wrong"), "{err}");
}

#[test]
fn skip_invalid_drops_only_the_recipient_whose_own_data_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("c.yaml");
    std::fs::write(
        &campaign,
        r#"version: 1
name: own-data
provider: { kind: cloud_api, base_url: "https://graph.facebook.com", token_env: WHATSAPP_TOKEN, phone_number_id: "1065" }
rate: 2/300s
recipients:
  - { to: "+14155550103", last_inbound_at: 1h ago, vars: { name: Cid } }
  - { to: "+14155550104", last_inbound_at: 1h ago, vars: { name: Maximiliano Alejandro } }
messages:
  - type: interactive
    interactive: { type: button, body: "Pick one", buttons: [{ id: me, title: "{{ name }}" }] }
"#,
    )
    .unwrap();
    let run = |extra: &[&str]| {
        sessioncast()
            .args([
                "run",
                campaign.to_str().unwrap(),
                "--dry-run",
                "--format",
                "json",
                "--now",
                NOW,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("only recipients' own data is wrong"), "{err}");
    let out = run(&["--skip-invalid"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("+14155550103"), "{stdout}");
    assert!(!stdout.contains("\"to\":\"+14155550104\""), "{stdout}");
}

#[test]
fn suppression_csv_with_bom_quotes_and_national_numbers_leaves_them_out() {
    let out = dry_run_json("tests/fixtures/ok/suppress-csv.yaml");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for kept in ["+14155550101", "+14155550104"] {
        assert!(stdout.contains(&format!("\"to\":\"{kept}\"")), "{stdout}");
    }
    for opted_out in ["+14155550102", "+525512345678", "+14155550123"] {
        assert!(
            !stdout.contains(opted_out),
            "{opted_out} contacted: {stdout}"
        );
        assert!(
            stderr.contains(&format!("{opted_out}  suppressed")),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreadable_opt_out_line_refuses_the_campaign_even_with_skip_invalid() {
    let out = sessioncast()
        .args([
            "run",
            "tests/fixtures/invalid/suppress-bad-line.yaml",
            "--dry-run",
            "--skip-invalid",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("suppress-bad-line.txt:3"), "{err}");
    assert!(err.contains("never skipped"), "{err}");
}

#[test]
fn repeated_numbers_keep_the_row_the_campaign_chooses() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "to,last_inbound_at,name,order\n+14155550101,2h ago,Ann,A-1\n+1 415 555 0101,20h ago,Ann,A-2\n+14155550101,5h ago,Ann,A-3\n";
    std::fs::write(dir.path().join("r.csv"), csv).unwrap();
    let preview = |choice: &str| {
        let campaign = dir.path().join("c.yaml");
        std::fs::write(
            &campaign,
            format!(
                r#"version: 1
name: dup
provider: {{ kind: cloud_api, base_url: "https://graph.facebook.com", token_env: WHATSAPP_TOKEN, phone_number_id: "1065" }}
rate: 2/300s
recipients: {{ file: r.csv{choice} }}
messages:
  - {{ type: text, body: "order {{{{ order }}}}" }}
"#
            ),
        )
        .unwrap();
        let out = dry_run_json(campaign.to_str().unwrap());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for (choice, order, row) in [
        (
            "",
            "A-1",
            "r.csv:2, the row kept for it (the latest last_inbound_at",
        ),
        (", duplicates: latest", "A-1", "the latest last_inbound_at"),
        (
            ", duplicates: first",
            "A-1",
            "r.csv:2, the row kept for it (the first row",
        ),
        (
            ", duplicates: last",
            "A-3",
            "r.csv:4, the row kept for it (the last row",
        ),
    ] {
        let (code, out, err) = preview(choice);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(out.lines().count(), 1, "one message for one person: {out}");
        assert!(out.contains(&format!("order {order}")), "{choice}: {out}");
        assert!(err.contains(row), "{choice}: {err}");
    }
    // The latest inbound time wins wherever it is in the file.
    std::fs::write(dir.path().join("r.csv"), csv.replace("5h ago", "1h ago")).unwrap();
    let (_, out, _) = preview("");
    assert!(out.contains("order A-3"), "{out}");
    let (code, _, err) = preview(", duplicates: newest");
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("recipients.duplicates"), "{err}");
    assert!(err.contains("first, last or latest"), "{err}");
}

/// serde's structured errors become placed problems with hints built from their data: a missing
/// field says what to add, an unknown key or kind offers the closest name, and a key inside a
/// message kind is placed at the key itself.
#[test]
fn missing_and_unknown_fields_get_their_place_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("c.yaml");
    std::fs::write(
        &campaign,
        r#"version: 1
name: f
provider: { kind: cloud_apii, base_url: "https://graph.example.com", token_env: T, phone_number_id: "1" }
rate: 2/300s
window: { lenght: 24h }
recipients:
  - { to: "+14155550101" }
messages:
  - { type: text }
  - type: interactive
    interactive: { type: button, body: "Hi", buttons: [{ id: a, title: A, colour: red }] }
"#,
    )
    .unwrap();
    let out = sessioncast()
        .args(["check", campaign.to_str().unwrap(), "--format", "json"])
        .args(["--now", NOW])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(&str, &str, &str)> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["yaml_path"].as_str().unwrap_or_default(),
                p["message"].as_str().unwrap(),
                p["hint"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    insta::assert_debug_snapshot!(got);
}

/// Spaces around CSV fields and names (a hand-edited or exported file) are not part of them:
/// the number, the time and every variable are read trimmed, as the request shows.
#[test]
fn padded_csv_fields_and_headers_are_read_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.csv"),
        " to , last_inbound_at , first_name \n +14155550101 , 2h ago ,  Ana \n",
    )
    .unwrap();
    let campaign = dir.path().join("c.yaml");
    std::fs::write(
        &campaign,
        r#"version: 1
name: padded
provider: { kind: messangi, base_url: "https://api.example.com", token_env: T, from: "14155550100" }
rate: 2/1s
recipients: { file: r.csv }
vars: {}
messages:
  - { type: text, body: "Hi <{{ first_name }}>" }
"#,
    )
    .unwrap();
    let out = dry_run_json(campaign.to_str().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(request["to"], "+14155550101");
    assert_eq!(request["body"]["request"]["message"], "Hi <Ana>");
}
