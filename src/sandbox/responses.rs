//! Answer bodies in the providers' shapes: success per wire, Cloud API error envelopes, the note's 429 body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::config::{phone_key, Wire};

/// Marker in a response's extensions: close the connection instead of sending this answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// A response that the connection layer turns into a closed connection (see `server.rs`).
pub(crate) fn dropped() -> Response {
    let mut response = StatusCode::OK.into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

pub(crate) fn success(wire: Wire, to: &str, id: &str) -> Response {
    let body = match wire {
        Wire::Messangi => json!({
            "status": "ACCEPTED",
            "messageId": format!("sbx-{id}"),
            "description": "Message accepted",
        }),
        Wire::CloudApi => json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": phone_key(to) }],
            "messages": [{ "id": format!("wamid.SBX{id}") }],
        }),
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// The provider note's 429 body, byte for byte.
pub(crate) fn too_many_requests() -> Response {
    let body = json!({ "errors": { "reason": "Too Many Requests" } });
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

pub(crate) fn invalid(details: &str, trace: &str) -> Response {
    cloud_error(
        StatusCode::BAD_REQUEST,
        100,
        "Invalid parameter",
        details,
        trace,
    )
}

pub(crate) fn unauthorized(trace: &str) -> Response {
    // The details say what is wrong without ever repeating what was sent.
    let details = "Missing or invalid access token: send `Authorization: Bearer <token>`.";
    cloud_error(
        StatusCode::UNAUTHORIZED,
        190,
        "Invalid OAuth access token",
        details,
        trace,
    )
}

pub(crate) fn window_closed(trace: &str) -> Response {
    let details = "Message failed to send because more than 24 hours have passed since the customer last replied to this number.";
    cloud_error(
        StatusCode::BAD_REQUEST,
        131047,
        "Re-engagement message",
        details,
        trace,
    )
}

pub(crate) fn fault(trace: &str) -> Response {
    let details = "Something went wrong (fault injected by the sandbox's fail rate).";
    cloud_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        131000,
        "Something went wrong",
        details,
        trace,
    )
}

fn cloud_error(status: StatusCode, code: u32, title: &str, details: &str, trace: &str) -> Response {
    let body = json!({
        "error": {
            "message": format!("(#{code}) {title}"),
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": trace,
        }
    });
    (status, Json(body)).into_response()
}
