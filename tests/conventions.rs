//! Command-line conventions through the binary: input limits, stdin, durations, completions, the
//! man page, machine-readable problems and verbose HTTP logging.

#[path = "support/cli.rs"]
mod support;

use support::{dry_run_json, sessioncast, NOW};

/// 100,000 nested brackets (200 KB) used to take over a minute in the YAML scanner; now the
/// first bracket past the limit is reported at its place before any parser runs.
#[test]
fn deeply_nested_brackets_are_refused_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.yaml");
    let depth = 100_000;
    let text = format!(
        "version: 1\nname: deep\nmessages: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(&file, text).unwrap();
    let out = sessioncast()
        .args(["check", file.to_str().unwrap(), "--now", NOW])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // Line 3, the 101st bracket after `messages: `.
    assert!(
        stderr.contains("brackets nested more than 100 deep") && stderr.contains("deep.yaml:3:111"),
        "{stderr}"
    );
}

/// Over the size cap the file is refused before it is read (a sparse file: no disk used).
#[test]
fn a_campaign_over_the_size_cap_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(2 * 1024 * 1024 + 1).unwrap();
    let out = sessioncast()
        .args(["check", file.to_str().unwrap(), "--now", NOW])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("2097153 bytes, over the 2 MiB limit"),
        "{stderr}"
    );
}

/// `--max-duration` reads the same syntax as the sandbox's `--window-length` and the campaign's
/// `window:` fields.
#[test]
fn every_duration_flag_reads_the_same_syntax() {
    for d in ["90min", "1h30m", "1h 30m", "10m", "90s"] {
        sessioncast()
            .args(["run", "campaigns/demo.yaml", "--dry-run", "--now", NOW])
            .args(["--max-duration", d])
            .assert()
            .code(0);
    }
    let out = sessioncast()
        .args([
            "run",
            "campaigns/demo.yaml",
            "--dry-run",
            "--max-duration",
            "soon",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`soon` is not a duration; write e.g. 90s, 10m, 90min or 1h30m"),
        "{stderr}"
    );
}

#[test]
fn completions_name_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = sessioncast().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in ["check", "plan", "run", "status", "schema", "sandbox", "man"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        assert!(script.contains("max-duration"), "{shell}");
    }
    sessioncast().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn the_man_page_renders() {
    let out = sessioncast().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
    assert!(page.contains(".TH sessioncast 1"), "{page}");
    assert!(
        page.contains(".SH SUBCOMMANDS") && page.contains("sessioncast\\-run(1)"),
        "{page}"
    );
    // Rendered by a real roff when one is installed.
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        sessioncast()
            .args(["man", "--out", dir.path().to_str().unwrap()])
            .assert()
            .code(0);
        for page in ["sessioncast.1", "sessioncast-run.1", "sessioncast-check.1"] {
            assert!(dir.path().join(page).is_file(), "{page}");
        }
        let text = std::process::Command::new("man")
            .arg("-l")
            .arg(dir.path().join("sessioncast-run.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("--max-duration"), "{text}");
    }
}

/// `-` reads the campaign from stdin; its relative paths resolve against the current directory.
#[test]
fn a_campaign_from_stdin_resolves_paths_against_the_current_directory() {
    let demo = std::fs::read("campaigns/demo.yaml").unwrap();
    let out = sessioncast()
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/campaigns"))
        .args(["check", "-", "--now", NOW])
        .write_stdin(demo.clone())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("<stdin>: valid — campaign `demo-order-shipped`, 40 recipients"),
        "{stdout}"
    );
    // The dry run from stdin is the dry run from the file.
    let from_file = dry_run_json("campaigns/demo.yaml");
    let from_stdin = sessioncast()
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/campaigns"))
        .args(["run", "-", "--dry-run", "--format", "json", "--now", NOW])
        .write_stdin(demo.clone())
        .output()
        .unwrap();
    assert_eq!(from_stdin.status.code(), Some(0));
    assert!(!from_file.stdout.is_empty());
    assert_eq!(from_file.stdout, from_stdin.stdout);
    // From elsewhere the CSV is not found, and the problem says where it was looked for.
    let out = sessioncast()
        .args(["check", "-", "--now", NOW])
        .write_stdin(demo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("<stdin>:20:3: recipients.file"), "{stderr}");
    assert!(
        stderr.contains("relative to the current directory"),
        "{stderr}"
    );
}

/// `check --format json`: every problem of the five-problems fixture, each with its place.
#[test]
fn check_json_lists_every_problem_with_its_place() {
    let out = sessioncast()
        .args([
            "check",
            "tests/fixtures/invalid/five-problems.yaml",
            "--format",
            "json",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["errors"], 5);
    let problems = doc["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 5);
    let yaml = "tests/fixtures/invalid/five-problems.yaml";
    let find = |needle: &str| {
        problems
            .iter()
            .find(|p| p["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {doc:#}"))
    };
    let title = find("is 21 characters long");
    assert_eq!(
        (
            title["file"].as_str(),
            title["line"].as_u64(),
            title["column"].as_u64()
        ),
        (Some(yaml), Some(19), Some(20))
    );
    assert_eq!(
        title["yaml_path"],
        "messages[1].interactive.buttons[2].title"
    );
    assert_eq!(title["hint"], "shorten it by 1 character");
    assert_eq!(
        find("has 4 buttons")["yaml_path"],
        "messages[1].interactive.buttons"
    );
    let field = find("unknown field `captoin`");
    assert_eq!(
        (field["line"].as_u64(), field["column"].as_u64()),
        (Some(11), Some(5))
    );
    assert_eq!(field["hint"], "did you mean `caption`?");
    let phone = find("+1 415 55");
    assert_eq!(phone["file"], "tests/fixtures/invalid/five-problems.csv");
    assert_eq!(phone["csv_row"], 12);
    assert_eq!(phone["csv_column"], "to");
    assert_eq!(phone["per_recipient"], true);
    let var = find("undefined variable `frist_name`");
    assert_eq!(var["hint"], "did you mean `first_name`?");
    assert!(problems.iter().all(|p| p["severity"] == "error"));
    // A valid campaign: valid, no problems, exit 0.
    let out = sessioncast()
        .args([
            "check",
            "campaigns/text.yaml",
            "--format",
            "json",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["errors"], 0);
}

/// `-v` logs each exchange with the sandbox (method, URL, status, time), `-vv` adds bodies; the
/// token appears at no level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_each_exchange_and_never_the_token() {
    use sessioncast::sandbox::{Sandbox, SandboxConfig};
    const TOKEN: &str = "tok-verbose-7a6b5c4d-never-logged";
    let sandbox = Sandbox::start(
        SandboxConfig {
            token: Some(TOKEN.into()),
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let addr = sandbox.addr();
    for (flags, bodies) in [
        (vec![], None),
        (vec!["-v"], Some(false)),
        (vec!["-vv"], Some(true)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.yaml"),
            format!(
                "version: 1\nname: verbose\nprovider: {{ kind: cloud_api, base_url: \"http://{addr}\", token_env: VERBOSE_TOKEN, phone_number_id: \"1065\" }}\nrate: 50/1s\nrecipients:\n  - {{ to: \"+1 415 555 1000\", last_inbound_at: 1h ago }}\n  - {{ to: \"+1 415 555 1001\", last_inbound_at: 1h ago }}\nmessages:\n  - {{ type: text, body: \"Hello verbose {{{{ to }}}}\" }}\n"
            ),
        )
        .unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sessioncast"))
            .args(["run", "c.yaml"])
            .args(&flags)
            .current_dir(dir.path())
            .env("VERBOSE_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{flags:?}\n{stdout}\n{stderr}");
        let exchange = format!("POST http://{addr}/");
        let answered = stderr
            .lines()
            .filter(|l| l.contains(&exchange) && l.contains("→ 200") && l.contains("elapsed_ms="))
            .count();
        match bodies {
            None => assert_eq!(answered, 0, "{stderr}"),
            Some(bodies) => {
                assert_eq!(answered, 2, "{flags:?}\n{stderr}");
                assert_eq!(
                    stderr.contains("Hello verbose +14155551000"),
                    bodies,
                    "{flags:?}\n{stderr}"
                );
                assert_eq!(stderr.contains("Bearer ***"), bodies, "{stderr}");
            }
        }
        assert!(
            !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
            "{flags:?} leaked the token"
        );
    }
    sandbox.shutdown().await;
}
