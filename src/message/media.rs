//! `type: image | video | audio | document`: media by public URL (or, on the Cloud API, by
//! uploaded media id). The four kinds share the source rule and differ in which of `caption` and
//! `filename` they take, so each is its own type (audio rejects a caption at load).

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

/// The limits of the optional fields some media kinds take.
fn check_extra(c: &mut Check, field: &'static str, value: &Option<String>) {
    match (field, value) {
        ("caption", _) => c.optional(&[Seg::K("caption")], value, CAPTION_MAX),
        ("filename", Some(name)) if !name.contains('.') || name.ends_with('.') => c.error(
            &[Seg::K("filename")],
            format!("`{name}` has no extension"),
            Some("add one, e.g. `invoice.pdf`".into()),
        ),
        _ => {}
    }
}

macro_rules! media {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident),* }) => {
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
            $(
                $(#[$fdoc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<String>,
            )*
        }

        impl Kind for $name {
            fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
                visit_opt(f, &[Seg::K("url")], &mut self.url);
                visit_opt(f, &[Seg::K("id")], &mut self.id);
                $(visit_opt(f, &[Seg::K(stringify!($field))], &mut self.$field);)*
            }

            fn check(&self, c: &mut Check) {
                check_source(c, &self.url, &self.id);
                $(check_extra(c, stringify!($field), &self.$field);)*
            }

            fn cloud(&self) -> serde_json::Value {
                object([("id", js(&self.id)), ("link", js(&self.url)) $(, (stringify!($field), js(&self.$field)))*])
            }
        }
    };
}

media!(
    /// An image (jpeg or png).
    Image {
        /// Caption shown under the image, at most 1024 characters.
        caption
    }
);
media!(
    /// A video (mp4 or 3gpp, H.264 + AAC).
    Video {
        /// Caption shown under the video, at most 1024 characters.
        caption
    }
);
media!(
    /// An audio file; WhatsApp shows no caption for audio, so there is none to set.
    Audio {}
);
media!(
    /// A document; the file name's extension decides the icon the user sees.
    Document {
        /// Caption shown under the document, at most 1024 characters.
        caption,
        /// File name shown to the user, with its extension (`invoice.pdf`).
        filename
    }
);
