//! PostgreSQL ledger: a sender's lease — one active runner per sender across hosts (sender key →
//! a session advisory lock held on a dedicated connection for the whole run).
//!
//! PostgreSQL releases a session lock when its connection ends, however the holder dies
//! (SIGKILL, a crashed host once TCP notices), so a stale lease cannot outlive its holder. The
//! `leases` row only describes the holder (for the "busy" message) and carries the token the
//! claims' fence checks; it never decides who holds the lease.

use std::time::{Duration, Instant, SystemTime};

use postgres::Client;

use super::{lock_key, now_ms, Fence, Target};
use crate::ledger::LedgerError;

/// Held while the run lasts; dropping it closes the connection and so releases the lock.
pub struct Lease {
    client: Client,
    fence: Fence,
    offset_ms: i64,
    waited: Option<Duration>,
}

/// Why no lease was taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("sender {sender} is busy: another runner holds its lease ({holder})")]
    Busy { sender: String, holder: String },
    #[error(transparent)]
    Db(#[from] LedgerError),
}

impl From<postgres::Error> for LeaseError {
    fn from(e: postgres::Error) -> Self {
        LeaseError::Db(e.into())
    }
}

impl Lease {
    /// Takes the lease of `sender` for `campaign`. Without `standby` it fails at once with
    /// [`LeaseError::Busy`] when another runner holds it; with `standby` it waits for the holder
    /// to end (or die) and takes over.
    pub fn take(
        target: &Target,
        sender: &str,
        campaign: &str,
        standby: bool,
    ) -> Result<Lease, LeaseError> {
        let mut client = target.connect()?;
        let key = lock_key(sender);
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])?
            .get(0);
        let mut waited = None;
        if !got {
            if !standby {
                return Err(LeaseError::Busy {
                    sender: sender.to_string(),
                    holder: holder(&mut client, sender)?,
                });
            }
            eprintln!(
                "sender {sender}: another runner holds its lease ({}); standing by to take over",
                holder(&mut client, sender)?
            );
            let started = Instant::now();
            // Blocks until the holder lets go; PostgreSQL grants it the moment the holder's
            // connection ends.
            client.execute("SELECT pg_advisory_lock($1)", &[&key])?;
            waited = Some(started.elapsed());
        }
        let token = format!("{:032x}", rand::random::<u128>());
        let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
        // Waits for any claim of the previous holder still in its transaction (its fence locks
        // this row), so the recovery that follows sees every row that holder claimed.
        client.execute(
            concat!(
                "INSERT INTO leases (sender, lock_key, campaign, host, pid, token, since)
                 VALUES ($1, $2, $3, $4, $5, $6, ",
                now_ms!(),
                ") ON CONFLICT (sender) DO UPDATE SET lock_key = excluded.lock_key,
                     campaign = excluded.campaign, host = excluded.host, pid = excluded.pid,
                     token = excluded.token, since = excluded.since"
            ),
            &[
                &sender,
                &key,
                &campaign,
                &hostname(),
                &i64::from(std::process::id()),
                &token,
            ],
        )?;
        let offset_ms = clock_offset(&mut client)?;
        Ok(Lease {
            client,
            fence: Fence {
                sender: sender.to_string(),
                token,
                lease_pid: pid,
                lock_key: key,
            },
            offset_ms,
            waited,
        })
    }

    /// What the ledger's writer checks in every claim.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// The database's clock minus this host's, ms, measured when the lease was taken.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// How long `--standby` waited for the previous holder, when it had to.
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }

    pub fn sender(&self) -> &str {
        &self.fence.sender
    }

    /// Whether this connection still holds the lock (a check for tests and the end of a run).
    pub fn held(&mut self) -> bool {
        let key = self.fence.lock_key;
        let (classid, objid) = super::lock_parts(key);
        self.client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND pid = pg_backend_pid() AND classid = $1::bigint::oid
                   AND objid = $2::bigint::oid AND objsubid = 1)",
                &[&classid, &objid],
            )
            .map(|r| r.get(0))
            .unwrap_or(false)
    }
}

/// "host H, pid P, since T" from the `leases` row, or a note that the holder has not written it.
fn holder(client: &mut Client, sender: &str) -> Result<String, LedgerError> {
    let row = client.query_opt(
        "SELECT host, pid, since FROM leases WHERE sender = $1",
        &[&sender],
    )?;
    Ok(match row {
        Some(r) => {
            let host: String = r.get(0);
            let pid: i64 = r.get(1);
            let since: i64 = r.get(2);
            let since = jiff::Timestamp::from_millisecond(since)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|_| since.to_string());
            format!("host {host}, pid {pid}, since {since}")
        }
        None => "host ?, pid ?, since ?: it has not recorded itself yet".into(),
    })
}

/// The database's clock minus this host's, ms: the database's `clock_timestamp()` against the
/// middle of the round trip that read it.
fn clock_offset(client: &mut Client) -> Result<i64, LedgerError> {
    let before = SystemTime::now();
    let db: i64 = client.query_one(concat!("SELECT ", now_ms!()), &[])?.get(0);
    let after = SystemTime::now();
    let mid = crate::ledger::to_millis(before) / 2 + crate::ledger::to_millis(after) / 2;
    Ok(db - mid)
}

/// This machine's name for the `leases` row (Linux's, else `$HOSTNAME`, else `?`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "?".into())
}
