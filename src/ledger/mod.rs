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
pub mod pg;
mod query;
mod reader;
mod schema;
mod state;
mod sync;
#[cfg(test)]
mod tests;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::cell::{RefCell, RefMut};

use rusqlite::Connection;

pub use lock::{lock_path, LockError, RunLock};
pub use reader::Payloads;
pub use schema::SCHEMA_VERSION;
pub use state::{Key, Outcome, ParseStateError, State};
pub use sync::{Asked, Begun, SyncReport};
pub use webhooks::{Sender, Tally, WINDOW_CLOSED};
pub use writer::{AttemptError, Handle, Writer, WriterStats};

/// The `meta` key under which the pacer's state is kept between runs (on PostgreSQL it lives
/// in the sender's row, since the rate belongs to the sender).
pub const PACER_META: &str = "pacer";

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
    /// The PostgreSQL error's own text names no password: the URL is never part of it.
    #[error("ledger database error (PostgreSQL): {}", pg_text(.0))]
    Postgres(#[from] postgres::Error),
    /// A batch of the writer that could not be committed (the one error, shared by each
    /// operation of the batch).
    #[error("cannot commit to the ledger: {0}")]
    Batch(std::sync::Arc<LedgerError>),
    #[error("lost the lease of sender {sender}: another runner may have taken over; nothing more is sent")]
    LeaseLost { sender: String },
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
    /// A row's frozen payload is not in the shape sessioncast writes (edited by hand?).
    #[error("the frozen payload of {key} is not a request sessioncast froze: {why}")]
    BadPayload { key: Key, why: String },
    /// The ledger is held in memory only: nothing can open it a second time.
    #[error("the ledger has no file: its payloads cannot be read on a second connection")]
    NoFile,
    #[error("{key}: cannot go from `{from}` to `{to}`")]
    IllegalTransition { key: Key, from: State, to: State },
    /// The schema's CHECK constraint makes this unreachable unless the file was edited by hand.
    #[error("the ledger is damaged: {0}")]
    Corrupt(#[from] ParseStateError),
}

/// The open ledger of one campaign. Hold a [`RunLock`] (SQLite) or the sender's lease
/// (PostgreSQL) while writing to it.
#[derive(Debug)]
pub struct Ledger {
    store: Store,
}

/// The two backends. An enum rather than a trait object: the SQLite path stays direct calls, and
/// the PostgreSQL client sits in a `RefCell` because its reads need `&mut` where SQLite's do not.
#[derive(Debug)]
enum Store {
    Sqlite(Connection),
    Postgres(Box<RefCell<pg::PgLedger>>),
}

/// A backend borrowed for a read.
pub(crate) enum Backend<'a> {
    Lite(&'a Connection),
    Pg(RefMut<'a, pg::PgLedger>),
}

/// A backend borrowed for a write.
pub(crate) enum BackendMut<'a> {
    Lite(&'a mut Connection),
    Pg(&'a mut pg::PgLedger),
}

/// A PostgreSQL error with the server's own message and detail when it sent one.
fn pg_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
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
        Ok(Ledger {
            store: Store::Sqlite(conn),
        })
    }

    /// Opens campaign `campaign` in the PostgreSQL database at `target`, creating or migrating
    /// the schema.
    pub fn open_pg(target: &pg::Target, campaign: &str) -> Result<Ledger, LedgerError> {
        let pg = pg::PgLedger::open(target, campaign)?;
        Ok(Ledger {
            store: Store::Postgres(Box::new(RefCell::new(pg))),
        })
    }

    /// The PostgreSQL side, when this ledger lives there.
    pub fn pg(&mut self) -> Option<&mut pg::PgLedger> {
        match &mut self.store {
            Store::Sqlite(_) => None,
            Store::Postgres(cell) => Some(cell.get_mut()),
        }
    }

    /// The persisted clock's offset from this host's, in ms: the database's clock minus the
    /// local one on PostgreSQL (measured when the lease was taken), 0 on SQLite.
    pub fn clock_offset_ms(&self) -> i64 {
        match &self.store {
            Store::Sqlite(_) => 0,
            Store::Postgres(cell) => cell.borrow().offset_ms(),
        }
    }

    pub(crate) fn backend(&self) -> Backend<'_> {
        match &self.store {
            Store::Sqlite(c) => Backend::Lite(c),
            Store::Postgres(cell) => Backend::Pg(cell.borrow_mut()),
        }
    }

    pub(crate) fn backend_mut(&mut self) -> BackendMut<'_> {
        match &mut self.store {
            Store::Sqlite(c) => BackendMut::Lite(c),
            Store::Postgres(cell) => BackendMut::Pg(cell.get_mut()),
        }
    }

    #[cfg(test)]
    pub(crate) fn sqlite(&self) -> &Connection {
        match &self.store {
            Store::Sqlite(c) => c,
            Store::Postgres(_) => panic!("a SQLite-only test opened a PostgreSQL ledger"),
        }
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
