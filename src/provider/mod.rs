//! Providers: the two wire formats (Messangi `/notification`, WhatsApp Cloud API). A validated
//! `Provider` turns one recipient's rendered message into the exact HTTP request to send.

mod classify;
mod cloud_api;
mod messangi;
pub mod parse;

use crate::campaign::Phone;
use crate::message::Limits;
use crate::render::Rendered;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use classify::{classify, Class};
pub use cloud_api::{CloudApiSpec, DEFAULT_API_VERSION};
pub use messangi::MessangiSpec;

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

    /// The JSON body that sends a rendered message to `to`.
    pub fn body(&self, to: Phone, m: &Rendered) -> serde_json::Value {
        let reply_to = m.reply_to.as_deref();
        match &self.wire {
            Wire::Messangi { from, callbacks } => {
                messangi::body(from, callbacks.as_deref(), to, &m.message, reply_to)
            }
            Wire::CloudApi { .. } => cloud_api::body(to, &m.message, reply_to),
        }
    }

    pub fn request(&self, url: &str, to: Phone, m: &Rendered) -> Request {
        Request {
            url: url.to_string(),
            body: self.body(to, m),
        }
    }
}

/// Check a base URL: absolute http(s); plain http only to loopback, so tokens never cross a
/// network in clear text.
pub fn check_base_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("`{raw}` is not a URL ({e}); write the provider's address, e.g. https://api.example.com"))?;
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
                "`{raw}` uses plain http; use https (plain http is allowed only to loopback)"
            ))
        }
        other => return Err(format!("`{raw}` has scheme `{other}`; use https://")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{raw}` has a query or fragment; give just the base address"
        ));
    }
    Ok(raw.trim_end_matches('/').to_string())
}
