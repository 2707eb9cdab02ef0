//! Planner tests: the worked case from the design notes, priority rules, and a property test
//! against exhaustive search.

use super::*;
use proptest::prelude::*;

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn slots(limit: u64, window_s: i64) -> Slots {
    Slots {
        start: t0(),
        limit,
        window: SignedDuration::from_secs(window_s),
    }
}

fn job(id: u32, due_s: i64, messages: u32) -> Job {
    Job {
        id,
        deadline: t0() + SignedDuration::from_secs(due_s),
        messages,
        priority: 0,
        slot: 0,
    }
}

#[test]
fn worked_case_reaches_all_six_urgent_first() {
    // 2 per 300 s; four due in 900 s listed before two due in 250 s.
    let jobs = vec![
        job(0, 900, 1),
        job(1, 900, 1),
        job(2, 900, 1),
        job(3, 900, 1),
        job(4, 250, 1),
        job(5, 250, 1),
    ];
    let (scheduled, dropped) = schedule(&slots(2, 300), jobs);
    assert!(dropped.is_empty());
    let order: Vec<u32> = scheduled.iter().map(|j| j.id).collect();
    assert_eq!(order, vec![4, 5, 0, 1, 2, 3]);
    assert_eq!(
        scheduled.iter().map(|j| j.slot).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn file_order_would_reach_only_four() {
    // The same case in file order loses both urgent recipients: the reason EDF exists.
    let s = slots(2, 300);
    let urgent_deadline = t0() + SignedDuration::from_secs(250);
    assert_eq!(s.before(urgent_deadline), 2);
    assert!(s.at(4) >= urgent_deadline);
}

#[test]
fn closed_windows_and_missed_slots_are_dropped_with_reasons() {
    let jobs = vec![
        job(0, -5, 1),
        job(1, 100, 1),
        job(2, 100, 1),
        job(3, 100, 1),
    ];
    let (scheduled, dropped) = schedule(&slots(2, 300), jobs);
    assert_eq!(scheduled.len(), 2);
    let reasons: Vec<_> = dropped.iter().map(|(j, r)| (j.id, *r)).collect();
    assert!(reasons.contains(&(0, DropReason::WindowClosed)));
    assert_eq!(
        reasons
            .iter()
            .filter(|(_, r)| *r == DropReason::ExpiresBeforeSlot)
            .count(),
        1
    );
}

#[test]
fn priority_reorders_only_without_losing_anyone() {
    // Two slots per window. A (due 250 s) and B (due 250 s) must go first; C (due 900 s, high
    // priority) may not pass them, but may pass D (due 900 s).
    let mut c = job(2, 900, 1);
    c.priority = 10;
    let jobs = vec![job(0, 250, 1), job(1, 250, 1), c, job(3, 900, 1)];
    let (scheduled, dropped) = schedule(&slots(2, 300), jobs);
    assert!(dropped.is_empty());
    assert_eq!(
        scheduled.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );

    // With room to spare, the high-priority recipient goes first.
    let mut c = job(2, 900, 1);
    c.priority = 10;
    let (scheduled, _) = schedule(&slots(2, 300), vec![job(0, 600, 1), job(1, 900, 1), c]);
    assert_eq!(scheduled[0].id, 2);
}

#[test]
fn priority_decides_whom_to_drop_among_equals() {
    let mut keep = job(1, 100, 1);
    keep.priority = 5;
    let (scheduled, dropped) = schedule(&slots(1, 300), vec![job(0, 100, 1), keep]);
    assert_eq!(scheduled[0].id, 1);
    assert_eq!(dropped[0].0.id, 0);
}

/// Largest feasible subset by brute force: a set is feasible iff it fits in EDF order.
fn optimum(s: &Slots, jobs: &[Job]) -> usize {
    let open: Vec<&Job> = jobs.iter().filter(|j| j.deadline > s.start).collect();
    let mut best = 0;
    for mask in 0u32..(1 << open.len()) {
        let mut set: Vec<&&Job> = open
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, j)| j)
            .collect();
        set.sort_by_key(|j| j.deadline);
        let mut used = 0u64;
        if set.iter().all(|j| {
            used += u64::from(j.messages);
            used <= s.before(j.deadline)
        }) {
            best = best.max(set.len());
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn schedules_the_optimum_and_every_slot_beats_its_deadline(
        limit in 1u64..=3,
        specs in proptest::collection::vec((-300i64..2400, 1u32..=2, 0i64..3), 0..=12),
    ) {
        let s = slots(limit, 300);
        let jobs: Vec<Job> = (0..).zip(&specs).map(|(id, &(due, k, p))| Job {
            id, deadline: t0() + SignedDuration::from_secs(due), messages: k, priority: p, slot: 0,
        }).collect();
        let best = optimum(&s, &jobs);
        let (scheduled, dropped) = schedule(&s, jobs.clone());
        prop_assert_eq!(scheduled.len(), best);
        prop_assert_eq!(scheduled.len() + dropped.len(), jobs.len());
        let mut next = 0;
        for j in &scheduled {
            prop_assert_eq!(j.slot, next, "messages stay together, slots contiguous");
            for m in 0..u64::from(j.messages) {
                prop_assert!(s.at(j.slot + m) < j.deadline, "slot {} of job {} misses its deadline", j.slot + m, j.id);
            }
            next += u64::from(j.messages);
        }
    }
}
