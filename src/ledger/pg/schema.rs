//! PostgreSQL ledger: the versioned schema (a `schema_version` row), created and migrated by the
//! tool under a transaction-level advisory lock so two runners starting together do not both
//! create it.

use postgres::Client;

use super::Target;
use crate::ledger::LedgerError;

/// Bump it and add a step to `STEPS` when the tables change.
pub const SCHEMA_VERSION: i32 = 1;

/// A fixed advisory key for migrations (distinct from every sender key in practice: those are
/// hashes).
const MIGRATION_LOCK: i64 = 0x5345_5353_4341_5354; // "SESSCAST"

/// Version 1: the SQLite schema version 2, every table keyed by the campaign's name too, plus
/// what is shared between campaigns and hosts: `campaigns` (which sender each sends from),
/// `senders` (the pacer's blocks and learned limits per sender) and `leases` (who holds a
/// sender's lease: for the "busy" message and the claim's fence). Times are unix ms.
const V1: &str = "
CREATE TABLE campaigns (
    name       TEXT   NOT NULL PRIMARY KEY,
    sender     TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE deliveries (
    campaign      TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    message_index BIGINT  NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN
                    ('pending','attempting','sent','failed','expired','unknown')),
    payload       TEXT    NOT NULL,
    deadline      BIGINT  NOT NULL,
    provider_id   TEXT,
    reason        TEXT,
    retryable     BOOLEAN NOT NULL DEFAULT false,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    planned_at    BIGINT  NOT NULL,
    attempted_at  BIGINT,
    finished_at   BIGINT,
    delivered_at  BIGINT,
    read_at       BIGINT,
    replied_at    BIGINT,
    error_code    BIGINT,
    PRIMARY KEY (campaign, recipient, message_index)
);
CREATE INDEX deliveries_provider_id ON deliveries (campaign, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE TABLE meta (
    campaign TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (campaign, key)
);
CREATE TABLE webhook_events (
    campaign TEXT NOT NULL,
    id       TEXT NOT NULL,
    PRIMARY KEY (campaign, id)
);
CREATE TABLE inbound (
    campaign     TEXT   NOT NULL,
    recipient    TEXT   NOT NULL,
    last_at      BIGINT NOT NULL,
    message_id   TEXT   NOT NULL,
    profile_name TEXT,
    PRIMARY KEY (campaign, recipient)
);
CREATE TABLE senders (
    sender     TEXT   NOT NULL PRIMARY KEY,
    pacer      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE leases (
    sender   TEXT    NOT NULL PRIMARY KEY,
    lock_key BIGINT  NOT NULL,
    campaign TEXT    NOT NULL,
    host     TEXT    NOT NULL,
    pid      BIGINT  NOT NULL,
    token    TEXT    NOT NULL,
    since    BIGINT  NOT NULL
);
";

/// Each entry upgrades from the version before it.
const STEPS: [&str; 1] = [V1];

pub fn migrate(client: &mut Client, target: &Target) -> Result<(), LedgerError> {
    let found = current(client)?;
    if found == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let row = tx.query_opt("SELECT version FROM schema_version", &[])?;
    let found: i32 = row.map_or(0, |r| r.get(0));
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(LedgerError::UnsupportedSchema {
            path: target.to_string().into(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in STEPS.iter().skip(found as usize) {
        tx.batch_execute(step)?;
    }
    if found == 0 {
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )?;
    } else if found < SCHEMA_VERSION {
        tx.execute("UPDATE schema_version SET version = $1", &[&SCHEMA_VERSION])?;
    }
    tx.commit()?;
    Ok(())
}

/// The version recorded, `None` when the database has no sessioncast schema yet. Read without
/// a lock: the common case (already current) then costs one query.
fn current(client: &mut Client) -> Result<Option<i32>, LedgerError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client.query_opt("SELECT version FROM schema_version", &[])?;
    Ok(row.map(|r| r.get(0)))
}
