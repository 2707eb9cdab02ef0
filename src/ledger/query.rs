//! Ledger: reads (state lookups, counts, per-row views for reports) and the small key/value
//! `meta` table (e.g. the pacer's recent send times, the campaign content hash).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{from_millis, Backend, BackendMut, Counts, Key, Ledger, LedgerError, RowView, State};

const ROW_COLUMNS: &str = "recipient, message_index, state, provider_id, reason, retryable,
    attempts, deadline, planned_at, attempted_at, finished_at, delivered_at, read_at, replied_at,
    error_code";

impl Ledger {
    /// The state of one row, `None` if it was never planned.
    pub fn state_of(&self, key: &Key) -> Result<Option<State>, LedgerError> {
        match self.backend() {
            Backend::Lite(c) => state_in(c, key),
            Backend::Pg(mut pg) => pg.state_of(key),
        }
    }

    /// Every row that is not `pending`, with its state: the planner drops these (already sent,
    /// failed, expired, or unknown and awaiting the operator).
    pub fn settled(&self) -> Result<HashMap<Key, State>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.settled(),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT recipient, message_index, state FROM deliveries WHERE state <> 'pending'",
        )?;
        let raw = stmt
            .query_map([], |row| Ok((key_at(row)?, row.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(key, name)| Ok((key, name.parse::<State>()?)))
            .collect()
    }

    /// The frozen request of a row: what a run sends, byte for byte as previewed.
    pub fn payload(&self, key: &Key) -> Result<Option<String>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.payload(key),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT payload FROM deliveries WHERE recipient = ?1 AND message_index = ?2",
        )?;
        Ok(stmt
            .query_row(params![key.to, key.message_index], |row| row.get(0))
            .optional()?)
    }

    /// How many rows are in each state.
    pub fn counts(&self) -> Result<Counts, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.counts(),
        };
        let mut stmt =
            conn.prepare_cached("SELECT state, COUNT(*) FROM deliveries GROUP BY state")?;
        let raw = stmt
            .query_map([], |row| {
                // COUNT(*) is never negative; SQLite integers are i64.
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?.unsigned_abs(),
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut counts = Counts::default();
        for (name, n) in raw {
            *counts.slot(name.parse::<State>()?) += n;
        }
        Ok(counts)
    }

    /// Every row, ordered by deadline then key (the order a report reads naturally).
    pub fn rows(&self) -> Result<Vec<RowView>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.rows(),
        };
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM deliveries ORDER BY deadline, recipient, message_index"
        );
        let mut stmt = conn.prepare(&sql)?;
        let raw = stmt
            .query_map([], |row| Ok((row.get::<_, String>(2)?, row_view(row)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(name, mut view)| {
                view.state = name.parse::<State>()?;
                Ok(view)
            })
            .collect()
    }

    /// Stores `value` under `key`, replacing any earlier value; committed before it returns.
    pub fn save_meta(&mut self, key: &str, value: &str) -> Result<(), LedgerError> {
        match self.backend_mut() {
            BackendMut::Lite(c) => save_meta_in(c, key, value),
            BackendMut::Pg(pg) => pg.save_meta(key, value),
        }
    }

    /// When requests were last attempted, oldest first: the sends since `since` (Unix ms), which
    /// the next run's pacer must count against the server's window even if this run was killed.
    pub fn attempted_since(&self, since: i64) -> Result<Vec<i64>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.attempted_since(since),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT attempted_at FROM deliveries WHERE attempted_at >= ?1 ORDER BY attempted_at",
        )?;
        let rows = stmt.query_map([since], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<i64>, _>>()?)
    }

    /// The value saved under `key`, if any.
    pub fn load_meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.load_meta(key),
        };
        let mut stmt = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(stmt.query_row([key], |row| row.get(0)).optional()?)
    }
}

/// `save_meta` on any connection or transaction.
pub(super) fn save_meta_in(conn: &Connection, key: &str, value: &str) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// `state_of` on any connection or transaction.
pub(super) fn state_in(conn: &Connection, key: &Key) -> Result<Option<State>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state FROM deliveries WHERE recipient = ?1 AND message_index = ?2",
    )?;
    let name: Option<String> = stmt
        .query_row(params![key.to, key.message_index], |row| row.get(0))
        .optional()?;
    Ok(name.map(|name| name.parse::<State>()).transpose()?)
}

fn key_at(row: &Row<'_>) -> rusqlite::Result<Key> {
    Ok(Key::new(row.get::<_, String>(0)?, row.get(1)?))
}

/// Builds a view from a `ROW_COLUMNS` row; the state is filled in by the caller, which can
/// report an unreadable one as `LedgerError::Corrupt` (a row closure can only return SQLite errors).
fn row_view(row: &Row<'_>) -> rusqlite::Result<RowView> {
    Ok(RowView {
        key: key_at(row)?,
        state: State::Pending,
        provider_id: row.get(3)?,
        reason: row.get(4)?,
        retryable: row.get(5)?,
        attempts: row.get(6)?,
        deadline: from_millis(row.get(7)?),
        planned_at: from_millis(row.get(8)?),
        attempted_at: row.get::<_, Option<i64>>(9)?.map(from_millis),
        finished_at: row.get::<_, Option<i64>>(10)?.map(from_millis),
        delivered_at: row.get::<_, Option<i64>>(11)?.map(from_millis),
        read_at: row.get::<_, Option<i64>>(12)?.map(from_millis),
        replied_at: row.get::<_, Option<i64>>(13)?.map(from_millis),
        error_code: row.get(14)?,
    })
}
