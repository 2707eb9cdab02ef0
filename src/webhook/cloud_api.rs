//! Webhooks: the Cloud API's POST body (`entry[].changes[].value`) → statuses and inbound messages.

use super::WebhookError;
use super::{opt_text, text, unix_seconds, Event, Inbound, ParseError, Provider, Status, Step};
use serde_json::Value;

/// A whole POST body: `{"object": "whatsapp_business_account", "entry": [{"changes": [...]}]}`.
pub(super) fn body(v: &Value) -> Result<Vec<Event>, ParseError> {
    let entries = match v.get("entry") {
        Some(Value::Array(a)) => a,
        _ => {
            return Err(ParseError::new(
                "entry",
                "missing or not a list; a Cloud API webhook is {\"object\":…,\"entry\":[{\"changes\":[…]}]}",
            ))
        }
    };
    let mut events = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            return Err(ParseError::new(
                format!("entry[{i}].changes"),
                "missing or not a list",
            ));
        };
        for (j, change) in changes.iter().enumerate() {
            // Other fields (account updates, template reviews…) carry no sends or inbound
            // messages; they are valid webhooks with nothing for us.
            if change
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or("messages")
                != "messages"
            {
                continue;
            }
            let path = format!("entry[{i}].changes[{j}].value");
            let Some(value) = change.get("value") else {
                return Err(ParseError::new(path, "missing"));
            };
            events.extend(self::value(value, &path)?);
        }
    }
    Ok(events)
}

/// One `value`: `statuses[]` and/or `messages[]`, with `contacts[]` naming the senders.
pub(super) fn value(v: &Value, path: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (k, s) in list(v, "statuses", path)?.iter().enumerate() {
        events.push(Event::Status(status(s, &format!("{path}.statuses[{k}]"))?));
    }
    let contacts = list(v, "contacts", path)?;
    for (k, m) in list(v, "messages", path)?.iter().enumerate() {
        events.push(Event::Inbound(inbound(
            m,
            contacts,
            &format!("{path}.messages[{k}]"),
        )?));
    }
    Ok(events)
}

fn list<'a>(v: &'a Value, field: &str, path: &str) -> Result<&'a [Value], ParseError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(ParseError::new(format!("{path}.{field}"), "not a list")),
    }
}

fn status(s: &Value, path: &str) -> Result<Status, ParseError> {
    let step = match s.get("status").and_then(Value::as_str) {
        Some("sent") => Step::Sent,
        Some("delivered") => Step::Delivered,
        Some("read") => Step::Read,
        Some("failed") => Step::Failed,
        Some(other) => {
            return Err(ParseError::new(
                format!("{path}.status"),
                format!(
                "`{other}` is not a status; the Cloud API sends sent, delivered, read or failed"
            ),
            ))
        }
        None => return Err(ParseError::new(format!("{path}.status"), "missing")),
    };
    let errors = list(s, "errors", path)?
        .iter()
        .enumerate()
        .map(|(e, err)| {
            let code = err.get("code").and_then(Value::as_i64).ok_or_else(|| {
                ParseError::new(
                    format!("{path}.errors[{e}].code"),
                    "missing or not a number",
                )
            })?;
            let title = opt_text(err, "title")
                .or_else(|| opt_text(err, "message"))
                .unwrap_or_default();
            Ok(WebhookError { code, title })
        })
        .collect::<Result<Vec<_>, ParseError>>()?;
    Ok(Status {
        provider: Provider::CloudApi,
        provider_id: text(s, "id", path)?,
        key: opt_text(s, "biz_opaque_callback_data"),
        step,
        at: unix_seconds(s.get("timestamp"), &format!("{path}.timestamp"))?,
        recipient: opt_text(s, "recipient_id"),
        recipient_user_id: opt_text(s, "recipient_user_id"),
        errors,
    })
}

fn inbound(m: &Value, contacts: &[Value], path: &str) -> Result<Inbound, ParseError> {
    let from = opt_text(m, "from");
    let from_user_id = opt_text(m, "from_user_id");
    if from.is_none() && from_user_id.is_none() {
        return Err(ParseError::new(
            format!("{path}.from"),
            "missing; an inbound message names its sender in `from` (wa_id) or `from_user_id` (BSUID)",
        ));
    }
    // The contact whose wa_id or user id is this sender's; a single contact is the sender.
    let contact = contacts
        .iter()
        .find(|c| {
            (from.is_some() && opt_text(c, "wa_id") == from)
                || (from_user_id.is_some() && opt_text(c, "user_id") == from_user_id)
        })
        .or(if contacts.len() == 1 {
            contacts.first()
        } else {
            None
        });
    Ok(Inbound {
        provider: Provider::CloudApi,
        message_id: text(m, "id", path)?,
        from,
        from_user_id: from_user_id.or_else(|| contact.and_then(|c| opt_text(c, "user_id"))),
        at: unix_seconds(m.get("timestamp"), &format!("{path}.timestamp"))?,
        kind: opt_text(m, "type").unwrap_or_else(|| "unknown".to_string()),
        reply_to: m.get("context").and_then(|c| opt_text(c, "id")),
        profile_name: contact
            .and_then(|c| c.get("profile"))
            .and_then(|p| opt_text(p, "name")),
    })
}
