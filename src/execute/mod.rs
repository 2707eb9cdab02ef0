//! Execution: a campaign's plan + the wire bodies to send (`Bodies`: the ledger's frozen
//! payloads on a real run) + HTTP client + token + pacer → paced sends, reported as `Event`s,
//! ending in a `Summary` with the run's exit code.
//!
//! Delivery is *at most once*: only what certainly did not go out is sent again (429s and
//! throttling codes, connections that were never established). A request that may have
//! reached the provider without a clear answer is `unknown` and never repeated. Each
//! recipient's messages go in order; many recipients are served concurrently when the rate is
//! high (see [`in_flight`]).

mod send;
mod target;

use crate::campaign::{Campaign, UserId};
use crate::exit::Exit;
use crate::ledger::{self, Key, State};
use crate::plan::Plan;
use crate::ratelimit::{Pacer, Rate};
use crate::render::{Requests, Status};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc::UnboundedSender, watch, Semaphore};
use tokio::task::JoinSet;

pub use send::{classify_transport, Attempt};

/// One recipient's messages: (message index, body bytes), in message order.
pub type Messages = Vec<(usize, Vec<u8>)>;

/// What the executor sends: each recipient's wire bodies, exactly as they go out.
pub trait Bodies: Sync {
    /// The messages of each recipient of `block` (campaign indexes, in plan order), in the same
    /// order: (message index, body bytes), in message order. Asked a block at a time
    /// ([`FETCH_BLOCK`] recipients), so a reader can fetch them from a ledger in one go.
    fn fetch(
        &self,
        campaign: &Campaign,
        block: &[usize],
    ) -> Result<Vec<Messages>, ledger::LedgerError>;
}

/// Recipients whose bodies are asked for at once: a block of the plan, read from the ledger in
/// one transaction (SQLite) or one round trip (PostgreSQL) while only that block is held.
pub const FETCH_BLOCK: usize = 1024;

/// Without a ledger (a run of the library, the tests), the rendered requests themselves.
impl Bodies for Requests {
    fn fetch(
        &self,
        campaign: &Campaign,
        block: &[usize],
    ) -> Result<Vec<Messages>, ledger::LedgerError> {
        Ok(block
            .iter()
            .map(|&recipient| match self.status(recipient) {
                Status::Ready => Requests::bodies(self, campaign, recipient)
                    .into_iter()
                    .map(|(i, b)| (i, b.into_bytes()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect())
    }
}

/// One state change of the run, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started {
        total: u64,
        /// The declared rate (the pace until the server says otherwise).
        rate: Rate,
        /// Each planned request's deadline, in sending (earliest-deadline-first) order, so
        /// progress can count who is expected to expire at the pace in force. Shared, not
        /// copied: two million of them are 32 MB.
        deadlines: Arc<[Timestamp]>,
    },
    Sent {
        to: UserId,
        index: usize,
        provider_id: Option<String>,
    },
    Expired {
        to: UserId,
        index: usize,
        reason: String,
    },
    Failed {
        to: UserId,
        index: usize,
        reason: String,
    },
    Unknown {
        to: UserId,
        index: usize,
        reason: String,
    },
    /// Nothing can be sent before `until` (rate limit, 429, unreachable provider).
    Waiting {
        until: Timestamp,
        reason: String,
    },
    /// The pace changed: `rate` is now the slowest limit enforced, for `reason` (a policy the
    /// server announced, a 429 without one, a probe back up).
    Pace {
        rate: Rate,
        reason: String,
    },
    /// The run stops issuing requests; in-flight ones finish.
    Stopping {
        reason: String,
    },
    Finished {
        summary: Summary,
    },
}

/// Message counts of a finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub sent: u64,
    pub expired: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Throttled answers (429 or a throttling code); each was sent again later.
    pub throttled: u64,
    /// Messages never attempted because the run stopped early.
    pub not_started: u64,
    pub elapsed: Duration,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// What keeping the ledger cost, when the run kept one.
    pub ledger: Option<ledger::WriterStats>,
    /// The pace the run ended at, when the server's limit differed from the declared rate.
    pub pace: Option<Pace>,
}

/// A limit below the declared rate that the run ended with, and how it was known.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    pub rate: Rate,
    /// `"policy"` (announced in headers) or `"throttled"` (learned from 429s, still probing).
    pub source: &'static str,
}

impl Summary {
    /// 5 when stopped with work left, else 4 when anything failed or is unknown, else 0.
    pub fn exit(&self) -> Exit {
        if self.stopped.is_some() && self.not_started > 0 {
            Exit::Stopped
        } else if self.failed > 0 || self.unknown > 0 {
            Exit::Incomplete
        } else {
            Exit::Ok
        }
    }

    fn add(&mut self, t: &Tally) {
        self.sent += t.sent;
        self.expired += t.expired;
        self.failed += t.failed;
        self.unknown += t.unknown;
        self.not_started += t.not_started;
    }
}

/// Per-recipient outcome counts.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: u64,
    expired: u64,
    failed: u64,
    unknown: u64,
    not_started: u64,
}

/// Everything the run needs besides the campaign and plan.
pub struct Setup {
    pub client: reqwest::Client,
    pub token: String,
    pub pacer: Pacer,
    pub events: UnboundedSender<Event>,
    /// Set to `true` (e.g. on SIGINT) to stop issuing requests.
    pub stop: watch::Receiver<bool>,
    /// Stop issuing requests after this long (`--max-duration`).
    pub max_duration: Option<Duration>,
    /// The durable record of this campaign, when the run keeps one.
    pub ledger: Option<Record>,
}

/// The ledger as the executor uses it: where to record each transition, and what earlier runs
/// settled (those messages are not sent again).
pub struct Record {
    pub writer: ledger::Handle,
    /// Every (recipient, message) that is no longer `pending`.
    pub settled: HashMap<Key, State>,
}

/// The HTTP client for sends: rustls, 5 s to connect, 30 s per request.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .use_rustls_tls()
        .build()
}

/// How many requests may be in flight: half a second's worth at the rate, 1 to 256.
pub fn in_flight(rate: Rate) -> usize {
    let n = (rate.per_second() * 0.5).ceil();
    if n.is_finite() {
        (n as usize).clamp(1, 256)
    } else {
        1
    }
}

/// State shared by the recipient tasks.
pub(crate) struct Shared {
    client: reqwest::Client,
    target: target::Target,
    pacer: Mutex<Pacer>,
    events: UnboundedSender<Event>,
    stop_tx: watch::Sender<Option<String>>,
    throttled: AtomicU64,
    /// The last `Waiting` announced, so concurrent tasks do not repeat it.
    last_wait: Mutex<Option<tokio::time::Instant>>,
    not_after: Option<Timestamp>,
    ledger: Option<ledger::Handle>,
}

impl Shared {
    fn emit(&self, e: Event) {
        // A closed sink means nobody listens any more; the run itself goes on.
        let _ = self.events.send(e);
    }

    /// Records an outcome in the ledger, if the run keeps one.
    fn record(&self, key: &Key, outcome: ledger::Outcome) {
        if let Some(l) = &self.ledger {
            l.finish(key.clone(), outcome);
        }
    }

    fn stopped(&self) -> bool {
        self.stop_tx.borrow().is_some()
    }

    /// Stops issuing requests, once; the first reason wins.
    fn stop(&self, reason: String) {
        let first = self.stop_tx.send_if_modified(|s| {
            let first = s.is_none();
            if first {
                *s = Some(reason.clone());
            }
            first
        });
        if first {
            self.emit(Event::Stopping { reason });
        }
    }
}

/// Send every scheduled recipient of `plan`, in plan order, with the bodies `bodies` gives.
pub async fn execute(
    campaign: &Campaign,
    plan: &Plan,
    bodies: &dyn Bodies,
    setup: Setup,
) -> Summary {
    let started = tokio::time::Instant::now();
    let limit = in_flight(campaign.rate);
    let (stop_tx, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        client: setup.client,
        target: target::Target::new(campaign.provider.url(), &setup.token),
        pacer: Mutex::new(setup.pacer),
        events: setup.events,
        stop_tx,
        throttled: AtomicU64::new(0),
        last_wait: Mutex::new(None),
        not_after: campaign.not_after,
        ledger: setup.ledger.as_ref().map(|r| r.writer.clone()),
    });
    let deadlines = plan
        .scheduled()
        .flat_map(|e| {
            let d = campaign.deadline(&campaign.recipients[e.recipient()]);
            std::iter::repeat_n(d, e.messages as usize)
        })
        .collect::<Vec<_>>()
        .into();
    shared.emit(Event::Started {
        total: plan.requests(),
        rate: campaign.rate,
        deadlines,
    });
    let watcher = tokio::spawn(forward_signal(setup.stop, Arc::clone(&shared)));
    let timer = setup.max_duration.map(|d| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            shared.stop(format!("--max-duration {} reached", humanize(d)));
        })
    });
    // A shared ledger (PostgreSQL) keeps the sender's pacer state current as the run goes, so a
    // runner taking over after this one dies continues its blocks and learned limits.
    let saver = shared.ledger.as_ref().filter(|l| l.shared()).map(|_| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PACER_SAVE_EVERY);
            loop {
                tick.tick().await;
                save_pacer(&shared);
            }
        })
    });
    let settled = setup.ledger.map(|r| r.settled).unwrap_or_default();
    let mut summary = dispatch(campaign, plan, bodies, &shared, limit, &settled).await;
    watcher.abort();
    if let Some(t) = timer {
        t.abort();
    }
    if let Some(t) = saver {
        t.abort();
    }
    save_pacer(&shared);
    summary.pace = final_pace(&shared, campaign.rate);
    summary.throttled = shared.throttled.load(Ordering::Relaxed);
    summary.stopped = shared.stop_tx.borrow().clone();
    summary.elapsed = started.elapsed();
    shared.emit(Event::Finished {
        summary: summary.clone(),
    });
    summary
}

/// How often a shared ledger's pacer state is saved during a run.
const PACER_SAVE_EVERY: Duration = Duration::from_secs(1);

/// Keeps what the server told the pacer (a block until a reset, tighter limits) for the next run.
/// The send times themselves are the ledger's `attempted_at`, committed before each send, so they
/// survive even a killed run.
fn save_pacer(shared: &Shared) {
    let Some(ledger) = &shared.ledger else {
        return;
    };
    let pacer = shared.pacer.lock().unwrap_or_else(PoisonError::into_inner);
    // Persisted instants are on the ledger's clock (the database's, on PostgreSQL).
    let mut state = pacer.snapshot(tokio::time::Instant::now(), ledger.wall_now());
    state.sends_unix_ms.clear();
    if let Ok(json) = serde_json::to_string(&state) {
        ledger.save_meta(crate::ledger::PACER_META, json);
    }
}

/// The pace the run ended at, when it is not the declared rate.
fn final_pace(shared: &Shared, declared: Rate) -> Option<Pace> {
    let pacer = shared.pacer.lock().unwrap_or_else(PoisonError::into_inner);
    let rate = pacer.effective_rate();
    if rate == declared {
        return None;
    }
    let source = match pacer.learned() {
        Some((learned, _)) if learned == rate => "throttled",
        _ => "policy",
    };
    Some(Pace { rate, source })
}

/// Turns the caller's stop flag (a signal) into a stop of the run.
async fn forward_signal(mut stop: watch::Receiver<bool>, shared: Arc<Shared>) {
    if stop.wait_for(|s| *s).await.is_ok() {
        shared.stop("interrupted".into());
    }
}

/// `90s` → `1m30s`, for messages.
fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Starts one task per recipient, at most `limit` at a time, and sums their tallies.
async fn dispatch(
    campaign: &Campaign,
    plan: &Plan,
    bodies: &dyn Bodies,
    shared: &Arc<Shared>,
    limit: usize,
    settled: &HashMap<Key, State>,
) -> Summary {
    let permits = Arc::new(Semaphore::new(limit));
    let mut stop = shared.stop_tx.subscribe();
    let mut tasks = JoinSet::new();
    let mut summary = Summary::default();
    let mut scheduled = plan.scheduled();
    loop {
        let block: Vec<_> = scheduled.by_ref().take(FETCH_BLOCK).collect();
        if block.is_empty() {
            break;
        }
        let fetched = match shared.stopped() {
            true => None,
            false => {
                let recipients: Vec<usize> = block.iter().map(|e| e.recipient()).collect();
                match bodies.fetch(campaign, &recipients) {
                    Ok(each) if each.len() == block.len() => Some(each),
                    Ok(_) => {
                        shared.stop("the ledger gave the bodies of another block".into());
                        None
                    }
                    Err(e) => {
                        // Nothing of this block was claimed: it stays `pending`.
                        shared.stop(format!("cannot read the frozen requests: {e}"));
                        None
                    }
                }
            }
        };
        let Some(fetched) = fetched else {
            summary.not_started += block.iter().map(|e| u64::from(e.messages)).sum::<u64>();
            continue;
        };
        for (entry, requests) in block.iter().zip(fetched) {
            let permit = tokio::select! {
                p = Arc::clone(&permits).acquire_owned() => p.ok(),
                _ = stop.wait_for(Option::is_some) => None,
            };
            let Some(permit) = permit.filter(|_| !shared.stopped()) else {
                summary.not_started += u64::from(entry.messages);
                continue;
            };
            while let Some(done) = tasks.try_join_next() {
                summary.add(&done.unwrap_or_default());
            }
            let r = &campaign.recipients[entry.recipient()];
            let job = send::Job::new(r.to, campaign.deadline(r), requests, settled);
            let shared = Arc::clone(shared);
            tasks.spawn(async move {
                let tally = send::recipient(&shared, job).await;
                drop(permit);
                tally
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        summary.add(&done.unwrap_or_default());
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_half_a_second_of_the_rate() {
        let rate = |s: &str| s.parse::<Rate>().unwrap();
        assert_eq!(in_flight(rate("2/300s")), 1);
        assert_eq!(in_flight(rate("4/2s")), 1);
        assert_eq!(in_flight(rate("10/1s")), 5);
        assert_eq!(in_flight(rate("80/1s")), 40);
        assert_eq!(in_flight(rate("1000/1s")), 256);
    }

    #[test]
    fn exit_codes_follow_the_counts() {
        let mut s = Summary {
            sent: 3,
            expired: 1,
            ..Summary::default()
        };
        assert_eq!(s.exit(), Exit::Ok);
        s.unknown = 1;
        assert_eq!(s.exit(), Exit::Incomplete);
        s.stopped = Some("interrupted".into());
        assert_eq!(s.exit(), Exit::Incomplete, "stopped with nothing left");
        s.not_started = 2;
        assert_eq!(s.exit(), Exit::Stopped);
    }
}
