//! Ledger: reconciling this run's plan with the rows already recorded (planned requests →
//! inserted / unchanged / changed / revived / already-done rows).
//!
//! Payloads are frozen when first planned so that repeated cron runs send exactly what was
//! previewed. If the campaign or its data changed since, the stored payload of a still-pending
//! row differs from the new rendering: that row is reported `changed` and left alone; the caller
//! refuses to run unless the operator passed `--rerender`, which calls [`Ledger::rerender`].

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::ops::requeue_in;
use super::{now_millis, to_millis, BackendMut, Key, Ledger, LedgerError, Planned, State};

/// What `sync_planned` found for each planned row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// New rows, now `pending` with this run's payload.
    pub inserted: usize,
    /// Already `pending` with the same payload (its deadline is updated if it moved).
    pub unchanged: usize,
    /// `pending` with a different stored payload: refuse, or `rerender`.
    pub changed: Vec<Key>,
    /// `expired` rows whose window reopened (a later deadline, not yet passed: the recipient
    /// wrote again). An
    /// expired message was never delivered, so sending it in the new window keeps at-most-once.
    pub revived: Vec<Key>,
    /// In any other state (sent, failed, unknown, ...): not touched; the planner drops them.
    pub already_done: Vec<Key>,
}

/// What the operator asked for at the start of a run (see [`Ledger::begin_run`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked {
    /// `--resend-unknown`
    pub resend_unknown: bool,
    /// `--retry-failed`
    pub retry_failed: bool,
    /// `--rerender`
    pub rerender: bool,
}

/// How [`Ledger::begin_run`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// Committed: the ledger matches this run's plan.
    Ready {
        unknown_requeued: usize,
        failed_requeued: usize,
        sync: SyncReport,
        rerendered: usize,
    },
    /// Content not yet sent changed and `rerender` was not asked: nothing was changed at all.
    Refused { changed: Vec<Key> },
}

/// The stored fields `sync_planned` compares against: the payload only as "the same as this
/// run's or not", so a comparison copies no payload out of the database.
pub(super) struct Stored {
    pub state: State,
    pub same_payload: bool,
    pub deadline: i64,
}

/// What a sync does with a row whose content not yet sent changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnChange {
    /// Leave it and go on (`sync_planned`).
    Keep,
    /// The run will be refused and rolled back: from the first such row on, only classify.
    Refuse,
    /// `--rerender`: the row takes this run's payload and deadline at once.
    Rerender,
}

impl Ledger {
    /// Inserts planned rows not yet recorded as `pending`, and classifies the others (see
    /// [`SyncReport`]). One transaction.
    pub fn sync_planned(&mut self, rows: &[Planned]) -> Result<SyncReport, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.sync_planned(rows),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (report, _) = sync_chunks(&tx, [rows], OnChange::Keep)?;
        tx.commit()?;
        Ok(report)
    }

    /// [`Ledger::begin_run_chunks`] with every row at once.
    pub fn begin_run(&mut self, rows: &[Planned], asked: Asked) -> Result<Begun, LedgerError> {
        self.begin_run_chunks([rows], asked)
    }

    /// The start of a run in one transaction: the requested requeues, then `sync_planned`, then
    /// (if asked) `rerender`. When content changed and `rerender` was not asked, everything is
    /// rolled back, so a refused run leaves the ledger exactly as it found it.
    ///
    /// The planned rows come a chunk at a time, each written before the next is asked for, so
    /// a million recipients' payloads are never all in memory at once.
    pub fn begin_run_chunks<C: AsRef<[Planned]>>(
        &mut self,
        chunks: impl IntoIterator<Item = C>,
        asked: Asked,
    ) -> Result<Begun, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.begin_run(chunks, asked),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let unknown_requeued = match asked.resend_unknown {
            true => requeue_in(&tx, "state = 'unknown'")?,
            false => 0,
        };
        let failed_requeued = match asked.retry_failed {
            true => requeue_in(&tx, "state = 'failed' AND retryable = 1")?,
            false => 0,
        };
        let on_change = match asked.rerender {
            true => OnChange::Rerender,
            false => OnChange::Refuse,
        };
        let (sync, rerendered) = sync_chunks(&tx, chunks, on_change)?;
        if on_change == OnChange::Refuse && !sync.changed.is_empty() {
            // Dropping the transaction rolls it back.
            return Ok(Begun::Refused {
                changed: sync.changed,
            });
        }
        tx.commit()?;
        Ok(Begun::Ready {
            unknown_requeued,
            failed_requeued,
            sync,
            rerendered,
        })
    }

    /// `--rerender`: replaces the payload (and deadline) of rows that are still `pending` with
    /// this run's rendering. Rows in any other state keep theirs. Returns how many payloads
    /// changed.
    pub fn rerender(&mut self, rows: &[Planned]) -> Result<usize, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.rerender(rows),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = 0;
        for row in rows {
            changed += rerender_one(&tx, row)?;
        }
        tx.commit()?;
        Ok(changed)
    }
}

/// Replaces a still-`pending` row's payload and deadline when its payload differs; 1 if it did.
fn rerender_one(conn: &Connection, row: &Planned) -> Result<usize, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE deliveries SET payload = ?3, deadline = ?4
         WHERE recipient = ?1 AND message_index = ?2 AND state = 'pending'
           AND payload <> ?3",
    )?;
    let key = &row.key;
    let deadline = to_millis(row.deadline);
    Ok(stmt.execute(params![key.to, key.message_index, row.payload, deadline])?)
}

/// What to do with one planned row given what is stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Insert,
    /// Same payload; `true` when its deadline moved.
    Unchanged(bool),
    Changed,
    Revive,
    AlreadyDone,
}

/// The rules of [`SyncReport`], apart from any database. `deadline` is the planned row's.
pub(super) fn classify(stored: Option<&Stored>, deadline: i64, now: i64) -> Action {
    let Some(stored) = stored else {
        return Action::Insert;
    };
    match stored.state {
        State::Pending if stored.same_payload => Action::Unchanged(stored.deadline != deadline),
        State::Pending => Action::Changed,
        // Only a window that is open again revives a row: a later deadline that has passed too
        // (relative inbound times such as `30h ago` move it at every run) would be expired again
        // at once, and the run would report both moves every time.
        State::Expired if deadline > stored.deadline && deadline > now => Action::Revive,
        _ => Action::AlreadyDone,
    }
}

/// Counts `action` for `key` in `report`.
pub(super) fn tally(report: &mut SyncReport, key: &Key, action: Action) {
    match action {
        Action::Insert => report.inserted += 1,
        Action::Unchanged(_) => report.unchanged += 1,
        Action::Changed => report.changed.push(key.clone()),
        Action::Revive => report.revived.push(key.clone()),
        Action::AlreadyDone => report.already_done.push(key.clone()),
    }
}

/// Syncs every row of `chunks` inside the caller's transaction; returns the report and how many
/// payloads `OnChange::Rerender` replaced.
fn sync_chunks<C: AsRef<[Planned]>>(
    conn: &Connection,
    chunks: impl IntoIterator<Item = C>,
    on_change: OnChange,
) -> Result<(SyncReport, usize), LedgerError> {
    let now = now_millis();
    // A ledger with no row at all (a campaign's first run) needs no look-up per row: each row
    // is inserted straight away, and only a key this very sync already wrote (which `freeze`
    // never repeats) falls back to the comparison.
    let empty: bool = conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM deliveries)", [], |r| {
        r.get(0)
    })?;
    let mut report = SyncReport::default();
    let mut rerendered = 0;
    for chunk in chunks {
        for row in chunk.as_ref() {
            let deadline = to_millis(row.deadline);
            if empty && insert_new(conn, row, deadline, now)? {
                tally(&mut report, &row.key, Action::Insert);
                continue;
            }
            let action = classify(stored(conn, row)?.as_ref(), deadline, now);
            // A refused run is rolled back: once that is certain, writing more is wasted work.
            let refusing = on_change == OnChange::Refuse && !report.changed.is_empty();
            match action {
                _ if refusing => {}
                Action::Insert => {
                    insert_new(conn, row, deadline, now)?;
                }
                Action::Unchanged(true) => move_deadline(conn, &row.key, deadline)?,
                Action::Revive => revive(conn, row, deadline)?,
                Action::Changed if on_change == OnChange::Rerender => {
                    rerendered += rerender_one(conn, row)?;
                }
                Action::Unchanged(false) | Action::Changed | Action::AlreadyDone => {}
            }
            tally(&mut report, &row.key, action);
        }
    }
    Ok((report, rerendered))
}

/// The stored state of `row`'s key, its payload compared with `row`'s by the database.
fn stored(conn: &Connection, row: &Planned) -> Result<Option<Stored>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, payload = ?3, deadline FROM deliveries
         WHERE recipient = ?1 AND message_index = ?2",
    )?;
    let raw = stmt
        .query_row(
            params![row.key.to, row.key.message_index, row.payload],
            |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((state, same_payload, deadline)) = raw else {
        return Ok(None);
    };
    Ok(Some(Stored {
        state: state.parse()?,
        same_payload,
        deadline,
    }))
}

/// Records `row` as `pending`; `false` when its key is already recorded (nothing written).
fn insert_new(
    conn: &Connection,
    row: &Planned,
    deadline: i64,
    now: i64,
) -> Result<bool, LedgerError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO deliveries (recipient, message_index, state, payload, deadline, planned_at)
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5)
             ON CONFLICT (recipient, message_index) DO NOTHING",
        )?
        .execute(params![
            row.key.to,
            row.key.message_index,
            row.payload,
            deadline,
            now
        ])?;
    Ok(n == 1)
}

/// A later (or earlier) `last_inbound_at` moves the deadline of a row not yet sent.
fn move_deadline(conn: &Connection, key: &Key, deadline: i64) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "UPDATE deliveries SET deadline = ?3
         WHERE recipient = ?1 AND message_index = ?2 AND state = 'pending'",
    )?
    .execute(params![key.to, key.message_index, deadline])?;
    Ok(())
}

/// Revives an expired row: `pending` with this plan's payload and deadline; clears the previous outcome.
fn revive(conn: &Connection, row: &Planned, deadline: i64) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "UPDATE deliveries SET state = 'pending', payload = ?3, deadline = ?4, reason = NULL,
             provider_id = NULL, retryable = 0, finished_at = NULL
         WHERE recipient = ?1 AND message_index = ?2 AND state = 'expired'",
    )?
    .execute(params![
        row.key.to,
        row.key.message_index,
        row.payload,
        deadline
    ])?;
    Ok(())
}
