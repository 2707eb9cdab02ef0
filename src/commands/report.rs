//! `sessioncast report`: a campaign's ledger → the funnel per message (planned, sent, delivered,
//! read, replied, failed by code, expired, unknown), and with `--per-recipient` each recipient's
//! step times, as a table, JSON or CSV.

use super::status::time;
use super::{state, status, Failure, Outcome};
use crate::cli::ReportArgs;
use crate::exit::Exit;
use crate::ledger::{RowView, State};
use crate::report::PlanFormat;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::Path;

/// One message of the campaign (a `when:` variant when it has a condition) and its funnel.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Funnel {
    pub message: u32,
    /// The message kind (`text`, `image`, …), when the campaign still loads.
    pub kind: Option<String>,
    /// Its `when:` condition, when it has one.
    pub when: Option<String>,
    pub planned: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub replied: u64,
    pub failed: u64,
    /// Failures by the provider's error code (from webhooks; `none`: known only from the answer).
    pub failed_by_code: BTreeMap<String, u64>,
    pub expired: u64,
    pub unknown: u64,
    /// Not settled yet: `pending` or `attempting`.
    pub pending: u64,
}

/// Counts `rows` per message index. A step counts only messages in `sent`: delivered ⊆ sent,
/// read ⊆ delivered (a `read` implies delivery), replied ⊆ sent.
pub fn funnel(rows: &[RowView]) -> Vec<Funnel> {
    let mut by: BTreeMap<u32, Funnel> = BTreeMap::new();
    for r in rows {
        let f = by.entry(r.key.message_index).or_insert_with(|| Funnel {
            message: r.key.message_index,
            ..Funnel::default()
        });
        f.planned += 1;
        match r.state {
            State::Sent => {
                f.sent += 1;
                f.delivered += u64::from(r.delivered_at.is_some());
                f.read += u64::from(r.read_at.is_some());
                f.replied += u64::from(r.replied_at.is_some());
            }
            State::Failed => {
                f.failed += 1;
                let code = r.error_code.map_or("none".to_string(), |c| c.to_string());
                *f.failed_by_code.entry(code).or_default() += 1;
            }
            State::Expired => f.expired += 1,
            State::Unknown => f.unknown += 1,
            State::Pending | State::Attempting => f.pending += 1,
        }
    }
    by.into_values().collect()
}

pub fn run(a: &ReportArgs) -> Outcome {
    let path = state::locate(a.state.as_deref(), &a.campaign, || {
        status::campaign_name(&a.campaign)
    })?;
    let db = |e: crate::ledger::LedgerError| {
        Failure::runtime(format!("cannot read the ledger {path}: {e}"))
    };
    let (rows, inbound) = match state::open_at(&path)? {
        Some(ledger) => (
            ledger.rows().map_err(db)?,
            ledger.latest_inbound().map_err(db)?,
        ),
        None => {
            eprintln!("no ledger at {path}: the campaign has not been run yet");
            (Vec::new(), Vec::new())
        }
    };
    let mut messages = funnel(&rows);
    describe(&mut messages, &a.campaign);
    let inbound: HashMap<String, i64> = inbound.into_iter().collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    match (a.format, a.per_recipient) {
        (PlanFormat::Table, per) => table(&mut out, &messages, per.then_some(&rows[..]), &inbound)?,
        (PlanFormat::Json, per) => json(&mut out, &messages, per.then_some(&rows[..]), &inbound)?,
        (PlanFormat::Csv, false) => csv_funnel(&mut out, &messages)?,
        (PlanFormat::Csv, true) => csv_steps(&mut out, &rows, &inbound)?,
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// Kind and `when:` of each message, from the campaign as it loads now (the ledger keeps only
/// the index); left out when it no longer loads.
fn describe(messages: &mut [Funnel], file: &Path) {
    let (Some(c), _) = crate::campaign::load(file, jiff::Timestamp::now()) else {
        eprintln!(
            "{} does not load now: the report leaves out message kinds and conditions",
            file.display()
        );
        return;
    };
    for f in messages.iter_mut() {
        if let Some(m) = c.messages.iter().find(|m| m.index == f.message as usize) {
            f.kind = Some(m.message.type_name().to_string());
            f.when = m.when.clone();
        }
    }
    std::mem::forget(c);
}

/// One row of `--per-recipient`: when each step happened.
#[derive(Serialize)]
struct Steps<'a> {
    to: &'a str,
    message: u32,
    state: &'static str,
    last_inbound_at: Option<String>,
    attempted_at: Option<String>,
    delivered_at: Option<String>,
    read_at: Option<String>,
    replied_at: Option<String>,
    error_code: Option<i64>,
}

fn steps<'a>(r: &'a RowView, inbound: &HashMap<String, i64>) -> Steps<'a> {
    Steps {
        to: &r.key.to,
        message: r.key.message_index,
        state: r.state.as_str(),
        last_inbound_at: inbound
            .get(&r.key.to)
            .map(|ms| time(crate::ledger::from_millis(*ms))),
        attempted_at: r.attempted_at.map(time),
        delivered_at: r.delivered_at.map(time),
        read_at: r.read_at.map(time),
        replied_at: r.replied_at.map(time),
        error_code: r.error_code,
    }
}

fn codes(f: &Funnel) -> String {
    f.failed_by_code
        .iter()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn table(
    out: &mut impl Write,
    messages: &[Funnel],
    rows: Option<&[RowView]>,
    inbound: &HashMap<String, i64>,
) -> Result<(), Failure> {
    writeln!(
        out,
        "{:>3}  {:<12} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  FAILED BY CODE  WHEN",
        "MSG",
        "KIND",
        "PLANNED",
        "SENT",
        "DELIVERED",
        "READ",
        "REPLIED",
        "FAILED",
        "EXPIRED",
        "UNKNOWN",
        "PENDING"
    )?;
    for f in messages {
        let line = format!(
            "{:>3}  {:<12} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {:<14}  {}",
            f.message,
            f.kind.as_deref().unwrap_or("-"),
            f.planned,
            f.sent,
            f.delivered,
            f.read,
            f.replied,
            f.failed,
            f.expired,
            f.unknown,
            f.pending,
            match codes(f) {
                c if c.is_empty() => "-".to_string(),
                c => c,
            },
            f.when.as_deref().unwrap_or("")
        );
        // No trailing blanks when a message has no condition.
        writeln!(out, "{}", line.trim_end())?;
    }
    let Some(rows) = rows else { return Ok(()) };
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:>3}  {:<8} {:<24} {:<24} {:<24} {:<24} {:<24} CODE",
        "TO", "MSG", "STATE", "LAST INBOUND", "SENT", "DELIVERED", "READ", "REPLIED"
    )?;
    for r in rows {
        let s = steps(r, inbound);
        let t = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<16} {:>3}  {:<8} {:<24} {:<24} {:<24} {:<24} {:<24} {}",
            s.to,
            s.message,
            s.state,
            t(s.last_inbound_at),
            t(s.attempted_at),
            t(s.delivered_at),
            t(s.read_at),
            t(s.replied_at),
            s.error_code.map_or("-".to_string(), |c| c.to_string())
        )?;
    }
    Ok(())
}

fn json(
    out: &mut impl Write,
    messages: &[Funnel],
    rows: Option<&[RowView]>,
    inbound: &HashMap<String, i64>,
) -> Result<(), Failure> {
    let mut doc = serde_json::json!({ "messages": messages });
    if let Some(rows) = rows {
        let steps: Vec<Steps> = rows.iter().map(|r| steps(r, inbound)).collect();
        doc["recipients"] = serde_json::to_value(steps)
            .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))?;
    }
    writeln!(out, "{doc}")?;
    Ok(())
}

fn csv_funnel(out: &mut impl Write, messages: &[Funnel]) -> Result<(), Failure> {
    let mut w = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| Failure::runtime(format!("cannot write output: {e}"));
    w.write_record([
        "message",
        "kind",
        "when",
        "planned",
        "sent",
        "delivered",
        "read",
        "replied",
        "failed",
        "failed_by_code",
        "expired",
        "unknown",
        "pending",
    ])
    .map_err(fail)?;
    for f in messages {
        let n = |v: u64| v.to_string();
        w.write_record([
            f.message.to_string(),
            f.kind.clone().unwrap_or_default(),
            f.when.clone().unwrap_or_default(),
            n(f.planned),
            n(f.sent),
            n(f.delivered),
            n(f.read),
            n(f.replied),
            n(f.failed),
            codes(f),
            n(f.expired),
            n(f.unknown),
            n(f.pending),
        ])
        .map_err(fail)?;
    }
    w.flush()?;
    Ok(())
}

fn csv_steps(
    out: &mut impl Write,
    rows: &[RowView],
    inbound: &HashMap<String, i64>,
) -> Result<(), Failure> {
    let mut w = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| Failure::runtime(format!("cannot write output: {e}"));
    w.write_record([
        "to",
        "message",
        "state",
        "last_inbound_at",
        "attempted_at",
        "delivered_at",
        "read_at",
        "replied_at",
        "error_code",
    ])
    .map_err(fail)?;
    for r in rows {
        let s = steps(r, inbound);
        w.write_record([
            s.to.to_string(),
            s.message.to_string(),
            s.state.to_string(),
            s.last_inbound_at.unwrap_or_default(),
            s.attempted_at.unwrap_or_default(),
            s.delivered_at.unwrap_or_default(),
            s.read_at.unwrap_or_default(),
            s.replied_at.unwrap_or_default(),
            s.error_code.map(|c| c.to_string()).unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Key;
    use std::time::UNIX_EPOCH;

    fn row(i: u32, state: State, delivered: bool, read: bool, code: Option<i64>) -> RowView {
        RowView {
            key: Key::new(format!("+1415555{i:04}"), i % 2),
            state,
            provider_id: None,
            reason: None,
            retryable: false,
            attempts: 1,
            deadline: UNIX_EPOCH,
            planned_at: UNIX_EPOCH,
            attempted_at: None,
            finished_at: None,
            delivered_at: delivered.then_some(UNIX_EPOCH),
            read_at: read.then_some(UNIX_EPOCH),
            replied_at: None,
            error_code: code,
        }
    }

    #[test]
    fn each_step_counts_only_sent_messages_and_failures_group_by_code() {
        let rows = [
            row(0, State::Sent, true, true, None),
            row(2, State::Sent, true, false, None),
            row(4, State::Sent, false, false, None),
            row(6, State::Failed, false, false, Some(131026)),
            row(8, State::Failed, false, false, None),
            row(10, State::Expired, false, false, Some(131047)),
            row(1, State::Unknown, false, false, None),
            row(3, State::Pending, false, false, None),
        ];
        let f = funnel(&rows);
        assert_eq!(f.len(), 2);
        let m0 = &f[0];
        assert_eq!(
            (
                m0.planned,
                m0.sent,
                m0.delivered,
                m0.read,
                m0.failed,
                m0.expired
            ),
            (6, 3, 2, 1, 2, 1)
        );
        assert_eq!(codes(m0), "131026:1 none:1");
        assert_eq!((f[1].message, f[1].unknown, f[1].pending), (1, 1, 1));
    }
}
