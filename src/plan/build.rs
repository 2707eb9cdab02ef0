//! Building a campaign's plan: `Campaign` + what render decided for each recipient + what
//! earlier runs settled + `now` → `Plan`.

use super::{schedule, Decision, DropReason, Job, Planned, Slots};
use crate::campaign::{Campaign, UserId};
use crate::render::{Decided, Status};
use jiff::{SignedDuration, Timestamp};

/// The plan: scheduled recipients in send order, then the dropped ones.
#[derive(Debug, Clone)]
pub struct Plan {
    pub now: Timestamp,
    pub slots: Slots,
    pub entries: Vec<Planned>,
    /// Recipients whose own row could not be read at load (`Campaign::rejected`): dropped as
    /// `invalid` before they ever reached the plan.
    pub rejected: usize,
}

impl Plan {
    pub fn scheduled(&self) -> impl Iterator<Item = &Planned> {
        self.entries
            .iter()
            .filter(|e| matches!(e.decision, Decision::Scheduled { .. }))
    }

    pub fn dropped(&self) -> impl Iterator<Item = (&Planned, DropReason)> {
        self.entries.iter().filter_map(|e| match e.decision {
            Decision::Dropped(r) => Some((e, r)),
            Decision::Scheduled { .. } => None,
        })
    }

    /// When a scheduled entry's first message is planned to go out.
    pub fn eta(&self, e: &Planned) -> Option<Timestamp> {
        match e.decision {
            Decision::Scheduled { slot } => Some(self.slots.at(slot)),
            Decision::Dropped(_) => None,
        }
    }

    /// Every recipient left out, by reason, the unreadable rows counted as `invalid`: the one
    /// count of dropped recipients every command reports.
    pub fn skipped(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut by_reason = std::collections::BTreeMap::new();
        for (_, reason) in self.dropped() {
            *by_reason.entry(reason.as_str()).or_default() += 1;
        }
        if self.rejected > 0 {
            *by_reason.entry(DropReason::Invalid.as_str()).or_default() += self.rejected;
        }
        by_reason
    }

    pub fn requests(&self) -> u64 {
        self.scheduled().map(|e| u64::from(e.messages)).sum()
    }
}

/// What earlier runs settled of one recipient's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// How many of its messages are no longer pending.
    pub messages: u32,
    /// The `already_*` reason it is dropped for once all of them are settled.
    pub reason: DropReason,
}

/// Plan `campaign` at `now` from what render decided for each recipient (`requests`: see
/// `Requests::decided`); `settled` says what earlier runs settled of a recipient (`None`:
/// nothing).
pub fn build(
    campaign: &Campaign,
    requests: &Decided,
    now: Timestamp,
    settled: &dyn Fn(UserId) -> Option<Settled>,
) -> Plan {
    let slots = Slots {
        start: now,
        limit: u64::from(campaign.rate.limit),
        window: SignedDuration::try_from(campaign.rate.window).unwrap_or(SignedDuration::MAX),
    };
    let mut entries = Vec::new();
    let mut jobs = Vec::with_capacity(campaign.recipients.len());
    for (i, r) in campaign.recipients.iter().enumerate() {
        let deadline = campaign.deadline(r);
        let count = requests.count(i).unwrap_or(0);
        let earlier = match requests.status(i) {
            Status::Invalid => None,
            _ => settled(r.to),
        };
        let left = count.saturating_sub(earlier.map_or(0, |s| s.messages));
        let reason = match (requests.status(i), earlier) {
            (Status::Duplicate, _) => Some(DropReason::Duplicate),
            (Status::Suppressed, _) => Some(DropReason::Suppressed),
            (Status::Invalid, _) => Some(DropReason::Invalid),
            (Status::Ready, Some(s)) if count > 0 && left == 0 => {
                // Rows expire when their deadline passes unsent; such a recipient was not
                // handled by an earlier run, its window is simply closed, and it is reported as
                // that.
                if s.reason == DropReason::AlreadyExpired && deadline <= now {
                    Some(DropReason::WindowClosed)
                } else {
                    Some(s.reason)
                }
            }
            (Status::Ready, _) if count == 0 => Some(DropReason::NoMessages),
            (Status::Ready, _) => None,
        };
        match reason {
            Some(reason) => entries.push(Planned {
                index: index(i),
                deadline,
                messages: left,
                decision: Decision::Dropped(reason),
            }),
            None => jobs.push(Job {
                id: index(i),
                deadline,
                messages: left,
                priority: priority(campaign, i),
                slot: 0,
            }),
        }
    }
    let (scheduled, late) = schedule(&slots, jobs);
    // Collected in place (a `Job` is the size of a `Planned`, asserted below): the scheduled
    // jobs become the plan's entries without a second million-element list.
    let mut out: Vec<Planned> = scheduled
        .into_iter()
        .map(|j| Planned {
            index: j.id,
            deadline: j.deadline,
            messages: j.messages,
            decision: Decision::Scheduled { slot: j.slot },
        })
        .collect();
    let mut dropped: Vec<Planned> = late
        .into_iter()
        .map(|(j, reason)| Planned {
            index: j.id,
            deadline: j.deadline,
            messages: j.messages,
            decision: Decision::Dropped(reason),
        })
        .chain(entries)
        .collect();
    dropped.sort_by_key(|p| p.index);
    out.reserve_exact(dropped.len());
    out.extend(dropped);
    Plan {
        now,
        slots,
        entries: out,
        rejected: campaign.rejected.len(),
    }
}

// In-place collection from `Vec<Job>` into `Vec<Planned>` needs equal sizes and alignments.
const _: () = assert!(
    std::mem::size_of::<Job>() == std::mem::size_of::<Planned>()
        && std::mem::align_of::<Job>() == std::mem::align_of::<Planned>()
);

/// A recipient's index as the plan keeps it (see `Planned::index`).
fn index(i: usize) -> u32 {
    // Unreachable: 2³² recipients would take over 800 GB of memory before getting here.
    u32::try_from(i).expect("fewer than 2^32 recipients")
}

/// The recipient's `priority` variable as a whole number (0 when absent or not a number).
fn priority(c: &Campaign, i: usize) -> i64 {
    let r = &c.recipients[i];
    let v = r.vars.get("priority");
    v.and_then(|v| {
        i64::try_from(v.clone())
            .ok()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    })
    .unwrap_or(0)
}
