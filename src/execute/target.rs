//! Where every request of a campaign goes: the provider URL (parsed once) and the headers
//! (built once, the token marked sensitive) → reqwest request builders.
//!
//! Every request of a campaign shares one URL and the same two headers, so parsing and
//! formatting them per request was pure overhead on the send path.

use crate::provider::Request;
use reqwest::header::{HeaderName, HeaderValue};

/// The campaign's request target, prepared once per run.
pub(crate) struct Target {
    /// The campaign's provider URL.
    raw: String,
    /// Its parsed form, when it parses.
    url: Option<reqwest::Url>,
    headers: Headers,
}

/// `Request::headers` with the token, in the order they are sent; or, when one of them is not a
/// valid header, the token, to build them per request and fail as reqwest does.
enum Headers {
    Parsed(Vec<(HeaderName, HeaderValue)>),
    Unparsed { token: String },
}

impl Target {
    /// `url` is the campaign's provider URL, where every request goes. A URL or token that does
    /// not parse is left to reqwest per request, so it fails exactly as before.
    pub fn new(url: String, token: &str) -> Target {
        let parsed = reqwest::Url::parse(&url).ok();
        let headers = Request::headers(Some(token))
            .into_iter()
            .map(|(name, value)| header(name, &value))
            .collect::<Option<Vec<_>>>()
            .map_or_else(
                || Headers::Unparsed {
                    token: token.to_string(),
                },
                Headers::Parsed,
            );
        Target {
            raw: url,
            url: parsed,
            headers,
        }
    }

    pub fn url(&self) -> &str {
        &self.raw
    }

    /// A POST with the campaign's headers (the body is added by the caller).
    pub fn post(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut builder = match &self.url {
            Some(url) => client.post(url.clone()),
            None => client.post(&self.raw),
        };
        match &self.headers {
            Headers::Parsed(headers) => {
                for (name, value) in headers {
                    builder = builder.header(name.clone(), value.clone());
                }
            }
            Headers::Unparsed { token } => {
                for (name, value) in Request::headers(Some(token)) {
                    builder = builder.header(name, value);
                }
            }
        }
        builder
    }
}

/// One prepared header; the authorization is sensitive so it never shows in debug output.
fn header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(name == reqwest::header::AUTHORIZATION);
    Some((name, value))
}
