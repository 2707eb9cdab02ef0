//! Ledger webhook tests: merging statuses into rows (order, duplicates, failures after `sent`),
//! the run-in-progress guard, replies and the latest inbound time.

use super::*;
use crate::ledger::{Key, Ledger, Outcome, Planned};
use crate::webhook::{Provider, WebhookError};
use std::time::{Duration, UNIX_EPOCH};

const PREFIX: &str = "0123456789ab-";

fn facts(state: State) -> Facts {
    Facts {
        state,
        provider_id: None,
        delivered_at: None,
        read_at: None,
        error_code: None,
        retryable: false,
        reason: None,
    }
}

fn st(step: Step, at: i64) -> Status {
    Status {
        provider: Provider::CloudApi,
        provider_id: "wamid.A".into(),
        key: Some(format!("{PREFIX}14155550101-0")),
        step,
        at,
        recipient: Some("14155550101".into()),
        recipient_user_id: None,
        errors: if step == Step::Failed {
            vec![WebhookError {
                code: WINDOW_CLOSED,
                title: "Re-engagement message".into(),
            }]
        } else {
            Vec::new()
        },
    }
}

fn fold(start: State, events: &[Status]) -> Facts {
    events
        .iter()
        .fold(facts(start), |row, s| match merge(&row, s, false) {
            Merge::Changed(f) => f,
            Merge::Same => row,
            Merge::Deferred => panic!("no run is going"),
        })
}

/// Every order of the same events ends in the same row (Heap's algorithm over 4 events).
#[test]
fn any_order_of_the_same_statuses_ends_the_same() {
    for start in [State::Unknown, State::Sent] {
        let events = [
            st(Step::Sent, 100),
            st(Step::Delivered, 105),
            st(Step::Read, 110),
            st(Step::Failed, 120),
        ];
        let expected = fold(start, &events);
        assert_eq!(expected.state, State::Expired, "131047 after sent: expired");
        assert_eq!(expected.delivered_at, Some(105_000));
        assert_eq!(expected.read_at, Some(110_000));
        assert_eq!(expected.error_code, Some(WINDOW_CLOSED));
        assert_eq!(expected.provider_id.as_deref(), Some("wamid.A"));
        let mut order = events.to_vec();
        let n = order.len();
        let mut c = vec![0; n];
        let mut i = 0;
        while i < n {
            if c[i] < i {
                order.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
                assert_eq!(fold(start, &order), expected, "order {order:?}");
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
    }
}

#[test]
fn read_before_delivered_implies_delivered_and_never_moves_back() {
    let row = fold(
        State::Unknown,
        &[st(Step::Read, 110), st(Step::Delivered, 105)],
    );
    assert_eq!(row.state, State::Sent);
    assert_eq!(
        row.delivered_at,
        Some(105_000),
        "the earlier delivery time wins"
    );
    let only_read = fold(State::Unknown, &[st(Step::Read, 110)]);
    assert_eq!(
        only_read.delivered_at,
        Some(110_000),
        "read implies delivered"
    );
    let late = fold(State::Sent, &[st(Step::Read, 110), st(Step::Sent, 100)]);
    assert_eq!(late.state, State::Sent);
    assert_eq!(late.read_at, Some(110_000));
}

#[test]
fn a_run_in_progress_keeps_its_rows_and_settled_rows_still_learn() {
    for open in [State::Pending, State::Attempting] {
        assert_eq!(
            merge(&facts(open), &st(Step::Sent, 1), true),
            Merge::Deferred
        );
    }
    let Merge::Changed(f) = merge(&facts(State::Unknown), &st(Step::Sent, 1), true) else {
        panic!("an unknown row is no run's business");
    };
    assert_eq!(f.state, State::Sent);
    // Without a run: a dead run's `attempting` and a requeued `pending` that was delivered.
    for open in [State::Pending, State::Attempting] {
        assert_eq!(fold(open, &[st(Step::Delivered, 1)]).state, State::Sent);
    }
    // A failure never settles a pending row: it was not delivered, the next run sends it.
    assert_eq!(
        merge(&facts(State::Pending), &st(Step::Failed, 1), false),
        Merge::Same
    );
}

#[test]
fn a_delivered_failure_is_never_retried() {
    let mut row = facts(State::Failed);
    row.retryable = true;
    let Merge::Changed(f) = merge(&row, &st(Step::Delivered, 1), false) else {
        panic!("retryable must be cleared");
    };
    assert_eq!(f.state, State::Failed);
    assert!(!f.retryable);
}

#[test]
fn send_keys_name_row_or_other_campaign() {
    let t = |k: &str| match key_target(Some(k), PREFIX) {
        KeyTarget::Row(to, i) => format!("{to}#{i}"),
        KeyTarget::OtherCampaign => "other".into(),
        KeyTarget::None => "none".into(),
    };
    assert_eq!(t("0123456789ab-525512345678-2"), "+525512345678#2");
    assert_eq!(t("0123456789ab-US.1349120865-0"), "US.1349120865#0");
    assert_eq!(t("fedcba987654-14155550101-0"), "other");
    assert_eq!(t("order-42"), "none");
    assert_eq!(t("0123456789ab-14155550101-x"), "none");
}

fn ledger_with(states: &[(&str, Outcome)]) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = Ledger::open(&dir.path().join("c.db")).expect("open");
    let rows: Vec<Planned> = states
        .iter()
        .map(|(to, _)| Planned {
            key: Key::new(*to, 0),
            payload: "{}".into(),
            deadline: UNIX_EPOCH + Duration::from_secs(4_000_000_000),
        })
        .collect();
    ledger.sync_planned(&rows).expect("sync");
    for (to, outcome) in states {
        let key = Key::new(*to, 0);
        ledger.mark_attempting(&key).expect("attempt");
        ledger.finish(&key, outcome).expect("finish");
    }
    (dir, ledger)
}

#[test]
fn a_batch_resolves_unknown_by_key_and_replies_by_provider_id_once() {
    let lost = Outcome::Unknown {
        reason: "timeout".into(),
    };
    let sent = Outcome::Sent {
        provider_id: Some("wamid.B".into()),
    };
    let (_dir, mut ledger) = ledger_with(&[("+14155550101", lost), ("+14155550102", sent)]);
    let mut by_id = st(Step::Read, 200);
    by_id.key = None;
    by_id.provider_id = "wamid.B".into();
    let reply = Inbound {
        provider: Provider::CloudApi,
        message_id: "wamid.IN1".into(),
        from: Some("14155550102".into()),
        from_user_id: None,
        at: 300,
        kind: "text".into(),
        reply_to: Some("wamid.B".into()),
        profile_name: Some("Luis".into()),
    };
    let mut other = st(Step::Sent, 1);
    other.key = Some("fedcba987654-14155550101-0".into());
    let mut stray = st(Step::Sent, 1);
    stray.key = None;
    stray.provider_id = "wamid.NOPE".into();
    let events = vec![
        Event::Status(st(Step::Sent, 100)),
        Event::Status(st(Step::Sent, 100)),
        Event::Status(by_id),
        Event::Inbound(reply),
        Event::Status(other),
        Event::Status(stray),
    ];
    let sender = |m: &Inbound| format!("+{}", m.from.clone().unwrap_or_default());
    let tally = ledger
        .apply_webhooks(&events, PREFIX, &sender, || false)
        .expect("apply");
    assert_eq!(
        (
            tally.applied,
            tally.duplicate,
            tally.other_campaign,
            tally.unmatched,
            tally.replies
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(
        tally.transitions.get(&(State::Unknown, State::Sent)),
        Some(&1)
    );
    let rows = ledger.rows().expect("rows");
    let a = rows.iter().find(|r| r.key.to == "+14155550101").expect("a");
    assert_eq!(
        (a.state, a.provider_id.as_deref()),
        (State::Sent, Some("wamid.A"))
    );
    let b = rows.iter().find(|r| r.key.to == "+14155550102").expect("b");
    assert_eq!(b.read_at, Some(UNIX_EPOCH + Duration::from_secs(200)));
    assert_eq!(b.replied_at, Some(UNIX_EPOCH + Duration::from_secs(300)));
    assert_eq!(
        ledger.latest_inbound().expect("inbound"),
        vec![("+14155550102".to_string(), 300_000)]
    );
    // The same batch again changes nothing: every event is a duplicate or still unmatched.
    let before = ledger.rows().expect("rows");
    let again = ledger
        .apply_webhooks(&events, PREFIX, &sender, || false)
        .expect("apply again");
    assert_eq!((again.applied, again.duplicate), (0, 4));
    assert!(again.transitions.is_empty());
    assert_eq!(ledger.rows().expect("rows"), before);
}
