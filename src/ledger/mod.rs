//! Ledger: the durable per-(recipient, message) record of a campaign (planned requests → SQLite
//! rows whose state survives crashes), plus the run lock.
//!
//! Delivery is *at most once*: the executor calls [`Ledger::mark_attempting`], which commits
//! (fsync, `synchronous=FULL`) before it returns, and only then sends the request. If the process
//! dies at any instant, the row is either still `pending` (the request never left) or
//! `attempting`; the next run's [`Ledger::recover_interrupted`] turns `attempting` into
//! `unknown`, which is never resent unless the operator asks ([`Ledger::requeue_unknown`],
//! `--resend-unknown`).
//!
//! A run: [`RunLock::acquire`] → [`Ledger::open`] → `recover_interrupted` →
//! [`Ledger::begin_run`] (requeues, plan sync and `--rerender` in one transaction, rolled back
//! when it refuses) → [`Ledger::settled`] to drop what is done → [`Writer`], whose handles record
//! `attempting` (awaited: durable before the request leaves) and each outcome, group-committing
//! whatever arrives together.
//!
//! Secrets: nothing here accepts a token. `Planned::payload` is the request as the preview prints
//! it (URL and body, credentials redacted); the caller adds the `Authorization` header when it
//! sends, so the database never holds a secret.

mod lock;
mod ops;
mod query;
mod schema;
mod state;
mod sync;
#[cfg(test)]
mod tests;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use lock::{lock_path, LockError, RunLock};
pub use schema::SCHEMA_VERSION;
pub use state::{Key, Outcome, ParseStateError, State};
pub use sync::{Asked, Begun, SyncReport};
pub use webhooks::{Sender, Tally, WINDOW_CLOSED};
pub use writer::{Handle, Writer, WriterStats};

/// One planned request, as rendered for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub key: Key,
    /// The rendered request (JSON text with URL and body), never the token.
    pub payload: String,
    /// Last moment the message may be sent (end of the 24-hour window minus the margin).
    pub deadline: SystemTime,
}

/// How many rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub attempting: u64,
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
    pub unknown: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pending + self.attempting + self.sent + self.failed + self.expired + self.unknown
    }

    pub(crate) fn slot(&mut self, state: State) -> &mut u64 {
        match state {
            State::Pending => &mut self.pending,
            State::Attempting => &mut self.attempting,
            State::Sent => &mut self.sent,
            State::Failed => &mut self.failed,
            State::Expired => &mut self.expired,
            State::Unknown => &mut self.unknown,
        }
    }
}

/// One row as reports show it (the payload is left out: `Ledger::payload` fetches it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowView {
    pub key: Key,
    pub state: State,
    pub provider_id: Option<String>,
    pub reason: Option<String>,
    /// Whether a `failed` row may be put back by `--retry-failed`.
    pub retryable: bool,
    pub attempts: u32,
    pub deadline: SystemTime,
    pub planned_at: SystemTime,
    pub attempted_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// From the provider's webhooks (`sessioncast ingest`), the provider's clock: when the
    /// message reached the phone (a `read` implies it), was read, and was answered.
    pub delivered_at: Option<SystemTime>,
    pub read_at: Option<SystemTime>,
    pub replied_at: Option<SystemTime>,
    /// The provider's error code of a failure reported by webhook (131047: window closed).
    pub error_code: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create folder {} for the ledger: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ledger database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the ledger could not switch to WAL journaling (got `{mode}`); is it on a network file system?")]
    NoWal { mode: String },
    #[error("{} has ledger schema version {found}, this sessioncast supports up to {supported}; use a newer sessioncast", path.display())]
    UnsupportedSchema {
        path: PathBuf,
        found: i32,
        supported: i32,
    },
    #[error("{key} is not in the ledger")]
    UnknownKey { key: Key },
    #[error("{key}: cannot go from `{from}` to `{to}`")]
    IllegalTransition { key: Key, from: State, to: State },
    /// The schema's CHECK constraint makes this unreachable unless the file was edited by hand.
    #[error("the ledger is damaged: {0}")]
    Corrupt(#[from] ParseStateError),
}

/// The open ledger of one campaign. Hold a [`RunLock`] while writing to it.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed, with its folder) the ledger at `path`: WAL, `synchronous=FULL`,
    /// a busy timeout, and a schema checked against `PRAGMA user_version`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = schema::connect(path)?;
        Ok(Ledger { conn })
    }
}

/// Unix milliseconds; times before 1970 (never produced by a clock) map to negative values
/// rather than failing.
pub fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    t.unwrap_or(UNIX_EPOCH)
}

pub fn now_millis() -> i64 {
    to_millis(SystemTime::now())
}
