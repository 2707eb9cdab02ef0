//! Pacer persistence: `Pacer` ↔ `PacerState` (wall-clock times) so quota spent by one run
//! is respected by the next, e.g. cron runs five minutes apart under `2/300s`.
//!
//! Monotonic instants mean nothing across processes, so the state holds Unix milliseconds,
//! rounded up (a send remembered slightly late only delays, never crowds, the next one).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::pacer::{later, Pacer};
use super::Rate;

/// What a later run needs to keep pacing correctly.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct PacerState {
    /// Recent send times, Unix milliseconds, oldest first.
    pub sends_unix_ms: Vec<u64>,
    /// Nothing may be sent before this time (after `remaining=0` or a 429).
    pub blocked_until_unix_ms: Option<u64>,
    /// Limits learned from the server that are stricter than the declared rate.
    pub tightened: Vec<StoredRate>,
}

/// A rate in a serialisable form, with when and how it was learned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StoredRate {
    pub limit: u32,
    pub window_ms: u64,
    /// When it was learned (Unix ms). Older than the pacer's TTL, it is forgotten; states
    /// written before this field existed are read as learned from 429s at an unknown time:
    /// a starting point that is probed up, never a bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_unix_ms: Option<u64>,
    /// How: `"policy"` (announced in headers) or `"throttled"` (inferred from 429s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// [`StoredRate::source`] of a limit the server announced.
pub const FROM_POLICY: &str = "policy";
/// [`StoredRate::source`] of a limit inferred from 429s.
pub const FROM_THROTTLING: &str = "throttled";

impl Pacer {
    /// The state to persist, given the current monotonic and wall-clock times.
    pub fn snapshot(&self, now_instant: Instant, now_wall: SystemTime) -> PacerState {
        let wall = |i: Instant| to_unix_ms(wall_of(i, now_instant, now_wall));
        let policy_at = self.policy_at.map(wall);
        let mut tightened: Vec<StoredRate> = self
            .server
            .iter()
            .map(|r| stored(*r, policy_at, FROM_POLICY))
            .collect();
        if let Some((rate, at)) = self.learned() {
            tightened.insert(0, stored(rate, Some(wall(at)), FROM_THROTTLING));
        }
        if self.ceiling < self.declared.limit {
            let rate = Rate::new(self.ceiling, self.primary.window);
            tightened.insert(0, stored(rate, policy_at, FROM_POLICY));
        }
        PacerState {
            sends_unix_ms: self.sends.iter().map(|s| wall(*s)).collect(),
            blocked_until_unix_ms: self.blocked_until.filter(|b| *b > now_instant).map(wall),
            tightened,
        }
    }

    /// Merges a persisted state into this pacer. Announced limits only tighten; a limit
    /// learned from 429s is a starting point that is probed up; either is forgotten once older
    /// than [`Pacer::learned_ttl`]. Send times that cannot be placed on this process's clock
    /// (or lie in the future because the wall clock moved back) count as sent now, which can
    /// only delay the next send.
    pub fn restore(&mut self, state: &PacerState, now_instant: Instant, now_wall: SystemTime) {
        let ttl = self.learned_ttl();
        for r in &state.tightened {
            let learned = r.learned_unix_ms.map(from_unix_ms);
            let age = learned.map(|t| now_wall.duration_since(t).unwrap_or(Duration::ZERO));
            if age.is_some_and(|a| a > ttl) {
                continue;
            }
            let at = now_instant
                .checked_sub(age.unwrap_or(Duration::ZERO))
                .unwrap_or(now_instant);
            let rate = Rate::new(r.limit, Duration::from_millis(r.window_ms));
            if r.source.as_deref() == Some(FROM_POLICY) {
                self.adopt(rate);
                self.policy_at = Some(at);
            } else {
                self.resume_learned(rate, at, now_instant);
            }
        }
        let memory = self.memory();
        for &ms in &state.sends_unix_ms {
            let wall = from_unix_ms(ms);
            if now_wall.duration_since(wall).is_ok_and(|age| age >= memory) {
                continue;
            }
            let age = now_wall.duration_since(wall).unwrap_or(Duration::ZERO);
            let at = now_instant.checked_sub(age).unwrap_or(now_instant);
            self.record_send(at);
        }
        if let Some(ms) = state.blocked_until_unix_ms {
            if let Ok(ahead) = from_unix_ms(ms).duration_since(now_wall) {
                self.block_until(later(now_instant, ahead));
            }
        }
    }
}

fn stored(rate: Rate, learned_unix_ms: Option<u64>, source: &str) -> StoredRate {
    let window_ms = u64::try_from(rate.window.as_millis()).unwrap_or(u64::MAX);
    StoredRate {
        limit: rate.limit,
        window_ms,
        learned_unix_ms,
        source: Some(source.into()),
    }
}

/// The wall-clock time of a monotonic instant, past or future.
fn wall_of(i: Instant, now_instant: Instant, now_wall: SystemTime) -> SystemTime {
    if i >= now_instant {
        now_wall.checked_add(i - now_instant).unwrap_or(now_wall)
    } else {
        now_wall.checked_sub(now_instant - i).unwrap_or(now_wall)
    }
}

fn to_unix_ms(t: SystemTime) -> u64 {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
