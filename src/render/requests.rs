//! `Requests`, the render stage's output: per recipient, what render decided (send, invalid,
//! repeated, suppressed) and its rendered messages, stored compactly so a million recipients fit;
//! each message's wire body is built from it on demand.

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

/// Every recipient's rendered messages, in the campaign's recipient order.
pub struct Requests {
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
    /// Per recipient: its status and the end of its items in `items`.
    pub entries: Vec<(Status, u32)>,
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

    fn items_of(&self, j: usize) -> &[Item] {
        let start = j.checked_sub(1).map_or(0, |p| self.entries[p].1 as usize);
        &self.items[start..self.entries[j].1 as usize]
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

impl Requests {
    /// How many recipients (the campaign's, in order).
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The provider URL every request goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn at(&self, i: usize) -> (&Chunk, usize) {
        (&self.chunks[i / CHUNK], i % CHUNK)
    }

    pub fn status(&self, i: usize) -> Status {
        let (c, j) = self.at(i);
        c.entries[j].0
    }

    /// How many messages recipient `i` gets; `None` when its messages are invalid.
    pub fn count(&self, i: usize) -> Option<u32> {
        let (c, j) = self.at(i);
        match c.entries[j].0 {
            Status::Invalid => None,
            _ => Some(c.items_of(j).len() as u32),
        }
    }

    /// Requests of every recipient that is not invalid (repeated and suppressed included).
    pub fn total(&self) -> u64 {
        (0..self.len())
            .filter_map(|i| self.count(i))
            .map(u64::from)
            .sum()
    }

    /// Recipient `i`'s rendered messages, in message order (none when it is invalid).
    pub fn rendered(&self, c: &Campaign, i: usize) -> Vec<Rendered> {
        let (chunk, j) = self.at(i);
        if chunk.entries[j].0 == Status::Invalid {
            return Vec::new();
        }
        let first = j.checked_sub(1).map_or(0, |p| chunk.entries[p].1 as usize);
        let items = chunk.items_of(j);
        items
            .iter()
            .enumerate()
            .map(|(k, item)| {
                let m = &c.messages[item.message as usize];
                let mut values = chunk.values_of(first + k);
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

    /// Recipient `i`'s wire bodies with their message index, in message order.
    pub fn bodies(&self, c: &Campaign, i: usize) -> Vec<(usize, serde_json::Value)> {
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
