//! Ledger tests: reconciling a new plan with recorded rows (`sync_planned`, `rerender`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{fresh, key, planned, reason, sent, with_rows};
use crate::ledger::{Asked, Begun, Outcome, State};

#[test]
fn sync_planned_classifies_rows_and_freezes_payloads() {
    let (_dir, _path, mut ledger) = fresh();
    let first: Vec<_> = (0..4).map(|i| planned(i, &format!("p{i}"), 1000)).collect();
    let report = ledger.sync_planned(&first).expect("sync");
    assert_eq!((report.inserted, report.unchanged), (4, 0));
    ledger.mark_attempting(&key(3)).expect("mark");
    ledger.finish(&key(3), &sent()).expect("finish");

    let mut second = first.clone();
    second[1].payload = "p1-edited".into();
    second[2].deadline += Duration::from_secs(60);
    second[3].payload = "p3-edited".into();
    let report = ledger.sync_planned(&second).expect("resync");
    assert_eq!(report.inserted, 0);
    assert_eq!(report.unchanged, 2);
    assert_eq!(report.changed, vec![key(1)]);
    assert_eq!(report.already_done, vec![key(3)]);
    assert_eq!(
        ledger.payload(&key(1)).expect("payload").as_deref(),
        Some("p1")
    );
    let moved = ledger
        .rows()
        .expect("rows")
        .into_iter()
        .find(|r| r.key == key(2));
    assert_eq!(moved.map(|r| r.deadline), Some(second[2].deadline));

    assert_eq!(ledger.rerender(&second).expect("rerender"), 1);
    assert_eq!(
        ledger.payload(&key(1)).expect("p").as_deref(),
        Some("p1-edited")
    );
    assert_eq!(ledger.payload(&key(3)).expect("p").as_deref(), Some("p3"));
    assert!(ledger
        .sync_planned(&second)
        .expect("sync")
        .changed
        .is_empty());
}

#[test]
fn expired_rows_revive_only_when_the_window_reopens() {
    let (_dir, _path, mut ledger) = with_rows(1);
    let expired = Outcome::Expired {
        reason: reason("window closed"),
    };
    ledger.finish(&key(0), &expired).expect("expire");
    let same = ledger
        .sync_planned(&[planned(0, "p0", 1000)])
        .expect("sync");
    assert_eq!(same.already_done, vec![key(0)]);
    // Later, but passed as well: the window is still closed.
    let still_closed = ledger
        .sync_planned(&[planned(0, "p0", 5000)])
        .expect("sync");
    assert_eq!(still_closed.already_done, vec![key(0)]);
    let open_again = SystemTime::now() + Duration::from_secs(3600);
    let open_again = open_again.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let later = ledger
        .sync_planned(&[planned(0, "p0", open_again)])
        .expect("sync");
    assert_eq!(later.revived, vec![key(0)]);
    let row = ledger.rows().expect("rows").remove(0);
    assert_eq!((row.state, row.reason), (State::Pending, None));
}

#[test]
fn a_refused_begin_run_changes_nothing() {
    let (_dir, _path, mut ledger) = with_rows(3);
    ledger.mark_attempting(&key(0)).expect("mark");
    let lost = Outcome::Unknown {
        reason: reason("no answer"),
    };
    ledger.finish(&key(0), &lost).expect("unknown");
    // Row 1 changed content; a new row 3 appears; the operator asks to resend unknowns.
    let rows = vec![
        planned(0, "p0", 1000),
        planned(1, "CHANGED", 1000),
        planned(2, "p2", 1000),
        planned(3, "p3", 1000),
    ];
    let asked = Asked {
        resend_unknown: true,
        ..Asked::default()
    };
    let begun = ledger.begin_run(&rows, asked).expect("begin");
    assert_eq!(
        begun,
        Begun::Refused {
            changed: vec![key(1)]
        }
    );
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Unknown));
    assert_eq!(ledger.state_of(&key(3)).expect("s"), None);
    assert_eq!(ledger.payload(&key(1)).expect("p").as_deref(), Some("p1"));

    let asked = Asked {
        resend_unknown: true,
        rerender: true,
        ..Asked::default()
    };
    match ledger.begin_run(&rows, asked).expect("begin") {
        Begun::Ready {
            unknown_requeued,
            sync,
            rerendered,
            ..
        } => {
            assert_eq!((unknown_requeued, sync.inserted, rerendered), (1, 1, 1));
        }
        refused => panic!("expected Ready, got {refused:?}"),
    }
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Pending));
    assert_eq!(
        ledger.payload(&key(1)).expect("p").as_deref(),
        Some("CHANGED")
    );
}

/// Every row of the ledger as (key, state, payload, deadline), to compare before and after.
fn snapshot(ledger: &crate::ledger::Ledger) -> Vec<(String, i64, String, String, i64)> {
    let conn = ledger.sqlite();
    let mut stmt = conn
        .prepare(
            "SELECT recipient, message_index, state, payload, deadline FROM deliveries ORDER BY 1, 2",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

#[test]
fn a_first_run_writes_every_chunk_and_a_repeated_key_is_compared_not_refused() {
    let (_dir, _path, mut ledger) = fresh();
    let chunks = vec![
        (0..3).map(|i| planned(i, &format!("p{i}"), 1000)).collect(),
        vec![planned(3, "p3", 1000)],
        // The same key again in a later chunk of the same run: compared with what this run
        // wrote, as a second run would compare it.
        vec![planned(1, "p1", 1000), planned(4, "p4", 1000)],
    ];
    let Begun::Ready { sync, .. } = ledger
        .begin_run_chunks(chunks, Asked::default())
        .expect("begin")
    else {
        panic!("a first run cannot be refused");
    };
    assert_eq!((sync.inserted, sync.unchanged), (5, 1));
    let rows = snapshot(&ledger);
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            (row.2.as_str(), row.3.as_str()),
            ("pending", format!("p{i}").as_str())
        );
    }
}

#[test]
fn a_chunked_run_refused_late_leaves_every_earlier_chunk_unwritten() {
    let (_dir, _path, mut ledger) = with_rows(4);
    ledger.mark_attempting(&key(0)).expect("mark");
    ledger.finish(&key(0), &sent()).expect("finish");
    let before = snapshot(&ledger);
    // New rows and a moved deadline come first; the changed content only in the last chunk.
    let mut moved = planned(2, "p2", 2000);
    moved.deadline += Duration::from_secs(1);
    let chunks = vec![
        vec![planned(0, "p0", 1000), planned(5, "p5", 1000), moved],
        vec![planned(6, "p6", 1000)],
        vec![planned(1, "p1-edited", 1000), planned(3, "p3-edited", 1000)],
    ];
    let begun = ledger
        .begin_run_chunks(chunks.clone(), Asked::default())
        .expect("begin");
    assert_eq!(
        begun,
        Begun::Refused {
            changed: vec![key(1), key(3)]
        }
    );
    assert_eq!(snapshot(&ledger), before, "a refused run changes nothing");

    let asked = Asked {
        rerender: true,
        ..Asked::default()
    };
    let Begun::Ready {
        sync, rerendered, ..
    } = ledger.begin_run_chunks(chunks, asked).expect("begin")
    else {
        panic!("--rerender is not refused");
    };
    assert_eq!((sync.inserted, sync.unchanged, rerendered), (2, 1, 2));
    assert_eq!(sync.already_done, vec![key(0)]);
    let payload = |i| ledger.payload(&key(i)).expect("payload");
    assert_eq!(payload(1).as_deref(), Some("p1-edited"));
    assert_eq!(payload(3).as_deref(), Some("p3-edited"));
    assert_eq!(payload(6).as_deref(), Some("p6"));
    assert_eq!(
        payload(0).as_deref(),
        Some("p0"),
        "a sent row keeps its payload"
    );
}
