//! Messangi Messaging API wire format: `{"channel":"WHATSAPP","request":{...}}` (API reference §1).

use crate::identity::UserId;
use crate::message::{Kind, Message};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessangiSpec {
    /// The provider's base address (no default: name your host), e.g. https://api.example.com.
    pub base_url: String,
    /// Name of the environment variable that holds the API key. The file never holds secrets.
    pub token_env: String,
    /// Sender number registered for the WhatsApp Business account; sent as digits only.
    pub from: String,
    /// Webhook URL(s), comma-separated, that receive delivery-status changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<String>,
}

/// The `/notification` body. Messangi passes Meta's objects through for contacts, location and
/// interactive; for text and media it uses `message` (text body or media URL), `caption` and
/// `fileName`. `message` is documented as required for every type, so contacts, location and
/// interactive carry a readable fallback there.
pub fn body(
    from: &str,
    callbacks: Option<&str>,
    key: &str,
    to: &UserId,
    message: &Message,
    reply_to: Option<&str>,
) -> Value {
    let mut r = Map::new();
    r.insert("from".into(), json!(from));
    r.insert("to".into(), json!(to.to_string()));
    r.insert("type".into(), json!(message.type_name()));
    // Echoed on status callbacks: how `ingest` finds the row.
    r.insert("externalId".into(), json!(key));
    if let Some(id) = reply_to {
        r.insert("replyTo".into(), json!(id));
    }
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            r.insert(k.into(), json!(v));
        }
    };
    match message {
        Message::Text(t) => put("message", Some(&t.body)),
        Message::Image(m) => {
            put("message", m.url.as_ref());
            put("caption", m.caption.as_ref());
        }
        Message::Video(m) => {
            put("message", m.url.as_ref());
            put("caption", m.caption.as_ref());
        }
        Message::Audio(m) => put("message", m.url.as_ref()),
        Message::Document(m) => {
            put("message", m.url.as_ref());
            put("caption", m.caption.as_ref());
            put("fileName", m.filename.as_ref());
        }
        Message::Contacts(c) => {
            let names: Vec<&str> = c
                .contacts
                .iter()
                .filter_map(|c| c.name.formatted_name.as_deref())
                .collect();
            put("message", Some(&names.join(", ")));
            r.insert("contacts".into(), c.cloud());
        }
        Message::Location(l) => {
            let fallback = l
                .name
                .clone()
                .unwrap_or_else(|| format!("{},{}", l.latitude.0, l.longitude.0));
            put("message", Some(&fallback));
            r.insert("location".into(), l.cloud());
        }
        Message::Interactive(i) => {
            put("message", Some(&i.body().to_string()));
            r.insert("interactive".into(), i.cloud());
        }
    }
    let mut envelope = Map::new();
    envelope.insert("channel".into(), json!("WHATSAPP"));
    envelope.insert("request".into(), Value::Object(r));
    if let Some(cb) = callbacks {
        envelope.insert("callbacks".into(), json!(cb));
    }
    Value::Object(envelope)
}
