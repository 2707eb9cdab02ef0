//! Command-line conventions through the binary: input limits, stdin, durations, completions, the
//! man page, machine-readable problems and verbose HTTP logging.

#[path = "support/cli.rs"]
mod support;

use support::{sessioncast, NOW};

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
    f.set_len(64 * 1024 * 1024 + 1).unwrap();
    let out = sessioncast()
        .args(["check", file.to_str().unwrap(), "--now", NOW])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("67108865 bytes, over the 64 MiB limit"),
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
