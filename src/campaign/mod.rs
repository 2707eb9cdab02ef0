//! Campaigns: load a YAML campaign file (+ recipients CSV, templates) and validate it into typed
//! values that later stages never need to re-check.

mod csvfile;
mod inbound;
mod inbox;
mod load;
mod node;
mod positions;
mod recipients;
pub mod source;
mod spec;

pub use crate::identity::{Bsuid, Country, Phone, UserId};
pub(crate) use csvfile::CsvFile;
pub use inbound::{parse_inbound, InboundError};
pub use load::load;
pub use positions::Positions;
pub use recipients::Rejected;
pub use spec::{CampaignFile, MessageSpec, RecipientsSpec, WindowSpec};

use crate::diag::Problem;
use crate::message::Message;
use crate::provider::Provider;
use crate::ratelimit::Rate;
use crate::template::{Templates, Vars};
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;
use std::sync::Arc;

/// A validated campaign.
#[derive(Debug)]
pub struct Campaign {
    pub file: PathBuf,
    pub name: String,
    pub provider: Provider,
    pub rate: Rate,
    pub window: Window,
    pub vars: Arc<Vars>,
    pub messages: Vec<Msg>,
    pub recipients: Vec<Recipient>,
    /// The recipients CSV or webhook log, when recipients come from a file.
    pub recipients_csv: Option<PathBuf>,
    /// Recipients whose own row is invalid (also reported as problems).
    pub rejected: Vec<Rejected>,
    /// Indexes of recipients whose number repeats an earlier one.
    pub duplicates: Vec<usize>,
    /// Each repeated number's rows (indexes into `recipients`), the row `duplicates:` keeps
    /// first, then the others in the order that choice prefers them: render sends the first row
    /// that is valid, so an invalid row never costs a valid one its message.
    pub repeats: Vec<Vec<usize>>,
    pub templates: Templates,
    /// Numbers that must never be contacted (opt-outs).
    pub suppress: std::collections::HashSet<UserId>,
    /// Nothing is sent after this time.
    pub not_after: Option<Timestamp>,
    /// Template paths whose problems were already reported at load (not repeated per recipient).
    pub reported: std::collections::HashSet<String>,
    /// YAML paths of the fields whose templates use a recipient's own variables (or `to`): only
    /// problems there can be a recipient's fault, which `--skip-invalid` may drop.
    pub recipient_fields: std::collections::HashSet<String>,
    /// Where each YAML path stands in the file, for problems found after loading.
    pub positions: Positions,
    /// Problems that do not stop the campaign (duplicates...).
    pub warnings: Vec<Problem>,
}

/// One message of the campaign with its optional `when:` condition.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Position in the file's `messages:` list (messages that failed to load are left out).
    pub index: usize,
    pub when: Option<String>,
    /// Id of an earlier message this one answers (a template), sent as the provider's reply
    /// reference.
    pub reply_to: Option<String>,
    pub message: Message,
    /// The string fields that are templates, each bound to its field by its path in the message
    /// (not by position), with the name it was compiled under.
    pub field_templates: Vec<FieldTemplate>,
    /// Registered template name of `reply_to`, when it is a template.
    pub reply_template: Option<String>,
}

/// One templated string field of a message.
#[derive(Debug, Clone)]
pub struct FieldTemplate {
    /// The field's path inside the message, as `Kind::visit` names it (`buttons[2].title`).
    pub path: Vec<crate::message::Seg>,
    /// The registered template name (its YAML path at first use).
    pub name: String,
}

impl FieldTemplate {
    /// Is this the field at `path`?
    pub fn is_at(&self, path: &[crate::message::Seg]) -> bool {
        use crate::message::Seg;
        self.path.len() == path.len()
            && self.path.iter().zip(path).all(|(a, b)| match (a, b) {
                (Seg::K(x), Seg::K(y)) => x == y,
                (Seg::I(x), Seg::I(y)) => x == y,
                _ => false,
            })
    }
}

/// The customer-service window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub length: SignedDuration,
    pub margin: SignedDuration,
}

impl Window {
    /// The last moment a message may go out: `last_inbound_at + length - margin`.
    pub fn deadline(&self, last_inbound_at: Timestamp) -> Timestamp {
        last_inbound_at
            .saturating_add(self.length - self.margin)
            .unwrap_or(Timestamp::MAX)
    }
}

/// Where a recipient came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Index in the inline `recipients:` list.
    Inline(usize),
    /// Line of the recipients CSV.
    Csv(u64),
    /// Line of the webhook log (`recipients: { inbox: … }`) with the user's latest message.
    Inbox(u64),
}

#[derive(Debug, Clone)]
pub struct Recipient {
    pub to: UserId,
    pub last_inbound_at: Timestamp,
    pub vars: Vars,
    pub origin: Origin,
}

impl Campaign {
    /// Human-readable origin of a recipient: `recipients.csv:12` or `recipients[3]`.
    pub fn origin(&self, r: &Recipient) -> String {
        match r.origin {
            Origin::Inline(i) => format!("{} (recipients[{i}])", r.to),
            Origin::Csv(line) | Origin::Inbox(line) => {
                format!("{} ({}:{line})", r.to, self.recipients_file().display())
            }
        }
    }

    pub fn recipients_file(&self) -> PathBuf {
        self.recipients_csv
            .clone()
            .unwrap_or_else(|| self.file.clone())
    }

    pub fn deadline(&self, r: &Recipient) -> Timestamp {
        self.window.deadline(r.last_inbound_at)
    }
}
