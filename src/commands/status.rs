//! `sessioncast status`: a campaign's ledger → counts per state and one row per message, as a
//! table, JSON or CSV.

use super::{state, Failure, Outcome};
use crate::cli::StatusArgs;
use crate::exit::Exit;
use crate::ledger::{Counts, Ledger, RowView};
use crate::report::PlanFormat;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

pub fn run(a: &StatusArgs) -> Outcome {
    let path = match &a.state {
        Some(p) => p.clone(),
        None => state::default_path(&a.campaign, &campaign_name(&a.campaign)?),
    };
    let (counts, rows) = if path.exists() {
        let ledger = Ledger::open(&path).map_err(|e| Failure::runtime(e.to_string()))?;
        let db = |e: crate::ledger::LedgerError| Failure::runtime(e.to_string());
        (ledger.counts().map_err(db)?, ledger.rows().map_err(db)?)
    } else {
        eprintln!(
            "no ledger at {}: the campaign has not been run yet",
            path.display()
        );
        (Counts::default(), Vec::new())
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        PlanFormat::Table => table(&mut out, &path, &counts, &rows)?,
        PlanFormat::Json => json(&mut out, &counts, &rows)?,
        PlanFormat::Csv => csv(&mut out, &rows)?,
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// The campaign's `name`, read without loading its recipients (a status must work even when
/// the data no longer validates).
fn campaign_name(file: &Path) -> Result<String, Failure> {
    let invalid = |why: String| Failure {
        exit: Exit::Invalid,
        message: format!("{}: {why}", file.display()),
    };
    let text = crate::campaign::source::read(file).map_err(invalid)?;
    if let Some((line, col)) = crate::campaign::source::too_deep(&text) {
        return Err(invalid(format!("{line}:{col}: brackets nested too deep")));
    }
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| invalid(format!("not YAML: {e}")))?;
    match doc.get("name").and_then(serde_yaml_ng::Value::as_str) {
        Some(name) => Ok(name.to_string()),
        None => Err(invalid(
            "has no `name:`, which names its ledger; pass --state PATH".into(),
        )),
    }
}

/// One row as JSON and CSV show it.
#[derive(Serialize)]
struct Row<'a> {
    to: &'a str,
    message: u32,
    state: &'static str,
    provider_id: Option<&'a str>,
    reason: Option<&'a str>,
    retryable: bool,
    attempts: u32,
    deadline: String,
    planned_at: String,
    attempted_at: Option<String>,
    finished_at: Option<String>,
}

impl<'a> From<&'a RowView> for Row<'a> {
    fn from(r: &'a RowView) -> Self {
        Row {
            to: &r.key.to,
            message: r.key.message_index,
            state: r.state.as_str(),
            provider_id: r.provider_id.as_deref(),
            reason: r.reason.as_deref(),
            retryable: r.retryable,
            attempts: r.attempts,
            deadline: time(r.deadline),
            planned_at: time(r.planned_at),
            attempted_at: r.attempted_at.map(time),
            finished_at: r.finished_at.map(time),
        }
    }
}

/// RFC 3339 to the millisecond, in UTC.
fn time(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|t| format!("{:.3}", t))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct JsonCounts {
    pending: u64,
    attempting: u64,
    sent: u64,
    failed: u64,
    expired: u64,
    unknown: u64,
}

fn json(out: &mut impl Write, c: &Counts, rows: &[RowView]) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Doc<'a> {
        counts: JsonCounts,
        recipients: Vec<Row<'a>>,
    }
    let doc = Doc {
        counts: JsonCounts {
            pending: c.pending,
            attempting: c.attempting,
            sent: c.sent,
            failed: c.failed,
            expired: c.expired,
            unknown: c.unknown,
        },
        recipients: rows.iter().map(Row::from).collect(),
    };
    serde_json::to_writer(&mut *out, &doc)
        .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))?;
    writeln!(out)?;
    Ok(())
}

fn csv(out: &mut impl Write, rows: &[RowView]) -> Result<(), Failure> {
    let mut w = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| Failure::runtime(format!("cannot write output: {e}"));
    if rows.is_empty() {
        // Headers even for an empty ledger, so a spreadsheet import sees the columns.
        w.write_record([
            "to",
            "message",
            "state",
            "provider_id",
            "reason",
            "retryable",
            "attempts",
            "deadline",
            "planned_at",
            "attempted_at",
            "finished_at",
        ])
        .map_err(fail)?;
    }
    for r in rows {
        w.serialize(Row::from(r)).map_err(fail)?;
    }
    w.flush()?;
    Ok(())
}

fn table(out: &mut impl Write, path: &Path, c: &Counts, rows: &[RowView]) -> Result<(), Failure> {
    writeln!(out, "ledger: {}", path.display())?;
    writeln!(
        out,
        "pending {}  attempting {}  sent {}  failed {}  expired {}  unknown {}  (total {})",
        c.pending,
        c.attempting,
        c.sent,
        c.failed,
        c.expired,
        c.unknown,
        c.total()
    )?;
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:>3}  {:<10} {:>8}  {:<25} {:<24} REASON",
        "TO", "MSG", "STATE", "ATTEMPTS", "FINISHED", "PROVIDER ID"
    )?;
    for r in rows {
        let row = Row::from(r);
        writeln!(
            out,
            "{:<16} {:>3}  {:<10} {:>8}  {:<25} {:<24} {}",
            row.to,
            row.message,
            row.state,
            row.attempts,
            row.finished_at.unwrap_or_else(|| "-".into()),
            row.provider_id.unwrap_or("-"),
            row.reason.unwrap_or("")
        )?;
    }
    Ok(())
}
