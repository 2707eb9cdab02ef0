//! Answer bodies in the providers' shapes: success per wire, Cloud API error envelopes, the note's 429 body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper::body::{Body as HttpBody, Frame};
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

/// A success answer whose headers are complete (`Content-Length` announces the whole body) but
/// whose body stops halfway, when the connection fails.
pub(crate) fn cut(wire: Wire, to: &str, id: &str) -> Response {
    let full = Bytes::from(serde_json::to_vec(&success_body(wire, to, id)).unwrap_or_default());
    let half = full.slice(..full.len() / 2);
    let mut response = Response::new(Body::new(CutBody::new(half)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
    response
}

/// A body that yields its bytes, waits a moment (so the server flushes them to the socket), then
/// fails: hyper then closes the connection short of the announced length.
struct CutBody {
    first: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl CutBody {
    fn new(first: Bytes) -> CutBody {
        CutBody {
            first: Some(first),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("answer cut on purpose (sandbox cut rate)")]
struct Cut;

impl HttpBody for CutBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Cut))),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub(crate) fn success(wire: Wire, to: &str, id: &str) -> Response {
    (StatusCode::OK, Json(success_body(wire, to, id))).into_response()
}

/// The provider's message id for the sandbox's id suffix: in the answer and in every webhook.
pub(crate) fn provider_id(wire: Wire, id: &str) -> String {
    match wire {
        Wire::Messangi => format!("sbx-{id}"),
        Wire::CloudApi => format!("wamid.SBX{id}"),
    }
}

fn success_body(wire: Wire, to: &str, id: &str) -> serde_json::Value {
    match wire {
        Wire::Messangi => json!({
            "status": "ACCEPTED",
            "messageId": provider_id(wire, id),
            "description": "Message accepted",
        }),
        Wire::CloudApi => json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": phone_key(to) }],
            "messages": [{ "id": provider_id(wire, id) }],
        }),
    }
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
