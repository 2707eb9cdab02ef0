//! `type: interactive`: reply buttons (this file) or a list menu (`list.rs`), with the header,
//! body and footer they share.

use super::{j, js, object, visit_opt, Check, Kind, List, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const HEADER_TEXT_MAX: usize = 60;
pub const FOOTER_MAX: usize = 60;
pub const BUTTON_BODY_MAX: usize = 1024;
pub const BUTTONS_MAX: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;

/// `type: interactive` wraps the interactive object under `interactive:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractiveMessage {
    pub interactive: Interactive,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interactive {
    /// Up to three quick-reply buttons.
    Button(Buttons),
    /// A menu button opening a list of up to ten rows in sections.
    List(List),
}

/// Optional header above the body: text, or a media item.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Header {
    Text {
        text: String,
    },
    Image {
        url: Option<String>,
        id: Option<String>,
    },
    Video {
        url: Option<String>,
        id: Option<String>,
    },
    Document {
        url: Option<String>,
        id: Option<String>,
        filename: Option<String>,
    },
}

impl Header {
    pub fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String), base: &[Seg]) {
        let at = |k| [base, &[Seg::K("header"), Seg::K(k)]].concat();
        match self {
            Header::Text { text } => f(&at("text"), text),
            Header::Image { url, id } | Header::Video { url, id } => {
                visit_opt(f, &at("url"), url);
                visit_opt(f, &at("id"), id);
            }
            Header::Document { url, id, filename } => {
                visit_opt(f, &at("url"), url);
                visit_opt(f, &at("id"), id);
                visit_opt(f, &at("filename"), filename);
            }
        }
    }

    pub fn check(&self, c: &mut Check, base: &[Seg]) {
        let at = |k| [base, &[Seg::K("header"), Seg::K(k)]].concat();
        match self {
            Header::Text { text } => c.required(&at("text"), text, HEADER_TEXT_MAX),
            Header::Image { url, id }
            | Header::Video { url, id }
            | Header::Document { url, id, .. } => match (url, id) {
                (Some(u), None) => c.url(&at("url"), u),
                (None, Some(_)) if c.limits.media_ids => {}
                (None, Some(_)) => c.error(
                    &at("id"),
                    format!("{} cannot send uploaded media ids", c.limits.provider),
                    Some("give a public `url:` instead".into()),
                ),
                _ => c.error(
                    &[base, &[Seg::K("header")]].concat(),
                    "needs exactly one of `url` and `id`",
                    None,
                ),
            },
        }
    }

    pub fn cloud(&self) -> Value {
        let media =
            |url: &Option<String>, id: &Option<String>, filename: Option<&Option<String>>| {
                object([
                    ("id", js(id)),
                    ("link", js(url)),
                    ("filename", filename.and_then(js)),
                ])
            };
        match self {
            Header::Text { text } => json!({"type": "text", "text": text}),
            Header::Image { url, id } => json!({"type": "image", "image": media(url, id, None)}),
            Header::Video { url, id } => json!({"type": "video", "video": media(url, id, None)}),
            Header::Document { url, id, filename } => {
                json!({"type": "document", "document": media(url, id, Some(filename))})
            }
        }
    }
}

/// Reply buttons.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Buttons {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// Message text, at most 1024 characters.
    pub body: String,
    /// Small grey text under the body, at most 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// One to three buttons.
    pub buttons: Vec<Button>,
}

/// One reply button: `id` comes back in the user's reply, `title` is what they tap.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// Unique, at most 256 characters, no leading or trailing spaces.
    pub id: String,
    /// Unique, at most 20 characters.
    pub title: String,
}

/// Body and footer, which buttons and lists share.
pub fn body_footer_cloud(
    body: &str,
    footer: &Option<String>,
) -> [(&'static str, Option<Value>); 2] {
    [
        ("body", Some(json!({"text": body}))),
        ("footer", footer.as_ref().map(|t| json!({"text": t}))),
    ]
}

const BASE: [Seg; 1] = [Seg::K("interactive")];

impl Buttons {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        if let Some(h) = &mut self.header {
            h.visit(f, &BASE);
        }
        f(&[BASE[0], Seg::K("body")], &mut self.body);
        visit_opt(f, &[BASE[0], Seg::K("footer")], &mut self.footer);
        for (i, b) in self.buttons.iter_mut().enumerate() {
            f(
                &[BASE[0], Seg::K("buttons"), Seg::I(i), Seg::K("id")],
                &mut b.id,
            );
            f(
                &[BASE[0], Seg::K("buttons"), Seg::I(i), Seg::K("title")],
                &mut b.title,
            );
        }
    }

    fn check(&self, c: &mut Check) {
        if let Some(h) = &self.header {
            h.check(c, &BASE);
        }
        c.required(&[BASE[0], Seg::K("body")], &self.body, BUTTON_BODY_MAX);
        c.optional(&[BASE[0], Seg::K("footer")], &self.footer, FOOTER_MAX);
        c.count(
            &[BASE[0], Seg::K("buttons")],
            self.buttons.len(),
            1,
            BUTTONS_MAX,
            "buttons",
        );
        for (i, b) in self.buttons.iter().enumerate() {
            let at = |k| [BASE[0], Seg::K("buttons"), Seg::I(i), Seg::K(k)];
            c.required(&at("id"), &b.id, BUTTON_ID_MAX);
            if b.id.trim() != b.id {
                c.error(
                    &at("id"),
                    format!("`{}` has leading or trailing spaces", b.id),
                    Some("remove them".into()),
                );
            }
            c.required(&at("title"), &b.title, BUTTON_TITLE_MAX);
        }
        let list = [BASE[0], Seg::K("buttons")];
        c.unique(
            &list,
            self.buttons.iter().map(|b| b.id.as_str()),
            "button id",
        );
        c.unique(
            &list,
            self.buttons.iter().map(|b| b.title.as_str()),
            "button title",
        );
    }

    fn cloud(&self) -> Value {
        let buttons: Vec<Value> = self
            .buttons
            .iter()
            .map(|b| json!({"type": "reply", "reply": {"id": b.id, "title": b.title}}))
            .collect();
        let [body, footer] = body_footer_cloud(&self.body, &self.footer);
        object([
            ("type", j("button")),
            ("header", self.header.as_ref().map(Header::cloud)),
            body,
            footer,
            ("action", Some(json!({"buttons": buttons}))),
        ])
    }
}

impl Kind for InteractiveMessage {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        match &mut self.interactive {
            Interactive::Button(b) => b.visit(f),
            Interactive::List(l) => l.visit(f),
        }
    }

    fn check(&self, c: &mut Check) {
        match &self.interactive {
            Interactive::Button(b) => b.check(c),
            Interactive::List(l) => l.check(c),
        }
    }

    fn cloud(&self) -> Value {
        match &self.interactive {
            Interactive::Button(b) => b.cloud(),
            Interactive::List(l) => l.cloud(),
        }
    }
}

impl InteractiveMessage {
    /// The body text, which Messangi also wants as the request's `message`.
    pub fn body(&self) -> &str {
        match &self.interactive {
            Interactive::Button(b) => &b.body,
            Interactive::List(l) => &l.body,
        }
    }
}
