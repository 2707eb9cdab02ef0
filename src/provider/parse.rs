//! Reading a wire body back: a Messangi or Cloud API request body → `Message`, checked with the
//! same limits `check` applies. The sandbox validates what it receives with this, so a request
//! the tool would refuse to send is also refused when something else sends it.

use super::Wire;
use crate::message::{Check, Issue, Message};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Why a body is refused: it does not read back as a message, or the message breaks a limit.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// A field the format requires is absent (its path in the body).
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("missing the `{0}` object")]
    MissingObject(String),
    #[error("`{0}` is not a session message type")]
    NotSessionType(String),
    #[error("interactive `{0}` is not reply buttons or a list")]
    NotInteractive(String),
    /// The fields read back do not make a message of the campaign file's shape.
    #[error("not a valid message: {0}")]
    NotAMessage(serde_json::Error),
    /// The first limit the message breaks, at its path inside the message type.
    #[error("{kind}.{} {}", .issue.path, .issue.message)]
    Limit { kind: &'static str, issue: Issue },
}

/// The sandbox's hook for the full per-kind rules: `Err` becomes a 400 with its text.
pub type Validator = Arc<dyn Fn(Wire, &Value) -> Result<(), BodyError> + Send + Sync>;

/// Check a body: it must read back as a message and pass every limit.
pub fn check_body(wire: Wire, body: &Value) -> Result<(), BodyError> {
    let message = read(wire, body)?;
    let limits = wire.limits();
    let mut check = Check::new(&limits);
    message.kind().check(&mut check);
    match check.issues.into_iter().next() {
        None => Ok(()),
        Some(issue) => Err(BodyError::Limit {
            kind: message.type_name(),
            issue,
        }),
    }
}

/// The sandbox's validator hook.
pub fn validator() -> Validator {
    Arc::new(check_body)
}

/// The message a body carries, in the campaign file's shape.
pub fn read(wire: Wire, body: &Value) -> Result<Message, BodyError> {
    let spec = match wire {
        Wire::CloudApi => cloud(body)?,
        Wire::Messangi => messangi(body.get("request").ok_or(BodyError::Missing("request"))?)?,
    };
    serde_json::from_value(spec).map_err(BodyError::NotAMessage)
}

fn text(v: &Value, key: &str) -> Option<Value> {
    v.get(key).cloned()
}

fn cloud(body: &Value) -> Result<Value, BodyError> {
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BodyError::Missing("type"))?;
    let object = body
        .get(kind)
        .ok_or_else(|| BodyError::MissingObject(kind.into()))?;
    Ok(match kind {
        "text" => {
            json!({"type": "text", "body": text(object, "body"), "preview_url": text(object, "preview_url")})
        }
        "image" | "video" | "audio" | "document" => media(kind, object),
        "contacts" => json!({"type": "contacts", "contacts": object}),
        "location" => location(object),
        "interactive" => json!({"type": "interactive", "interactive": interactive(object)?}),
        other => return Err(BodyError::NotSessionType(other.into())),
    })
}

fn messangi(r: &Value) -> Result<Value, BodyError> {
    let kind = r
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BodyError::Missing("request.type"))?;
    let message = text(r, "message");
    Ok(match kind {
        "text" => json!({"type": "text", "body": message}),
        "image" | "video" | "audio" | "document" => {
            let object = json!({"link": message, "caption": text(r, "caption"), "filename": text(r, "fileName")});
            media(kind, &object)
        }
        "contacts" => json!({"type": "contacts", "contacts": text(r, "contacts")}),
        "location" => location(
            r.get("location")
                .ok_or(BodyError::Missing("request.location"))?,
        ),
        "interactive" => {
            let object = r
                .get("interactive")
                .ok_or(BodyError::Missing("request.interactive"))?;
            json!({"type": "interactive", "interactive": interactive(object)?})
        }
        other => return Err(BodyError::NotSessionType(other.into())),
    })
}

/// `{link|id, caption?, filename?}` → `{type, url|id, caption?, filename?}`; only the fields the
/// kind takes are kept, so a caption on audio is refused like in a campaign file.
fn media(kind: &str, object: &Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    for (from, to) in [
        ("link", "url"),
        ("id", "id"),
        ("caption", "caption"),
        ("filename", "filename"),
    ] {
        if let Some(v) = object.get(from).filter(|v| !v.is_null()) {
            m.insert(to.into(), v.clone());
        }
    }
    Value::Object(m)
}

fn location(object: &Value) -> Value {
    let mut m = object.as_object().cloned().unwrap_or_default();
    m.insert("type".into(), json!("location"));
    Value::Object(m)
}

/// The wire's interactive object → the campaign file's `interactive:` shape.
fn interactive(object: &Value) -> Result<Value, BodyError> {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BodyError::Missing("interactive.type"))?;
    let nested_text = |key: &str| object.get(key).and_then(|v| v.get("text")).cloned();
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    if let Some(h) = object.get("header") {
        m.insert("header".into(), header(h));
    }
    m.insert("body".into(), nested_text("body").unwrap_or(Value::Null));
    if let Some(f) = nested_text("footer") {
        m.insert("footer".into(), f);
    }
    let action = object
        .get("action")
        .ok_or(BodyError::Missing("interactive.action"))?;
    match kind {
        "button" => {
            let buttons = action
                .get("buttons")
                .and_then(Value::as_array)
                .ok_or(BodyError::Missing("action.buttons"))?;
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| b.get("reply").cloned().unwrap_or(Value::Null))
                .collect();
            m.insert("buttons".into(), Value::Array(buttons));
        }
        "list" => {
            m.insert(
                "button".into(),
                action.get("button").cloned().unwrap_or(Value::Null),
            );
            m.insert(
                "sections".into(),
                action.get("sections").cloned().unwrap_or(Value::Null),
            );
        }
        other => return Err(BodyError::NotInteractive(other.into())),
    }
    Ok(Value::Object(m))
}

/// `{type: image, image: {link}}` → `{type: image, url}`; text headers are already alike.
fn header(h: &Value) -> Value {
    match h.get("type").and_then(Value::as_str) {
        Some(kind @ ("image" | "video" | "document")) => {
            let mut m = media(kind, h.get(kind).unwrap_or(&Value::Null));
            if let Value::Object(o) = &mut m {
                o.remove("caption");
            }
            m
        }
        _ => h.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_cloud_body_passes_and_a_long_title_fails() {
        let mut body = json!({"messaging_product": "whatsapp", "to": "+14155550101", "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "Pick"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Yes"}}]}}});
        check_body(Wire::CloudApi, &body).unwrap();
        body["interactive"]["action"]["buttons"][0]["reply"]["title"] =
            json!("This title is 21 char");
        let err = check_body(Wire::CloudApi, &body).unwrap_err().to_string();
        assert!(
            err.contains("buttons[0].title is 21 characters long"),
            "{err}"
        );
    }

    #[test]
    fn messangi_limits_apply_to_messangi_bodies() {
        let body = json!({"channel": "WHATSAPP", "request": {"from": "14155550100", "to": "+14155550101",
            "type": "text", "message": "x".repeat(1025)}});
        assert!(check_body(Wire::Messangi, &body)
            .unwrap_err()
            .to_string()
            .contains("at most 1024"));
        let media = json!({"channel": "WHATSAPP", "request": {"from": "1", "to": "+14155550101",
            "type": "audio", "message": "https://cdn.example.com/a.mp3", "caption": "no captions on audio"}});
        assert!(check_body(Wire::Messangi, &media)
            .unwrap_err()
            .to_string()
            .contains("caption"));
    }
}
