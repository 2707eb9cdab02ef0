//! Test support (PostgreSQL): `SESSIONCAST_TEST_PG` → a database of the test's own on that server,
//! created for the test and dropped when it ends (also when it fails), plus a way to query it.
//!
//! Outside CI with the variable unset, [`TestDb::new`] prints "skipped: SESSIONCAST_TEST_PG is not
//! set" and returns `None` (the test returns early and passes). Under `CI=true` an unset variable
//! or an unreachable server fails the test: CI must never skip these silently.
//! `scripts/pg-test-setup.sh` starts a local server and sets the variable.
//!
//! The `postgres` client blocks on a runtime of its own, which panics inside a tokio runtime; every
//! call here therefore runs on a short-lived thread of its own, so async tests may call it.
//!
//! Include it with `#[path = "support/pg.rs"] mod pg;`.

#![allow(dead_code)]

use postgres::{Client, NoTls};

/// The variable naming a server where tests may `CREATE DATABASE`.
pub const VAR: &str = "SESSIONCAST_TEST_PG";

/// A database created for one test, dropped on drop.
pub struct TestDb {
    /// The server URL from the environment (connects to its maintenance database).
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `sctest_<test>_<pid>_<random>`; `None` when the tests are to be skipped.
    pub fn new(test: &str) -> Option<TestDb> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let admin = match std::env::var(VAR) {
            Ok(url) if !url.is_empty() => url,
            _ if ci => panic!("{VAR} is not set, and CI=true needs the PostgreSQL tests to run"),
            _ => {
                eprintln!("skipped: {VAR} is not set");
                return None;
            }
        };
        let slug: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "sctest_{slug}_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut url = url::Url::parse(&admin)
            .unwrap_or_else(|e| panic!("{VAR} is not a postgres:// URL ({e})"));
        url.set_path(&format!("/{name}"));
        let db = TestDb {
            admin,
            name,
            url: url.into(),
        };
        let create = format!("CREATE DATABASE \"{}\"", db.name);
        on_thread(|| {
            let mut c = connect(&db.admin);
            c.batch_execute(&create)
                .unwrap_or_else(|e| panic!("cannot create a test database ({e})"));
        });
        Some(db)
    }

    /// The URL of this database, password included: give it to the binary through
    /// `SESSIONCAST_STATE`, never on its command line.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL's password (to check that it appears nowhere).
    pub fn password(&self) -> String {
        let url = url::Url::parse(&self.url).unwrap();
        url.password().unwrap_or_default().to_string()
    }

    /// Runs `sql` on this database; each row as a JSON object (column → value).
    pub fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        rows(&self.url, sql)
    }

    /// Runs `sql` on the server's maintenance database (server-wide views such as
    /// `pg_stat_database`).
    pub fn admin_rows(&self, sql: &str) -> Vec<serde_json::Value> {
        rows(&self.admin, sql)
    }

    /// The binary did keep its ledger here: the database has tables (it starts empty).
    pub fn assert_used(&self) {
        let sql =
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'";
        let n = self.rows(sql)[0]["n"].as_u64().unwrap();
        assert!(
            n > 0,
            "nothing was written to the PostgreSQL ledger {}",
            self.name
        );
    }

    /// Whether `table` exists in this database (the product creates its schema on first use).
    pub fn has_table(&self, table: &str) -> bool {
        let sql = format!("SELECT to_regclass('{table}') IS NOT NULL AS present");
        self.rows(&sql)[0]["present"] == serde_json::Value::Bool(true)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // FORCE: a killed runner's session may not be gone yet.
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        let done = std::thread::spawn(move || {
            Client::connect(&admin, NoTls).and_then(|mut c| c.batch_execute(&drop))
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

fn connect(url: &str) -> Client {
    // The error names host and cause; the URL (and its password) is not repeated.
    Client::connect(url, NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to the PostgreSQL server of {VAR} ({e}); see scripts/pg-test-setup.sh"
        )
    })
}

fn rows(url: &str, sql: &str) -> Vec<serde_json::Value> {
    let wrapped = format!("SELECT row_to_json(t)::text FROM ({sql}) t");
    on_thread(|| {
        let mut c = connect(url);
        c.query(wrapped.as_str(), &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect()
    })
}

/// Runs `f` on a thread of its own (see the module note) and returns its result.
fn on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
