//! Ledger tests: transitions, recovery, plan sync, requeues, counts, meta and reopening.

mod crash;
mod sync;
mod writer;

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

pub(super) fn key(i: u32) -> Key {
    Key::new(format!("+1555000{i:04}"), i % 2)
}

pub(super) fn planned(i: u32, payload: &str, deadline_s: u64) -> Planned {
    Planned {
        key: key(i),
        payload: payload.to_string(),
        deadline: UNIX_EPOCH + Duration::from_secs(deadline_s),
    }
}

pub(super) fn fresh() -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("runs").join("c.db");
    let ledger = Ledger::open(&path).expect("open");
    (dir, path, ledger)
}

/// A ledger with rows 0..n planned (payload `p{i}`).
pub(super) fn with_rows(n: u32) -> (tempfile::TempDir, PathBuf, Ledger) {
    let (dir, path, mut ledger) = fresh();
    let rows: Vec<_> = (0..n).map(|i| planned(i, &format!("p{i}"), 1000)).collect();
    ledger.sync_planned(&rows).expect("sync");
    (dir, path, ledger)
}

pub(super) fn sent() -> Outcome {
    Outcome::Sent {
        provider_id: Some("wamid.1".into()),
    }
}

pub(super) fn reason(s: &str) -> String {
    s.to_string()
}

#[test]
fn open_sets_durability_and_schema_version() {
    let (_dir, _path, ledger) = fresh();
    let pragma = |name: &str| -> String {
        ledger
            .sqlite()
            .query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .expect("pragma")
    };
    assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    assert_eq!(pragma("synchronous"), "Integer(2)"); // FULL
    assert_eq!(
        pragma("page_size"),
        format!("Integer({})", super::schema::PAGE_SIZE)
    );
    assert_eq!(pragma("user_version"), format!("Integer({SCHEMA_VERSION})"));
}

/// `tests/fixtures/ledgers/v1.db` was written by sessioncast before schema 2 (a `--sandbox` run
/// of `campaigns/text.yaml`): it opens, migrates in place, and keeps every row.
#[test]
fn a_version_1_ledger_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.db");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ledgers/v1.db");
    std::fs::copy(fixture, &path).expect("copy fixture");
    let version = |p: &std::path::Path| -> i32 {
        rusqlite::Connection::open(p)
            .expect("raw open")
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    };
    assert_eq!(version(&path), 1, "the fixture is a version 1 ledger");
    let ledger = Ledger::open(&path).expect("open migrates");
    assert_eq!(version(&path), SCHEMA_VERSION);
    let rows = ledger.rows().expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.state == State::Sent
        && r.provider_id
            .as_deref()
            .is_some_and(|id| id.starts_with("wamid."))
        && r.delivered_at.is_none()
        && r.error_code.is_none()));
    let n: i64 = ledger
        .sqlite()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM webhook_events) + (SELECT COUNT(*) FROM inbound)",
            [],
            |r| r.get(0),
        )
        .expect("new tables exist");
    assert_eq!(n, 0);
    drop(ledger);
    // Opening again finds the current version and changes nothing.
    Ledger::open(&path).expect("reopen");
    assert_eq!(version(&path), SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_refused() {
    let (_dir, path, ledger) = fresh();
    drop(ledger);
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    match Ledger::open(&path) {
        Err(LedgerError::UnsupportedSchema { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
}

#[test]
fn send_path_records_attempt_and_outcome() {
    let (_dir, _path, mut ledger) = with_rows(1);
    ledger.mark_attempting(&key(0)).expect("mark");
    assert_eq!(
        ledger.state_of(&key(0)).expect("state"),
        Some(State::Attempting)
    );
    ledger.finish(&key(0), &sent()).expect("finish");
    let rows = ledger.rows().expect("rows");
    let row = &rows[0];
    assert_eq!((row.state, row.attempts), (State::Sent, 1));
    assert_eq!(row.provider_id.as_deref(), Some("wamid.1"));
    assert!(row.attempted_at.is_some() && row.finished_at.is_some());
    assert_eq!(row.deadline, UNIX_EPOCH + Duration::from_secs(1000));
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let (_dir, _path, mut ledger) = with_rows(2);
    let err = ledger
        .finish(&key(0), &sent())
        .expect_err("pending -> sent");
    assert!(matches!(
        err,
        LedgerError::IllegalTransition {
            from: State::Pending,
            to: State::Sent,
            ..
        }
    ));
    ledger.mark_attempting(&key(0)).expect("mark");
    let err = ledger.mark_attempting(&key(0)).expect_err("marked twice");
    assert!(matches!(
        err,
        LedgerError::IllegalTransition {
            from: State::Attempting,
            to: State::Attempting,
            ..
        }
    ));
    ledger.finish(&key(0), &sent()).expect("finish");
    let requeue = Outcome::Requeue {
        reason: reason("429"),
    };
    let err = ledger
        .finish(&key(0), &requeue)
        .expect_err("sent -> pending");
    assert!(matches!(
        err,
        LedgerError::IllegalTransition {
            from: State::Sent,
            ..
        }
    ));
    assert_eq!(ledger.state_of(&key(0)).expect("state"), Some(State::Sent));
    let err = ledger.mark_attempting(&key(9)).expect_err("unknown key");
    assert!(matches!(err, LedgerError::UnknownKey { .. }));
    // The one shortcut: a window noticed closed before sending.
    let expired = Outcome::Expired {
        reason: reason("window closed"),
    };
    ledger
        .finish(&key(1), &expired)
        .expect("pending -> expired");
    assert_eq!(
        ledger.state_of(&key(1)).expect("state"),
        Some(State::Expired)
    );
}

#[test]
fn requeue_outcome_returns_to_pending_and_keeps_attempt_count() {
    let (_dir, _path, mut ledger) = with_rows(1);
    ledger.mark_attempting(&key(0)).expect("mark");
    let requeue = Outcome::Requeue {
        reason: reason("429 Too Many Requests"),
    };
    ledger.finish(&key(0), &requeue).expect("requeue");
    ledger.mark_attempting(&key(0)).expect("mark again");
    let row = ledger.rows().expect("rows").remove(0);
    assert_eq!((row.state, row.attempts), (State::Attempting, 2));
    assert_eq!(row.reason.as_deref(), Some("429 Too Many Requests"));
}

#[test]
fn recover_interrupted_turns_attempting_into_unknown() {
    let (_dir, _path, mut ledger) = with_rows(3);
    ledger
        .mark_attempting_many(&[key(0), key(1), key(2)])
        .expect("mark");
    ledger.finish(&key(2), &sent()).expect("finish");
    assert_eq!(ledger.recover_interrupted().expect("recover"), 2);
    assert_eq!(
        ledger.state_of(&key(0)).expect("state"),
        Some(State::Unknown)
    );
    assert_eq!(ledger.state_of(&key(2)).expect("state"), Some(State::Sent));
    assert_eq!(ledger.recover_interrupted().expect("again"), 0);
}

#[test]
fn requeues_only_touch_their_own_rows() {
    let (_dir, _path, mut ledger) = with_rows(4);
    ledger
        .mark_attempting_many(&[key(0), key(1), key(2), key(3)])
        .expect("mark");
    let outcomes = [
        (
            key(0),
            Outcome::Unknown {
                reason: reason("timeout"),
            },
        ),
        (
            key(1),
            Outcome::Failed {
                reason: reason("5xx"),
                retryable: true,
                code: Some(131000),
            },
        ),
        (
            key(2),
            Outcome::Failed {
                reason: reason("bad number"),
                retryable: false,
                code: None,
            },
        ),
        (key(3), sent()),
    ];
    ledger.finish_many(&outcomes).expect("finish");
    // The answer's error code is kept with the failure, for `report`'s failures by code.
    let codes: Vec<Option<i64>> = ledger
        .rows()
        .expect("rows")
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, [None, Some(131000), None, None]);
    assert_eq!(ledger.requeue_failed_retryable().expect("retry"), 1);
    assert_eq!(ledger.state_of(&key(1)).expect("s"), Some(State::Pending));
    assert_eq!(ledger.state_of(&key(2)).expect("s"), Some(State::Failed));
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Unknown));
    assert_eq!(ledger.requeue_unknown().expect("resend"), 1);
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Pending));
    let settled = ledger.settled().expect("settled");
    assert_eq!(settled.len(), 2);
    assert_eq!(settled.get(&key(3)), Some(&State::Sent));
    assert_eq!(settled.get(&key(2)), Some(&State::Failed));
}

#[test]
fn batches_are_all_or_nothing() {
    let (_dir, _path, mut ledger) = with_rows(3);
    ledger.mark_attempting(&key(1)).expect("mark");
    let err = ledger.mark_attempting_many(&[key(0), key(1), key(2)]);
    assert!(matches!(err, Err(LedgerError::IllegalTransition { .. })));
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Pending));
    let bad = [(key(1), sent()), (key(2), sent())];
    assert!(ledger.finish_many(&bad).is_err());
    assert_eq!(
        ledger.state_of(&key(1)).expect("s"),
        Some(State::Attempting)
    );
}

#[test]
fn counts_cover_every_state() {
    let (_dir, _path, mut ledger) = with_rows(5);
    ledger
        .mark_attempting_many(&[key(0), key(1), key(2)])
        .expect("mark");
    ledger.finish(&key(0), &sent()).expect("sent");
    ledger
        .finish(
            &key(1),
            &Outcome::Unknown {
                reason: reason("reset"),
            },
        )
        .expect("unknown");
    ledger
        .finish(
            &key(3),
            &Outcome::Expired {
                reason: reason("late"),
            },
        )
        .expect("expired");
    let counts = ledger.counts().expect("counts");
    let expected = Counts {
        pending: 1,
        attempting: 1,
        sent: 1,
        failed: 0,
        expired: 1,
        unknown: 1,
    };
    assert_eq!(counts, expected);
    assert_eq!(counts.total(), 5);
}

#[test]
fn meta_round_trips_and_overwrites() {
    let (_dir, _path, mut ledger) = fresh();
    assert_eq!(ledger.load_meta("pacer").expect("load"), None);
    ledger.save_meta("pacer", "[1,2]").expect("save");
    ledger.save_meta("pacer", "[3]").expect("overwrite");
    assert_eq!(
        ledger.load_meta("pacer").expect("load").as_deref(),
        Some("[3]")
    );
}

#[test]
fn reopening_preserves_rows_and_meta() {
    let (_dir, path, mut ledger) = with_rows(3);
    ledger.mark_attempting(&key(0)).expect("mark");
    ledger.finish(&key(0), &sent()).expect("finish");
    ledger.save_meta("content_hash", "abc").expect("meta");
    let (rows, counts) = (
        ledger.rows().expect("rows"),
        ledger.counts().expect("counts"),
    );
    drop(ledger);
    let reopened = Ledger::open(&path).expect("reopen");
    assert_eq!(reopened.rows().expect("rows"), rows);
    assert_eq!(reopened.counts().expect("counts"), counts);
    assert_eq!(
        reopened.load_meta("content_hash").expect("m").as_deref(),
        Some("abc")
    );
}

#[test]
fn expire_passed_touches_only_pending_rows_past_their_deadline() {
    let (_dir, _path, mut ledger) = fresh();
    let rows = [
        planned(0, "p0", 1000),
        planned(1, "p1", 1000),
        planned(2, "p2", 5000),
    ];
    ledger.sync_planned(&rows).expect("sync");
    ledger.mark_attempting(&key(1)).expect("attempting");
    // At 3000 s: row 0 (pending, deadline 1000 s) expires; row 1 is in flight and row 2's
    // window is still open.
    assert_eq!(ledger.expire_passed(3_000_000).expect("expire"), 1);
    let states: Vec<_> = (0..3).map(|i| ledger.state_of(&key(i)).unwrap()).collect();
    assert_eq!(
        states,
        [
            Some(State::Expired),
            Some(State::Attempting),
            Some(State::Pending)
        ]
    );
    let row = ledger.rows().unwrap().into_iter().next().unwrap();
    assert_eq!(
        row.reason.as_deref(),
        Some("window_closed (deadline 1970-01-01T00:16:40Z passed)")
    );
    assert!(row.finished_at.is_some());
    assert_eq!(ledger.expire_passed(3_000_000).expect("again"), 0);
}

#[test]
fn expire_passed_if_idle_leaves_a_running_campaign_alone() {
    let (_dir, _path, mut ledger) = fresh();
    ledger
        .sync_planned(&[planned(0, "p0", 1000)])
        .expect("sync");
    assert_eq!(
        ledger.expire_passed_if_idle(3_000_000, || false).unwrap(),
        None
    );
    assert_eq!(ledger.state_of(&key(0)).unwrap(), Some(State::Pending));
    assert_eq!(
        ledger.expire_passed_if_idle(3_000_000, || true).unwrap(),
        Some(1)
    );
    assert_eq!(ledger.state_of(&key(0)).unwrap(), Some(State::Expired));
}

#[test]
fn payloads_are_read_back_on_a_second_connection_in_the_order_asked() {
    let (_dir, _path, ledger) = with_rows(5);
    let mut reader = ledger.payloads().expect("reader");
    let keys = [key(3), key(0), Key::new("+19990000000", 0), key(4)];
    let got = reader.fetch(&keys).expect("fetch");
    let want = [Some("p3"), Some("p0"), None, Some("p4")].map(|p| p.map(str::to_string));
    assert_eq!(got, want);
    // A payload changed in the file after the reader opened is what it reads next.
    ledger
        .sqlite()
        .execute(
            "UPDATE deliveries SET payload = 'q3' WHERE recipient = ?1",
            [&key(3).to],
        )
        .expect("update");
    assert_eq!(
        reader.fetch(&keys[..1]).expect("fetch"),
        [Some("q3".into())]
    );
}

#[test]
fn a_ledger_in_memory_has_no_second_reader() {
    let ledger = Ledger {
        store: Store::Sqlite(rusqlite::Connection::open_in_memory().expect("memory")),
    };
    assert!(matches!(ledger.payloads(), Err(LedgerError::NoFile)));
}
