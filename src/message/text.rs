//! `type: text`: a text body, optionally previewing its first link.

use super::{j, object, Check, Kind, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// The message text (Messangi: at most 1024 characters; Cloud API: 4096).
    pub body: String,
    /// Ask WhatsApp to preview the first http(s) link in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}

impl Kind for Text {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        f(&[Seg::K("body")], &mut self.body);
    }

    fn check(&self, c: &mut Check) {
        c.required(&[Seg::K("body")], &self.body, c.limits.text_body);
    }

    fn cloud(&self) -> serde_json::Value {
        object([
            ("preview_url", self.preview_url.map(Into::into)),
            ("body", j(&self.body)),
        ])
    }
}
