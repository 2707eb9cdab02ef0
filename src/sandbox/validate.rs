//! Structural request checks: (wire, raw body) → recipient + payload, or the error text for a 400.
//!
//! Only the envelope is checked here (JSON, channel, recipient, type); the full per-kind rules are
//! the campaign core's, plugged in as `SandboxConfig::validator` and run after these checks.

use serde_json::Value;

use super::config::{Validator, Wire};
use crate::identity::BsuidError;
use crate::provider::parse::BodyError;

/// Why a request is refused: its text is the 400's `error.message`. `got` fields are the value
/// received, already shortened for the answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("request body is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("`channel` must be \"WHATSAPP\", got {got}")]
    Channel { got: String },
    #[error("`channel` is required and must be \"WHATSAPP\"")]
    NoChannel,
    #[error("`request` is required and must be an object")]
    NoRequest,
    #[error("`messaging_product` must be \"whatsapp\", got {got}")]
    Product { got: String },
    #[error("`messaging_product` is required and must be \"whatsapp\"")]
    NoProduct,
    #[error("`{prefix}recipient`: {error}; got {got}")]
    Recipient {
        prefix: &'static str,
        error: BsuidError,
        got: String,
    },
    #[error("`{prefix}to` is required: the recipient in E.164 form, e.g. +15551234567")]
    NoTo { prefix: &'static str },
    #[error("`{prefix}to` must be a phone number in E.164 form, e.g. +15551234567; got {got}")]
    To { prefix: &'static str, got: String },
    #[error("`{prefix}type` is required (text, image, interactive, ...)")]
    NoType { prefix: &'static str },
    /// The supplied validator's verdict, as it gives it.
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// A send request that passed the checks.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// Recipient exactly as sent.
    pub to: String,
    pub body: Value,
}

pub(crate) fn check(
    wire: Wire,
    raw: &[u8],
    validator: Option<&Validator>,
) -> Result<Message, Refusal> {
    let body: Value = serde_json::from_slice(raw).map_err(Refusal::NotJson)?;
    if !body.is_object() {
        return Err(Refusal::NotAnObject);
    }
    let (fields, prefix) = match wire {
        Wire::Messangi => (messangi_request(&body)?, "request."),
        Wire::CloudApi => (cloud_api_fields(&body)?, ""),
    };
    let to = recipient(fields, prefix)?;
    match fields.get("type").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => {}
        _ => return Err(Refusal::NoType { prefix }),
    }
    if let Some(validate) = validator {
        validate(wire, &body)?;
    }
    Ok(Message { to, body })
}

/// The `request` object of a Messangi envelope whose channel is WhatsApp.
fn messangi_request(body: &Value) -> Result<&serde_json::Map<String, Value>, Refusal> {
    match body.get("channel") {
        Some(Value::String(c)) if c == "WHATSAPP" => {}
        Some(other) => {
            return Err(Refusal::Channel {
                got: shorten(other),
            })
        }
        None => return Err(Refusal::NoChannel),
    }
    body.get("request")
        .and_then(Value::as_object)
        .ok_or(Refusal::NoRequest)
}

fn cloud_api_fields(body: &Value) -> Result<&serde_json::Map<String, Value>, Refusal> {
    match body.get("messaging_product") {
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(other) => {
            return Err(Refusal::Product {
                got: shorten(other),
            })
        }
        None => return Err(Refusal::NoProduct),
    }
    body.as_object().ok_or(Refusal::NotAnObject)
}

fn recipient(
    fields: &serde_json::Map<String, Value>,
    prefix: &'static str,
) -> Result<String, Refusal> {
    // The Cloud API addresses a user known only by a business-scoped id with `recipient`.
    if let (None, Some(id)) = (fields.get("to"), fields.get("recipient")) {
        let text = id.as_str().unwrap_or_default();
        return crate::identity::Bsuid::parse(text)
            .map(|b| b.as_str().to_string())
            .map_err(|error| Refusal::Recipient {
                prefix,
                error,
                got: shorten(id),
            });
    }
    let to = fields.get("to").ok_or(Refusal::NoTo { prefix })?;
    match to.as_str() {
        Some(s) if is_e164ish(s) => Ok(s.to_string()),
        _ => Err(Refusal::To {
            prefix,
            got: shorten(to),
        }),
    }
}

/// `+` (optional, as both providers accept it either way) then 7 to 15 digits, not starting with 0.
fn is_e164ish(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A JSON value for an error message, cut short so a huge field cannot flood the answer.
fn shorten(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn run(wire: Wire, body: Value) -> Result<Message, Refusal> {
        check(wire, body.to_string().as_bytes(), None)
    }

    #[test]
    fn accepts_well_formed_envelopes() {
        let m = json!({"channel":"WHATSAPP","request":{"from":"1555","to":"+15551234567","type":"text","message":"hi"}});
        assert_eq!(run(Wire::Messangi, m).unwrap().to, "+15551234567");
        let c = json!({"messaging_product":"whatsapp","to":"15551234567","type":"text","text":{"body":"hi"}});
        assert_eq!(run(Wire::CloudApi, c).unwrap().to, "15551234567");
        let b = json!({"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}});
        assert_eq!(
            run(Wire::CloudApi, b).unwrap().to,
            "US.13491208655302741918"
        );
        let bad = json!({"messaging_product":"whatsapp","recipient":"13491208655302741918","type":"text"});
        assert!(run(Wire::CloudApi, bad)
            .unwrap_err()
            .to_string()
            .contains("`recipient`"));
    }

    #[test]
    fn rejects_broken_envelopes_with_the_field_named() {
        let cases = [
            (
                Wire::Messangi,
                json!({"channel":"SMS","request":{"to":"+15551234567","type":"text"}}),
                "`channel`",
            ),
            (Wire::Messangi, json!({"channel":"WHATSAPP"}), "`request`"),
            (
                Wire::Messangi,
                json!({"channel":"WHATSAPP","request":{"type":"text"}}),
                "`request.to`",
            ),
            (
                Wire::Messangi,
                json!({"channel":"WHATSAPP","request":{"to":"555-CALL","type":"text"}}),
                "E.164",
            ),
            (
                Wire::Messangi,
                json!({"channel":"WHATSAPP","request":{"to":"+15551234567"}}),
                "`request.type`",
            ),
            (
                Wire::CloudApi,
                json!({"to":"+15551234567","type":"text"}),
                "`messaging_product`",
            ),
            (
                Wire::CloudApi,
                json!({"messaging_product":"whatsapp","to":"+0123","type":"text"}),
                "`to`",
            ),
            (Wire::CloudApi, json!([1, 2]), "JSON object"),
        ];
        for (wire, body, needle) in cases {
            let err = run(wire, body.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
        let err = check(Wire::CloudApi, b"{not json", None).unwrap_err();
        assert!(matches!(err, Refusal::NotJson(_)), "{err}");
    }

    #[test]
    fn runs_the_supplied_validator_last() {
        let v: Validator = Arc::new(|wire, body| match (wire, body.pointer("/text/body")) {
            (Wire::CloudApi, Some(b)) if b.as_str().is_some_and(|s| s.len() > 5) => {
                Err(BodyError::NotSessionType("long".into()))
            }
            _ => Ok(()),
        });
        let long = json!({"messaging_product":"whatsapp","to":"+15551234567","type":"text","text":{"body":"toolong"}});
        let err = check(Wire::CloudApi, long.to_string().as_bytes(), Some(&v)).unwrap_err();
        assert_eq!(err.to_string(), "`long` is not a session message type");
        // The envelope is checked first: a broken one never reaches the validator.
        let err = check(Wire::CloudApi, b"[1]", Some(&v)).unwrap_err();
        assert!(matches!(err, Refusal::NotAnObject), "{err}");
    }
}
