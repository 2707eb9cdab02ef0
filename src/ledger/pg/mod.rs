//! Ledger on PostgreSQL: one database holds many campaigns (rows keyed by campaign name) — the
//! connection (URL → client, password from the environment only), the versioned schema, and the
//! fence that ties every claim to the sender's lease.
//!
//! Same states, transitions and frozen payloads as the SQLite ledger; the SQL differs where the
//! engines do (arrays instead of per-row statements, so a batch is one round trip). Persisted
//! instants the database writes itself (`attempted_at`, `finished_at`, `planned_at`) come from
//! the database's clock, the one clock every host shares.

pub mod lease;
mod ops;
mod schema;
#[cfg(test)]
mod tests;
mod webhooks;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::LedgerError;

pub use schema::SCHEMA_VERSION;

/// Milliseconds since the epoch on the database's clock, as SQL.
macro_rules! now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}
pub(crate) use now_ms;

/// Where a PostgreSQL ledger lives: the parsed connection settings and the URL as it may be
/// shown (no password).
#[derive(Clone)]
pub struct Target {
    config: Config,
    shown: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Whether `s` names a PostgreSQL ledger rather than a file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Why a `postgres://` URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("the PostgreSQL URL `{shown}` cannot be read: {why}")]
    Bad { shown: String, why: String },
    #[error("the PostgreSQL URL on the command line holds a password, which any user of this machine can read in the process list; pass the URL in the environment variable SESSIONCAST_STATE instead, or leave the password out and set PGPASSWORD")]
    PasswordInArgv,
}

impl Target {
    /// Parses `url`. `from_argv` refuses a password written into it (argv is public); the
    /// password otherwise comes from the URL (an environment variable) or `PGPASSWORD`.
    pub fn parse(url: &str, from_argv: bool) -> Result<Target, UrlError> {
        let parsed = url::Url::parse(url).map_err(|e| UrlError::Bad {
            shown: redact(url),
            why: e.to_string(),
        })?;
        if from_argv && parsed.password().is_some() {
            return Err(UrlError::PasswordInArgv);
        }
        let mut config = Config::from_str(url).map_err(|e| UrlError::Bad {
            shown: redact(url),
            why: e.to_string(),
        })?;
        if config.get_password().is_none() {
            if let Some(pw) = std::env::var_os("PGPASSWORD") {
                config.password(pw.as_encoded_bytes());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("sessioncast");
        Ok(Target {
            config,
            shown: redact(url),
        })
    }

    /// A new connection with synchronous commit on (a commit returns once the server flushed
    /// it: a claimed row survives a server crash), without TLS (see the README).
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute("SET synchronous_commit = on; SET TIME ZONE 'UTC'")?;
        Ok(client)
    }
}

/// `url` without its password (and without a query string, which may hold one).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "postgres://…".into(),
    }
}

/// What ties the writer's claims to the lease: the lease connection's backend pid must hold
/// the sender's advisory lock, and the `leases` row must still name this runner's token.
#[derive(Debug, Clone)]
pub struct Fence {
    pub sender: String,
    pub token: String,
    pub lease_pid: i32,
    pub lock_key: i64,
}

/// The PostgreSQL side of a [`super::Ledger`]: one connection and the campaign it serves.
pub struct PgLedger {
    client: Client,
    /// Where it lives, for the connections of its readers.
    target: Target,
    campaign: String,
    /// The sender whose lease this runner holds, when it holds one.
    fence: Option<Fence>,
    /// The database's clock minus this host's, in ms, measured when the lease was taken.
    offset_ms: i64,
}

impl fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLedger")
            .field("campaign", &self.campaign)
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

impl PgLedger {
    /// Connects and creates or migrates the schema.
    pub fn open(target: &Target, campaign: &str) -> Result<PgLedger, LedgerError> {
        let mut client = target.connect()?;
        schema::migrate(&mut client, target)?;
        Ok(PgLedger {
            client,
            target: target.clone(),
            campaign: campaign.to_string(),
            fence: None,
            offset_ms: 0,
        })
    }

    /// Whether any run ever recorded this campaign here.
    pub fn exists(&mut self) -> Result<bool, LedgerError> {
        let row = self
            .client
            .query_opt("SELECT 1 FROM campaigns WHERE name = $1", &[&self.campaign])?;
        Ok(row.is_some())
    }

    /// Records the campaign and the sender it sends from (the pacer's send log is the attempt
    /// times of every campaign of a sender).
    pub fn register(&mut self, sender: &str) -> Result<(), LedgerError> {
        self.client.execute(
            concat!(
                "INSERT INTO campaigns (name, sender, created_at) VALUES ($1, $2, ",
                now_ms!(),
                ") ON CONFLICT (name) DO UPDATE SET sender = excluded.sender"
            ),
            &[&self.campaign, &sender],
        )?;
        Ok(())
    }

    /// From now on every claim checks `fence` in its transaction.
    pub fn set_fence(&mut self, fence: Fence, offset_ms: i64) {
        self.fence = Some(fence);
        self.offset_ms = offset_ms;
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn campaign(&self) -> &str {
        &self.campaign
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    pub fn sender(&self) -> Option<&str> {
        self.fence.as_ref().map(|f| f.sender.as_str())
    }
}

/// The 64-bit advisory lock key of a sender: the first 8 bytes of SHA-256 of its key, so every
/// host computes the same one.
pub fn lock_key(sender: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sender.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The (classid, objid) under which `pg_locks` shows a session lock on a bigint key
/// (objsubid 1).
pub fn lock_parts(key: i64) -> (i64, i64) {
    let bits = key as u64;
    ((bits >> 32) as i64, (bits & 0xffff_ffff) as i64)
}

pub(crate) use ops::{fetch_payloads, refusal, save_meta_pg, write_run};
pub(crate) use webhooks::apply_webhooks;
