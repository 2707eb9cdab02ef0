//! Reading a wire body back: a Messangi or Cloud API request body → `Message`, checked with the
//! same limits `check` applies. The sandbox validates what it receives with this, so a request
//! the tool would refuse to send is also refused when something else sends it.

use crate::message::{Check, Limits, Message};
use crate::sandbox::{Validator, Wire};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The limits each wire format's provider applies.
pub fn limits(wire: Wire) -> Limits {
    match wire {
        Wire::Messangi => Limits {
            provider: "Messangi",
            text_body: 1024,
            media_ids: false,
        },
        Wire::CloudApi => Limits {
            provider: "the Cloud API",
            text_body: 4096,
            media_ids: true,
        },
    }
}

/// Check a body: it must read back as a message and pass every limit.
pub fn check_body(wire: Wire, body: &Value) -> Result<(), String> {
    let message = read(wire, body)?;
    let limits = limits(wire);
    let mut check = Check::new(&limits);
    message.kind().check(&mut check);
    match check.issues.first() {
        None => Ok(()),
        Some(issue) => Err(format!(
            "{}.{} {}",
            message.type_name(),
            issue.path,
            issue.message
        )),
    }
}

/// The sandbox's validator hook.
pub fn validator() -> Validator {
    Arc::new(check_body)
}

/// The message a body carries, in the campaign file's shape.
pub fn read(wire: Wire, body: &Value) -> Result<Message, String> {
    let spec = match wire {
        Wire::CloudApi => cloud(body)?,
        Wire::Messangi => messangi(body.get("request").ok_or("missing `request`")?)?,
    };
    serde_json::from_value(spec).map_err(|e| format!("not a valid message: {e}"))
}

fn text(v: &Value, key: &str) -> Option<Value> {
    v.get(key).cloned()
}

fn cloud(body: &Value) -> Result<Value, String> {
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing `type`")?;
    let object = body
        .get(kind)
        .ok_or_else(|| format!("missing the `{kind}` object"))?;
    Ok(match kind {
        "text" => {
            json!({"type": "text", "body": text(object, "body"), "preview_url": text(object, "preview_url")})
        }
        "image" | "video" | "audio" | "document" => media(kind, object),
        "contacts" => json!({"type": "contacts", "contacts": object}),
        "location" => location(object),
        "interactive" => json!({"type": "interactive", "interactive": interactive(object)?}),
        other => return Err(format!("`{other}` is not a session message type")),
    })
}

fn messangi(r: &Value) -> Result<Value, String> {
    let kind = r
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing `request.type`")?;
    let message = text(r, "message");
    Ok(match kind {
        "text" => json!({"type": "text", "body": message}),
        "image" | "video" | "audio" | "document" => {
            let object = json!({"link": message, "caption": text(r, "caption"), "filename": text(r, "fileName")});
            media(kind, &object)
        }
        "contacts" => json!({"type": "contacts", "contacts": text(r, "contacts")}),
        "location" => location(r.get("location").ok_or("missing `request.location`")?),
        "interactive" => {
            let object = r
                .get("interactive")
                .ok_or("missing `request.interactive`")?;
            json!({"type": "interactive", "interactive": interactive(object)?})
        }
        other => return Err(format!("`{other}` is not a session message type")),
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
fn interactive(object: &Value) -> Result<Value, String> {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing `interactive.type`")?;
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
    let action = object.get("action").ok_or("missing `interactive.action`")?;
    match kind {
        "button" => {
            let buttons = action
                .get("buttons")
                .and_then(Value::as_array)
                .ok_or("missing `action.buttons`")?;
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
        other => {
            return Err(format!(
                "interactive `{other}` is not reply buttons or a list"
            ))
        }
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
        assert_eq!(check_body(Wire::CloudApi, &body), Ok(()));
        body["interactive"]["action"]["buttons"][0]["reply"]["title"] =
            json!("This title is 21 char");
        let err = check_body(Wire::CloudApi, &body).unwrap_err();
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
            .contains("at most 1024"));
        let media = json!({"channel": "WHATSAPP", "request": {"from": "1", "to": "+14155550101",
            "type": "audio", "message": "https://cdn.example.com/a.mp3", "caption": "no captions on audio"}});
        assert!(check_body(Wire::Messangi, &media)
            .unwrap_err()
            .contains("caption"));
    }
}
