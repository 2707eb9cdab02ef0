//! PostgreSQL ledger: the provider's webhooks applied to one campaign's rows (the rules live in
//! `ledger/webhooks.rs`; this is the SQL), one transaction per batch.

use postgres::{Row, Transaction};

use super::ops::run_going;
use super::{now_ms, PgLedger};
use crate::ledger::webhooks::{apply_all, Facts, Hooks, Located, Sender, Tally};
use crate::ledger::{LedgerError, State};
use crate::webhook::{Event, Inbound};

const FACTS: &str = "SELECT recipient, message_index, state, provider_id, delivered_at, read_at,
    error_code, retryable, reason FROM deliveries";

struct Pg<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    campaign: &'a str,
}

fn located(row: Option<Row>) -> Result<Option<Located>, LedgerError> {
    let Some(r) = row else {
        return Ok(None);
    };
    let index: i64 = r.get(1);
    let facts = Facts {
        state: r.get::<_, String>(2).parse::<State>()?,
        provider_id: r.get(3),
        delivered_at: r.get(4),
        read_at: r.get(5),
        error_code: r.get(6),
        retryable: r.get(7),
        reason: r.get(8),
    };
    Ok(Some((
        r.get(0),
        u32::try_from(index).unwrap_or(u32::MAX),
        facts,
    )))
}

impl Hooks for Pg<'_, '_> {
    fn by_key(&mut self, to: &str, index: u32) -> Result<Option<Located>, LedgerError> {
        let sql = format!("{FACTS} WHERE campaign = $1 AND recipient = $2 AND message_index = $3");
        let row = self
            .tx
            .query_opt(sql.as_str(), &[&self.campaign, &to, &i64::from(index)])?;
        located(row)
    }

    fn by_provider_id(&mut self, id: &str) -> Result<Option<Located>, LedgerError> {
        let sql = format!("{FACTS} WHERE campaign = $1 AND provider_id = $2 LIMIT 1");
        let row = self.tx.query_opt(sql.as_str(), &[&self.campaign, &id])?;
        located(row)
    }

    fn first_time(&mut self, id: &str) -> Result<bool, LedgerError> {
        let n = self.tx.execute(
            "INSERT INTO webhook_events (campaign, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&self.campaign, &id],
        )?;
        Ok(n == 1)
    }

    fn write(&mut self, to: &str, index: u32, old: &Facts, f: &Facts) -> Result<(), LedgerError> {
        // `finished_at` is when the ledger learnt the outcome; set once, when it first settles.
        self.tx.execute(
            concat!(
                "UPDATE deliveries SET state = $4, provider_id = $5, delivered_at = $6,
                     read_at = $7, error_code = $8, retryable = $9, reason = $10,
                     finished_at = CASE WHEN $11 THEN ",
                now_ms!(),
                " ELSE finished_at END
                 WHERE campaign = $1 AND recipient = $2 AND message_index = $3"
            ),
            &[
                &self.campaign,
                &to,
                &i64::from(index),
                &f.state.as_str(),
                &f.provider_id,
                &f.delivered_at,
                &f.read_at,
                &f.error_code,
                &f.retryable,
                &f.reason,
                &(old.state != f.state),
            ],
        )?;
        Ok(())
    }

    fn inbound(&mut self, who: &str, at: i64, m: &Inbound) -> Result<(), LedgerError> {
        self.tx.execute(
            "INSERT INTO inbound (campaign, recipient, last_at, message_id, profile_name)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (campaign, recipient) DO UPDATE SET last_at = excluded.last_at,
                 message_id = excluded.message_id,
                 profile_name = COALESCE(excluded.profile_name, inbound.profile_name)
             WHERE excluded.last_at > inbound.last_at",
            &[&self.campaign, &who, &at, &m.message_id, &m.profile_name],
        )?;
        Ok(())
    }

    fn reply(&mut self, reply_to: &str, at: i64) -> Result<usize, LedgerError> {
        let n = self.tx.execute(
            "UPDATE deliveries SET replied_at = LEAST(COALESCE(replied_at, $3), $3)
             WHERE campaign = $1 AND provider_id = $2",
            &[&self.campaign, &reply_to, &at],
        )?;
        Ok(n as usize)
    }
}

/// One batch in one transaction. Whether a run is going is asked of the database under the
/// campaign's row lock (see `ops::lock_campaign`), so a runner starting meanwhile waits for
/// this batch and then sees it.
pub(crate) fn apply_webhooks(
    pg: &mut PgLedger,
    events: &[Event],
    prefix: &str,
    sender: Sender<'_>,
) -> Result<Tally, LedgerError> {
    let (client, campaign) = pg.client_and_campaign();
    let campaign = campaign.to_string();
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT 1 FROM campaigns WHERE name = $1 FOR UPDATE",
        &[&campaign],
    )?;
    let going = run_going(&mut tx, &campaign)?;
    let tally = apply_all(
        &mut Pg {
            tx: &mut tx,
            campaign: &campaign,
        },
        events,
        prefix,
        sender,
        going,
    )?;
    tx.commit()?;
    Ok(tally)
}
