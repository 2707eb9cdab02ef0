//! The campaign file's YAML shape (serde + JSON Schema). Sections are deserialized one by one so
//! that a problem in one does not hide problems in the others.

use crate::message::Message;
use crate::provider::ProviderSpec;
use schemars::gen::SchemaGenerator;
use schemars::schema::{Schema, SchemaObject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A sessioncast campaign file (format version 1).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Campaign name; also names its state file (`.sessioncast/<name>.db`).
    pub name: String,
    /// Where and how messages are sent.
    pub provider: ProviderSpec,
    /// Declared rate policy `N/DURATION`, e.g. `2/300s`; server headers may only tighten it.
    #[schemars(regex(pattern = r"^\s*[0-9]+\s*/\s*[0-9.]*\s*[a-z]+\s*$"))]
    pub rate: String,
    /// The customer-service window.
    #[serde(default)]
    pub window: WindowSpec,
    /// Inline list, `{file: recipients.csv}`, or `{inbox: webhooks.jsonl, since: 24h}` (paths
    /// relative to this file).
    pub recipients: RecipientsSpec,
    /// Campaign-level template variables.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Messages sent in order to each recipient.
    pub messages: Vec<MessageSpec>,
    /// Folder of template files, relative to this file (default: the nearest `templates/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<String>,
    /// File of numbers never to contact (one per line, or a CSV with a `to` column), read like
    /// the recipients CSV; a line that is not a number refuses the campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<String>,
    /// RFC 3339 time after which nothing is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

/// Top-level keys, in file order, for unknown-key hints.
pub const TOP_LEVEL: [&str; 11] = [
    "version",
    "name",
    "provider",
    "rate",
    "window",
    "recipients",
    "vars",
    "messages",
    "templates",
    "suppress",
    "not_after",
];

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// How long a session stays open after the user's last message (default `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<String>,
    /// Never send when less than this is left (default `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RecipientsSpec {
    /// A CSV with columns `to,last_inbound_at` and any others (they become variables).
    File {
        file: String,
        /// Country (ISO 3166 two-letter code, e.g. `US`) of numbers written without `+` and
        /// country code; a `country` column overrides it per row.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_country: Option<String>,
        /// Which row is kept when a number repeats: `first`, `last`, or `latest` (the latest
        /// `last_inbound_at`, the default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^(first|last|latest)$"))]
        duplicates: Option<String>,
    },
    /// The users who wrote to the business: a webhook log (one provider POST body per line, as
    /// `webhook --listen` and `sandbox --webhook-log` write it). `to` and `last_inbound_at` come
    /// from each user's latest inbound message, the `name` variable from their latest profile.
    Inbox {
        /// The webhook log (JSON lines), relative to this file.
        inbox: String,
        /// Only users whose latest message is at most this old at the run's `now` (`24h`,
        /// `90m`...). Default: the window's length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
        /// A CSV (`to,<vars...>`) joined by number: its columns become variables of the inbox
        /// users it names; its other rows are not recipients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        join: Option<String>,
        /// Country (ISO 3166 two-letter code) of national numbers in the `join` CSV.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_country: Option<String>,
    },
    Inline(Vec<InlineRecipient>),
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineRecipient {
    /// Phone number in international form, or national with `country`.
    pub to: String,
    /// Country (ISO 3166 two-letter code) of a number written without `+` and country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// RFC 3339, Unix seconds, or relative to now: `-3h`, `3h ago`.
    #[serde(deserialize_with = "text_or_seconds")]
    #[schemars(with = "TextOrSeconds")]
    pub last_inbound_at: String,
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// A message plus an optional `when:` condition (a minijinja expression over the variables) and
/// an optional `reply_to:` (the provider's id of an earlier message to answer, a template).
#[derive(Debug, Serialize)]
pub struct MessageSpec {
    pub when: Option<String>,
    pub reply_to: Option<String>,
    pub message: Message,
}

impl JsonSchema for MessageSpec {
    fn schema_name() -> String {
        "MessageSpec".into()
    }

    /// The message kinds' schema with `when` and `reply_to` added to each kind.
    fn json_schema(gen: &mut SchemaGenerator) -> Schema {
        let mut schema: SchemaObject = Message::json_schema(gen).into_object();
        let text = gen.subschema_for::<Option<String>>();
        let variants = schema.subschemas().one_of.iter_mut().flatten();
        for variant in variants {
            if let Schema::Object(obj) = variant {
                let props = &mut obj.object().properties;
                props.insert("when".into(), text.clone());
                props.insert("reply_to".into(), text.clone());
            }
        }
        Schema::Object(schema)
    }
}

impl<'de> Deserialize<'de> for MessageSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut value = serde_yaml_ng::Value::deserialize(d)?;
        // The message-level keys come out first; what remains is the kind's own shape.
        let mut take = |key: &str| match value.as_mapping_mut().and_then(|m| m.remove(key)) {
            None => Ok(None),
            Some(serde_yaml_ng::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(serde::de::Error::custom(format!(
                "`{key}` must be a string"
            ))),
        };
        let when = take("when")?;
        let reply_to = take("reply_to")?;
        // Read through a deserializer with this one's error type, so an unknown field or kind
        // inside the message reaches the caller as such, not as text.
        let message = Message::deserialize(super::node::Node::<D::Error>::new(&value))?;
        Ok(MessageSpec {
            when,
            reply_to,
            message,
        })
    }
}

/// A time written as text, or as a bare number of Unix seconds (YAML reads `1764300000` as an
/// integer).
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum TextOrSeconds {
    Text(String),
    Seconds(i64),
}

fn text_or_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match TextOrSeconds::deserialize(d)? {
        TextOrSeconds::Text(s) => s,
        TextOrSeconds::Seconds(n) => n.to_string(),
    })
}
