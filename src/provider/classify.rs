//! Response classification: one send's HTTP status + body → what happened to the message
//! (api-reference §2.4). Meta advises keying on the Cloud API `error.code`, so the code is read
//! first and the HTTP status only decides when no code is present.

use serde_json::Value;

/// What one answered request means for the message and the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Accepted by the provider.
    Sent { provider_id: Option<String> },
    /// Throttled (429, 130429, 131056, 80007, 4): not sent; send again after the wait.
    Throttled,
    /// The 24-hour session window is closed (131047, 410, or a body saying so).
    WindowClosed,
    /// Not sent and not worth sending as is. `retryable` marks transient provider trouble;
    /// `code` is the provider's error code when the answer carried one.
    Failed {
        reason: String,
        retryable: bool,
        code: Option<i64>,
    },
    /// Every further send would fail the same way (auth, policy, spam limits): stop the run.
    Stop { reason: String },
    /// A server error without a clear code: the message may or may not have gone out.
    Unknown { reason: String },
}

/// Classify one answered send.
pub fn classify(status: u16, body: &[u8]) -> Class {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return Class::Sent {
            provider_id: json.as_ref().and_then(provider_id),
        };
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let reason = describe(status, error, body);
    if let Some(code) = code {
        if let Some(class) = by_code(code, &reason) {
            return class;
        }
    }
    by_status(status, code, reason, body)
}

/// Classes fixed by the Cloud API error code alone; `None` lets the status decide.
fn by_code(code: i64, reason: &str) -> Option<Class> {
    let failed = |retryable| Class::Failed {
        reason: reason.to_string(),
        retryable,
        code: Some(code),
    };
    let stop = || Class::Stop {
        reason: reason.to_string(),
    };
    Some(match code {
        130429 | 131056 | 80007 | 4 => Class::Throttled,
        131047 => Class::WindowClosed,
        131026 | 100 => failed(false),
        131000 | 131016 | 131057 | 2 => failed(true),
        190 | 0 | 10 | 200..=299 | 131048 | 368 | 131031 => stop(),
        _ => return None,
    })
}

fn by_status(status: u16, code: Option<i64>, reason: String, body: &[u8]) -> Class {
    match status {
        429 => Class::Throttled,
        410 => Class::WindowClosed,
        401 | 403 => Class::Stop { reason },
        _ if mentions_window(body) => Class::WindowClosed,
        500..=599 if code.is_some() => Class::Failed {
            reason,
            retryable: true,
            code,
        },
        500..=599 => Class::Unknown { reason },
        _ => Class::Failed {
            reason,
            retryable: false,
            code,
        },
    }
}

/// The heuristic for providers that pass Meta's text through without its code (§1.4).
fn mentions_window(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_lowercase();
    ["re-engagement", "24 hours", "session window"]
        .iter()
        .any(|needle| text.contains(needle))
}

/// `HTTP 400 (#100) Invalid parameter: details`, or the start of a body that is not the
/// Cloud API envelope.
fn describe(status: u16, error: Option<&Value>, body: &[u8]) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let message = text(error.and_then(|e| e.get("message")));
    let details = text(error.and_then(|e| e.pointer("/error_data/details")));
    let detail = match (message, details) {
        (Some(m), Some(d)) => format!("{m}: {d}"),
        (Some(m), None) => m,
        (None, Some(d)) => d,
        (None, None) => {
            let raw = String::from_utf8_lossy(body);
            raw.chars().take(200).collect::<String>().trim().to_string()
        }
    };
    if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {detail}")
    }
}

/// The provider's message id: `messages[0].id`, `messageId`, `id`, then `data.id`.
fn provider_id(json: &Value) -> Option<String> {
    ["/messages/0/id", "/messageId", "/id", "/data/id"]
        .iter()
        .find_map(|p| json.pointer(p))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
