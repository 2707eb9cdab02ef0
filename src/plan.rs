//! Planning: validated recipients and their rendered requests + `now` → who is sent, in what order and at about what time,
//! and who is dropped and why.
//!
//! Slots: the declared rate as a fixed window anchored at the first request — L requests back to
//! back, every W — starting at `now`. A recipient with k messages needs k consecutive slots, all
//! before its deadline. Choosing whom to send is scheduling jobs of length k with deadlines on
//! one machine to maximize the number on time (1||ΣUⱼ), which Moore–Hodgson solves exactly:
//! take recipients by deadline, and whenever the chosen set no longer fits before the current
//! deadline, drop the chosen recipient needing the most slots. With one message each this is the
//! earliest-deadline-first greedy of the design notes.
//!
//! Priority (`priority` variable, higher first) never reduces the number reached: it decides
//! whom to drop among recipients needing equally many slots, and a recipient moves ahead of
//! earlier deadlines only when every recipient it passes still makes its slot.

mod build;
mod order;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::fmt;

pub use build::{build, Plan, Settled};
pub use order::{select, Job};

/// Why a recipient is not scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Its deadline had already passed at `now`.
    WindowClosed,
    /// No slot is left for it before its deadline.
    ExpiresBeforeSlot,
    /// Its number repeats an earlier recipient.
    Duplicate,
    /// Its number is on the campaign's `suppress:` list.
    Suppressed,
    /// Its own data failed validation (only with `--skip-invalid`).
    Invalid,
    /// Earlier runs settled every message of it, and the provider accepted them all.
    AlreadySent,
    /// Earlier runs settled every message of it, and at least one failed (none is `unknown`).
    AlreadyFailed,
    /// Earlier runs settled every message of it; at least one expired, the rest were sent.
    AlreadyExpired,
    /// Earlier runs settled it, but at least one message's outcome is `unknown` (it may or may
    /// not have been delivered): it waits for the operator (`--resend-unknown`).
    AlreadyUnknown,
    /// None of the messages' `when:` conditions holds for it.
    NoMessages,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::WindowClosed,
        DropReason::ExpiresBeforeSlot,
        DropReason::Duplicate,
        DropReason::Suppressed,
        DropReason::Invalid,
        DropReason::AlreadySent,
        DropReason::AlreadyFailed,
        DropReason::AlreadyExpired,
        DropReason::AlreadyUnknown,
        DropReason::NoMessages,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::WindowClosed => "window_closed",
            DropReason::ExpiresBeforeSlot => "expires_before_slot",
            DropReason::Duplicate => "duplicate",
            DropReason::Suppressed => "suppressed",
            DropReason::Invalid => "invalid",
            DropReason::AlreadySent => "already_sent",
            DropReason::AlreadyFailed => "already_failed",
            DropReason::AlreadyExpired => "already_expired",
            DropReason::AlreadyUnknown => "already_unknown",
            DropReason::NoMessages => "no_messages",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job that cannot be scheduled, with why.
pub type Dropped = (Job, DropReason);

/// The slot grid: slot `j` opens at `start + floor(j / L) * W`.
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    pub start: Timestamp,
    pub limit: u64,
    pub window: SignedDuration,
}

impl Slots {
    pub fn at(&self, slot: u64) -> Timestamp {
        let windows = i32::try_from(slot / self.limit).unwrap_or(i32::MAX);
        self.start
            .saturating_add(self.window * windows)
            .unwrap_or(Timestamp::MAX)
    }

    /// How many slots open strictly before `deadline`.
    pub fn before(&self, deadline: Timestamp) -> u64 {
        if deadline <= self.start {
            return 0;
        }
        let span = deadline.duration_since(self.start).as_nanos();
        let w = self.window.as_nanos().max(1);
        let windows = (span + w - 1) / w; // ceil: a window that opens before the deadline counts
        u64::try_from(windows)
            .unwrap_or(u64::MAX)
            .saturating_mul(self.limit)
    }
}

/// One recipient in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index into the campaign's recipients (see [`Planned::recipient`]). 32 bits keep an entry
    /// at 40 bytes; a campaign's recipients are all in memory, so their count stays far below
    /// 2³² (a million recipients take about 200 MB).
    pub index: u32,
    pub deadline: Timestamp,
    /// Messages it has left to send.
    pub messages: u32,
    pub decision: Decision,
}

impl Planned {
    /// Index into the campaign's recipients.
    pub fn recipient(&self) -> usize {
        self.index as usize
    }
}

/// What the plan decided for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// First message in slot `slot`; its time is `Plan::eta`, its order the entry's position.
    Scheduled {
        slot: u64,
    },
    Dropped(DropReason),
}

/// Lay out `jobs` (already filtered of duplicates, suppressed, invalid...) on the slot grid.
/// Returns the scheduled jobs in send order, each with its first slot (`Job::slot`), and the
/// ones that cannot make it (window already closed, or no slot before the deadline).
pub fn schedule(slots: &Slots, jobs: Vec<Job>) -> (Vec<Job>, Vec<Dropped>) {
    // Partition in place: with a million recipients a second vector of jobs is real memory.
    let mut open = jobs;
    let closed = |j: &Job| j.deadline <= slots.start;
    let mut dropped: Vec<Dropped> = open
        .iter()
        .filter(|j| closed(j))
        .map(|j| (j.clone(), DropReason::WindowClosed))
        .collect();
    open.retain(|j| !closed(j));
    let (chosen, late) = select(open, |d| slots.before(d));
    dropped.extend(late.into_iter().map(|j| (j, DropReason::ExpiresBeforeSlot)));
    // Slots are given in place: a second list of a million jobs would be real memory.
    let mut scheduled = chosen;
    let mut next = 0u64;
    for j in &mut scheduled {
        j.slot = next;
        next += u64::from(j.messages);
    }
    (scheduled, dropped)
}

#[cfg(test)]
mod tests;
