//! Webhooks: a Messangi callback → a status or an inbound message.
//!
//! Messangi documents the callback's envelope (`callback`, `date`, `externalId`, `campaignId`,
//! `from`, `id`) but not its status vocabulary nor an inbound shape. What this reads is our
//! documented assumption (README, "Webhooks"): `callback` is `status` (the default) or `inbound`;
//! statuses are `SENT`, `DELIVERED`, `READ`, `FAILED` in any case (also `UNDELIVERED`,
//! `REJECTED`, `ERROR` as failures), with `errorCode`/`errorMessage` on failures; `date` is
//! RFC 3339 or Unix seconds.

use super::WebhookError;
use super::{opt_text, text, unix_seconds, Event, Inbound, ParseError, Provider, Status, Step};
use serde_json::Value;

pub(super) fn callback(v: &Value) -> Result<Event, ParseError> {
    let kind = v
        .get("callback")
        .and_then(Value::as_str)
        .unwrap_or("status")
        .to_ascii_lowercase();
    let at = time(v.get("date"))?;
    match kind.as_str() {
        "inbound" | "message" | "mo" => Ok(Event::Inbound(Inbound {
            provider: Provider::Messangi,
            message_id: text(v, "id", "$")?,
            from: Some(text(v, "from", "$")?.trim_start_matches('+').to_string()),
            from_user_id: None,
            at,
            kind: opt_text(v, "type").unwrap_or_else(|| "text".to_string()),
            reply_to: opt_text(v, "replyTo"),
            profile_name: opt_text(v, "name"),
        })),
        _ => {
            let raw = text(v, "status", "$")?;
            let step = match raw.to_ascii_uppercase().as_str() {
                "SENT" | "ACCEPTED" => Step::Sent,
                "DELIVERED" => Step::Delivered,
                "READ" => Step::Read,
                "FAILED" | "UNDELIVERED" | "REJECTED" | "ERROR" => Step::Failed,
                _ => {
                    return Err(ParseError::new(
                        "status",
                        format!(
                        "`{raw}` is not a status we know; expected SENT, DELIVERED, READ or FAILED"
                    ),
                    ))
                }
            };
            let errors = match v.get("errorCode").and_then(|c| {
                c.as_i64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            }) {
                Some(code) => vec![WebhookError {
                    code,
                    title: opt_text(v, "errorMessage").unwrap_or_default(),
                }],
                None => Vec::new(),
            };
            Ok(Event::Status(Status {
                provider: Provider::Messangi,
                provider_id: text(v, "id", "$")?,
                key: opt_text(v, "externalId"),
                step,
                at,
                recipient: opt_text(v, "to").map(|t| t.trim_start_matches('+').to_string()),
                recipient_user_id: None,
                errors,
            }))
        }
    }
}

/// `date`: RFC 3339 (Messangi's documented form, UTC) or Unix seconds.
fn time(v: Option<&Value>) -> Result<i64, ParseError> {
    if let Some(Value::String(s)) = v {
        if let Ok(t) = s.parse::<jiff::Timestamp>() {
            return Ok(t.as_second());
        }
        if s.trim().parse::<i64>().is_err() {
            return Err(ParseError::new(
                "date",
                format!("`{s}` is not a time; expected RFC 3339, e.g. \"2026-11-29T10:00:00Z\""),
            ));
        }
    }
    unix_seconds(v, "date")
}
