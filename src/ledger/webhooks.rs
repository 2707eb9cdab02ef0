//! Ledger: what the provider's webhooks say (typed events → row updates, applied event ids and
//! the latest inbound message per user), one transaction per batch.
//!
//! Rules (README, "Webhooks"): a status never makes a row `pending` and never moves it backwards.
//! `unknown` (and, when no run holds the campaign, `attempting` left by a dead run and `pending`)
//! becomes `sent` on `sent`/`delivered`/`read`, or `failed` on `failed` (`expired` for 131047);
//! `sent` gains `delivered_at`/`read_at` (earliest time wins, `read` implies delivered) and becomes
//! `failed`/`expired` on a later `failed` (the Cloud API accepts, then reports 131047). The result
//! depends on the set of events, not their order, and each event id is applied once.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{now_millis, Backend, BackendMut, Ledger, LedgerError, State};
use crate::webhook::{Event, Inbound, Status, Step};

/// The Cloud API's "re-engagement message" error: the 24-hour window was closed.
pub const WINDOW_CLOSED: i64 = 131047;

/// How one batch went, added up over a file by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events recorded for the first time (whether or not they changed a row).
    pub applied: u64,
    /// Events whose id was applied before (a provider retry, a file ingested twice).
    pub duplicate: u64,
    /// Statuses that match no row of this ledger, by send key or provider id.
    pub unmatched: u64,
    /// Statuses whose send key names another campaign.
    pub other_campaign: u64,
    /// Statuses of rows a running run is handling (`pending`, `attempting`): left for a later
    /// ingest, not recorded as applied.
    pub deferred: u64,
    /// Replies (inbound messages answering one of this ledger's messages).
    pub replies: u64,
    /// Row state changes, `(from, to)` → how many.
    pub transitions: BTreeMap<(State, State), u64>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.applied += other.applied;
        self.duplicate += other.duplicate;
        self.unmatched += other.unmatched;
        self.other_campaign += other.other_campaign;
        self.deferred += other.deferred;
        self.replies += other.replies;
        for (k, n) in &other.transitions {
            *self.transitions.entry(*k).or_default() += n;
        }
    }
}

/// What a status knows about the row it is for; the campaign part of the key is checked by the
/// caller's `prefix` (`<12 hex>-`), the rest names recipient and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    pub state: State,
    pub provider_id: Option<String>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    pub error_code: Option<i64>,
    pub retryable: bool,
    pub reason: Option<String>,
}

/// What applying webhooks needs from a backend, one row or event at a time (inside the
/// caller's transaction).
pub(super) trait Hooks {
    fn by_key(&mut self, to: &str, index: u32) -> Result<Option<Located>, LedgerError>;
    fn by_provider_id(&mut self, id: &str) -> Result<Option<Located>, LedgerError>;
    /// Records `id` as applied; false when it was applied before.
    fn first_time(&mut self, id: &str) -> Result<bool, LedgerError>;
    fn write(&mut self, to: &str, index: u32, old: &Facts, new: &Facts) -> Result<(), LedgerError>;
    /// The user's latest inbound message: the latest wins whatever order they arrive in.
    fn inbound(&mut self, who: &str, at: i64, m: &Inbound) -> Result<(), LedgerError>;
    /// Marks the rows whose provider id is `reply_to` answered at `at`; how many.
    fn reply(&mut self, reply_to: &str, at: i64) -> Result<usize, LedgerError>;
}

/// The SQLite backend of [`Hooks`].
struct Lite<'a>(&'a Connection);

impl Hooks for Lite<'_> {
    fn by_key(&mut self, to: &str, index: u32) -> Result<Option<Located>, LedgerError> {
        by_key(self.0, to, index)
    }
    fn by_provider_id(&mut self, id: &str) -> Result<Option<Located>, LedgerError> {
        by_provider_id(self.0, id)
    }
    fn first_time(&mut self, id: &str) -> Result<bool, LedgerError> {
        first_time(self.0, id)
    }
    fn write(&mut self, to: &str, index: u32, old: &Facts, new: &Facts) -> Result<(), LedgerError> {
        write(self.0, to, index, old, new)
    }
    fn inbound(&mut self, who: &str, at: i64, m: &Inbound) -> Result<(), LedgerError> {
        self.0
            .prepare_cached(
                "INSERT INTO inbound (recipient, last_at, message_id, profile_name) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (recipient) DO UPDATE SET last_at = excluded.last_at,
             message_id = excluded.message_id,
             profile_name = COALESCE(excluded.profile_name, profile_name)
         WHERE excluded.last_at > inbound.last_at",
            )?
            .execute(params![who, at, m.message_id, m.profile_name])?;
        Ok(())
    }
    fn reply(&mut self, reply_to: &str, at: i64) -> Result<usize, LedgerError> {
        let n = self
            .0
            .prepare_cached(
                "UPDATE deliveries SET replied_at = MIN(COALESCE(replied_at, ?2), ?2)
                 WHERE provider_id = ?1",
            )?
            .execute(params![reply_to, at])?;
        Ok(n)
    }
}

/// The outcome of merging one status into a row.
#[derive(Debug, PartialEq, Eq)]
enum Merge {
    Changed(Facts),
    Same,
    /// The row belongs to a running run right now.
    Deferred,
}

fn earliest(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Merges `s` into `row`. Monotone in every field (earliest times, a state that only moves
/// forward, an error code kept once set), so any order of the same events ends the same.
fn merge(row: &Facts, s: &Status, run_going: bool) -> Merge {
    let open = matches!(row.state, State::Pending | State::Attempting);
    if open && run_going {
        return Merge::Deferred;
    }
    let at = s.at.saturating_mul(1000);
    let mut new = row.clone();
    if new.provider_id.is_none() {
        new.provider_id = Some(s.provider_id.clone());
    }
    match s.step {
        Step::Sent | Step::Delivered | Step::Read => {
            if s.step >= Step::Delivered {
                new.delivered_at = earliest(new.delivered_at, at);
            }
            if s.step == Step::Read {
                new.read_at = earliest(new.read_at, at);
            }
            match row.state {
                State::Unknown | State::Attempting | State::Pending => {
                    new.state = State::Sent;
                    new.retryable = false;
                    new.reason = Some(format!(
                        "the provider's webhook reports it {}; the answer to the request was lost",
                        s.step.as_str()
                    ));
                }
                // The provider has it: never put it back for --retry-failed.
                State::Failed => new.retryable = false,
                State::Sent | State::Expired => {}
            }
        }
        Step::Failed => {
            let code = s.error_code();
            new.error_code = new.error_code.or(code);
            if matches!(row.state, State::Unknown | State::Attempting | State::Sent) {
                let what = s
                    .errors
                    .first()
                    .map(|e| format!("{} {}", e.code, e.title).trim().to_string())
                    .unwrap_or_else(|| "no error code".into());
                new.state = if code == Some(WINDOW_CLOSED) {
                    State::Expired
                } else {
                    State::Failed
                };
                new.retryable = false;
                new.reason = Some(format!("the provider's webhook reports it failed: {what}"));
            }
            // A `pending` row is left to the next run: whatever failed, it was not delivered.
            if row.state == State::Pending {
                return Merge::Same;
            }
        }
    }
    if new == *row {
        Merge::Same
    } else {
        Merge::Changed(new)
    }
}

/// Where a status's send key points, when it is a send key of this campaign: `(recipient, index)`.
/// The recipient is `+digits` for a phone number (the ledger's E.164) or the identity as given.
enum KeyTarget {
    Row(String, u32),
    OtherCampaign,
    /// Not one of our send keys (absent, or some other `biz_opaque_callback_data`).
    None,
}

fn key_target(key: Option<&str>, prefix: &str) -> KeyTarget {
    let Some(key) = key else {
        return KeyTarget::None;
    };
    let Some(rest) = key.strip_prefix(prefix) else {
        let looks_like_ours = key.len() > 13
            && key.as_bytes()[12] == b'-'
            && key[..12].bytes().all(|b| b.is_ascii_hexdigit());
        return if looks_like_ours {
            KeyTarget::OtherCampaign
        } else {
            KeyTarget::None
        };
    };
    let Some((who, index)) = rest.rsplit_once('-') else {
        return KeyTarget::None;
    };
    let Ok(index) = index.parse::<u32>() else {
        return KeyTarget::None;
    };
    if who.is_empty() {
        return KeyTarget::None;
    }
    let to = if who.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{who}")
    } else {
        who.to_string()
    };
    KeyTarget::Row(to, index)
}

const FACTS: &str = "SELECT recipient, message_index, state, provider_id, delivered_at, read_at,
    error_code, retryable, reason FROM deliveries";

pub(super) type Located = (String, u32, Facts);

fn facts_at(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, u32, String, Facts)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        Facts {
            state: State::Pending,
            provider_id: row.get(3)?,
            delivered_at: row.get(4)?,
            read_at: row.get(5)?,
            error_code: row.get(6)?,
            retryable: row.get(7)?,
            reason: row.get(8)?,
        },
    ))
}

fn located(raw: Option<(String, u32, String, Facts)>) -> Result<Option<Located>, LedgerError> {
    raw.map(|(to, i, state, mut f)| {
        f.state = state.parse::<State>()?;
        Ok((to, i, f))
    })
    .transpose()
}

fn by_key(conn: &Connection, to: &str, index: u32) -> Result<Option<Located>, LedgerError> {
    let sql = format!("{FACTS} WHERE recipient = ?1 AND message_index = ?2");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(params![to, index], facts_at)
        .optional()?;
    located(raw)
}

fn by_provider_id(conn: &Connection, id: &str) -> Result<Option<Located>, LedgerError> {
    let sql = format!("{FACTS} WHERE provider_id = ?1 LIMIT 1");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row([id], facts_at)
        .optional()?;
    located(raw)
}

/// Records `id` as applied; false when it was applied before.
fn first_time(conn: &Connection, id: &str) -> Result<bool, LedgerError> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO webhook_events (id) VALUES (?1)")?
        .execute([id])?;
    Ok(n == 1)
}

fn write(
    conn: &Connection,
    to: &str,
    index: u32,
    old: &Facts,
    f: &Facts,
) -> Result<(), LedgerError> {
    // `finished_at` is when the ledger learnt the outcome; set once, when it first settles.
    conn.prepare_cached(
        "UPDATE deliveries SET state = ?3, provider_id = ?4, delivered_at = ?5, read_at = ?6,
             error_code = ?7, retryable = ?8, reason = ?9,
             finished_at = CASE WHEN ?10 THEN ?11 ELSE finished_at END
         WHERE recipient = ?1 AND message_index = ?2",
    )?
    .execute(params![
        to,
        index,
        f.state.as_str(),
        f.provider_id,
        f.delivered_at,
        f.read_at,
        f.error_code,
        f.retryable,
        f.reason,
        old.state != f.state,
        now_millis(),
    ])?;
    Ok(())
}

/// Who an inbound message is from, as the ledger names recipients: the caller normalizes the
/// wa_id to E.164 (`521…` → `+52…`), or gives the business-scoped user id.
pub type Sender<'a> = &'a dyn Fn(&Inbound) -> String;

impl Ledger {
    /// Applies one batch of webhook events in one transaction. `prefix` is this campaign's send
    /// key prefix (`<12 hex>-`); `run_going` is asked inside the transaction whether a run holds
    /// the campaign (see `expire_passed_if_idle` for why that order is safe): if one does, rows
    /// it may be sending (`pending`, `attempting`) are left alone and their events deferred.
    pub fn apply_webhooks(
        &mut self,
        events: &[Event],
        prefix: &str,
        sender: Sender<'_>,
        run_going: impl FnOnce() -> bool,
    ) -> Result<Tally, LedgerError> {
        let conn = match self.backend_mut() {
            BackendMut::Lite(c) => c,
            // The database itself says whether a runner holds the campaign's sender.
            BackendMut::Pg(pg) => return super::pg::apply_webhooks(pg, events, prefix, sender),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let going = run_going();
        let tally = apply_all(&mut Lite(&tx), events, prefix, sender, going)?;
        tx.commit()?;
        Ok(tally)
    }

    /// The time (unix ms, the provider's clock) of each user's latest inbound message.
    pub fn latest_inbound(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        let conn = match self.backend() {
            Backend::Lite(c) => c,
            Backend::Pg(mut pg) => return pg.latest_inbound(),
        };
        let mut stmt =
            conn.prepare_cached("SELECT recipient, last_at FROM inbound ORDER BY recipient")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Applies `events` in order through `db` (inside its transaction); `going` says whether a run
/// holds the campaign.
pub(super) fn apply_all(
    db: &mut impl Hooks,
    events: &[Event],
    prefix: &str,
    sender: Sender<'_>,
    going: bool,
) -> Result<Tally, LedgerError> {
    let mut tally = Tally::default();
    for event in events {
        match event {
            Event::Status(s) => status(db, s, prefix, going, &mut tally)?,
            Event::Inbound(m) => inbound(db, m, &sender(m), &mut tally)?,
        }
    }
    Ok(tally)
}

fn status(
    conn: &mut impl Hooks,
    s: &Status,
    prefix: &str,
    going: bool,
    tally: &mut Tally,
) -> Result<(), LedgerError> {
    let found = match key_target(s.key.as_deref(), prefix) {
        KeyTarget::OtherCampaign => {
            tally.other_campaign += 1;
            return Ok(());
        }
        KeyTarget::Row(to, index) => match conn.by_key(&to, index)? {
            Some(row) => Some(row),
            None => conn.by_provider_id(&s.provider_id)?,
        },
        KeyTarget::None => conn.by_provider_id(&s.provider_id)?,
    };
    let Some((to, index, row)) = found else {
        tally.unmatched += 1;
        return Ok(());
    };
    let merged = merge(&row, s, going);
    if merged == Merge::Deferred {
        tally.deferred += 1;
        return Ok(());
    }
    if !conn.first_time(&s.event_id())? {
        tally.duplicate += 1;
        return Ok(());
    }
    tally.applied += 1;
    if let Merge::Changed(new) = merged {
        if new.state != row.state {
            *tally.transitions.entry((row.state, new.state)).or_default() += 1;
        }
        conn.write(&to, index, &row, &new)?;
    }
    Ok(())
}

fn inbound(
    conn: &mut impl Hooks,
    m: &Inbound,
    who: &str,
    tally: &mut Tally,
) -> Result<(), LedgerError> {
    if !conn.first_time(m.event_id())? {
        tally.duplicate += 1;
        return Ok(());
    }
    tally.applied += 1;
    let at = m.at.saturating_mul(1000);
    // The latest message wins whatever order they arrive in; a tie keeps the first.
    conn.inbound(who, at, m)?;
    if let Some(reply_to) = &m.reply_to {
        if conn.reply(reply_to, at)? > 0 {
            tally.replies += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/webhooks.rs"]
mod tests;
