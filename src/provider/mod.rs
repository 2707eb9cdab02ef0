//! Providers: the two wire formats (Messangi `/notification`, WhatsApp Cloud API). A validated
//! `Provider` turns one recipient's rendered message into the exact HTTP request to send.

mod classify;
mod cloud_api;
mod messangi;
pub mod parse;
mod send_key;

use crate::identity::UserId;
use crate::message::{Limits, Message};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use classify::{classify, Class};
pub use cloud_api::{CloudApiSpec, DEFAULT_API_VERSION};
pub use messangi::MessangiSpec;
pub use send_key::send_key;

/// `provider:` in the campaign file; `kind` selects the wire format.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderSpec {
    /// Messangi Messaging API: `POST {base_url}/notification`.
    Messangi(MessangiSpec),
    /// WhatsApp Cloud API: `POST {base_url}/{api_version}/{phone_number_id}/messages`.
    CloudApi(CloudApiSpec),
}

/// A checked provider, ready to build requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub wire: Wire,
    /// Where requests go, without a trailing slash. `--sandbox` replaces it.
    pub base_url: String,
    /// Name of the environment variable holding the bearer token.
    pub token_env: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    Messangi {
        from: String,
        callbacks: Option<String>,
    },
    CloudApi {
        api_version: String,
        phone_number_id: String,
    },
}

/// One HTTP request as it will be sent (the token is added only at send time).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub body: serde_json::Value,
}

impl Request {
    pub const METHOD: &'static str = "POST";

    /// The headers sent with every request. With `token: None` the authorization is shown as
    /// `Bearer ***`, which is how previews print it.
    pub fn headers(token: Option<&str>) -> [(&'static str, String); 2] {
        [
            (
                "Authorization",
                format!("Bearer {}", token.unwrap_or("***")),
            ),
            ("Content-Type", "application/json".to_string()),
        ]
    }
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self.wire {
            Wire::Messangi { .. } => "messangi",
            Wire::CloudApi { .. } => "cloud_api",
        }
    }

    pub fn limits(&self) -> Limits {
        match self.wire {
            Wire::Messangi { .. } => Limits {
                provider: "Messangi",
                text_body: 1024,
                media_ids: false,
            },
            Wire::CloudApi { .. } => Limits {
                provider: "the Cloud API",
                text_body: 4096,
                media_ids: true,
            },
        }
    }

    pub fn url(&self) -> String {
        match &self.wire {
            Wire::Messangi { .. } => format!("{}/notification", self.base_url),
            Wire::CloudApi {
                api_version,
                phone_number_id,
            } => {
                format!("{}/{api_version}/{phone_number_id}/messages", self.base_url)
            }
        }
    }

    /// The JSON body that sends a rendered `message` (answering `reply_to`, a provider message
    /// id) to `to`, carrying the send `key` (see [`send_key`]) in the field the provider echoes
    /// on its status webhooks.
    pub fn body(
        &self,
        key: &str,
        to: &UserId,
        message: &Message,
        reply_to: Option<&str>,
    ) -> serde_json::Value {
        match &self.wire {
            Wire::Messangi { from, callbacks } => {
                messangi::body(from, callbacks.as_deref(), key, to, message, reply_to)
            }
            Wire::CloudApi { .. } => cloud_api::body(key, to, message, reply_to),
        }
    }
}

/// Check a base URL: absolute http(s); plain http only to loopback, so tokens never cross a
/// network in clear text.
pub fn check_base_url(raw: &str) -> Result<String, String> {
    // Messages show the address without what may be a secret: user info or a query.
    let shown = redact(raw);
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("`{shown}` is not a URL ({e}); write the provider's address, e.g. https://api.example.com"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{shown}` carries a user name or password; credentials come only from the environment (`token_env`), never from the campaign file"
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "`{shown}` uses plain http; use https (plain http is allowed only to loopback)"
            ))
        }
        other => return Err(format!("`{shown}` has scheme `{other}`; use https://")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` has a query or fragment; give just the base address"
        ));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// `raw` with any user info (`user:pw@`) and query or fragment replaced by `***`.
fn redact(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(q) => format!("{}{}***", &tail[..q], &tail[q..=q]),
        None => tail.to_string(),
    };
    match raw.contains("://") {
        true => format!("{scheme}://{authority}{tail}"),
        false => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_refused_without_being_shown() {
        for raw in [
            "https://user:hunter2@graph.facebook.com",
            "https://hunter2@graph.facebook.com/x",
            "http://user:hunter2@example.com",
            "https://user:hunter2@exa mple.com",
            "https://graph.facebook.com/?access_token=hunter2",
        ] {
            let e = check_base_url(raw).unwrap_err();
            assert!(!e.contains("hunter2"), "{raw}: {e}");
            assert!(e.contains("***"), "{raw}: {e}");
        }
        let e = check_base_url("https://user:pw@graph.facebook.com").unwrap_err();
        assert!(e.contains("environment"), "{e}");
        assert_eq!(
            check_base_url("https://graph.facebook.com/").unwrap(),
            "https://graph.facebook.com"
        );
    }
}
