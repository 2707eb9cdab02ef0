//! Test support (conformance): a WhatsApp Cloud API send-message JSON body → checked against the
//! `Message` request schema of Meta's OpenAPI spec → `Ok` or errors tagged with JSON pointers.
//!
//! This file loads the spec and exposes the API; `openapi/walk.rs` holds the schema walker (the
//! keyword subset it supports and how it reads `allOf` are described there).
//!
//! The spec is vendored beside this file (`openapi/spec/`, Meta's MIT licence in
//! `openapi/spec/LICENSE.txt`) so the suite needs nothing outside the repository.
//!
//! Include it with `#[path = "support/openapi.rs"] mod openapi;` or from `tests/support/mod.rs`.

#[path = "openapi/walk.rs"]
mod walk;

use serde_json::Value;
use std::sync::OnceLock;

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/openapi/spec/meta-business-messaging-api_v23.0.yaml"
);
const MESSAGE_REF: &str = "#/components/schemas/Message";

/// The parsed spec, shared by every test in the binary so the YAML is read once.
static SPEC: OnceLock<Value> = OnceLock::new();

/// The request-body schema of `POST /{Version}/{Phone-Number-ID}/messages`.
pub struct MessageSchema {
    spec: &'static Value,
}

impl MessageSchema {
    /// Parses the spec on first use (panics with the path if the fixture is missing or broken).
    pub fn load() -> MessageSchema {
        MessageSchema {
            spec: SPEC.get_or_init(read_spec),
        }
    }

    /// Checks `body`; each error reads `<json pointer>: <what failed>` ("(root)" for the body).
    pub fn validate(&self, body: &Value) -> Result<(), Vec<String>> {
        let root = serde_json::json!({ "$ref": MESSAGE_REF });
        let errors = walk::validate(self.spec, &root, body);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors),
        }
    }
}

/// Only `components.schemas` is needed, and parsing that slice alone keeps loading fast in debug
/// builds; the whole document is the fallback if the slice cannot be found or parsed.
fn read_spec() -> Value {
    let text = std::fs::read_to_string(SPEC_PATH)
        .unwrap_or_else(|e| panic!("cannot read OpenAPI spec {SPEC_PATH}: {e}"));
    let sliced =
        schemas_block(&text).and_then(|block| serde_yaml_ng::from_str::<Value>(block).ok());
    match sliced {
        Some(schemas) => serde_json::json!({ "components": schemas }),
        None => serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot parse OpenAPI spec {SPEC_PATH}: {e}")),
    }
}

/// The `  schemas:` block of the top-level `components:` mapping, as a YAML document of its own
/// (its lines keep their indentation, so the block parses as `{schemas: {...}}`).
fn schemas_block(text: &str) -> Option<&str> {
    let components = text.find("\ncomponents:\n")? + 1;
    let start = components + text[components..].find("\n  schemas:\n")? + 1;
    let end = text[start + 1..]
        .match_indices('\n')
        .map(|(i, _)| start + 1 + i + 1)
        .find(|&line| is_sibling_or_parent(&text[line..]))
        .unwrap_or(text.len());
    Some(&text[start..end])
}

/// A line at indentation ≤ 2 that holds content ends the `schemas` block.
fn is_sibling_or_parent(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    indent <= 2 && !rest.is_empty() && !rest.starts_with('\n') && !rest.starts_with('#')
}
