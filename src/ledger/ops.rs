//! Ledger: state transitions during and around a run (key + outcome → committed row update).
//!
//! Each public method is one transaction, committed before it returns. Every UPDATE names the
//! states it may start from in its WHERE clause, so an illegal transition changes nothing and
//! is reported instead of silently overwriting a row (e.g. a `sent` row can never become
//! `pending`).

use rusqlite::{params, Connection, TransactionBehavior};

use super::{now_millis, query, BackendMut, Key, Ledger, LedgerError, Outcome, State};

const MARK_ATTEMPTING: &str = "UPDATE deliveries
    SET state = 'attempting', attempts = attempts + 1, attempted_at = ?3, finished_at = NULL
    WHERE recipient = ?1 AND message_index = ?2 AND state = 'pending'";

const FINISH: &str = "UPDATE deliveries
    SET state = ?3, provider_id = ?4, reason = ?5, retryable = ?6, finished_at = ?7,
        error_code = ?10
    WHERE recipient = ?1 AND message_index = ?2 AND state IN (?8, ?9)";

/// Why `recover_interrupted` marks a row unknown.
const INTERRUPTED: &str =
    "the run stopped while this request was in flight; it may have been delivered";

impl Ledger {
    /// At the start of a run: rows a dead run left `attempting` may or may not have been
    /// delivered, so they become `unknown` (never resent automatically). Returns how many.
    pub fn recover_interrupted(&mut self) -> Result<usize, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.recover_interrupted(),
        };
        let n = conn.execute(
            "UPDATE deliveries SET state = 'unknown', reason = ?1, finished_at = ?2
             WHERE state = 'attempting'",
            params![INTERRUPTED, now_millis()],
        )?;
        Ok(n)
    }

    /// Rows still `pending` whose deadline passed before `now` (Unix ms) can no longer be sent:
    /// they become `expired`, with the deadline in their reason. Returns how many. Only a holder
    /// of the run lock calls this: a running executor moves `pending` rows itself.
    pub fn expire_passed(&mut self, now: i64) -> Result<usize, LedgerError> {
        match self.backend_mut() {
            BackendMut::Lite(c) => expire_in(c, now),
            BackendMut::Pg(pg) => pg.expire_passed(now),
        }
    }

    /// `expire_passed` for a reader such as `status`, which holds no run lock: inside one write
    /// transaction, `idle()` is asked whether a run holds the campaign (it probes the run lock),
    /// and only if none does are the rows expired. A run that starts after the probe must write
    /// to the ledger before it plans or sends (its start-up recovery), so it waits for this
    /// transaction and then sees the expired rows; a run already going makes `idle()` false.
    /// Returns `None` when a run was going.
    pub fn expire_passed_if_idle(
        &mut self,
        now: i64,
        idle: impl FnOnce() -> bool,
    ) -> Result<Option<usize>, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            // The database itself says whether a runner holds the campaign's sender.
            BackendMut::Pg(pg) => return pg.expire_passed_if_idle(now),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !idle() {
            return Ok(None);
        }
        let n = expire_in(&tx, now)?;
        tx.commit()?;
        Ok(Some(n))
    }

    /// `--resend-unknown`: the operator accepts possible duplicates; `unknown` → `pending`.
    pub fn requeue_unknown(&mut self) -> Result<usize, LedgerError> {
        if let BackendMut::Pg(pg) = self.backend_mut() {
            return pg.requeue_unknown();
        }
        self.requeue_where("state = 'unknown'")
    }

    /// `--retry-failed`: failures recorded as retryable go back to `pending`; permanent ones stay.
    pub fn requeue_failed_retryable(&mut self) -> Result<usize, LedgerError> {
        if let BackendMut::Pg(pg) = self.backend_mut() {
            return pg.requeue_failed_retryable();
        }
        self.requeue_where("state = 'failed' AND retryable = 1")
    }

    fn requeue_where(&mut self, condition: &str) -> Result<usize, LedgerError> {
        match self.backend_mut() {
            BackendMut::Lite(c) => requeue_in(c, condition),
            BackendMut::Pg(_) => Ok(0),
        }
    }

    /// `pending` → `attempting`, counting the attempt. Durable when it returns: only then may the
    /// request be sent.
    pub fn mark_attempting(&mut self, key: &Key) -> Result<(), LedgerError> {
        match self.backend_mut() {
            BackendMut::Lite(c) => mark_one(c, key, now_millis()),
            BackendMut::Pg(pg) => pg.mark_attempting_many(std::slice::from_ref(key)),
        }
    }

    /// `mark_attempting` for many keys in one transaction (one fsync). All or nothing: on error
    /// no key is marked, and none of them may be sent.
    pub fn mark_attempting_many(&mut self, keys: &[Key]) -> Result<(), LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.mark_attempting_many(keys),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_millis();
        for key in keys {
            mark_one(&tx, key, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records what happened to an `attempting` request (or, for `Expired`, to a `pending` row
    /// whose window closed before it was sent).
    pub fn finish(&mut self, key: &Key, outcome: &Outcome) -> Result<(), LedgerError> {
        match self.backend_mut() {
            BackendMut::Lite(c) => finish_one(c, key, outcome, now_millis()),
            BackendMut::Pg(pg) => pg.finish_many(&[(key.clone(), outcome.clone())]),
        }
    }

    /// `finish` for many rows in one transaction. All or nothing: on error nothing is recorded
    /// and the rows stay `attempting` (the next run reports them `unknown`).
    pub fn finish_many(&mut self, outcomes: &[(Key, Outcome)]) -> Result<(), LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            BackendMut::Pg(pg) => return pg.finish_many(outcomes),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_millis();
        for (key, outcome) in outcomes {
            finish_one(&tx, key, outcome, now)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// `expire_passed` on any connection or transaction.
fn expire_in(conn: &Connection, now: i64) -> Result<usize, LedgerError> {
    let n = conn.execute(
        "UPDATE deliveries SET state = 'expired', finished_at = ?1,
             reason = 'window_closed (deadline '
                 || strftime('%Y-%m-%dT%H:%M:%SZ', deadline / 1000, 'unixepoch') || ' passed)'
         WHERE state = 'pending' AND deadline < ?1",
        params![now],
    )?;
    Ok(n)
}

/// Puts rows matching `condition` back to `pending`. The old reason is kept: it tells a report
/// why a pending row has attempts behind it.
pub(super) fn requeue_in(conn: &Connection, condition: &str) -> Result<usize, LedgerError> {
    let sql = format!(
        "UPDATE deliveries SET state = 'pending', provider_id = NULL, retryable = 0,
         finished_at = NULL WHERE {condition}"
    );
    Ok(conn.execute(&sql, [])?)
}

pub(super) fn mark_one(conn: &Connection, key: &Key, now: i64) -> Result<(), LedgerError> {
    let changed =
        conn.prepare_cached(MARK_ATTEMPTING)?
            .execute(params![key.to, key.message_index, now])?;
    if changed == 1 {
        Ok(())
    } else {
        Err(refusal(conn, key, State::Attempting))
    }
}

pub(super) fn finish_one(
    conn: &Connection,
    key: &Key,
    outcome: &Outcome,
    now: i64,
) -> Result<(), LedgerError> {
    let target = outcome.target();
    // A requeued row is pending again: it has not finished.
    let finished_at = (target != State::Pending).then_some(now);
    let sources = outcome.sources();
    let first = sources[0].as_str();
    let second = sources.get(1).map_or(first, |s| s.as_str());
    let changed = conn.prepare_cached(FINISH)?.execute(params![
        key.to,
        key.message_index,
        target.as_str(),
        outcome.provider_id(),
        outcome.reason(),
        outcome.retryable(),
        finished_at,
        first,
        second,
        outcome.error_code(),
    ])?;
    if changed == 1 {
        Ok(())
    } else {
        Err(refusal(conn, key, target))
    }
}

/// Explains why an UPDATE matched nothing: the key is missing or in a state `to` cannot follow.
fn refusal(conn: &Connection, key: &Key, to: State) -> LedgerError {
    match query::state_in(conn, key) {
        Ok(Some(from)) => LedgerError::IllegalTransition {
            key: key.clone(),
            from,
            to,
        },
        Ok(None) => LedgerError::UnknownKey { key: key.clone() },
        Err(e) => e,
    }
}
