//! Message kinds: one type per kind, each owning its YAML shape, its limits and its wire object.
//!
//! Every string field may be a minijinja template. Rendering clones a message and rewrites its
//! strings (`Kind::visit`); checking runs on the rendered value (`Kind::check`), so limits apply
//! to what is really sent.

mod check;
mod contacts;
mod interactive;
mod list;
mod location;
mod media;
mod text;

pub use check::{path_string, Check, Issue, Limits, Seg};
pub use contacts::{Contact, Contacts};
pub use interactive::{Button, Buttons, Header, Interactive, InteractiveMessage};
pub use list::{List, Row, Section};
pub use location::{Coordinate, Location};
pub use media::{Audio, Document, Image, Video};
pub use text::Text;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Apply `$body` to the kind inside any message (every variant holds a `Kind`).
macro_rules! each_kind {
    ($message:expr, $m:ident => $body:expr) => {
        match $message {
            Message::Text($m) => $body,
            Message::Image($m) => $body,
            Message::Video($m) => $body,
            Message::Audio($m) => $body,
            Message::Document($m) => $body,
            Message::Contacts($m) => $body,
            Message::Location($m) => $body,
            Message::Interactive($m) => $body,
        }
    };
}

/// Behaviour every message kind provides.
pub trait Kind {
    /// Call `f` on every string field with its path relative to the message.
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String));
    /// Check the provider's limits on this (rendered) value.
    fn check(&self, c: &mut Check);
    /// The Cloud API object named after the type (`{"link":..,"caption":..}` for an image).
    fn cloud(&self) -> serde_json::Value;
}

/// One message of a campaign; `type` selects the kind.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Plain text, optionally with a link preview.
    Text(Text),
    /// An image by URL (or uploaded media id on the Cloud API), with an optional caption.
    Image(Image),
    /// A video by URL (or media id), with an optional caption.
    Video(Video),
    /// An audio file by URL (or media id); audio takes no caption.
    Audio(Audio),
    /// A document by URL (or media id), with optional caption and file name.
    Document(Document),
    /// One or more contact cards.
    Contacts(Contacts),
    /// A map pin.
    Location(Location),
    /// Reply buttons or a list menu.
    Interactive(InteractiveMessage),
}

impl Message {
    /// The wire `type` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Text(_) => "text",
            Message::Image(_) => "image",
            Message::Video(_) => "video",
            Message::Audio(_) => "audio",
            Message::Document(_) => "document",
            Message::Contacts(_) => "contacts",
            Message::Location(_) => "location",
            Message::Interactive(_) => "interactive",
        }
    }

    pub fn kind(&self) -> &dyn Kind {
        each_kind!(self, m => m)
    }

    pub fn kind_mut(&mut self) -> &mut dyn Kind {
        each_kind!(self, m => m)
    }

    /// Every message kind's `type` name, for hints.
    pub const TYPES: [&'static str; 8] = [
        "text",
        "image",
        "video",
        "audio",
        "document",
        "contacts",
        "location",
        "interactive",
    ];
}

/// Visit an optional string field.
pub(crate) fn visit_opt(
    f: &mut dyn FnMut(&[Seg], &mut String),
    path: &[Seg],
    v: &mut Option<String>,
) {
    if let Some(s) = v {
        f(path, s);
    }
}

/// Build a JSON object from `(key, value)` pairs, leaving out absent optional values.
pub(crate) fn object<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<serde_json::Value>)>,
) -> serde_json::Value {
    let map = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    serde_json::Value::Object(map)
}

/// `Some(json string)` for a present string.
pub(crate) fn js(v: &Option<String>) -> Option<serde_json::Value> {
    v.as_ref().map(|s| serde_json::Value::String(s.clone()))
}

/// `Some(json string)` always.
pub(crate) fn j(v: &str) -> Option<serde_json::Value> {
    Some(serde_json::Value::String(v.to_string()))
}
