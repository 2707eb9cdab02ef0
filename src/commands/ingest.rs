//! `sessioncast ingest`: a webhook log (JSON lines, file or stdin) → the campaign's ledger learns
//! what the provider reported (outcomes, deliveries, reads, replies, inbound times).
//!
//! Lines are read and parsed as they stream in and applied in batches of `BATCH` events, one
//! transaction each: a million events cost a hundred commits, not a million, and a run starting
//! meanwhile waits at most one batch for the ledger.

use super::{state, status, Failure, Outcome};
use crate::campaign::Phone;
use crate::cli::{IngestArgs, IngestFormat};
use crate::exit::Exit;
use crate::ledger::{Ledger, State, Tally};
use crate::webhook::{self, Event, Inbound};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// Events per transaction: large enough that commits do not dominate, small enough (well under
/// a second of work) that a run starting meanwhile never waits long for the ledger.
const BATCH: usize = 20_000;

/// Bad lines listed one by one; past this only their count is given.
const SHOWN_BAD: usize = 100;

/// A line that is not a webhook we can read.
#[derive(Debug, Serialize)]
struct BadLine {
    line: u64,
    path: String,
    problem: String,
}

/// What an ingest did, for the summary.
#[derive(Debug, Default)]
struct Summary {
    lines: u64,
    events: u64,
    bad: u64,
    shown: Vec<BadLine>,
    tally: Tally,
}

pub fn run(a: &IngestArgs) -> Outcome {
    let name = status::campaign_name(&a.campaign)?;
    let path = state::locate(a.state.as_deref(), &a.campaign, || Ok(name.clone()))?;
    let Some(mut ledger) = state::open_at(&path)? else {
        return Err(Failure::runtime(format!(
            "no ledger at {path}: campaign `{name}` has not been run yet, so there is nothing for webhooks to update (pass --state PATH if it lives elsewhere)"
        )));
    };
    let prefix = key_prefix(&name);
    let input: Box<dyn Read> = match a.file.as_deref() {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(std::fs::File::open(p).map_err(|e| {
            Failure::runtime(format!("cannot read the webhook log {}: {e}", p.display()))
        })?),
    };
    let source = match a.file.as_deref() {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "<stdin>".to_string(),
    };
    let going = || !state::idle(&path);
    let summary = ingest(BufReader::new(input), &mut ledger, &prefix, &going, &source)
        .map_err(|e| Failure::runtime(format!("{e} (ledger {path})")))?;
    let exit = if summary.bad > 0 {
        Exit::Invalid
    } else if summary.tally.deferred > 0 {
        Exit::Stopped
    } else {
        Exit::Ok
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        IngestFormat::Text => text(&mut out, &summary, &path)?,
        IngestFormat::Json => json(&mut out, &summary, exit)?,
    }
    Ok(exit)
}

/// The send-key prefix of a campaign: `<12 hex>-` (see `provider::send_key`).
fn key_prefix(name: &str) -> String {
    let any = Phone::parse("+14155550101").expect("a valid number");
    let key = crate::provider::send_key(name, &crate::identity::UserId::from(any), 0);
    key[..13].to_string()
}

/// The ledger's name for a sender: E.164 for a wa_id (Mexican `521…` → `+52…`, as recipients
/// are normalized), else the business-scoped user id.
fn sender(m: &Inbound) -> String {
    if let Some(digits) = &m.from {
        let e164 = format!("+{}", digits.trim_start_matches('+'));
        return Phone::parse(&e164).map_or(e164, |p| p.to_string());
    }
    m.from_user_id.clone().unwrap_or_default()
}

fn ingest(
    input: impl BufRead,
    ledger: &mut Ledger,
    prefix: &str,
    going: &dyn Fn() -> bool,
    source: &str,
) -> Result<Summary, Failure> {
    let mut s = Summary::default();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<Event>, ledger: &mut Ledger, s: &mut Summary| {
        let t = ledger
            .apply_webhooks(batch, prefix, &sender, going)
            .map_err(|e| Failure::runtime(format!("cannot record webhooks: {e}")))?;
        s.tally.add(&t);
        batch.clear();
        Ok::<(), Failure>(())
    };
    for line in input.lines() {
        let line = line.map_err(|e| Failure::runtime(format!("cannot read {source}: {e}")))?;
        s.lines += 1;
        if line.trim().is_empty() {
            continue;
        }
        match webhook::parse_line(&line) {
            Ok(events) => {
                s.events += events.len() as u64;
                batch.extend(events);
            }
            Err(e) => {
                s.bad += 1;
                if s.shown.len() < SHOWN_BAD {
                    eprintln!("{source}:{}: {e} (line skipped)", s.lines);
                    s.shown.push(BadLine {
                        line: s.lines,
                        path: e.path,
                        problem: e.problem,
                    });
                }
            }
        }
        if batch.len() >= BATCH {
            flush(&mut batch, ledger, &mut s)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, ledger, &mut s)?;
    }
    if s.bad as usize > SHOWN_BAD {
        eprintln!(
            "{source}: {} more bad lines not shown",
            s.bad as usize - SHOWN_BAD
        );
    }
    Ok(s)
}

fn transitions(t: &Tally) -> Vec<(String, u64)> {
    t.transitions
        .iter()
        .map(|((from, to), n)| (format!("{from}->{to}"), *n))
        .collect()
}

fn text(out: &mut impl Write, s: &Summary, path: &state::Location) -> Result<(), Failure> {
    let t = &s.tally;
    writeln!(out, "ledger: {path}")?;
    writeln!(
        out,
        "{} lines, {} events: applied {}  duplicate {}  unmatched {}  other campaign {}  deferred {}  bad lines {}",
        s.lines, s.events, t.applied, t.duplicate, t.unmatched, t.other_campaign, t.deferred, s.bad
    )?;
    if t.replies > 0 {
        writeln!(out, "replies to campaign messages: {}", t.replies)?;
    }
    for (what, n) in transitions(t) {
        writeln!(out, "  {what}: {n}")?;
    }
    if t.deferred > 0 {
        writeln!(
            out,
            "a run holds the campaign: {} events for messages it is sending were left alone; ingest the log again after it (exit 5)",
            t.deferred
        )?;
    }
    let unknown_left = t
        .transitions
        .iter()
        .filter(|((from, _), _)| *from == State::Unknown)
        .map(|(_, n)| n)
        .sum::<u64>();
    if unknown_left > 0 {
        writeln!(
            out,
            "{unknown_left} messages whose outcome was unknown are now settled"
        )?;
    }
    Ok(())
}

fn json(out: &mut impl Write, s: &Summary, exit: Exit) -> Result<(), Failure> {
    let t = &s.tally;
    let doc = serde_json::json!({
        "lines": s.lines,
        "events": s.events,
        "applied": t.applied,
        "duplicate": t.duplicate,
        "unmatched": t.unmatched,
        "other_campaign": t.other_campaign,
        "deferred": t.deferred,
        "replies": t.replies,
        "bad_lines": s.bad,
        "bad": s.shown,
        "transitions": transitions(t)
            .into_iter()
            .map(|(k, n)| (k, n.into()))
            .collect::<serde_json::Map<_, _>>(),
        "exit": exit.code(),
    });
    writeln!(out, "{doc}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_campaign_part_of_every_send_key() {
        let to = Phone::parse("+525512345678").expect("phone");
        let key = crate::provider::send_key("demo", &crate::identity::UserId::from(to), 3);
        assert!(key.starts_with(&key_prefix("demo")), "{key}");
        assert_eq!(key_prefix("demo").len(), 13);
    }

    #[test]
    fn senders_are_named_as_recipients_are() {
        let m = |from: Option<&str>, user: Option<&str>| Inbound {
            provider: webhook::Provider::CloudApi,
            message_id: "m".into(),
            from: from.map(str::to_string),
            from_user_id: user.map(str::to_string),
            at: 0,
            kind: "text".into(),
            reply_to: None,
            profile_name: None,
        };
        assert_eq!(sender(&m(Some("5215512345678"), None)), "+525512345678");
        assert_eq!(sender(&m(Some("14155550101"), None)), "+14155550101");
        assert_eq!(
            sender(&m(None, Some("US.13491208655302741918"))),
            "US.13491208655302741918"
        );
    }
}
