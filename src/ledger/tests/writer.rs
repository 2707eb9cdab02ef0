//! Ledger tests: the writer thread's group commits seen from many concurrent senders.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_commit_and_outcomes_land() {
    let (_dir, path, ledger) = with_rows(200);
    let writer = Writer::start(ledger).expect("start");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let h = writer.handle();
        tasks.spawn(async move {
            h.attempting(key(i)).await.expect("attempting");
            let outcome = match i % 4 {
                0 => Outcome::Unknown {
                    reason: reason("no answer"),
                },
                _ => Outcome::Sent {
                    provider_id: Some(format!("wamid.{i}")),
                },
            };
            h.finish(key(i), outcome);
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.expect("task");
    }
    let (ledger, stats) = writer.close();
    let counts = ledger.counts().expect("counts");
    assert_eq!(
        (counts.sent, counts.unknown, counts.attempting),
        (150, 50, 0)
    );
    assert_eq!(stats.transitions, 400);
    assert!((1..=401).contains(&stats.commits), "{stats:?}");
    // Durable: a fresh connection sees the same.
    drop(ledger);
    let again = Ledger::open(&path).expect("reopen");
    assert_eq!(again.counts().expect("counts").sent, 150);
}

#[tokio::test]
async fn an_illegal_attempt_is_refused_without_failing_the_batch() {
    let (_dir, _path, mut ledger) = with_rows(2);
    ledger.mark_attempting(&key(0)).expect("mark");
    let writer = Writer::start(ledger).expect("start");
    let h = writer.handle();
    let (twice, fresh) = tokio::join!(h.attempting(key(0)), h.attempting(key(1)));
    let err = twice.expect_err("attempting twice must be refused");
    assert!(
        matches!(
            &err,
            AttemptError::Refused(LedgerError::IllegalTransition {
                from: State::Attempting,
                to: State::Attempting,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("cannot go from `attempting`"),
        "{err}"
    );
    fresh.expect("the other row in the batch is marked");
    h.finish(
        key(1),
        Outcome::Skipped {
            reason: reason("x"),
        },
    );
    let (ledger, _) = writer.close();
    // A handle that outlives the writer can no longer mark anything.
    let stopped = h
        .attempting(key(0))
        .await
        .expect_err("the writer is closed");
    assert!(matches!(stopped, AttemptError::Stopped), "{stopped:?}");
    assert_eq!(stopped.to_string(), "the ledger writer has stopped");
    // Skipping is only legal from `pending`: the attempting row is untouched.
    assert_eq!(
        ledger.state_of(&key(1)).expect("state"),
        Some(State::Attempting)
    );
}

#[test]
fn skipped_is_a_retryable_failure_from_pending() {
    let (_dir, _path, mut ledger) = with_rows(1);
    let skipped = Outcome::Skipped {
        reason: reason("earlier message not delivered"),
    };
    ledger.finish(&key(0), &skipped).expect("skip");
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Failed));
    assert_eq!(ledger.requeue_failed_retryable().expect("requeue"), 1);
    assert_eq!(ledger.state_of(&key(0)).expect("s"), Some(State::Pending));
}

#[test]
fn attempted_since_lists_recent_attempts() {
    let (_dir, _path, mut ledger) = with_rows(3);
    ledger.mark_attempting(&key(0)).expect("mark");
    ledger.mark_attempting(&key(2)).expect("mark");
    let before = now_millis() - 60_000;
    assert_eq!(ledger.attempted_since(before).expect("since").len(), 2);
    assert!(ledger
        .attempted_since(now_millis() + 60_000)
        .expect("since")
        .is_empty());
}
