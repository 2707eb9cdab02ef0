//! Ledger: the writer thread — the executor's transitions (async calls from many tasks) → group
//! commits (one transaction and one fsync per batch) → replies once durable.
//!
//! Why a thread: SQLite calls block, and with `synchronous=FULL` every commit waits for the disk.
//! At `1000/1s` a commit per transition would be most of the time budget; here, whatever arrives
//! while one batch commits goes into the next, so batches grow with the rate on their own and a
//! lone send at `2/300s` still commits immediately.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::TransactionBehavior;
use tokio::sync::oneshot;

use super::ops::{finish_one, mark_one};
use super::pg::{self, PgLedger};
use super::{now_millis, Key, Ledger, LedgerError, Outcome};
use std::collections::HashSet;
use std::sync::Arc;

/// Why an attempt could not be recorded; the request is then not sent.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The writer thread is gone (closed, or it panicked): nothing records the attempt.
    #[error("the ledger writer has stopped")]
    Stopped,
    /// The ledger refused this transition (already attempted, lease lost, ...).
    #[error(transparent)]
    Refused(LedgerError),
    /// The batch holding the attempt could not be committed; every attempt in it fails with
    /// this one error.
    #[error("cannot commit to the ledger: {0}")]
    Commit(Arc<LedgerError>),
}

/// Most transitions in one transaction; keeps a reply from waiting behind a huge batch.
const MAX_BATCH: usize = 1024;

enum Op {
    Attempt {
        key: Key,
        done: oneshot::Sender<Result<(), AttemptError>>,
    },
    Finish {
        key: Key,
        outcome: Outcome,
    },
    Meta {
        key: String,
        value: String,
    },
    /// Commit what came before and stop.
    Close,
}

/// Owns the ledger on its own thread until [`Writer::close`].
pub struct Writer {
    handle: Handle,
    thread: JoinHandle<(Ledger, WriterStats)>,
}

/// What the ledger cost a run: how many transitions, in how many commits, and the time the
/// writer spent in SQLite (fsyncs included).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriterStats {
    pub transitions: u64,
    pub commits: u64,
    pub busy: Duration,
    /// A claim found the sender's lease gone (PostgreSQL): nothing was sent after it.
    pub lease_lost: bool,
}

/// A cheap, cloneable way to submit transitions to the [`Writer`].
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Op>,
    /// The persisted clock's offset from this host's, ms (see `Ledger::clock_offset_ms`).
    offset_ms: i64,
    /// Whether other runners read this ledger's pacer state while this one runs (PostgreSQL).
    shared: bool,
}

impl Writer {
    pub fn start(ledger: Ledger) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let offset_ms = ledger.clock_offset_ms();
        let shared = matches!(ledger.backend(), super::Backend::Pg(_));
        let thread = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || serve(ledger, &rx))?;
        Ok(Writer {
            handle: Handle {
                tx,
                offset_ms,
                shared,
            },
            thread,
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Commits everything submitted so far and gives the ledger back. Later submissions through
    /// remaining handles are dropped (an `attempting` call then fails, so nothing is sent).
    pub fn close(self) -> (Ledger, WriterStats) {
        let _ = self.handle.tx.send(Op::Close);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Handle {
    /// `pending` → `attempting`, durable when this returns `Ok`: only then may the request leave.
    pub async fn attempting(&self, key: Key) -> Result<(), AttemptError> {
        let (done, reply) = oneshot::channel();
        self.tx
            .send(Op::Attempt { key, done })
            .map_err(|_| AttemptError::Stopped)?;
        reply.await.map_err(|_| AttemptError::Stopped)?
    }

    /// Records an outcome. Not awaited: if it is lost (the process dies first) the row stays
    /// `attempting` and the next run reports it `unknown`, which is the safe side.
    pub fn finish(&self, key: Key, outcome: Outcome) {
        let _ = self.tx.send(Op::Finish { key, outcome });
    }

    /// Now on the clock the ledger's persisted instants use (the database's on PostgreSQL).
    pub fn wall_now(&self) -> std::time::SystemTime {
        let now = std::time::SystemTime::now();
        let by = Duration::from_millis(self.offset_ms.unsigned_abs());
        let moved = match self.offset_ms >= 0 {
            true => now.checked_add(by),
            false => now.checked_sub(by),
        };
        moved.unwrap_or(now)
    }

    /// Whether the ledger is shared with other runners (PostgreSQL): then the pacer's state is
    /// saved as the run goes, not only at its end, so a takeover continues it.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// Stores a `meta` value in the next batch.
    pub fn save_meta(&self, key: &str, value: String) {
        let _ = self.tx.send(Op::Meta {
            key: key.to_string(),
            value,
        });
    }
}

fn serve(mut ledger: Ledger, rx: &mpsc::Receiver<Op>) -> (Ledger, WriterStats) {
    let mut stats = WriterStats::default();
    while let Ok(first) = rx.recv() {
        let batch = gather(rx, first);
        let closing = batch.iter().any(|op| matches!(op, Op::Close));
        let started = Instant::now();
        stats.transitions += batch.iter().filter(|op| !matches!(op, Op::Close)).count() as u64;
        stats.commits += 1;
        stats.lease_lost |= commit(&mut ledger, batch);
        stats.busy += started.elapsed();
        if closing {
            break;
        }
    }
    (ledger, stats)
}

/// The batch that starts with `first`: everything queued behind it, after yielding the CPU once
/// so senders that are ready can queue more. Without that, on a busy core the writer woke for
/// each first transition and committed batches of about four, an fsync each; with it, one
/// commit takes a hundred or more. When no sender is ready the yield returns at once.
fn gather(rx: &mpsc::Receiver<Op>, first: Op) -> Vec<Op> {
    let mut batch = vec![first];
    let mut yielded = false;
    loop {
        let last = batch.last();
        if batch.len() >= MAX_BATCH || last.is_some_and(|op| matches!(op, Op::Close)) {
            return batch;
        }
        if let Ok(op) = rx.try_recv() {
            batch.push(op);
            continue;
        }
        if yielded {
            return batch;
        }
        std::thread::yield_now();
        yielded = true;
    }
}

/// Applies a batch in one transaction, then answers each waiting `attempting` call. A failed
/// commit fails every call in the batch, so none of those requests is sent. Returns whether a
/// claim found the lease gone.
fn commit(ledger: &mut Ledger, batch: Vec<Op>) -> bool {
    let result = match ledger.backend_mut() {
        super::BackendMut::Pg(pg) => apply_pg(pg, &batch),
        super::BackendMut::Lite(_) => apply(ledger, &batch),
    };
    let lost = matches!(&result, Ok(each) if each.iter().any(|r| matches!(r, Err(LedgerError::LeaseLost { .. }))));
    let mut outcomes = match result {
        Ok(each) => each
            .into_iter()
            .map(|r| r.map_err(AttemptError::Refused))
            .collect::<Vec<_>>(),
        Err(e) => {
            let e = Arc::new(e);
            (0..batch.len())
                .map(|_| Err(AttemptError::Commit(e.clone())))
                .collect()
        }
    }
    .into_iter();
    for op in batch {
        let outcome = outcomes.next().unwrap_or(Ok(()));
        if let Op::Attempt { done, .. } = op {
            let _ = done.send(outcome);
        }
    }
    lost
}

fn apply(ledger: &mut Ledger, batch: &[Op]) -> Result<Vec<Result<(), LedgerError>>, LedgerError> {
    let super::BackendMut::Lite(conn) = ledger.backend_mut() else {
        return Ok(Vec::new());
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_millis();
    let each = batch
        .iter()
        .map(|op| match op {
            Op::Attempt { key, .. } => mark_one(&tx, key, now),
            Op::Finish { key, outcome } => finish_one(&tx, key, outcome, now),
            Op::Meta { key, value } => super::query::save_meta_in(&tx, key, value),
            Op::Close => Ok(()),
        })
        .collect();
    tx.commit()?;
    Ok(each)
}

/// A batch on PostgreSQL: each run of operations on distinct keys is ONE statement in
/// autocommit (outcomes, claims and the lease's fence together: one round trip, one commit); a
/// key seen twice starts a new run, so a requeue and the next claim of the same row keep their
/// order. A run that fails fails only its own operations (earlier runs are committed).
fn apply_pg(pg: &mut PgLedger, batch: &[Op]) -> Result<Vec<Result<(), LedgerError>>, LedgerError> {
    let fence = pg.fence().cloned();
    let sender = pg.sender().map(str::to_string);
    let (client, campaign) = pg.client_and_campaign();
    let campaign = campaign.to_string();
    let mut each: Vec<Result<(), LedgerError>> = Vec::with_capacity(batch.len());
    let mut start = 0;
    while start < batch.len() {
        let mut seen: HashSet<&Key> = HashSet::new();
        let mut end = start;
        while end < batch.len() {
            let key = match &batch[end] {
                Op::Attempt { key, .. } | Op::Finish { key, .. } => Some(key),
                Op::Meta { .. } | Op::Close => None,
            };
            if key.is_some_and(|k| !seen.insert(k)) {
                break;
            }
            end += 1;
        }
        let run = &batch[start..end];
        start = end;
        let finishes: Vec<(&Key, &Outcome)> = run
            .iter()
            .filter_map(|op| match op {
                Op::Finish { key, outcome } => Some((key, outcome)),
                _ => None,
            })
            .collect();
        let claims: Vec<&Key> = run
            .iter()
            .filter_map(|op| match op {
                Op::Attempt { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        let written = match finishes.is_empty() && claims.is_empty() {
            true => Ok((true, HashSet::new(), HashSet::new())),
            false => pg::write_run(client, &campaign, fence.as_ref(), &finishes, &claims),
        };
        let (held, finished, claimed) = match written {
            Ok(w) => w,
            Err(e) => {
                let e = Arc::new(e);
                each.extend(run.iter().map(|_| Err(LedgerError::Batch(e.clone()))));
                continue;
            }
        };
        for op in run {
            each.push(match op {
                Op::Attempt { .. } if !held => Err(LedgerError::LeaseLost {
                    sender: fence.as_ref().map(|f| f.sender.clone()).unwrap_or_default(),
                }),
                Op::Attempt { key, .. } if !claimed.contains(key) => Err(pg::refusal(
                    client,
                    &campaign,
                    key,
                    super::State::Attempting,
                )),
                Op::Finish { key, outcome } if !finished.contains(key) => {
                    Err(pg::refusal(client, &campaign, key, outcome.target()))
                }
                Op::Meta { key, value } => {
                    pg::save_meta_pg(client, &campaign, sender.as_deref(), key, value)
                }
                _ => Ok(()),
            });
        }
    }
    Ok(each)
}
