//! Ledger: the per-(recipient, message) delivery state machine — `State`, `Outcome`, `Key` and
//! which transitions are legal.
//!
//! | from         | to                                  | by                                        |
//! |--------------|-------------------------------------|-------------------------------------------|
//! | (none)       | pending                             | `sync_planned`                            |
//! | pending      | attempting                          | `mark_attempting` (committed, then send)  |
//! | attempting   | sent, failed, expired, unknown      | `finish`                                  |
//! | attempting   | pending                             | `finish(Requeue)`: certainly not sent     |
//! | pending      | expired                             | `finish(Expired)`: window closed first    |
//! | pending      | expired                             | `expire_passed`: deadline passed (run start, `status`) |
//! | attempting   | pending                             | `finish(Requeue)` after a stop-class answer (401/403, 190): refused, not delivered |
//! | pending      | failed (retryable)                  | `finish(Skipped)`: an earlier message of the recipient was not delivered |
//! | attempting   | unknown                             | `recover_interrupted` (the run died)      |
//! | unknown      | pending                             | `requeue_unknown` (`--resend-unknown`)    |
//! | failed       | pending                             | `requeue_failed_retryable` (retryable only) |
//! | expired      | pending                             | `sync_planned` when the window reopened (a later deadline, not yet passed) |
//!
//! `sent` is terminal. Nothing leaves `attempting` except through `finish` or recovery, so a
//! request that might have gone out is never sent again without the operator asking.

use std::fmt;
use std::str::FromStr;

/// Where one (recipient, message) stands. Ordered as listed (the order reports show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Planned, not yet tried (or certainly not delivered and put back).
    Pending,
    /// Committed just before the request left; outcome not yet recorded.
    Attempting,
    /// The provider accepted the message.
    Sent,
    /// The provider refused it; `retryable` says whether `--retry-failed` may put it back.
    Failed,
    /// The 24-hour window closed before it could be sent (or the provider said so).
    Expired,
    /// The request may or may not have been delivered; never resent automatically.
    Unknown,
}

impl State {
    /// Every state, in display order.
    pub const ALL: [State; 6] = [
        State::Pending,
        State::Attempting,
        State::Sent,
        State::Failed,
        State::Expired,
        State::Unknown,
    ];

    /// The lower-case name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Attempting => "attempting",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Expired => "expired",
            State::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery state `{0}`")]
pub struct ParseStateError(pub String);

impl FromStr for State {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<State, ParseStateError> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseStateError(s.to_string()))
    }
}

/// Identifies one row: the recipient (E.164) and the 0-based index of the message in the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub to: String,
    pub message_index: u32,
}

impl Key {
    pub fn new(to: impl Into<String>, message_index: u32) -> Key {
        Key {
            to: to.into(),
            message_index,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} messages[{}]", self.to, self.message_index)
    }
}

/// What happened to a request that was marked `attempting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the provider's message id when it returned one.
    Sent { provider_id: Option<String> },
    /// Refused. `retryable` marks refusals that `--retry-failed` may put back (e.g. a 5xx with a
    /// code saying nothing was delivered); permanent ones (bad number, bad payload) are not.
    /// `code` is the provider's error code from the answer, when it gave one.
    Failed {
        reason: String,
        retryable: bool,
        code: Option<i64>,
    },
    /// The window closed: either noticed before sending (legal straight from `pending`) or
    /// reported by the provider.
    Expired { reason: String },
    /// Timeout, reset after the body was written, unclassified 5xx: may have been delivered.
    Unknown { reason: String },
    /// Certainly not delivered (429, connect error before any byte was written): back to
    /// `pending` so this or the next run sends it.
    Requeue { reason: String },
    /// Never sent because an earlier message to the same recipient was not delivered (messages
    /// go in order). Recorded as a retryable failure, straight from `pending`.
    Skipped { reason: String },
}

impl Outcome {
    /// The state the row ends in.
    pub fn target(&self) -> State {
        match self {
            Outcome::Sent { .. } => State::Sent,
            Outcome::Failed { .. } => State::Failed,
            Outcome::Expired { .. } => State::Expired,
            Outcome::Unknown { .. } => State::Unknown,
            Outcome::Requeue { .. } => State::Pending,
            Outcome::Skipped { .. } => State::Failed,
        }
    }

    /// States this outcome may be recorded from. Only expiry and skipping may bypass
    /// `attempting`: neither sends a request.
    pub fn sources(&self) -> &'static [State] {
        match self {
            Outcome::Expired { .. } => &[State::Attempting, State::Pending],
            Outcome::Skipped { .. } => &[State::Pending],
            _ => &[State::Attempting],
        }
    }

    /// The human-readable reason stored with the row (none for a success).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Sent { .. } => None,
            Outcome::Failed { reason, .. }
            | Outcome::Expired { reason }
            | Outcome::Unknown { reason }
            | Outcome::Requeue { reason }
            | Outcome::Skipped { reason } => Some(reason),
        }
    }

    pub(crate) fn provider_id(&self) -> Option<&str> {
        match self {
            Outcome::Sent { provider_id } => provider_id.as_deref(),
            _ => None,
        }
    }

    /// The provider's error code the answer carried (failures only; webhooks add theirs).
    pub(crate) fn error_code(&self) -> Option<i64> {
        match self {
            Outcome::Failed { code, .. } => *code,
            _ => None,
        }
    }

    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                retryable: true,
                ..
            } | Outcome::Skipped { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
        }
        assert_eq!(
            "Sent".parse::<State>(),
            Err(ParseStateError("Sent".to_string()))
        );
    }

    #[test]
    fn only_expiry_may_skip_attempting() {
        let expired = Outcome::Expired { reason: "x".into() };
        assert!(expired.sources().contains(&State::Pending));
        let sent = Outcome::Sent { provider_id: None };
        assert_eq!(sent.sources(), &[State::Attempting]);
        assert_eq!(
            Outcome::Requeue {
                reason: "429".into()
            }
            .target(),
            State::Pending
        );
    }
}
