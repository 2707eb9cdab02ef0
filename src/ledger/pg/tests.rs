//! PostgreSQL ledger tests against a real server (`SESSIONCAST_TEST_PG`, a URL where the test may
//! create databases): the same scenario gives the same rows on both backends, the schema is
//! versioned, claims are fenced by the lease, and a dead holder's lease is taken over.

use std::time::{Duration, UNIX_EPOCH};

use super::lease::{Lease, LeaseError};
use super::Target;
use crate::ledger::{
    Asked, AttemptError, Begun, Key, Ledger, LedgerError, Outcome, Planned, State, Writer,
};

/// A database of its own for one test, dropped at the end.
struct Db {
    admin: String,
    name: String,
    target: Target,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(admin) = Target::parse(&self.admin, false) {
            if let Ok(mut c) = admin.connect() {
                let _ = c.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}

/// A fresh database, or `None` (the test passes, saying so) when `SESSIONCAST_TEST_PG` is unset
/// outside CI. Under `CI=true` a missing URL or server fails the test.
fn db() -> Option<Db> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(admin) = std::env::var("SESSIONCAST_TEST_PG") else {
        assert!(
            !ci,
            "SESSIONCAST_TEST_PG is not set, and CI=true needs PostgreSQL"
        );
        eprintln!("skipped: SESSIONCAST_TEST_PG is not set");
        return None;
    };
    let name = format!("pgledger_t_{:016x}", rand::random::<u64>());
    let target = Target::parse(&admin, false).expect("SESSIONCAST_TEST_PG is a URL");
    let mut c = target.connect().expect("connect to SESSIONCAST_TEST_PG");
    c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .expect("create a test database");
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path(&format!("/{name}"));
    let target = Target::parse(url.as_str(), false).expect("test url");
    Some(Db {
        admin,
        name,
        target,
    })
}

fn key(i: u32) -> Key {
    Key::new(format!("+1555000{i:04}"), i % 2)
}

fn planned(i: u32, payload: &str) -> Planned {
    Planned {
        key: key(i),
        payload: payload.to_string(),
        deadline: UNIX_EPOCH + Duration::from_secs(4_000_000_000),
    }
}

/// One scenario through the whole interface: plan, claim, outcomes, a requeue, recovery, a
/// refused transition, a changed payload refused then rerendered, meta.
fn scenario(ledger: &mut Ledger) -> Vec<(Key, State, Option<String>, u32)> {
    let rows: Vec<_> = (0..6).map(|i| planned(i, &format!("p{i}"))).collect();
    let Begun::Ready { sync, .. } = ledger.begin_run(&rows, Asked::default()).expect("begin")
    else {
        panic!("refused a first plan")
    };
    assert_eq!(sync.inserted, 6);
    ledger
        .mark_attempting_many(&[key(0), key(1), key(2), key(3)])
        .expect("claim");
    ledger
        .finish_many(&[
            (
                key(0),
                Outcome::Sent {
                    provider_id: Some("wamid.0".into()),
                },
            ),
            (
                key(1),
                Outcome::Failed {
                    reason: "bad".into(),
                    retryable: true,
                    code: Some(131000),
                },
            ),
            (
                key(2),
                Outcome::Requeue {
                    reason: "429".into(),
                },
            ),
        ])
        .expect("finish");
    assert!(matches!(
        ledger.mark_attempting(&key(0)),
        Err(LedgerError::IllegalTransition {
            from: State::Sent,
            ..
        })
    ));
    assert!(matches!(
        ledger.mark_attempting(&Key::new("+1999", 0)),
        Err(LedgerError::UnknownKey { .. })
    ));
    assert_eq!(ledger.recover_interrupted().expect("recover"), 1);
    let mut changed = rows.clone();
    changed[4].payload = "new".into();
    assert!(matches!(
        ledger.begin_run(&changed, Asked::default()).expect("begin"),
        Begun::Refused { .. }
    ));
    let asked = Asked {
        rerender: true,
        retry_failed: true,
        ..Asked::default()
    };
    let Begun::Ready {
        failed_requeued,
        rerendered,
        ..
    } = ledger.begin_run(&changed, asked).expect("begin")
    else {
        panic!("refused with --rerender")
    };
    assert_eq!((failed_requeued, rerendered), (1, 1));
    assert_eq!(
        ledger.payload(&key(4)).expect("payload").as_deref(),
        Some("new")
    );
    ledger.save_meta("k", "v1").expect("meta");
    ledger.save_meta("k", "v2").expect("meta");
    assert_eq!(ledger.load_meta("k").expect("meta").as_deref(), Some("v2"));
    let counts = ledger.counts().expect("counts");
    assert_eq!(counts.total(), 6);
    ledger
        .rows()
        .expect("rows")
        .into_iter()
        .map(|r| (r.key, r.state, r.reason, r.attempts))
        .collect()
}

#[test]
fn the_same_scenario_gives_the_same_rows_on_both_backends() {
    let Some(db) = db() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lite = Ledger::open(&dir.path().join("c.db")).expect("sqlite");
    let mut pg = Ledger::open_pg(&db.target, "c").expect("pg");
    pg.pg()
        .expect("pg")
        .register("cloud_api:1")
        .expect("register");
    assert_eq!(scenario(&mut pg), scenario(&mut lite));
    assert_eq!(
        pg.settled().expect("settled"),
        lite.settled().expect("settled")
    );
    // Another campaign in the same database sees none of these rows.
    let other = Ledger::open_pg(&db.target, "other").expect("pg");
    assert_eq!(other.counts().expect("counts").total(), 0);
}

/// The frozen payloads of `keys` read back on a second connection, then again from inside an
/// async runtime after a writer committed a claim in between (a read never waits for or
/// disturbs the writer).
fn read_back(ledger: Ledger, keys: &[Key]) -> Vec<Option<String>> {
    let mut reader = ledger.payloads().expect("a reader");
    let first = reader.fetch(keys).expect("fetch");
    let writer = Writer::start(ledger).expect("writer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let again = rt.block_on(async {
        writer.handle().attempting(key(2)).await.expect("claim");
        // As the executor reads: from inside its runtime.
        reader.fetch(keys).expect("fetch again")
    });
    assert_eq!(again, first);
    drop(writer.close());
    first
}

#[test]
fn payloads_are_read_back_in_the_order_asked_on_both_backends() {
    let Some(db) = db() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lite = Ledger::open(&dir.path().join("c.db")).expect("sqlite");
    let mut pg = Ledger::open_pg(&db.target, "c").expect("pg");
    let rows: Vec<_> = (0..6)
        .map(|i| planned(i, &format!("{{\"body\":\"¡p{i}\"}}")))
        .collect();
    for ledger in [&mut lite, &mut pg] {
        assert!(matches!(
            ledger.begin_run(&rows, Asked::default()).expect("begin"),
            Begun::Ready { .. }
        ));
    }
    // Not the key order: the plan's. A key never planned reads as `None`.
    let keys = [key(4), key(0), Key::new("+19990000000", 0), key(2), key(4)];
    let want: Vec<Option<String>> = [Some(4), Some(0), None, Some(2), Some(4)]
        .iter()
        .map(|i| i.map(|i| format!("{{\"body\":\"¡p{i}\"}}")))
        .collect();
    assert_eq!(read_back(lite, &keys), want);
    assert_eq!(read_back(pg, &keys), want);
}

#[test]
fn the_schema_is_versioned_and_a_newer_one_refused() {
    let Some(db) = db() else { return };
    drop(Ledger::open_pg(&db.target, "c").expect("create"));
    let mut c = db.target.connect().expect("connect");
    let v: i32 = c
        .query_one("SELECT version FROM schema_version", &[])
        .expect("version")
        .get(0);
    assert_eq!(v, super::SCHEMA_VERSION);
    drop(Ledger::open_pg(&db.target, "c").expect("reopen"));
    c.execute("UPDATE schema_version SET version = version + 1", &[])
        .expect("bump");
    assert!(matches!(
        Ledger::open_pg(&db.target, "c"),
        Err(LedgerError::UnsupportedSchema { .. })
    ));
}

#[test]
fn a_second_runner_is_told_who_holds_the_lease_and_takes_it_when_the_holder_dies() {
    let Some(db) = db() else { return };
    drop(Ledger::open_pg(&db.target, "c").expect("schema"));
    let first = Lease::take(&db.target, "cloud_api:1", "c", false).expect("first");
    match Lease::take(&db.target, "cloud_api:1", "c", false) {
        Err(LeaseError::Busy { holder, .. }) => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!(
            "expected busy, got {:?}",
            other.map(|l| l.sender().to_string())
        ),
    }
    // Another sender is free meanwhile.
    let other = Lease::take(&db.target, "cloud_api:2", "d", false).expect("other sender");
    drop(other);
    // The holder's connection ends (as when its process is killed): a standby takes over.
    let target = db.target.clone();
    let standby = std::thread::spawn(move || Lease::take(&target, "cloud_api:1", "c", true));
    std::thread::sleep(Duration::from_millis(300));
    drop(first);
    let mut second = standby.join().expect("thread").expect("took over");
    assert!(second.waited().is_some());
    assert!(second.held());
}

#[test]
fn a_claim_after_the_lease_is_lost_sends_nothing_and_says_so() {
    let Some(db) = db() else { return };
    let mut ledger = Ledger::open_pg(&db.target, "c").expect("open");
    let lease = Lease::take(&db.target, "cloud_api:1", "c", false).expect("lease");
    let pg = ledger.pg().expect("pg");
    pg.register("cloud_api:1").expect("register");
    pg.set_fence(lease.fence(), lease.offset_ms());
    let rows: Vec<_> = (0..4).map(|i| planned(i, "p")).collect();
    ledger.sync_planned(&rows).expect("sync");
    let writer = Writer::start(ledger).expect("writer");
    let h = writer.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(h.attempting(key(0)))
        .expect("claimed under the lease");
    // The lease connection dies; another runner takes the lease.
    drop(lease);
    let _new = Lease::take(&db.target, "cloud_api:1", "c", false).expect("taken over");
    let err = rt
        .block_on(h.attempting(key(1)))
        .expect_err("no claim without the lease");
    assert!(
        matches!(&err, AttemptError::Refused(LedgerError::LeaseLost { sender }) if sender == "cloud_api:1"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("lost the lease of sender cloud_api:1"),
        "{err}"
    );
    let (ledger, stats) = writer.close();
    assert!(stats.lease_lost);
    assert_eq!(
        ledger.state_of(&key(1)).expect("state"),
        Some(State::Pending)
    );
    assert_eq!(
        ledger.state_of(&key(0)).expect("state"),
        Some(State::Attempting)
    );
}

#[test]
fn a_batch_of_claims_is_one_commit() {
    let Some(db) = db() else { return };
    let mut ledger = Ledger::open_pg(&db.target, "c").expect("open");
    let rows: Vec<_> = (0..200).map(|i| planned(i, "p")).collect();
    ledger.sync_planned(&rows).expect("sync");
    let writer = Writer::start(ledger).expect("writer");
    let h = writer.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        // Submitted together, as concurrent sends do.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.attempting(key(i)).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("claim");
        }
    });
    for i in 0..200 {
        h.finish(key(i), Outcome::Sent { provider_id: None });
    }
    let (ledger, stats) = writer.close();
    assert_eq!(stats.transitions, 400);
    assert!(stats.commits < 20, "{} commits", stats.commits);
    assert_eq!(ledger.counts().expect("counts").sent, 200);
}
