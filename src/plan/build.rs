//! Building a campaign's plan: validated recipients + message counts + `now` → `Plan`.

use super::{schedule, DropReason, Job, Outcome, Planned, Slots};
use crate::campaign::{Campaign, UserId};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;

/// The plan: scheduled recipients in send order, then the dropped ones.
#[derive(Debug, Clone)]
pub struct Plan {
    pub now: Timestamp,
    pub slots: Slots,
    pub entries: Vec<Planned>,
}

impl Plan {
    pub fn scheduled(&self) -> impl Iterator<Item = &Planned> {
        self.entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Scheduled { .. }))
    }

    pub fn dropped(&self) -> impl Iterator<Item = (&Planned, DropReason)> {
        self.entries.iter().filter_map(|e| match e.outcome {
            Outcome::Dropped(r) => Some((e, r)),
            Outcome::Scheduled { .. } => None,
        })
    }

    /// When a scheduled entry's first message is planned to go out.
    pub fn eta(&self, e: &Planned) -> Option<Timestamp> {
        match e.outcome {
            Outcome::Scheduled { slot } => Some(self.slots.at(slot)),
            Outcome::Dropped(_) => None,
        }
    }

    pub fn requests(&self) -> u64 {
        self.scheduled().map(|e| u64::from(e.messages)).sum()
    }
}

/// Plan `campaign` at `now`. `counts[i]` is how many messages recipient `i` gets (`None` when
/// its messages are invalid); `done` gives the `already_*` reason of a number earlier runs
/// settled completely (`None` when it still has messages to send).
pub fn build(
    campaign: &Campaign,
    counts: &[Option<u32>],
    now: Timestamp,
    done: &dyn Fn(UserId) -> Option<DropReason>,
) -> Plan {
    let slots = Slots {
        start: now,
        limit: u64::from(campaign.rate.limit),
        window: SignedDuration::try_from(campaign.rate.window).unwrap_or(SignedDuration::MAX),
    };
    let duplicates: HashSet<usize> = campaign.duplicates.iter().copied().collect();
    let mut entries = Vec::new();
    let mut jobs = Vec::with_capacity(campaign.recipients.len());
    for (i, r) in campaign.recipients.iter().enumerate() {
        let deadline = campaign.deadline(r);
        let count = counts.get(i).copied().flatten();
        let reason = if duplicates.contains(&i) {
            Some(DropReason::Duplicate)
        } else if campaign.suppress.contains(&r.to) {
            Some(DropReason::Suppressed)
        } else if count.is_none() {
            Some(DropReason::Invalid)
        } else if let Some(reason) = done(r.to) {
            // Rows expire when their deadline passes unsent; such a recipient was not handled by
            // an earlier run, its window is simply closed, and it is reported as that.
            if reason == DropReason::AlreadyExpired && deadline <= now {
                Some(DropReason::WindowClosed)
            } else {
                Some(reason)
            }
        } else if count == Some(0) {
            Some(DropReason::NoMessages)
        } else {
            None
        };
        let messages = count.unwrap_or(0);
        match reason {
            Some(reason) => entries.push(Planned {
                recipient: i,
                deadline,
                messages,
                outcome: Outcome::Dropped(reason),
            }),
            None => jobs.push(Job {
                id: i,
                deadline,
                messages,
                priority: priority(campaign, i),
            }),
        }
    }
    let (scheduled, late) = schedule(&slots, jobs);
    let mut out: Vec<Planned> = scheduled
        .into_iter()
        .map(|(j, slot)| Planned {
            recipient: j.id,
            deadline: j.deadline,
            messages: j.messages,
            outcome: Outcome::Scheduled { slot },
        })
        .collect();
    let mut dropped: Vec<Planned> = late
        .into_iter()
        .map(|(j, reason)| Planned {
            recipient: j.id,
            deadline: j.deadline,
            messages: j.messages,
            outcome: Outcome::Dropped(reason),
        })
        .chain(entries)
        .collect();
    dropped.sort_by_key(|p| p.recipient);
    out.extend(dropped);
    Plan {
        now,
        slots,
        entries: out,
    }
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
