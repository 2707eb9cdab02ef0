//! Choosing and ordering recipients: Moore–Hodgson for the most reached, then priority moves
//! that keep every chosen recipient on time.

use jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A recipient as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The recipient's index (32 bits, as in `Planned`).
    pub id: u32,
    pub deadline: Timestamp,
    /// Slots needed: one per message.
    pub messages: u32,
    pub priority: i64,
    /// Its first slot, once `schedule` has placed it (0 before). Kept in the job rather than
    /// paired with it so that the scheduled list becomes the plan's entries in place: a job is
    /// the size of a `Planned` (a million of either is 40 MB).
    pub slot: u64,
}

/// Above this many recipients, priority moves (quadratic) are skipped; priority then only
/// decides whom to drop. Real campaigns at provider rates schedule a few hundred a day.
const PRIORITY_MOVES_MAX: usize = 20_000;

/// Choose the largest set of jobs that all finish before their deadlines (`slots_before(d)`
/// = usable slots before `d`) and order it. Returns (chosen in send order, not chosen).
pub fn select(mut jobs: Vec<Job>, slots_before: impl Fn(Timestamp) -> u64) -> (Vec<Job>, Vec<Job>) {
    // Stable EDF order: ties by higher priority, then input order.
    // The id makes every key unique, so an unstable sort gives the same, deterministic order.
    jobs.sort_unstable_by_key(|j| (j.deadline, Reverse(j.priority), j.id));
    // The chosen jobs so far, by (slots needed, lower priority, later deadline). It is filled
    // only when a job first does not fit: until then every job is chosen and none is evicted,
    // so a campaign that reaches everyone never builds it. Positions are u32 (16 bytes an
    // entry): four billion recipients would not fit in memory long before.
    let mut heap: BinaryHeap<(u32, Reverse<i64>, u32)> = BinaryHeap::new();
    let mut in_heap = 0; // jobs[..in_heap] have been pushed
    let mut used = 0u64;
    let mut late = vec![false; jobs.len()];
    for (pos, j) in jobs.iter().enumerate() {
        used += u64::from(j.messages);
        if used > slots_before(j.deadline) {
            heap.extend(
                jobs[in_heap..=pos]
                    .iter()
                    .zip(in_heap..)
                    .map(|(j, p)| (j.messages, Reverse(j.priority), p as u32)),
            );
            in_heap = pos + 1;
            // Evict the chosen job needing most slots (lowest priority, latest deadline first).
            if let Some((k, _, evict)) = heap.pop() {
                used -= u64::from(k);
                late[evict as usize] = true;
            }
        }
    }
    drop(heap);
    let dropped: Vec<Job> = jobs
        .iter()
        .zip(&late)
        .filter(|(_, l)| **l)
        .map(|(j, _)| j.clone())
        .collect();
    let mut pos = 0;
    jobs.retain(|_| {
        pos += 1;
        !late[pos - 1]
    });
    let mut chosen = jobs;
    let has_priority = chosen.windows(2).any(|w| w[0].priority != w[1].priority);
    if has_priority && chosen.len() <= PRIORITY_MOVES_MAX {
        chosen = priority_order(chosen, &slots_before);
    }
    (chosen, dropped)
}

/// Repeatedly send next the highest-priority job that can go first without making any job it
/// passes late. `edf` must be feasible in EDF order, so the EDF head always qualifies.
fn priority_order(mut edf: Vec<Job>, slots_before: &impl Fn(Timestamp) -> u64) -> Vec<Job> {
    let mut out = Vec::with_capacity(edf.len());
    let mut start = 0u64;
    while !edf.is_empty() {
        let mut best = 0;
        let mut min_slack = i128::MAX; // smallest slack among jobs before the candidate
        let mut end = start;
        for (pos, j) in edf.iter().enumerate() {
            if min_slack >= i128::from(j.messages) && j.priority > edf[best].priority {
                best = pos;
            }
            end += u64::from(j.messages);
            min_slack = min_slack.min(i128::from(slots_before(j.deadline)) - i128::from(end));
        }
        let j = edf.remove(best);
        start += u64::from(j.messages);
        out.push(j);
    }
    out
}
