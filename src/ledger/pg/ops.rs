//! PostgreSQL ledger: every ledger operation of one campaign (transitions, the start of a run,
//! reads, meta and the sender's pacer state), batches as arrays so a batch is one statement.

use std::collections::{HashMap, HashSet};

use postgres::{GenericClient, Row, Transaction};

use super::{lock_parts, now_ms, Fence, PgLedger};
use crate::ledger::sync::{classify, tally, Action, OnChange, Stored};
use crate::ledger::{
    from_millis, to_millis, Asked, Begun, Counts, Key, LedgerError, Outcome, Planned, RowView,
    State, SyncReport,
};

/// Rows per statement when a start of run writes many: bounds the size of one message.
const CHUNK: usize = 5000;

/// Why `recover_interrupted` marks a row unknown (the same words as the SQLite ledger).
const INTERRUPTED: &str =
    "the run stopped while this request was in flight; it may have been delivered";

const ROW_COLUMNS: &str = "recipient, message_index, state, provider_id, reason, retryable,
    attempts, deadline, planned_at, attempted_at, finished_at, delivered_at, read_at, replied_at,
    error_code";

/// The key `execute` stores the pacer's state under; on PostgreSQL it belongs to the sender.
const PACER: &str = crate::ledger::PACER_META;

fn index(i: u32) -> i64 {
    i64::from(i)
}

fn key_of(row: &Row) -> Key {
    let i: i64 = row.get(1);
    Key::new(
        row.get::<_, String>(0),
        u32::try_from(i).unwrap_or(u32::MAX),
    )
}

/// Takes the campaign's row lock for this transaction. Every writer of the campaign's rows at
/// the start of a run, and every reader that changes rows when no run is going (`status`,
/// `ingest`), takes it first, so "is a run going?" and the change happen in one order.
fn lock_campaign(tx: &mut Transaction<'_>, campaign: &str) -> Result<(), LedgerError> {
    tx.execute(
        "SELECT 1 FROM campaigns WHERE name = $1 FOR UPDATE",
        &[&campaign],
    )?;
    Ok(())
}

/// Whether a runner holds the lease of a sender while naming this campaign in `leases`.
pub(crate) fn run_going(c: &mut impl GenericClient, campaign: &str) -> Result<bool, LedgerError> {
    let row = c.query_one(
        "SELECT EXISTS (SELECT 1 FROM leases l JOIN pg_locks p
             ON p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
            AND p.classid = ((l.lock_key >> 32) & 4294967295)::oid
            AND p.objid = (l.lock_key & 4294967295)::oid
         WHERE l.campaign = $1)",
        &[&campaign],
    )?;
    Ok(row.get(0))
}

/// Whether `fence` still holds: the lease connection holds the advisory lock and the `leases`
/// row names this runner. `FOR SHARE` keeps a new holder from rewriting the row (and so from
/// starting its recovery) until this transaction ends, so a claim and a takeover never overlap.
pub(crate) fn fence_holds(tx: &mut Transaction<'_>, f: &Fence) -> Result<bool, LedgerError> {
    let (classid, objid) = lock_parts(f.lock_key);
    let row = tx.query_opt(
        "SELECT 1 FROM leases l WHERE l.sender = $1 AND l.token = $2
           AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted
                AND p.pid = $3 AND p.classid = $4::bigint::oid AND p.objid = $5::bigint::oid
                AND p.objsubid = 1)
         FOR SHARE OF l",
        &[&f.sender, &f.token, &f.lease_pid, &classid, &objid],
    )?;
    Ok(row.is_some())
}

/// `pending` → `attempting` for `keys` in one statement; returns the keys it moved (a key not
/// returned was not pending and must not be sent).
pub(crate) fn claim_batch(
    tx: &mut Transaction<'_>,
    campaign: &str,
    keys: &[&Key],
) -> Result<HashSet<Key>, LedgerError> {
    let to: Vec<&str> = keys.iter().map(|k| k.to.as_str()).collect();
    let ix: Vec<i64> = keys.iter().map(|k| index(k.message_index)).collect();
    let rows = tx.query(
        concat!(
            "UPDATE deliveries d SET state = 'attempting', attempts = d.attempts + 1,
                 attempted_at = ",
            now_ms!(),
            ", finished_at = NULL
             FROM unnest($2::text[], $3::bigint[]) AS k(recipient, message_index)
             WHERE d.campaign = $1 AND d.recipient = k.recipient
               AND d.message_index = k.message_index AND d.state = 'pending'
             RETURNING d.recipient, d.message_index"
        ),
        &[&campaign, &to, &ix],
    )?;
    Ok(rows.iter().map(key_of).collect())
}

/// Outcomes as column arrays for one `unnest(...)` UPDATE: key, target state, provider id,
/// reason, retryable, error code, and the (at most two) states each outcome may follow.
struct OutcomeColumns<'a> {
    to: Vec<&'a str>,
    ix: Vec<i64>,
    state: Vec<&'static str>,
    pid: Vec<Option<&'a str>>,
    reason: Vec<Option<&'a str>>,
    retryable: Vec<bool>,
    code: Vec<Option<i64>>,
    first: Vec<&'static str>,
    second: Vec<&'static str>,
}

impl<'a> OutcomeColumns<'a> {
    fn new(items: &[(&'a Key, &'a Outcome)]) -> Self {
        let n = items.len();
        let mut c = OutcomeColumns {
            to: Vec::with_capacity(n),
            ix: Vec::with_capacity(n),
            state: Vec::with_capacity(n),
            pid: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
            retryable: Vec::with_capacity(n),
            code: Vec::with_capacity(n),
            first: Vec::with_capacity(n),
            second: Vec::with_capacity(n),
        };
        for (key, outcome) in items {
            c.to.push(key.to.as_str());
            c.ix.push(index(key.message_index));
            c.state.push(outcome.target().as_str());
            c.pid.push(outcome.provider_id());
            c.reason.push(outcome.reason());
            c.retryable.push(outcome.retryable());
            c.code.push(outcome.error_code());
            let sources = outcome.sources();
            c.first.push(sources[0].as_str());
            c.second
                .push(sources.get(1).unwrap_or(&sources[0]).as_str());
        }
        c
    }
}

/// Records outcomes in one statement; returns the keys it changed (the others were in a state
/// their outcome cannot follow). The writer's statement without claims or fence.
pub(crate) fn finish_batch(
    tx: &mut Transaction<'_>,
    campaign: &str,
    items: &[(&Key, &Outcome)],
) -> Result<HashSet<Key>, LedgerError> {
    let (_, finished, _) = write_run(tx, campaign, None, items, &[])?;
    Ok(finished)
}

/// A run of distinct keys from the writer: its outcomes and its claims in ONE statement
/// (autocommit: one round trip and one commit), the fence checked in the same statement. Returns
/// whether the fence held, the keys finished and the keys claimed. Finishes and claims never name
/// the same row here (the writer cuts runs where a key repeats), so their order does not matter.
pub(crate) fn write_run(
    c: &mut impl GenericClient,
    campaign: &str,
    fence: Option<&Fence>,
    finishes: &[(&Key, &Outcome)],
    claims: &[&Key],
) -> Result<(bool, HashSet<Key>, HashSet<Key>), LedgerError> {
    let OutcomeColumns {
        to,
        ix,
        state,
        pid,
        reason,
        retryable,
        code,
        first,
        second,
    } = OutcomeColumns::new(finishes);
    let claim_to: Vec<&str> = claims.iter().map(|k| k.to.as_str()).collect();
    let claim_ix: Vec<i64> = claims.iter().map(|k| index(k.message_index)).collect();
    let fence_sql = match fence {
        Some(_) => {
            "SELECT 1 AS ok FROM leases l WHERE l.sender = $13 AND l.token = $14
               AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted
                    AND p.pid = $15 AND p.classid = $16::bigint::oid
                    AND p.objid = $17::bigint::oid AND p.objsubid = 1)
             FOR SHARE OF l"
        }
        None => "SELECT 1 AS ok",
    };
    let sql = format!(
        concat!(
            "WITH fence AS ({fence}),
             fin AS (
                UPDATE deliveries d SET state = u.state, provider_id = u.provider_id,
                    reason = u.reason, retryable = u.retryable, error_code = u.error_code,
                    finished_at = CASE WHEN u.state = 'pending' THEN NULL ELSE ",
            now_ms!(),
            " END
                FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                            $9::bool[], $10::text[], $11::text[], $12::bigint[])
                     AS u(recipient, message_index, state, provider_id, reason, retryable, s1, s2,
                          error_code)
                WHERE d.campaign = $1 AND d.recipient = u.recipient
                  AND d.message_index = u.message_index AND d.state IN (u.s1, u.s2)
                RETURNING d.recipient, d.message_index),
             cl AS (
                UPDATE deliveries d SET state = 'attempting', attempts = d.attempts + 1,
                    attempted_at = ",
            now_ms!(),
            ", finished_at = NULL
                FROM unnest($2::text[], $3::bigint[]) AS k(recipient, message_index)
                WHERE d.campaign = $1 AND d.recipient = k.recipient
                  AND d.message_index = k.message_index AND d.state = 'pending'
                  AND EXISTS (SELECT 1 FROM fence)
                RETURNING d.recipient, d.message_index)
             SELECT 'fence'::text, NULL::text, (SELECT count(*) FROM fence)::bigint
             UNION ALL SELECT 'finish', recipient, message_index FROM fin
             UNION ALL SELECT 'claim', recipient, message_index FROM cl"
        ),
        fence = fence_sql
    );
    let parts = fence.map(|f| (f, lock_parts(f.lock_key)));
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
        &campaign, &claim_to, &claim_ix, &to, &ix, &state, &pid, &reason, &retryable, &first,
        &second, &code,
    ];
    if let Some((f, (classid, objid))) = &parts {
        params.extend_from_slice(&[&f.sender, &f.token, &f.lease_pid, classid, objid]);
    }
    let rows = c.query(sql.as_str(), &params)?;
    let (mut held, mut finished, mut claimed) = (false, HashSet::new(), HashSet::new());
    for r in &rows {
        match r.get::<_, &str>(0) {
            "fence" => held = r.get::<_, i64>(2) > 0,
            "finish" => {
                finished.insert(Key::new(r.get::<_, String>(1), index_of(r.get(2))));
            }
            _ => {
                claimed.insert(Key::new(r.get::<_, String>(1), index_of(r.get(2))));
            }
        }
    }
    Ok((held, finished, claimed))
}

fn index_of(i: i64) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Stores a `meta` value; the pacer's state goes to the sender's row when a sender is known,
/// shared by every campaign that sends from it.
pub(crate) fn save_meta_pg(
    c: &mut impl GenericClient,
    campaign: &str,
    sender: Option<&str>,
    key: &str,
    value: &str,
) -> Result<(), LedgerError> {
    match sender {
        Some(sender) if key == PACER => {
            c.execute(
                concat!(
                    "INSERT INTO senders (sender, pacer, updated_at) VALUES ($1, $2, ",
                    now_ms!(),
                    ") ON CONFLICT (sender) DO UPDATE
                     SET pacer = excluded.pacer, updated_at = excluded.updated_at"
                ),
                &[&sender, &value],
            )?;
        }
        _ => {
            c.execute(
                "INSERT INTO meta (campaign, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (campaign, key) DO UPDATE SET value = excluded.value",
                &[&campaign, &key, &value],
            )?;
        }
    }
    Ok(())
}

/// Explains why an UPDATE matched nothing for `key`.
pub(crate) fn refusal(
    c: &mut impl GenericClient,
    campaign: &str,
    key: &Key,
    to: State,
) -> LedgerError {
    match state_in(c, campaign, key) {
        Ok(Some(from)) => LedgerError::IllegalTransition {
            key: key.clone(),
            from,
            to,
        },
        Ok(None) => LedgerError::UnknownKey { key: key.clone() },
        Err(e) => e,
    }
}

fn state_in(
    c: &mut impl GenericClient,
    campaign: &str,
    key: &Key,
) -> Result<Option<State>, LedgerError> {
    let row = c.query_opt(
        "SELECT state FROM deliveries
         WHERE campaign = $1 AND recipient = $2 AND message_index = $3",
        &[&campaign, &key.to, &index(key.message_index)],
    )?;
    Ok(row
        .map(|r| r.get::<_, String>(0).parse::<State>())
        .transpose()?)
}

fn expire_in(c: &mut impl GenericClient, campaign: &str, now: i64) -> Result<usize, LedgerError> {
    let n = c.execute(
        "UPDATE deliveries SET state = 'expired', finished_at = $2,
             reason = 'window_closed (deadline '
                 || to_char(to_timestamp(deadline / 1000) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 || ' passed)'
         WHERE campaign = $1 AND state = 'pending' AND deadline < $2",
        &[&campaign, &now],
    )?;
    Ok(n as usize)
}

/// Which rows a requeue puts back.
#[derive(Clone, Copy)]
enum Requeue {
    Unknown,
    FailedRetryable,
}

fn requeue_in(
    c: &mut impl GenericClient,
    campaign: &str,
    which: Requeue,
) -> Result<usize, LedgerError> {
    let condition = match which {
        Requeue::Unknown => "state = 'unknown'",
        Requeue::FailedRetryable => "state = 'failed' AND retryable",
    };
    let sql = format!(
        "UPDATE deliveries SET state = 'pending', provider_id = NULL, retryable = false,
         finished_at = NULL WHERE campaign = $1 AND {condition}"
    );
    Ok(c.execute(sql.as_str(), &[&campaign])? as usize)
}

impl PgLedger {
    pub fn recover_interrupted(&mut self) -> Result<usize, LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        lock_campaign(&mut tx, &campaign)?;
        let n = tx.execute(
            concat!(
                "UPDATE deliveries SET state = 'unknown', reason = $2, finished_at = ",
                now_ms!(),
                " WHERE campaign = $1 AND state = 'attempting'"
            ),
            &[&campaign, &INTERRUPTED],
        )?;
        tx.commit()?;
        Ok(n as usize)
    }

    pub fn expire_passed(&mut self, now: i64) -> Result<usize, LedgerError> {
        let campaign = self.campaign.clone();
        expire_in(&mut self.client, &campaign, now)
    }

    /// Expires passed rows unless a runner holds the campaign; the probe and the change happen
    /// under the campaign's row lock (see `lock_campaign`).
    pub fn expire_passed_if_idle(&mut self, now: i64) -> Result<Option<usize>, LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        lock_campaign(&mut tx, &campaign)?;
        if run_going(&mut tx, &campaign)? {
            return Ok(None);
        }
        let n = expire_in(&mut tx, &campaign, now)?;
        tx.commit()?;
        Ok(Some(n))
    }

    pub fn requeue_unknown(&mut self) -> Result<usize, LedgerError> {
        let campaign = self.campaign.clone();
        requeue_in(&mut self.client, &campaign, Requeue::Unknown)
    }

    pub fn requeue_failed_retryable(&mut self) -> Result<usize, LedgerError> {
        let campaign = self.campaign.clone();
        requeue_in(&mut self.client, &campaign, Requeue::FailedRetryable)
    }

    /// `pending` → `attempting` for every key, fenced, all or nothing.
    pub fn mark_attempting_many(&mut self, keys: &[Key]) -> Result<(), LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        if let Some(f) = &self.fence {
            if !fence_holds(&mut tx, f)? {
                return Err(LedgerError::LeaseLost {
                    sender: f.sender.clone(),
                });
            }
        }
        let refs: Vec<&Key> = keys.iter().collect();
        let claimed = claim_batch(&mut tx, &campaign, &refs)?;
        if let Some(k) = keys.iter().find(|k| !claimed.contains(*k)) {
            return Err(refusal(&mut tx, &campaign, k, State::Attempting));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn finish_many(&mut self, outcomes: &[(Key, Outcome)]) -> Result<(), LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        let items: Vec<(&Key, &Outcome)> = outcomes.iter().map(|(k, o)| (k, o)).collect();
        let done = finish_batch(&mut tx, &campaign, &items)?;
        if let Some((k, o)) = outcomes.iter().find(|(k, _)| !done.contains(k)) {
            return Err(refusal(&mut tx, &campaign, k, o.target()));
        }
        tx.commit()?;
        Ok(())
    }

    /// See [`crate::ledger::Ledger::begin_run_chunks`]: each chunk is classified and written
    /// before the next is asked for.
    pub fn begin_run<C: AsRef<[Planned]>>(
        &mut self,
        chunks: impl IntoIterator<Item = C>,
        asked: Asked,
    ) -> Result<Begun, LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        lock_campaign(&mut tx, &campaign)?;
        let unknown_requeued = match asked.resend_unknown {
            true => requeue_in(&mut tx, &campaign, Requeue::Unknown)?,
            false => 0,
        };
        let failed_requeued = match asked.retry_failed {
            true => requeue_in(&mut tx, &campaign, Requeue::FailedRetryable)?,
            false => 0,
        };
        let on_change = match asked.rerender {
            true => OnChange::Rerender,
            false => OnChange::Refuse,
        };
        let (sync, rerendered) = sync_in(&mut tx, &campaign, chunks, on_change)?;
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

    pub fn sync_planned(&mut self, rows: &[Planned]) -> Result<SyncReport, LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        lock_campaign(&mut tx, &campaign)?;
        let (report, _) = sync_in(&mut tx, &campaign, [rows], OnChange::Keep)?;
        tx.commit()?;
        Ok(report)
    }

    pub fn rerender(&mut self, rows: &[Planned]) -> Result<usize, LedgerError> {
        let campaign = self.campaign.clone();
        let mut tx = self.client.transaction()?;
        let n = rerender_in(&mut tx, &campaign, rows)?;
        tx.commit()?;
        Ok(n)
    }

    pub fn state_of(&mut self, key: &Key) -> Result<Option<State>, LedgerError> {
        let campaign = self.campaign.clone();
        state_in(&mut self.client, &campaign, key)
    }

    pub fn settled(&mut self) -> Result<HashMap<Key, State>, LedgerError> {
        let rows = self.client.query(
            "SELECT recipient, message_index, state FROM deliveries
             WHERE campaign = $1 AND state <> 'pending'",
            &[&self.campaign],
        )?;
        rows.iter()
            .map(|r| Ok((key_of(r), r.get::<_, String>(2).parse::<State>()?)))
            .collect()
    }

    pub fn payload(&mut self, key: &Key) -> Result<Option<String>, LedgerError> {
        let row = self.client.query_opt(
            "SELECT payload FROM deliveries
             WHERE campaign = $1 AND recipient = $2 AND message_index = $3",
            &[&self.campaign, &key.to, &index(key.message_index)],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    pub fn counts(&mut self) -> Result<Counts, LedgerError> {
        let rows = self.client.query(
            "SELECT state, COUNT(*) FROM deliveries WHERE campaign = $1 GROUP BY state",
            &[&self.campaign],
        )?;
        let mut counts = Counts::default();
        for r in rows {
            let n: i64 = r.get(1);
            *counts.slot(r.get::<_, String>(0).parse::<State>()?) += n.unsigned_abs();
        }
        Ok(counts)
    }

    /// Every row in the SQLite ledger's order: byte order of the recipient (`COLLATE "C"`),
    /// whatever the database's collation.
    pub fn rows(&mut self) -> Result<Vec<RowView>, LedgerError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM deliveries WHERE campaign = $1
             ORDER BY deadline, recipient COLLATE \"C\", message_index"
        );
        let rows = self.client.query(sql.as_str(), &[&self.campaign])?;
        rows.iter().map(row_view).collect()
    }

    pub fn save_meta(&mut self, key: &str, value: &str) -> Result<(), LedgerError> {
        let campaign = self.campaign.clone();
        let sender = self.sender().map(str::to_string);
        save_meta_pg(&mut self.client, &campaign, sender.as_deref(), key, value)
    }

    pub fn load_meta(&mut self, key: &str) -> Result<Option<String>, LedgerError> {
        let row = match self.sender() {
            Some(sender) if key == PACER => {
                let sender = sender.to_string();
                self.client
                    .query_opt("SELECT pacer FROM senders WHERE sender = $1", &[&sender])?
            }
            _ => self.client.query_opt(
                "SELECT value FROM meta WHERE campaign = $1 AND key = $2",
                &[&self.campaign, &key],
            )?,
        };
        Ok(row.map(|r| r.get(0)))
    }

    /// Attempt times since `since` (the database's clock), oldest first: of every campaign of
    /// the sender when this runner holds its lease (the sender's send log), else of this
    /// campaign.
    pub fn attempted_since(&mut self, since: i64) -> Result<Vec<i64>, LedgerError> {
        let rows = match self.sender() {
            Some(sender) => {
                let sender = sender.to_string();
                self.client.query(
                    "SELECT d.attempted_at FROM deliveries d JOIN campaigns c ON c.name = d.campaign
                     WHERE c.sender = $1 AND d.attempted_at >= $2 ORDER BY d.attempted_at",
                    &[&sender, &since],
                )?
            }
            None => self.client.query(
                "SELECT attempted_at FROM deliveries WHERE campaign = $1 AND attempted_at >= $2
                 ORDER BY attempted_at",
                &[&self.campaign, &since],
            )?,
        };
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub fn latest_inbound(&mut self) -> Result<Vec<(String, i64)>, LedgerError> {
        let rows = self.client.query(
            "SELECT recipient, last_at FROM inbound WHERE campaign = $1
             ORDER BY recipient COLLATE \"C\"",
            &[&self.campaign],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub(crate) fn client_and_campaign(&mut self) -> (&mut postgres::Client, &str) {
        (&mut self.client, &self.campaign)
    }

    pub(crate) fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }
}

fn row_view(r: &Row) -> Result<RowView, LedgerError> {
    let attempts: i64 = r.get(6);
    Ok(RowView {
        key: key_of(r),
        state: r.get::<_, String>(2).parse::<State>()?,
        provider_id: r.get(3),
        reason: r.get(4),
        retryable: r.get(5),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        deadline: from_millis(r.get(7)),
        planned_at: from_millis(r.get(8)),
        attempted_at: r.get::<_, Option<i64>>(9).map(from_millis),
        finished_at: r.get::<_, Option<i64>>(10).map(from_millis),
        delivered_at: r.get::<_, Option<i64>>(11).map(from_millis),
        read_at: r.get::<_, Option<i64>>(12).map(from_millis),
        replied_at: r.get::<_, Option<i64>>(13).map(from_millis),
        error_code: r.get(14),
    })
}

/// `sync_planned` with the stored rows read in one query and the changes written in bulk, a
/// chunk of planned rows at a time; returns the report and how many payloads
/// `OnChange::Rerender` replaced.
fn sync_in<C: AsRef<[Planned]>>(
    tx: &mut Transaction<'_>,
    campaign: &str,
    chunks: impl IntoIterator<Item = C>,
    on_change: OnChange,
) -> Result<(SyncReport, usize), LedgerError> {
    let stored = tx.query(
        "SELECT recipient, message_index, state, payload, deadline FROM deliveries
         WHERE campaign = $1",
        &[&campaign],
    )?;
    let mut by_key: HashMap<Key, (State, String, i64)> = HashMap::with_capacity(stored.len());
    for r in &stored {
        by_key.insert(
            key_of(r),
            (r.get::<_, String>(2).parse::<State>()?, r.get(3), r.get(4)),
        );
    }
    drop(stored);
    let now = crate::ledger::now_millis();
    let mut report = SyncReport::default();
    let mut rerendered = 0;
    for chunk in chunks {
        let (mut inserts, mut moves, mut revives, mut rerenders) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in chunk.as_ref() {
            let deadline = to_millis(row.deadline);
            let stored = by_key
                .get(&row.key)
                .map(|(state, payload, deadline)| Stored {
                    state: *state,
                    same_payload: *payload == row.payload,
                    deadline: *deadline,
                });
            let action = classify(stored.as_ref(), deadline, now);
            // A refused run is rolled back: once that is certain, writing more is wasted work.
            let refusing = on_change == OnChange::Refuse && !report.changed.is_empty();
            match action {
                _ if refusing => {}
                Action::Insert => inserts.push(row),
                Action::Unchanged(true) => moves.push(row),
                Action::Revive => revives.push(row),
                Action::Changed if on_change == OnChange::Rerender => rerenders.push(row),
                Action::Unchanged(false) | Action::Changed | Action::AlreadyDone => {}
            }
            tally(&mut report, &row.key, action);
        }
        write_sync(tx, campaign, &inserts, &moves, &revives)?;
        rerendered += rerender_refs(tx, campaign, &rerenders)?;
    }
    Ok((report, rerendered))
}

/// The writes of one chunk of `sync_in`: new rows, moved deadlines, revived rows.
fn write_sync(
    tx: &mut Transaction<'_>,
    campaign: &str,
    inserts: &[&Planned],
    moves: &[&Planned],
    revives: &[&Planned],
) -> Result<(), LedgerError> {
    for chunk in inserts.chunks(CHUNK) {
        let (to, ix, payload, deadline) = columns(chunk);
        tx.execute(
            concat!(
                "INSERT INTO deliveries
                     (campaign, recipient, message_index, state, payload, deadline, planned_at)
                 SELECT $1, u.r, u.i, 'pending', u.p, u.d, ",
                now_ms!(),
                " FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(r, i, p, d)"
            ),
            &[&campaign, &to, &ix, &payload, &deadline],
        )?;
    }
    for chunk in moves.chunks(CHUNK) {
        let (to, ix, _, deadline) = columns(chunk);
        tx.execute(
            "UPDATE deliveries d SET deadline = u.d
             FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS u(r, i, d)
             WHERE d.campaign = $1 AND d.recipient = u.r AND d.message_index = u.i
               AND d.state = 'pending'",
            &[&campaign, &to, &ix, &deadline],
        )?;
    }
    for chunk in revives.chunks(CHUNK) {
        let (to, ix, payload, deadline) = columns(chunk);
        tx.execute(
            "UPDATE deliveries d SET state = 'pending', payload = u.p, deadline = u.d,
                 reason = NULL, provider_id = NULL, retryable = false, finished_at = NULL
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(r, i, p, d)
             WHERE d.campaign = $1 AND d.recipient = u.r AND d.message_index = u.i
               AND d.state = 'expired'",
            &[&campaign, &to, &ix, &payload, &deadline],
        )?;
    }
    Ok(())
}

type Columns<'a> = (Vec<&'a str>, Vec<i64>, Vec<&'a str>, Vec<i64>);

fn columns<'a>(rows: &[&'a Planned]) -> Columns<'a> {
    let mut c: Columns<'a> = Default::default();
    for row in rows {
        c.0.push(row.key.to.as_str());
        c.1.push(index(row.key.message_index));
        c.2.push(row.payload.as_str());
        c.3.push(to_millis(row.deadline));
    }
    c
}

fn rerender_in(
    tx: &mut Transaction<'_>,
    campaign: &str,
    rows: &[Planned],
) -> Result<usize, LedgerError> {
    let refs: Vec<&Planned> = rows.iter().collect();
    rerender_refs(tx, campaign, &refs)
}

/// Replaces the payload and deadline of the `pending` rows among `rows` whose payload differs.
fn rerender_refs(
    tx: &mut Transaction<'_>,
    campaign: &str,
    rows: &[&Planned],
) -> Result<usize, LedgerError> {
    let mut changed = 0;
    for chunk in rows.chunks(CHUNK) {
        let (to, ix, payload, deadline) = columns(chunk);
        changed += tx.execute(
            "UPDATE deliveries d SET payload = u.p, deadline = u.d
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(r, i, p, d)
             WHERE d.campaign = $1 AND d.recipient = u.r AND d.message_index = u.i
               AND d.state = 'pending' AND d.payload <> u.p",
            &[&campaign, &to, &ix, &payload, &deadline],
        )?;
    }
    Ok(changed as usize)
}

/// The payloads of `keys`, in their order (`None`: no such row): one round trip for the block,
/// the keys sent as two arrays and joined on the primary key.
pub(crate) fn fetch_payloads(
    c: &mut impl GenericClient,
    campaign: &str,
    keys: &[Key],
) -> Result<Vec<Option<String>>, LedgerError> {
    let tos: Vec<&str> = keys.iter().map(|k| k.to.as_str()).collect();
    let indexes: Vec<i64> = keys.iter().map(|k| index(k.message_index)).collect();
    let rows = c.query(
        "SELECT k.n, d.payload
         FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS k(recipient, message_index, n)
         JOIN deliveries d ON d.campaign = $1 AND d.recipient = k.recipient
             AND d.message_index = k.message_index",
        &[&campaign, &tos, &indexes],
    )?;
    let mut out = vec![None; keys.len()];
    for r in rows {
        let n: i64 = r.get(0);
        if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some(r.get::<_, String>(1));
        }
    }
    Ok(out)
}
