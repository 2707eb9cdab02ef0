//! Recipients from the inbox, reading: a webhook log (JSON lines) → its inbound messages with
//! their lines, each message id once, through `webhook::parse_line`.

use super::super::load::Loader;
use crate::diag::{Place, Problem};
use crate::webhook::{self, Event, Inbound};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use std::io::BufRead;
use std::path::Path;

/// Lines parsed per batch, in parallel: JSON parsing dominates reading a large log.
const CHUNK: usize = 1 << 14;

/// The inbound messages of a webhook log with their lines, each message id once (its first
/// line). Statuses are not needed here. A line that is not a webhook is an error at its line.
pub(super) fn read(l: &mut Loader, path: &Path) -> Option<Vec<(u64, Inbound)>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let p = Problem::new(
                l.place("recipients.inbox"),
                format!("cannot read `{}`: {e}", path.display()),
            );
            l.problems.push(p.hint(format!(
                "give the webhook log (JSON lines, as `sessioncast webhook --listen` writes it) relative to {}",
                l.relative_to()
            )));
            return None;
        }
    };
    let place = |line: u64| Place::Csv {
        file: path.to_path_buf(),
        line,
        column: None,
    };
    let hint = "each line must be one webhook POST body, compact JSON, as the provider posted it";
    let mut reader = std::io::BufReader::new(file);
    let (mut out, mut seen) = (Vec::new(), FxHashSet::default());
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        let mut batch = Vec::with_capacity(CHUNK);
        while batch.len() < CHUNK {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => line_no += 1,
                Err(e) => {
                    l.problems.push(Problem::new(
                        place(line_no + 1),
                        format!("cannot read: {e}"),
                    ));
                    return None;
                }
            }
            match std::str::from_utf8(&buf) {
                Ok(s) if s.trim().is_empty() => {}
                Ok(s) => batch.push((line_no, s.to_string())),
                Err(_) => l
                    .problems
                    .push(Problem::new(place(line_no), "the line is not UTF-8 text").hint(hint)),
            }
        }
        if batch.is_empty() {
            break;
        }
        let parsed: Vec<_> = batch
            .par_iter()
            .map(|(line, text)| (*line, webhook::parse_line(text)))
            .collect();
        for (line, events) in parsed {
            match events {
                Err(e) => l.problems.push(
                    Problem::new(place(line), format!("not a webhook we can read: {e}")).hint(hint),
                ),
                Ok(events) => out.extend(events.into_iter().filter_map(|e| match e {
                    Event::Inbound(m) if seen.insert(m.message_id.clone()) => Some((line, m)),
                    _ => None,
                })),
            }
        }
    }
    Some(out)
}
