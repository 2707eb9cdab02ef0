//! Ledger: connection setup — durability pragmas and the versioned schema (path → ready `Connection`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::LedgerError;

/// Schema version stored in `PRAGMA user_version`; bump it and add a migration step when the
/// tables change, so a ledger written by an older sessioncast is upgraded rather than misread.
pub const SCHEMA_VERSION: i32 = 2;

/// How long a writer waits for another connection's lock before failing. Runs of one campaign
/// never overlap (see `RunLock`), so this only covers readers such as `sessioncast status`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Times are unix milliseconds; `state` is one of `State::as_str`. `payload` is the rendered
/// request (URL + body) frozen at planning time, so a resumed run sends exactly what was
/// previewed. `WITHOUT ROWID` makes the primary key the table itself: the one lookup every
/// transition does is a single B-tree descent. There is no index on `state`: every transition
/// changes it, so such an index would double the writes on the send path, while the queries that
/// filter on it run once per run or per `status` and scan the table quickly anyway.
const DDL_V1: &str = "
CREATE TABLE deliveries (
    recipient     TEXT    NOT NULL,
    message_index INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN
                    ('pending','attempting','sent','failed','expired','unknown')),
    payload       TEXT    NOT NULL,
    deadline      INTEGER NOT NULL,
    provider_id   TEXT,
    reason        TEXT,
    retryable     INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    planned_at    INTEGER NOT NULL,
    attempted_at  INTEGER,
    finished_at   INTEGER,
    PRIMARY KEY (recipient, message_index)
) WITHOUT ROWID;
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 2: what the provider's webhooks tell (`sessioncast ingest`). Per row the provider's
/// times of delivery, reading and the user's reply (unix ms, the provider's clock) and the error
/// code of a failure; the ids of the webhook events already applied, so a provider's retries and a
/// file ingested twice change nothing; and per user the time of their latest inbound message (the
/// start of their 24-hour window). The index on `provider_id` lets statuses without our send key,
/// and replies (which name the message they answer by its provider id), find their row; it is
/// partial so rows not yet sent cost nothing in it, and a row's provider id is written once.
const DDL_V2: &str = "
ALTER TABLE deliveries ADD COLUMN delivered_at INTEGER;
ALTER TABLE deliveries ADD COLUMN read_at      INTEGER;
ALTER TABLE deliveries ADD COLUMN replied_at   INTEGER;
ALTER TABLE deliveries ADD COLUMN error_code   INTEGER;
CREATE INDEX deliveries_provider_id ON deliveries (provider_id) WHERE provider_id IS NOT NULL;
CREATE TABLE webhook_events (
    id TEXT NOT NULL PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE inbound (
    recipient    TEXT    NOT NULL PRIMARY KEY,
    last_at      INTEGER NOT NULL,
    message_id   TEXT    NOT NULL,
    profile_name TEXT
) WITHOUT ROWID;
";

/// Page size of a new ledger. A row holds a whole request (a few hundred bytes); at SQLite's
/// default 4 KB a page fits a dozen, and freezing a million recipients spends its time on page
/// splits and WAL frames. At 16 KB that start-up is about a tenth faster (measured: 2,000,000
/// rows), and sends at 1000/1s are unchanged. A ledger keeps the size it was created with.
pub(super) const PAGE_SIZE: u32 = 16384;

/// Opens `path`, sets the pragmas and creates or checks the schema.
pub fn connect(path: &Path) -> Result<Connection, LedgerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Only a file that holds nothing yet takes it (before WAL is set, which writes the header).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    set_durability(&conn)?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// WAL lets readers work during a run; `synchronous=FULL` fsyncs the WAL on every commit, so a
/// row marked `attempting` survives power loss, not only a killed process. (NORMAL would be
/// faster but may lose the last commits on power loss: exactly the ones that matter here.)
fn set_durability(conn: &Connection) -> Result<(), LedgerError> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::NoWal { mode });
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    // Read the version inside an IMMEDIATE transaction: two processes opening a fresh file at
    // once must not both create the tables, and a crash mid-creation must leave version 0 with
    // no tables rather than a half-made schema marked as current.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let found: i32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(LedgerError::UnsupportedSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // Each step upgrades from the version before it, so a new file and a file written by any
    // older sessioncast reach the current schema by the same statements, in one transaction.
    if found < 1 {
        tx.execute_batch(DDL_V1)?;
    }
    if found < 2 {
        tx.execute_batch(DDL_V2)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
