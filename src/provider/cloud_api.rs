//! WhatsApp Cloud API wire format: `{"messaging_product":"whatsapp","to":..,"type":..,<type>:{..}}`
//! (API reference §2), conforming to Meta's `Message` schema.

use crate::identity::UserId;
use crate::message::Message;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

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

pub fn body(key: &str, to: &UserId, message: &Message, reply_to: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("messaging_product".into(), json!("whatsapp"));
    m.insert("recipient_type".into(), json!("individual"));
    // A user known only by a business-scoped id is addressed by `recipient` instead of `to`.
    match to.bsuid() {
        None => m.insert("to".into(), json!(to.to_string())),
        Some(b) => m.insert("recipient".into(), json!(b.as_str())),
    };
    // Echoed on sent/delivered/read status webhooks: how `ingest` finds the row.
    m.insert("biz_opaque_callback_data".into(), json!(key));
    if let Some(id) = reply_to {
        m.insert("context".into(), json!({ "message_id": id }));
    }
    m.insert("type".into(), json!(message.type_name()));
    m.insert(message.type_name().into(), message.kind().cloud());
    Value::Object(m)
}
