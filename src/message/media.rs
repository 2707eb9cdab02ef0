//! `type: image | video | audio | document`: media by public URL (or, on the Cloud API, by
//! uploaded media id). The four kinds share the source rule but differ in caption and file name,
//! so each is its own type.

use super::{js, object, visit_opt, Check, Kind, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Captions of images, videos and documents (API reference §2.3).
pub const CAPTION_MAX: usize = 1024;

/// Exactly one of `url` / `id`; URLs must be http(s); ids only where the provider takes them.
fn check_source(c: &mut Check, url: &Option<String>, id: &Option<String>) {
    match (url, id) {
        (Some(u), None) => c.url(&[Seg::K("url")], u),
        (None, Some(i)) => {
            if !c.limits.media_ids {
                c.error(
                    &[Seg::K("id")],
                    format!("{} cannot send uploaded media ids", c.limits.provider),
                    Some("give a public `url:` instead".into()),
                );
            } else if i.trim().is_empty() {
                c.error(&[Seg::K("id")], "is empty", None);
            }
        }
        (Some(_), Some(_)) => c.error(
            &[Seg::K("id")],
            "both `url` and `id` are set",
            Some("keep one of them".into()),
        ),
        (None, None) => c.error(
            &[],
            "has no media source",
            Some("add `url: https://...` (or `id:` on the Cloud API)".into()),
        ),
    }
}

fn source_json(
    url: &Option<String>,
    id: &Option<String>,
) -> [(&'static str, Option<serde_json::Value>); 2] {
    [("id", js(id)), ("link", js(url))]
}

macro_rules! captioned {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Public http(s) URL of the file (direct download, no redirects).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<String>,
            /// Uploaded media id (Cloud API only), instead of `url`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            /// Caption shown under the media, at most 1024 characters.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub caption: Option<String>,
        }

        impl Kind for $name {
            fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
                visit_opt(f, &[Seg::K("url")], &mut self.url);
                visit_opt(f, &[Seg::K("id")], &mut self.id);
                visit_opt(f, &[Seg::K("caption")], &mut self.caption);
            }

            fn check(&self, c: &mut Check) {
                check_source(c, &self.url, &self.id);
                c.optional(&[Seg::K("caption")], &self.caption, CAPTION_MAX);
            }

            fn cloud(&self) -> serde_json::Value {
                let [id, link] = source_json(&self.url, &self.id);
                object([id, link, ("caption", js(&self.caption))])
            }
        }
    };
}

captioned!(
    /// An image (jpeg or png).
    Image
);
captioned!(
    /// A video (mp4 or 3gpp, H.264 + AAC).
    Video
);

/// An audio file; WhatsApp shows no caption for audio, so there is none to set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audio {
    /// Public http(s) URL of the file (direct download, no redirects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Uploaded media id (Cloud API only), instead of `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Kind for Audio {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        visit_opt(f, &[Seg::K("url")], &mut self.url);
        visit_opt(f, &[Seg::K("id")], &mut self.id);
    }

    fn check(&self, c: &mut Check) {
        check_source(c, &self.url, &self.id);
    }

    fn cloud(&self) -> serde_json::Value {
        object(source_json(&self.url, &self.id))
    }
}

/// A document; the file name's extension decides the icon the user sees.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Public http(s) URL of the file (direct download, no redirects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Uploaded media id (Cloud API only), instead of `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Caption shown under the document, at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name shown to the user, with its extension (`invoice.pdf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

impl Kind for Document {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        visit_opt(f, &[Seg::K("url")], &mut self.url);
        visit_opt(f, &[Seg::K("id")], &mut self.id);
        visit_opt(f, &[Seg::K("caption")], &mut self.caption);
        visit_opt(f, &[Seg::K("filename")], &mut self.filename);
    }

    fn check(&self, c: &mut Check) {
        check_source(c, &self.url, &self.id);
        c.optional(&[Seg::K("caption")], &self.caption, CAPTION_MAX);
        if let Some(name) = &self.filename {
            if !name.contains('.') || name.ends_with('.') {
                c.error(
                    &[Seg::K("filename")],
                    format!("`{name}` has no extension"),
                    Some("add one, e.g. `invoice.pdf`".into()),
                );
            }
        }
    }

    fn cloud(&self) -> serde_json::Value {
        let [id, link] = source_json(&self.url, &self.id);
        object([
            id,
            link,
            ("caption", js(&self.caption)),
            ("filename", js(&self.filename)),
        ])
    }
}
