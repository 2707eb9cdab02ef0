//! Providers: the two wire formats (Messangi `/notification`, WhatsApp Cloud API). A validated
//! `Provider` turns one recipient's rendered message into the exact HTTP request to send.

mod classify;
mod cloud_api;
mod messangi;
pub mod parse;
mod send_key;
mod wire;

use crate::identity::UserId;
use crate::message::{Limits, Message};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use classify::{classify, Class};
pub use cloud_api::{CloudApiSpec, DEFAULT_API_VERSION};
pub use messangi::MessangiSpec;
pub use send_key::send_key;
pub use wire::Wire;

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
    pub account: Account,
    /// Where requests go, without a trailing slash. `--sandbox` replaces it.
    pub base_url: String,
    /// Name of the environment variable holding the bearer token.
    pub token_env: String,
}

/// Who sends, in the terms of the provider's wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum Account {
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

impl Account {
    /// The wire format this account sends in.
    pub fn wire(&self) -> Wire {
        match self {
            Account::Messangi { .. } => Wire::Messangi,
            Account::CloudApi { .. } => Wire::CloudApi,
        }
    }
}

impl Provider {
    pub fn wire(&self) -> Wire {
        self.account.wire()
    }

    pub fn name(&self) -> &'static str {
        self.wire().name()
    }

    pub fn limits(&self) -> Limits {
        self.wire().limits()
    }

    pub fn url(&self) -> String {
        match &self.account {
            Account::Messangi { .. } => format!("{}/notification", self.base_url),
            Account::CloudApi {
                api_version,
                phone_number_id,
            } => {
                format!("{}/{api_version}/{phone_number_id}/messages", self.base_url)
            }
        }
    }

    /// The JSON body that sends a rendered `message` (answering `reply_to`, a provider message
    /// id) to `to`, carrying the send `key` (see [`send_key`]) in the field the provider echoes
    /// on its status webhooks: the very text sent.
    pub fn body(
        &self,
        key: &str,
        to: &UserId,
        message: &Message,
        reply_to: Option<&str>,
    ) -> String {
        let text = match &self.account {
            Account::Messangi { from, callbacks } => serde_json::to_string(&messangi::body(
                from,
                callbacks.as_deref(),
                key,
                to,
                message,
                reply_to,
            )),
            Account::CloudApi { .. } => {
                serde_json::to_string(&cloud_api::body(key, to, message, reply_to))
            }
        };
        // Every field is a string, a number or a JSON value: nothing here can fail to serialize.
        text.expect("a wire body serializes")
    }
}

/// One `"name": value` entry, flattened into the object around it (the entry's name is the
/// message's type, known only at run time).
struct Named(&'static str, serde_json::Value);

impl serde::Serialize for Named {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// A value written as JSON text through its `Display` (a recipient's number), not copied first.
fn as_text<S: serde::Serializer>(v: &&UserId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Why a base URL is refused. `shown` is the address without what may be a secret (user
/// info, a query), so the error can be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error("`{shown}` is not a URL ({reason}); write the provider's address, e.g. https://api.example.com")]
    NotAUrl {
        shown: String,
        reason: url::ParseError,
    },
    #[error("`{0}` carries a user name or password; credentials come only from the environment (`token_env`), never from the campaign file")]
    Credentials(String),
    #[error("`{0}` uses plain http; use https (plain http is allowed only to loopback)")]
    PlainHttp(String),
    #[error("`{shown}` has scheme `{scheme}`; use https://")]
    Scheme { shown: String, scheme: String },
    #[error("`{0}` has a query or fragment; give just the base address")]
    QueryOrFragment(String),
}

/// The text a `Problem` shows.
impl From<BaseUrlError> for String {
    fn from(e: BaseUrlError) -> String {
        e.to_string()
    }
}

/// Check a base URL: absolute http(s); plain http only to loopback, so tokens never cross a
/// network in clear text. Returns it without a trailing slash.
pub fn check_base_url(raw: &str) -> Result<String, BaseUrlError> {
    // Messages show the address without what may be a secret: user info or a query.
    let shown = redact(raw);
    let url = reqwest::Url::parse(raw).map_err(|reason| BaseUrlError::NotAUrl {
        shown: shown.clone(),
        reason,
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::Credentials(shown));
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
        "http" => return Err(BaseUrlError::PlainHttp(shown)),
        other => {
            return Err(BaseUrlError::Scheme {
                shown,
                scheme: other.into(),
            })
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BaseUrlError::QueryOrFragment(shown));
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
            let e = check_base_url(raw).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{raw}: {e}");
            assert!(e.contains("***"), "{raw}: {e}");
        }
        let e = check_base_url("https://user:pw@graph.facebook.com").unwrap_err();
        assert!(matches!(e, BaseUrlError::Credentials(_)), "{e}");
        assert_eq!(
            check_base_url("https://graph.facebook.com/").unwrap(),
            "https://graph.facebook.com"
        );
    }
}
