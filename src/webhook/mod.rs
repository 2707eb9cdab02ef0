//! Webhooks: one line of a webhook log (a provider's POST body, as JSON) → the typed events it
//! carries: outcomes of our sends (`Status`) and messages users wrote to us (`Inbound`).
//!
//! A *webhook log* is a JSON-lines file, one POST body per line, exactly as the provider posted
//! it; `webhook --listen` and `sandbox --webhook-log` write it, `ingest` and inbox recipients
//! read it. Parsing is lenient about fields it does not use (providers add fields over time) and
//! strict about the ones it does: an event without its id or time cannot be deduplicated or
//! ordered, so it is an error with the JSON path, not a silently skipped record.

mod cloud_api;
mod messangi;
pub mod receiver;
pub mod signature;

use serde_json::Value;

/// What a webhook line says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Status(Status),
    Inbound(Inbound),
}

/// Which provider's vocabulary a line was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    CloudApi,
    Messangi,
}

/// The outcome of one of our sends, as the provider reports it, possibly days later, possibly
/// twice and in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub provider: Provider,
    /// The provider's message id (Cloud API `wamid.…`, Messangi `id`): what our send's answer
    /// carried when it was not lost.
    pub provider_id: String,
    /// Our send key, echoed (`biz_opaque_callback_data` / `externalId`); absent when the provider
    /// does not echo it (the Cloud API documents it for sent/delivered/read only).
    pub key: Option<String>,
    pub step: Step,
    /// Unix seconds, the provider's clock.
    pub at: i64,
    /// Who it was for, as the provider names them: wa_id digits (Cloud API `recipient_id`) or
    /// E.164 digits (Messangi `to`).
    pub recipient: Option<String>,
    /// The business-scoped user id, when the provider gives one.
    pub recipient_user_id: Option<String>,
    /// Only on `Failed`: the provider's error codes, first the one that decided it.
    pub errors: Vec<WebhookError>,
}

impl Status {
    /// The id deduplication uses: a provider retries the same (message, step, time) for days.
    pub fn event_id(&self) -> String {
        format!("{}:{}:{}", self.provider_id, self.step.as_str(), self.at)
    }

    /// The first error code, if the provider gave one.
    pub fn error_code(&self) -> Option<i64> {
        self.errors.first().map(|e| e.code)
    }
}

/// The steps of a sent message. The order is the order of progress: a status never moves a
/// message to an earlier step (`read` implies `delivered`, which may never arrive on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Sent => "sent",
            Step::Delivered => "delivered",
            Step::Read => "read",
            Step::Failed => "failed",
        }
    }
}

/// A provider error reported on a `failed` status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookError {
    pub code: i64,
    pub title: String,
}

/// A message a user sent to the business: it opens (or renews) their 24-hour window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub provider: Provider,
    /// The provider's id of the inbound message (deduplication key).
    pub message_id: String,
    /// The sender's wa_id (digits; Mexican mobiles arrive as `521…`), when given.
    pub from: Option<String>,
    /// The sender's business-scoped user id (`CC.digits`), when given. A user with a username
    /// may arrive with only this.
    pub from_user_id: Option<String>,
    /// Unix seconds, the provider's clock: the start of the user's window.
    pub at: i64,
    /// The message type (`text`, `button`, `interactive`, …).
    pub kind: String,
    /// The provider id of the message this one answers (`context.id`), when it is a reply.
    pub reply_to: Option<String>,
    /// The sender's profile name from the same payload's `contacts[]`.
    pub profile_name: Option<String>,
}

impl Inbound {
    /// The id deduplication uses.
    pub fn event_id(&self) -> &str {
        &self.message_id
    }
}

/// Why a line is not a webhook we can read: where in the JSON, what is wrong, what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ParseError {
    /// A JSON path into the line, e.g. `entry[0].changes[1].value.statuses[2].timestamp`, or `$`
    /// for the line as a whole.
    pub path: String,
    pub problem: String,
}

impl ParseError {
    fn new(path: impl Into<String>, problem: impl Into<String>) -> ParseError {
        ParseError {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Parses one line of a webhook log. Accepts a Cloud API POST body (`{"object", "entry": […]}`),
/// a bare Cloud API `value` (`{"statuses": […]}` / `{"messages": […]}`, as some relays forward
/// it), or a Messangi callback (`{"callback", "externalId", …}`). A line may carry several events
/// (the Cloud API batches) or none (a change of a field we do not use, such as account updates).
pub fn parse_line(line: &str) -> Result<Vec<Event>, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        ParseError::new(
            "$",
            format!("not JSON ({e}); a webhook log has one provider POST body per line"),
        )
    })?;
    let Value::Object(obj) = &v else {
        return Err(ParseError::new(
            "$",
            "not a JSON object; a webhook log has one provider POST body per line",
        ));
    };
    if obj.contains_key("entry") || obj.contains_key("object") {
        cloud_api::body(&v)
    } else if obj.contains_key("statuses")
        || obj.contains_key("messages")
        || obj.contains_key("messaging_product")
    {
        cloud_api::value(&v, "$")
    } else if obj.contains_key("callback") || obj.contains_key("externalId") {
        messangi::callback(&v).map(|e| vec![e])
    } else {
        Err(ParseError::new(
            "$",
            "neither a Cloud API webhook (`entry`, or a `value` with `statuses`/`messages`) nor a Messangi callback (`callback`, `externalId`)",
        ))
    }
}

/// A Unix-seconds time as providers write it: a string of digits (Cloud API) or a number.
fn unix_seconds(v: Option<&Value>, path: &str) -> Result<i64, ParseError> {
    match v {
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
            ParseError::new(
                path,
                format!("`{s}` is not Unix seconds (e.g. \"1749416383\")"),
            )
        }),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ParseError::new(path, format!("{n} is not whole Unix seconds"))),
        Some(_) => Err(ParseError::new(
            path,
            "not a time; expected Unix seconds as a string, e.g. \"1749416383\"",
        )),
        None => Err(ParseError::new(
            path,
            "missing; every event needs its time to be ordered",
        )),
    }
}

/// A required, non-empty string field.
fn text(v: &Value, field: &str, path: &str) -> Result<String, ParseError> {
    match v.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(ParseError::new(
            format!("{path}.{field}"),
            "not a non-empty string",
        )),
        None => Err(ParseError::new(format!("{path}.{field}"), "missing")),
    }
}

/// An optional string field (numbers are taken as their digits; empty strings as absent).
fn opt_text(v: &Value, field: &str) -> Option<String> {
    match v.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
