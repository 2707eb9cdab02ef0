//! `type: interactive` with `interactive.type: list`: a menu button opening up to ten rows in
//! up to ten sections.

use super::interactive::{body_footer_cloud, FOOTER_MAX, HEADER_TEXT_MAX};
use super::{j, object, visit_opt, Check, Header, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const LIST_BODY_MAX: usize = 4096;
pub const LIST_BUTTON_MAX: usize = 20;
pub const SECTIONS_MAX: usize = 10;
pub const SECTION_TITLE_MAX: usize = 24;
pub const ROWS_MAX: usize = 10;
pub const ROW_ID_MAX: usize = 200;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_DESCRIPTION_MAX: usize = 72;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// Lists take a text header only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// Message text, at most 4096 characters.
    pub body: String,
    /// At most 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// Label of the menu button, at most 20 characters.
    pub button: String,
    /// One to ten sections; at most ten rows across all of them.
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// At most 24 characters; required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Unique, at most 200 characters; comes back in the user's reply.
    pub id: String,
    /// At most 24 characters.
    pub title: String,
    /// At most 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

const I: Seg = Seg::K("interactive");

impl List {
    pub(super) fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        if let Some(h) = &mut self.header {
            h.visit(f, &[I]);
        }
        f(&[I, Seg::K("body")], &mut self.body);
        visit_opt(f, &[I, Seg::K("footer")], &mut self.footer);
        f(&[I, Seg::K("button")], &mut self.button);
        for (s, section) in self.sections.iter_mut().enumerate() {
            visit_opt(
                f,
                &[I, Seg::K("sections"), Seg::I(s), Seg::K("title")],
                &mut section.title,
            );
            for (r, row) in section.rows.iter_mut().enumerate() {
                let at = |k| {
                    [
                        I,
                        Seg::K("sections"),
                        Seg::I(s),
                        Seg::K("rows"),
                        Seg::I(r),
                        Seg::K(k),
                    ]
                };
                f(&at("id"), &mut row.id);
                f(&at("title"), &mut row.title);
                visit_opt(f, &at("description"), &mut row.description);
            }
        }
    }

    pub(super) fn check(&self, c: &mut Check) {
        match &self.header {
            Some(Header::Text { text }) => c.required(
                &[I, Seg::K("header"), Seg::K("text")],
                text,
                HEADER_TEXT_MAX,
            ),
            Some(_) => c.error(
                &[I, Seg::K("header")],
                "list messages take only a text header",
                Some("use `header: {type: text, text: ...}`".into()),
            ),
            None => {}
        }
        c.required(&[I, Seg::K("body")], &self.body, LIST_BODY_MAX);
        c.optional(&[I, Seg::K("footer")], &self.footer, FOOTER_MAX);
        c.required(&[I, Seg::K("button")], &self.button, LIST_BUTTON_MAX);
        c.count(
            &[I, Seg::K("sections")],
            self.sections.len(),
            1,
            SECTIONS_MAX,
            "sections",
        );
        let rows: usize = self.sections.iter().map(|s| s.rows.len()).sum();
        c.count(
            &[I, Seg::K("sections")],
            rows,
            1,
            ROWS_MAX,
            "rows across all sections",
        );
        for (s, section) in self.sections.iter().enumerate() {
            let title = [I, Seg::K("sections"), Seg::I(s), Seg::K("title")];
            match &section.title {
                Some(t) => c.required(&title, t, SECTION_TITLE_MAX),
                None if self.sections.len() > 1 => c.error(
                    &title,
                    "is missing",
                    Some("every section needs a title when there is more than one".into()),
                ),
                None => {}
            }
            for (r, row) in section.rows.iter().enumerate() {
                let at = |k| {
                    [
                        I,
                        Seg::K("sections"),
                        Seg::I(s),
                        Seg::K("rows"),
                        Seg::I(r),
                        Seg::K(k),
                    ]
                };
                c.required(&at("id"), &row.id, ROW_ID_MAX);
                c.required(&at("title"), &row.title, ROW_TITLE_MAX);
                c.optional(&at("description"), &row.description, ROW_DESCRIPTION_MAX);
            }
        }
        let ids = self
            .sections
            .iter()
            .flat_map(|s| s.rows.iter().map(|r| r.id.as_str()));
        c.unique(&[I, Seg::K("rows")], ids, "row id");
    }

    pub(super) fn cloud(&self) -> Value {
        let sections: Vec<Value> = self
            .sections
            .iter()
            .map(|s| {
                let rows: Vec<Value> = s
                    .rows
                    .iter()
                    .map(|r| {
                        object([
                            ("id", j(&r.id)),
                            ("title", j(&r.title)),
                            ("description", r.description.as_ref().map(|d| json!(d))),
                        ])
                    })
                    .collect();
                object([
                    ("title", s.title.as_ref().map(|t| json!(t))),
                    ("rows", Some(Value::Array(rows))),
                ])
            })
            .collect();
        let [body, footer] = body_footer_cloud(&self.body, &self.footer);
        object([
            ("type", j("list")),
            ("header", self.header.as_ref().map(Header::cloud)),
            body,
            footer,
            (
                "action",
                Some(json!({"button": self.button, "sections": sections})),
            ),
        ])
    }
}
