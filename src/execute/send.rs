//! One recipient's sends: its wire bodies → paced, classified attempts, in order.

use super::{Event, Shared, Tally};
use crate::campaign::UserId;
use crate::ledger::{Key, Outcome, State};
use crate::provider::{classify, Class};
use crate::ratelimit::{parse_signal, Pacer, Signal};
use jiff::Timestamp;
use std::sync::atomic::Ordering;
use std::sync::{MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// After this many connection failures in a row for one message the provider is unreachable
/// and the run stops.
const MAX_CONNECT_FAILURES: u32 = 5;
/// Waits shorter than this are pacing, not worth announcing.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(1);

/// One recipient's work.
pub(crate) struct Job {
    to: UserId,
    deadline: Timestamp,
    /// The bodies still to send, with their message index.
    requests: Vec<(usize, Vec<u8>)>,
    /// How the messages settled by earlier runs ended, as it bears on the rest.
    start: End,
}

impl Job {
    /// Leaves out messages earlier runs settled; if one of those was not delivered, the rest
    /// are not sent either (messages to one recipient go in order).
    pub fn new(
        to: UserId,
        deadline: Timestamp,
        requests: Vec<(usize, Vec<u8>)>,
        settled: &std::collections::HashMap<Key, State>,
    ) -> Job {
        let mut start = End::Sent;
        let requests = if settled.is_empty() {
            requests
        } else {
            let number = to.to_string();
            requests
                .into_iter()
                .filter(|(index, _)| {
                    let key = Key::new(number.clone(), *index as u32);
                    match settled.get(&key) {
                        None | Some(State::Pending) => true,
                        Some(state) => {
                            start = start.after(*state);
                            false
                        }
                    }
                })
                .collect()
        };
        Job {
            to,
            deadline,
            requests,
            start,
        }
    }
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The provider answered; its answer classified.
    Answered(Class),
    /// The connection was never established, so nothing was sent: try again later.
    NotConnected(String),
    /// The request may have gone out but no answer came back (timeout, connection reset).
    Lost(String),
}

/// A transport error → whether the request can have reached the provider.
pub fn classify_transport(e: &reqwest::Error) -> Attempt {
    // Only a failed connect proves that no byte of the request was written.
    if e.is_connect() {
        Attempt::NotConnected(format!("cannot connect: {}", chain(e)))
    } else if e.is_timeout() {
        Attempt::Lost(format!("no answer within the timeout: {}", chain(e)))
    } else {
        Attempt::Lost(format!("connection failed mid-request: {}", chain(e)))
    }
}

/// The error with its causes, which name the actual network problem.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// How one message ended, for the recipient's remaining messages.
#[derive(Clone, Copy)]
enum End {
    Sent,
    Expired,
    NotDelivered,
    Stopped,
}

impl End {
    /// The combined effect of an earlier run's outcome `state` after `self`.
    fn after(self, state: State) -> End {
        match (self, state) {
            (End::Sent, State::Expired) => End::Expired,
            (End::Sent, State::Failed | State::Unknown | State::Attempting) => End::NotDelivered,
            (end, _) => end,
        }
    }
}

/// Sends one recipient's messages in order; after a message that was not delivered, the rest
/// are not sent.
pub(crate) async fn recipient(shared: &Shared, job: Job) -> Tally {
    let mut t = Tally::default();
    let to = job.to;
    let requests = job.requests;
    let mut end = job.start;
    let number = to.to_string();
    for (index, request) in &requests {
        let key = Key::new(number.clone(), *index as u32);
        let m = Message {
            to,
            key: &key,
            index: *index,
            deadline: job.deadline,
        };
        end = match end {
            End::Sent => message(shared, &m, request, &mut t).await,
            End::Expired => {
                let reason = "window_closed (earlier message expired)".to_string();
                settle(shared, &mut t, &m, Outcome::Expired { reason })
            }
            End::NotDelivered => {
                let reason = "earlier message not delivered".to_string();
                settle(shared, &mut t, &m, Outcome::Skipped { reason })
            }
            End::Stopped => {
                t.not_started += 1;
                End::Stopped
            }
        };
    }
    t
}

/// The message being sent: who to, its ledger row, its position, its window.
struct Message<'a> {
    to: UserId,
    key: &'a Key,
    index: usize,
    deadline: Timestamp,
}

/// Sends one message until it has a final outcome (throttles and failed connects repeat it).
/// With a ledger, `attempting` is committed before each request leaves and the outcome after.
async fn message(shared: &Shared, m: &Message<'_>, request: &[u8], t: &mut Tally) -> End {
    let mut connect_failures = 0;
    loop {
        if shared.stopped() || past_not_after(shared) {
            t.not_started += 1;
            return End::Stopped;
        }
        if let Some(reason) = too_late(m.deadline) {
            return settle(shared, t, m, Outcome::Expired { reason });
        }
        let Some(slot_at) = wait_turn(shared).await else {
            continue;
        };
        // The wait may have been long: the window is checked again right before sending.
        if past_not_after(shared) {
            t.not_started += 1;
            return End::Stopped;
        }
        if let Some(reason) = too_late(m.deadline) {
            return settle(shared, t, m, Outcome::Expired { reason });
        }
        if let Some(ledger) = &shared.ledger {
            if let Err(e) = ledger.attempting(m.key.clone()).await {
                // Not recorded, so not sent: the row stays as it was for the next run.
                shared.stop(format!("cannot record the attempt in the ledger: {e}"));
                t.not_started += 1;
                return End::Stopped;
            }
        }
        let outcome = match attempt(shared, request, slot_at).await {
            Attempt::Answered(Class::Sent { provider_id }) => Outcome::Sent { provider_id },
            Attempt::Answered(Class::Throttled) => {
                requeue(shared, m.key, "throttled (429); sent again after the reset");
                continue;
            }
            Attempt::NotConnected(reason) => {
                requeue(shared, m.key, &reason);
                connect_failures += 1;
                if connect_failures >= MAX_CONNECT_FAILURES {
                    shared.stop(format!("provider unreachable: {reason}"));
                }
                backoff(shared, connect_failures, reason).await;
                continue;
            }
            Attempt::Answered(Class::WindowClosed) => Outcome::Expired {
                reason: "window_closed (the provider refused: window closed)".into(),
            },
            Attempt::Answered(Class::Failed {
                reason,
                retryable,
                code,
            }) => {
                let more = if retryable {
                    " (transient; not retried)"
                } else {
                    ""
                };
                Outcome::Failed {
                    reason: format!("{reason}{more}"),
                    retryable,
                    code,
                }
            }
            Attempt::Answered(Class::Stop { reason }) => {
                // A stop-class answer (bad token, account blocked) proves the provider refused
                // the request itself: nothing was delivered. The row goes back to `pending`, so
                // the run after the operator fixes the cause sends it, and the recipient's later
                // messages stay `pending` too instead of failing behind it.
                shared.stop(format!("the provider refuses every send: {reason}"));
                let why =
                    format!("{reason} (refused before delivery; sent once the cause is fixed)");
                requeue(shared, m.key, &why);
                t.not_started += 1;
                return End::Stopped;
            }
            Attempt::Answered(Class::Unknown { reason }) | Attempt::Lost(reason) => {
                Outcome::Unknown { reason }
            }
        };
        return settle(shared, t, m, outcome);
    }
}

/// A final outcome of one message: counted, recorded in the ledger and reported. Returns what it
/// means for the recipient's remaining messages.
fn settle(shared: &Shared, t: &mut Tally, m: &Message<'_>, outcome: Outcome) -> End {
    let (to, index) = (m.to, m.index);
    shared.record(m.key, outcome.clone());
    let (event, end) = match outcome {
        Outcome::Sent { provider_id } => {
            t.sent += 1;
            let event = Event::Sent {
                to,
                index,
                provider_id,
            };
            (event, End::Sent)
        }
        Outcome::Expired { reason } => {
            t.expired += 1;
            (Event::Expired { to, index, reason }, End::Expired)
        }
        Outcome::Failed { reason, .. } | Outcome::Skipped { reason } => {
            t.failed += 1;
            (Event::Failed { to, index, reason }, End::NotDelivered)
        }
        Outcome::Unknown { reason } => {
            t.unknown += 1;
            (Event::Unknown { to, index, reason }, End::NotDelivered)
        }
        // Certainly not sent and back to `pending` (`message` uses `requeue` for this and sends
        // again; settling it means giving up for this run).
        Outcome::Requeue { .. } => {
            t.not_started += 1;
            return End::Stopped;
        }
    };
    shared.emit(event);
    end
}

/// The request certainly did not go out: its row goes back to `pending` (so a crash while
/// waiting to send it again does not leave it `unknown`).
fn requeue(shared: &Shared, key: &Key, reason: &str) {
    let reason = reason.to_string();
    shared.record(key, Outcome::Requeue { reason });
}

/// `Some(reason)` when the recipient's window has closed.
fn too_late(deadline: Timestamp) -> Option<String> {
    (Timestamp::now() > deadline).then(|| format!("window_closed (deadline {deadline})"))
}

/// Stops the run once the campaign's `not_after` has passed: nothing more is sent, and what is
/// left stays `pending` (the campaign ended; its recipients' windows did not).
fn past_not_after(shared: &Shared) -> bool {
    let Some(n) = shared.not_after.filter(|n| Timestamp::now() > *n) else {
        return false;
    };
    shared.stop(format!("the campaign's not_after ({n}) has passed"));
    true
}

/// Waits for a send slot and takes it. The slot is reserved in the pacer's schedule first and
/// slept towards, so concurrent tasks each wake once, at their own slot, and the schedule keeps
/// its planned instants however late the timer fires (see `ratelimit::Slot`). The slot's
/// instant, or `None` when the run stopped while waiting or the slot was withdrawn (the limits
/// tightened meanwhile, or the wake-up came too late); the caller then checks again and waits
/// anew.
async fn wait_turn(shared: &Shared) -> Option<Instant> {
    let slot = lock_pacer(shared).reserve(Instant::now());
    if slot.at.saturating_duration_since(Instant::now()) >= ANNOUNCE_WAIT {
        announce(shared, slot.at, "rate limit".into());
    }
    if slot.at > Instant::now() {
        let mut stop = shared.stop_tx.subscribe();
        tokio::select! {
            _ = tokio::time::sleep_until(slot.at) => {}
            _ = stop.wait_for(Option::is_some) => {
                lock_pacer(shared).release(slot);
                return None;
            }
        }
    }
    lock_pacer(shared)
        .confirm(slot, Instant::now())
        .then_some(slot.at)
}

fn lock_pacer(shared: &Shared) -> MutexGuard<'_, Pacer> {
    shared.pacer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Emits `Waiting` unless a wait ending at about the same time was already announced.
fn announce(shared: &Shared, until: Instant, reason: String) {
    let mut last = shared
        .last_wait
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let near = |l: Instant| until <= l + Duration::from_millis(500);
    if last.is_some_and(near) {
        return;
    }
    *last = Some(until);
    let wall = Timestamp::now()
        .checked_add(until.saturating_duration_since(Instant::now()))
        .unwrap_or(Timestamp::MAX);
    shared.emit(Event::Waiting {
        until: wall,
        reason,
    });
}

/// Exponential wait after the n-th failed connect in a row (n ≥ 1): 2 s, 4 s, 8 s, 16 s; the
/// `MAX_CONNECT_FAILURES`-th stops the run, so its wait ends at once.
async fn backoff(shared: &Shared, failures: u32, reason: String) {
    let wait = Duration::from_secs(1 << failures.min(5)).min(Duration::from_secs(30));
    let until = Instant::now() + wait;
    announce(shared, until, reason);
    let mut stop = shared.stop_tx.subscribe();
    tokio::select! {
        _ = tokio::time::sleep_until(until) => {}
        _ = stop.wait_for(Option::is_some) => {}
    }
}

/// Sends one request (its body exactly as given) in the slot at `slot_at` and feeds the
/// answer's rate-limit signal to the pacer.
async fn attempt(shared: &Shared, body: &[u8], slot_at: Instant) -> Attempt {
    let builder = shared.target.post(&shared.client);
    let body = body.to_vec();
    let started = Instant::now();
    // The ledger commit and a late timer may have delayed it past its slot.
    let entry = lock_pacer(shared).departed(slot_at, started);
    let url = crate::log::redact_url(shared.target.url());
    tracing::debug!(target: crate::log::HTTP, body = %String::from_utf8_lossy(&body), "POST {url} (Authorization: Bearer ***)");
    let response = match builder.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(target: crate::log::HTTP, elapsed_ms = started.elapsed().as_millis() as u64, "POST {url} → no answer: {}", chain(&e));
            return classify_transport(&e);
        }
    };
    let at = Instant::now();
    let status = response.status().as_u16();
    let signal = signal(response.headers());
    // A body cut short (headers complete, connection lost mid-body) still has its status line,
    // and the status is the provider's verdict: a 2xx means it accepted the message, so it is
    // `sent` (without a provider id, which was in the lost part); recording it `unknown` would
    // invite `--resend-unknown` to deliver it twice. Other statuses are classified without the
    // body: 429 throttled, a bare 5xx unknown, 401/403 stop.
    let bytes = response.bytes().await.unwrap_or_default();
    tracing::info!(target: crate::log::HTTP, elapsed_ms = started.elapsed().as_millis() as u64, "POST {url} → {status}");
    tracing::debug!(target: crate::log::HTTP, body = %String::from_utf8_lossy(&bytes), "answer to POST {url}");
    let class = classify(status, &bytes);
    let throttled = class == Class::Throttled;
    if throttled {
        shared.throttled.fetch_add(1, Ordering::Relaxed);
    }
    let (notes, rate) = {
        let mut pacer = lock_pacer(shared);
        pacer.observe_rtt(at - started);
        pacer.answered(entry, at);
        pacer.observe(at, &signal, throttled);
        (pacer.take_notes(), pacer.effective_rate())
    };
    for reason in notes {
        shared.emit(Event::Pace { rate, reason });
    }
    Attempt::Answered(class)
}

fn signal(headers: &reqwest::header::HeaderMap) -> Signal {
    let pairs = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    parse_signal(pairs, SystemTime::now())
}
