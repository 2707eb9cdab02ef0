//! Choosing and ordering recipients: Moore–Hodgson for the most reached, then priority moves
//! that keep every chosen recipient on time.

use jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A recipient as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: usize,
    pub deadline: Timestamp,
    /// Slots needed: one per message.
    pub messages: u32,
    pub priority: i64,
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
    let mut heap: BinaryHeap<(u32, Reverse<i64>, usize)> = BinaryHeap::new();
    let mut used = 0u64;
    let mut late = vec![false; jobs.len()];
    for (pos, j) in jobs.iter().enumerate() {
        heap.push((j.messages, Reverse(j.priority), pos));
        used += u64::from(j.messages);
        if used > slots_before(j.deadline) {
            // Evict the chosen job needing most slots (lowest priority, latest deadline first).
            if let Some((k, _, evict)) = heap.pop() {
                used -= u64::from(k);
                late[evict] = true;
            }
        }
    }
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
