//! Routes and the per-request pipeline: HTTP request → auth, checks, quota, window, faults → answer.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::config::{phone_key, Wire};
use super::headers;
use super::limiter::Decision;
use super::responses;
use super::state::{App, Inner, Stats};
use super::validate::{self, Message};

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/notification", post(messangi))
        .route("/{version}/{phone_number_id}/messages", post(cloud_api))
        .route("/_sandbox/stats", get(stats))
        .with_state(app)
}

async fn messangi(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(&app, Wire::Messangi, &headers, &body).await
}

async fn cloud_api(
    State(app): State<Arc<App>>,
    Path(_): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&app, Wire::CloudApi, &headers, &body).await
}

async fn stats(State(app): State<Arc<App>>) -> Json<Stats> {
    Json(app.stats())
}

/// The body has been read in full by now, so even a dropped answer follows a complete request.
async fn answer(app: &App, wire: Wire, headers: &HeaderMap, body: &[u8]) -> Response {
    let response = handle(app, wire, headers, body);
    if !app.delay.is_zero() {
        tokio::time::sleep(app.delay).await;
    }
    response
}

fn handle(app: &App, wire: Wire, headers: &HeaderMap, body: &[u8]) -> Response {
    let now = SystemTime::now();
    let epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    if !authorized(app, headers) {
        let mut inner = app.lock();
        inner.stats.rejected_auth += 1;
        let quota = inner.limiter.as_mut().map(|l| l.peek(epoch));
        let quota = advertised(&mut inner, quota, epoch, false);
        let response = responses::unauthorized(&trace_id(&mut inner));
        return with_quota(app, response, quota, epoch, false);
    }
    // Outside the lock: the supplied validator may take its time.
    let parsed = validate::check(wire, body, app.validator.as_ref());
    let mut inner = app.lock();
    // Every authenticated call counts against the quota, as at the provider's gateway.
    let quota = inner.limiter.as_mut().map(|l| l.check(epoch));
    let over = quota.is_some_and(|q| !q.allowed);
    let quota = advertised(&mut inner, quota, epoch, true);
    let response = match parsed {
        Err(details) => {
            inner.stats.rejected_invalid += 1;
            responses::invalid(&details.to_string(), &trace_id(&mut inner))
        }
        Ok(_) if over => {
            inner.stats.rejected_rate += 1;
            responses::too_many_requests()
        }
        Ok(msg) => admitted(app, &mut inner, wire, &msg, now),
    };
    with_quota(app, response, quota, epoch, over)
}

/// Past the quota: session window, injected faults, then delivery.
fn admitted(app: &App, inner: &mut Inner, wire: Wire, msg: &Message, now: SystemTime) -> Response {
    if window_closed(app, &msg.to, now) {
        inner.stats.rejected_window += 1;
        return responses::window_closed(&trace_id(inner));
    }
    if inner.roll(app.fail_rate) {
        inner.stats.faults += 1;
        return responses::fault(&trace_id(inner));
    }
    let drop = inner.roll(app.drop_rate);
    let cut = !drop && inner.roll(app.cut_rate);
    inner.deliver(now, &msg.to, &msg.body);
    // The platform assigns the id when it accepts the request, whether or not its answer
    // arrives; its webhooks carry that id even for a dropped answer.
    let id = inner.next_id();
    if let Some(emitter) = inner.emitter.as_mut() {
        let provider_id = responses::provider_id(wire, &id);
        emitter.outcome(wire, &msg.body, &msg.to, &provider_id, now);
    }
    if drop {
        inner.stats.dropped += 1;
        return responses::dropped();
    }
    if cut {
        inner.stats.cut += 1;
        return responses::cut(wire, &msg.to, &id);
    }
    responses::success(wire, &msg.to, &id)
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = app.token.as_deref() else {
        return true;
    };
    let sent = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = sent.and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    bearer.is_some_and(|b| b.trim() == token)
}

/// Closed when the recipient's last inbound message is older than the window length.
/// Recipients without a known inbound time are treated as open.
fn window_closed(app: &App, to: &str, now: SystemTime) -> bool {
    app.inbound
        .get(&phone_key(to))
        .and_then(|last| last.checked_add(app.window_length))
        .is_some_and(|end| now > end)
}

fn with_quota(
    app: &App,
    mut response: Response,
    quota: Option<Decision>,
    epoch: Duration,
    over: bool,
) -> Response {
    if let (Some(rate), Some(quota)) = (app.rate, quota) {
        let rejected = over && response.status() == StatusCode::TOO_MANY_REQUESTS;
        headers::apply(
            response.headers_mut(),
            app.dialect,
            rate,
            &quota,
            epoch,
            rejected,
        );
    }
    response
}

/// What the headers report: the enforced limiter's decision, or the advertised one's when the
/// server's headers describe another quota than it enforces.
fn advertised(
    inner: &mut Inner,
    real: Option<Decision>,
    epoch: Duration,
    take: bool,
) -> Option<Decision> {
    match inner.advertised.as_mut() {
        Some(l) if take => Some(l.check(epoch)),
        Some(l) => Some(l.peek(epoch)),
        None => real,
    }
}

fn trace_id(inner: &mut Inner) -> String {
    format!("Sbx{}", inner.next_id())
}
