//! The render stage's output. `Decided`: per recipient, what render decided (send, invalid,
//! repeated, suppressed) and how many messages it gets: all the planner needs. `Requests`: that,
//! plus every recipient's rendered messages, stored compactly so a million recipients fit; each
//! message's wire body is built from them on demand.

use super::Rendered;
use crate::campaign::Campaign;
use crate::provider::send_key;

/// What render decided for one recipient. Every other drop reason depends on time or on the
/// ledger and is the planner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its messages rendered and passed every check (it may get none: `when:`).
    Ready,
    /// Its messages failed a template or a limit.
    Invalid,
    /// Its number repeats an earlier recipient's.
    Duplicate,
    /// Its number is on the campaign's `suppress:` list.
    Suppressed,
}

/// Recipients are rendered in parallel in chunks this large, each with its own storage.
pub(super) const CHUNK: usize = 4096;

/// What render decided for every recipient, in the campaign's recipient order.
pub struct Decided {
    /// Per chunk of `CHUNK` recipients: each one's status and message count.
    pub(super) chunks: Vec<Vec<(Status, u32)>>,
}

/// Every recipient's rendered messages, in the campaign's recipient order.
pub struct Requests {
    pub(super) decided: Decided,
    /// Per chunk of `CHUNK` recipients (as in `decided`): their rendered values.
    pub(super) chunks: Vec<Chunk>,
    /// The provider URL every request is posted to, as rendered.
    pub(super) url: String,
}

/// One message rendered for one recipient: which message, and where its values end.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    /// Position in `Campaign::messages`.
    pub message: u32,
    /// End of its values in `Chunk::ends`.
    pub values_end: u32,
}

/// The rendered values of up to `CHUNK` recipients: no allocation per recipient or value.
#[derive(Default)]
pub(super) struct Chunk {
    /// Per recipient: the end of its items in `items` (an invalid recipient has none).
    pub firsts: Vec<u32>,
    pub items: Vec<Item>,
    /// End offset in `text` of each value: a message's templated fields in the order of its
    /// `field_templates`, then its `reply_to` when that is a template.
    pub ends: Vec<usize>,
    pub text: String,
}

impl Chunk {
    /// A recipient's rendered values so far are taken back (it failed).
    pub fn truncate_to(&mut self, items: usize) {
        self.items.truncate(items);
        let values = self.items.last().map_or(0, |i| i.values_end as usize);
        self.ends.truncate(values);
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// Forget everything (when only the decisions are kept).
    pub fn clear(&mut self) {
        self.firsts.clear();
        self.items.clear();
        self.ends.clear();
        self.text.clear();
    }

    fn items_of(&self, j: usize) -> std::ops::Range<usize> {
        let start = j.checked_sub(1).map_or(0, |p| self.firsts[p] as usize);
        start..self.firsts[j] as usize
    }

    fn values_of(&self, item: usize) -> impl Iterator<Item = &str> {
        let start = item
            .checked_sub(1)
            .map_or(0, |p| self.items[p].values_end as usize);
        let end = self.items[item].values_end as usize;
        (start..end).map(move |v| {
            let from = v.checked_sub(1).map_or(0, |p| self.ends[p]);
            &self.text[from..self.ends[v]]
        })
    }
}

impl Decided {
    /// How many recipients (the campaign's, in order).
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn status(&self, i: usize) -> Status {
        self.chunks[i / CHUNK][i % CHUNK].0
    }

    /// How many messages recipient `i` gets; `None` when its messages are invalid.
    pub fn count(&self, i: usize) -> Option<u32> {
        match self.chunks[i / CHUNK][i % CHUNK] {
            (Status::Invalid, _) => None,
            (_, n) => Some(n),
        }
    }

    /// Requests of every recipient that is not invalid (repeated and suppressed included).
    pub fn total(&self) -> u64 {
        let all = self.chunks.iter().flatten();
        let valid = all.filter(|(s, _)| *s != Status::Invalid);
        valid.map(|(_, n)| u64::from(*n)).sum()
    }
}

impl Requests {
    /// What render decided for each recipient: what the planner reads.
    pub fn decided(&self) -> &Decided {
        &self.decided
    }

    /// Only the decisions, the rendered messages freed (a run no longer needs them once it has
    /// frozen its requests; they are a few large blocks, so this is quick).
    pub fn into_decided(self) -> Decided {
        self.decided
    }

    /// The provider URL every request goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status(&self, i: usize) -> Status {
        self.decided.status(i)
    }

    pub fn count(&self, i: usize) -> Option<u32> {
        self.decided.count(i)
    }

    /// Recipient `i`'s rendered messages, in message order (none when it is invalid).
    pub fn rendered(&self, c: &Campaign, i: usize) -> Vec<Rendered> {
        let (chunk, j) = (&self.chunks[i / CHUNK], i % CHUNK);
        chunk
            .items_of(j)
            .map(|k| {
                let m = &c.messages[chunk.items[k].message as usize];
                let mut values = chunk.values_of(k);
                let mut fields: Vec<&str> = values.by_ref().take(m.field_templates.len()).collect();
                let mut message = m.message.clone();
                message.kind_mut().visit(&mut |seg, s| {
                    if let Some(f) = m.field_templates.iter().position(|t| t.is_at(seg)) {
                        s.clear();
                        s.push_str(std::mem::take(&mut fields[f]));
                    }
                });
                let reply_to = match m.reply_template {
                    Some(_) => values.next().map(str::to_string),
                    None => m.reply_to.clone(),
                };
                Rendered {
                    index: m.index,
                    message,
                    reply_to,
                }
            })
            .collect()
    }

    /// Recipient `i`'s wire bodies (JSON text, the very bytes sent) with their message index,
    /// in message order.
    pub fn bodies(&self, c: &Campaign, i: usize) -> Vec<(usize, String)> {
        let to = &c.recipients[i].to;
        self.rendered(c, i)
            .iter()
            .map(|m| {
                let key = send_key(&c.name, to, m.index);
                let body = c.provider.body(&key, to, &m.message, m.reply_to.as_deref());
                (m.index, body)
            })
            .collect()
    }
}
