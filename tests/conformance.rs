//! Every Cloud API body the preview produces, from the shipped examples and the fixtures,
//! validates against the `Message` schema of Meta's official OpenAPI description.

#[path = "support/openapi.rs"]
mod openapi;

use assert_cmd::Command;

#[test]
fn cloud_api_bodies_conform_to_metas_message_schema() {
    let schema = openapi::MessageSchema::load();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in ["campaigns", "tests/fixtures/ok"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let out = Command::cargo_bin("sessioncast")
                .unwrap()
                .args([
                    "run",
                    "--dry-run",
                    "--format",
                    "json",
                    "--now",
                    "2026-11-23T12:00:00Z",
                ])
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", path.display());
            for line in String::from_utf8(out.stdout).unwrap().lines() {
                let req: serde_json::Value = serde_json::from_str(line).unwrap();
                if req["body"].get("messaging_product").is_none() {
                    continue; // a Messangi body
                }
                if let Err(errors) = schema.validate(&req["body"]) {
                    panic!(
                        "{}: {} does not conform:\n{}",
                        path.display(),
                        req["body"],
                        errors.join("\n")
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 15,
        "only {checked} Cloud API bodies were checked"
    );
}
