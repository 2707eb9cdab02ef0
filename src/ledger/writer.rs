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
use super::{now_millis, Key, Ledger, LedgerError, Outcome};

/// Most transitions in one transaction; keeps a reply from waiting behind a huge batch.
const MAX_BATCH: usize = 1024;

enum Op {
    Attempt {
        key: Key,
        done: oneshot::Sender<Result<(), String>>,
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
}

/// A cheap, cloneable way to submit transitions to the [`Writer`].
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Op>,
}

impl Writer {
    pub fn start(ledger: Ledger) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || serve(ledger, &rx))?;
        Ok(Writer {
            handle: Handle { tx },
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
    pub async fn attempting(&self, key: Key) -> Result<(), String> {
        let (done, reply) = oneshot::channel();
        self.tx
            .send(Op::Attempt { key, done })
            .map_err(|_| "the ledger writer has stopped".to_string())?;
        reply
            .await
            .map_err(|_| "the ledger writer has stopped".to_string())?
    }

    /// Records an outcome. Not awaited: if it is lost (the process dies first) the row stays
    /// `attempting` and the next run reports it `unknown`, which is the safe side.
    pub fn finish(&self, key: Key, outcome: Outcome) {
        let _ = self.tx.send(Op::Finish { key, outcome });
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
        commit(&mut ledger, batch);
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
/// commit fails every call in the batch, so none of those requests is sent.
fn commit(ledger: &mut Ledger, batch: Vec<Op>) {
    let result = apply(ledger, &batch);
    let mut outcomes = match result {
        Ok(each) => each
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect(),
        Err(e) => vec![Err(format!("cannot commit to the ledger: {e}")); batch.len()],
    }
    .into_iter();
    for op in batch {
        let outcome = outcomes.next().unwrap_or(Ok(()));
        if let Op::Attempt { done, .. } = op {
            let _ = done.send(outcome);
        }
    }
}

fn apply(ledger: &mut Ledger, batch: &[Op]) -> Result<Vec<Result<(), LedgerError>>, LedgerError> {
    let tx = ledger
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
