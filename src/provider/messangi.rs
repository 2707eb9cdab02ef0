//! Messangi Messaging API wire format: `{"channel":"WHATSAPP","request":{...}}` (API reference §1).

use crate::identity::UserId;
use crate::message::{Kind, Message};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
///
/// Serialized straight from the rendered message (fields in the order below), so a million
/// bodies are written without building a JSON tree for each.
#[derive(Serialize)]
pub struct Body<'a> {
    channel: &'static str,
    request: Request<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callbacks: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    from: &'a str,
    #[serde(serialize_with = "super::as_text")]
    to: &'a UserId,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Echoed on status callbacks: how `ingest` finds the row.
    external_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_name: Option<&'a str>,
    /// Meta's object for contacts, location and interactive, under the type's name.
    #[serde(flatten)]
    object: Option<super::Named>,
}

pub fn body<'a>(
    from: &'a str,
    callbacks: Option<&'a str>,
    key: &'a str,
    to: &'a UserId,
    message: &'a Message,
    reply_to: Option<&'a str>,
) -> Body<'a> {
    let mut r = Request {
        from,
        to,
        kind: message.type_name(),
        external_id: key,
        reply_to,
        message: None,
        caption: None,
        file_name: None,
        object: None,
    };
    let text = |v: &'a Option<String>| v.as_deref().map(Cow::Borrowed);
    match message {
        Message::Text(t) => r.message = Some(Cow::Borrowed(&t.body)),
        Message::Image(m) => (r.message, r.caption) = (text(&m.url), m.caption.as_deref()),
        Message::Video(m) => (r.message, r.caption) = (text(&m.url), m.caption.as_deref()),
        Message::Audio(m) => r.message = text(&m.url),
        Message::Document(m) => {
            (r.message, r.caption) = (text(&m.url), m.caption.as_deref());
            r.file_name = m.filename.as_deref();
        }
        Message::Contacts(c) => {
            let names: Vec<&str> = c
                .contacts
                .iter()
                .filter_map(|c| c.name.formatted_name.as_deref())
                .collect();
            r.message = Some(names.join(", ").into());
            r.object = Some(super::Named(r.kind, c.cloud()));
        }
        Message::Location(l) => {
            let fallback = l
                .name
                .clone()
                .unwrap_or_else(|| format!("{},{}", l.latitude.0, l.longitude.0));
            r.message = Some(fallback.into());
            r.object = Some(super::Named(r.kind, l.cloud()));
        }
        Message::Interactive(i) => {
            r.message = Some(i.body().to_string().into());
            r.object = Some(super::Named(r.kind, i.cloud()));
        }
    }
    Body {
        channel: "WHATSAPP",
        request: r,
        callbacks,
    }
}
