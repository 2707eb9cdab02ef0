//! WhatsApp Cloud API wire format: `{"messaging_product":"whatsapp","to":..,"type":..,<type>:{..}}`
//! (API reference §2), conforming to Meta's `Message` schema.

use crate::identity::UserId;
use crate::message::Message;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Graph API version used when the campaign names none.
pub const DEFAULT_API_VERSION: &str = "v23.0";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudApiSpec {
    /// The Graph API host (no default: name it), e.g. https://graph.facebook.com.
    pub base_url: String,
    /// Name of the environment variable that holds the access token. The file never holds secrets.
    pub token_env: String,
    /// The business phone number's id in WhatsApp Manager.
    pub phone_number_id: String,
    /// Graph API version, `v23.0` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// The `/messages` body, serialized straight from the rendered message (fields in the order
/// below); the message's own object goes under its type's name.
#[derive(Serialize)]
pub struct Body<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    /// A user known only by a business-scoped id is addressed by `recipient` instead of `to`.
    #[serde(flatten)]
    to: To<'a>,
    /// Echoed on sent/delivered/read status webhooks: how `ingest` finds the row.
    biz_opaque_callback_data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Context<'a>>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    object: super::Named,
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum To<'a> {
    To(#[serde(serialize_with = "super::as_text")] &'a UserId),
    Recipient(String),
}

#[derive(Serialize)]
struct Context<'a> {
    message_id: &'a str,
}

pub fn body<'a>(
    key: &'a str,
    to: &'a UserId,
    message: &'a Message,
    reply_to: Option<&'a str>,
) -> Body<'a> {
    Body {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: match to.bsuid() {
            None => To::To(to),
            Some(b) => To::Recipient(b.as_str().to_string()),
        },
        biz_opaque_callback_data: key,
        context: reply_to.map(|message_id| Context { message_id }),
        kind: message.type_name(),
        object: super::Named(message.type_name(), message.kind().cloud()),
    }
}
