//! Ledger: the frozen payloads read back for sending (keys in the order they will be sent →
//! each key's payload), on a connection of its own so the writer's group commits never wait
//! for it.

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{pg, Backend, Key, Ledger, LedgerError};

/// Reads the payloads `begin_run` froze, a block of keys at a time.
pub struct Payloads {
    store: Store,
}

enum Store {
    /// A read-only connection to the ledger file: WAL lets it read while the writer commits.
    Lite(Connection),
    Pg {
        client: Box<postgres::Client>,
        campaign: String,
    },
}

impl std::fmt::Debug for Payloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Payloads")
    }
}

impl Ledger {
    /// A reader of this ledger's frozen payloads on a new connection (a ledger kept in memory
    /// has no file to open again: `LedgerError::NoFile`).
    pub fn payloads(&self) -> Result<Payloads, LedgerError> {
        let store = match self.backend() {
            Backend::Lite(conn) => {
                let path = conn
                    .path()
                    .filter(|p| !p.is_empty())
                    .ok_or(LedgerError::NoFile)?;
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                Store::Lite(reader)
            }
            Backend::Pg(pg) => Store::Pg {
                client: Box::new(pg.target().connect()?),
                campaign: pg.campaign().to_string(),
            },
        };
        Ok(Payloads { store })
    }
}

impl Payloads {
    /// The payload of each key of `keys`, in the same order (`None`: no such row).
    pub fn fetch(&mut self, keys: &[Key]) -> Result<Vec<Option<String>>, LedgerError> {
        match &mut self.store {
            Store::Lite(conn) => {
                // One statement for the block: a point look-up of the primary key per row, in
                // one read transaction (a consistent view, one lock taken).
                let tx = conn.transaction()?;
                let out = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT payload FROM deliveries WHERE recipient = ?1 AND message_index = ?2",
                    )?;
                    keys.iter()
                        .map(|k| {
                            stmt.query_row(params![k.to, k.message_index], |r| r.get(0))
                                .optional()
                        })
                        .collect::<Result<Vec<Option<String>>, _>>()?
                };
                tx.finish()?;
                Ok(out)
            }
            // The synchronous client drives its own runtime, which cannot start on a thread
            // already driving one (the executor's): the round trip goes from a thread of its
            // own, joined at once.
            Store::Pg { client, campaign } => std::thread::scope(|scope| {
                scope
                    .spawn(|| pg::fetch_payloads(client.as_mut(), campaign, keys))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }),
        }
    }
}
