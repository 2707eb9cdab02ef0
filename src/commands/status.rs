//! `sessioncast status`: a campaign's ledger → counts per state and one row per message, as a
//! table, JSON or CSV.

use super::{state, Failure, Outcome};
use crate::cli::StatusArgs;
use crate::exit::Exit;
use crate::ledger::{Counts, RowView};
use crate::report::PlanFormat;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

pub fn run(a: &StatusArgs) -> Outcome {
    let path = state::locate(a.state.as_deref(), &a.campaign, || {
        campaign_name(&a.campaign)
    })?;
    let (counts, rows) = if let Some(mut ledger) = state::open_at(&path)? {
        expire_passed(&mut ledger, &path);
        let db = |e: crate::ledger::LedgerError| {
            Failure::runtime(format!("cannot read the ledger {path}: {e}"))
        };
        (ledger.counts().map_err(db)?, ledger.rows().map_err(db)?)
    } else {
        eprintln!("no ledger at {path}: the campaign has not been run yet");
        (Counts::default(), Vec::new())
    };
    let rows: Vec<RowView> = if a.only.is_empty() {
        rows
    } else {
        rows.into_iter()
            .filter(|r| a.only.contains(&r.state))
            .collect()
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        PlanFormat::Table => table(&mut out, &path, &counts, &rows)?,
        PlanFormat::Json => json(&mut out, &counts, &rows, &recipient_vars(&a.campaign))?,
        PlanFormat::Csv => csv(&mut out, &rows, &recipient_vars(&a.campaign))?,
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// Rows whose deadline passed become `expired`, so the report says what they are. Only when no
/// run holds the campaign: a run moves its own `pending` rows, and taking them from under it
/// would make its next transition illegal. The check and the update share one write transaction
/// (see `Ledger::expire_passed_if_idle`), and the run lock is only probed, never held, so a
/// cron run starting meanwhile is not turned away. Without write access the report is read as is.
fn expire_passed(ledger: &mut crate::ledger::Ledger, path: &state::Location) {
    let idle = || state::idle(path);
    match ledger.expire_passed_if_idle(crate::ledger::now_millis(), idle) {
        Ok(None) => {
            eprintln!(
                "a run holds the ledger: rows whose deadline passed are left for it to expire"
            )
        }
        Ok(Some(0)) => {}
        Ok(Some(n)) => {
            eprintln!("ledger: {n} messages not yet sent are now `expired`: their deadline passed")
        }
        Err(e) => eprintln!("ledger: cannot record expired rows ({e}); showing them as recorded"),
    }
}

/// Each recipient's own variables (CSV columns or inline `vars`), by E.164 number, with the
/// variable names in file order: exports carry them so a list goes back to a CRM as it came.
/// The ledger does not store them, so they come from the campaign as it loads now; when it no
/// longer loads, exports go without them (and say so).
struct RecipientVars {
    names: Vec<String>,
    by_to: HashMap<String, Vec<(usize, String)>>,
}

fn recipient_vars(file: &Path) -> RecipientVars {
    let mut vars = RecipientVars {
        names: Vec::new(),
        by_to: HashMap::new(),
    };
    let (Some(c), _) = crate::campaign::load(file, jiff::Timestamp::now()) else {
        eprintln!(
            "{} does not load now: the export leaves out the recipients' variables",
            file.display()
        );
        return vars;
    };
    let mut column: HashMap<String, usize> = HashMap::new();
    for r in &c.recipients {
        let values = r
            .vars
            .names
            .iter()
            .zip(r.vars.values.iter())
            .map(|(name, value)| {
                let next = column.len();
                let i = *column.entry(name.clone()).or_insert_with(|| {
                    vars.names.push(name.clone());
                    next
                });
                (i, value.to_string())
            })
            .collect();
        vars.by_to.entry(r.to.to_string()).or_insert(values);
    }
    std::mem::forget(c);
    vars
}

impl RecipientVars {
    /// One value per variable name ("" where the recipient has none).
    fn row(&self, to: &str) -> Vec<&str> {
        let mut row = vec![""; self.names.len()];
        for (i, value) in self.by_to.get(to).into_iter().flatten() {
            row[*i] = value;
        }
        row
    }
}

/// The campaign's `name`, read without loading its recipients (a status must work even when
/// the data no longer validates).
pub(super) fn campaign_name(file: &Path) -> Result<String, Failure> {
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
    delivered_at: Option<String>,
    read_at: Option<String>,
    replied_at: Option<String>,
    error_code: Option<i64>,
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
            delivered_at: r.delivered_at.map(time),
            read_at: r.read_at.map(time),
            replied_at: r.replied_at.map(time),
            error_code: r.error_code,
        }
    }
}

/// RFC 3339 to the millisecond, in UTC.
pub(super) fn time(t: SystemTime) -> String {
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

fn json(
    out: &mut impl Write,
    c: &Counts,
    rows: &[RowView],
    vars: &RecipientVars,
) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(flatten)]
        row: Row<'a>,
        vars: serde_json::Map<String, serde_json::Value>,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        counts: JsonCounts,
        recipients: Vec<Full<'a>>,
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
        recipients: rows
            .iter()
            .map(|r| Full {
                row: Row::from(r),
                vars: vars
                    .by_to
                    .get(&r.key.to)
                    .into_iter()
                    .flatten()
                    .map(|(i, v)| (vars.names[*i].clone(), v.clone().into()))
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_writer(&mut *out, &doc)
        .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))?;
    writeln!(out)?;
    Ok(())
}

/// The fixed CSV columns; the recipient's variables follow them.
const CSV_COLUMNS: [&str; 15] = [
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
    "delivered_at",
    "read_at",
    "replied_at",
    "error_code",
];

fn csv(out: &mut impl Write, rows: &[RowView], vars: &RecipientVars) -> Result<(), Failure> {
    let mut w = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| Failure::runtime(format!("cannot write output: {e}"));
    // A variable named like a fixed column (`to`, `state`) keeps its value under `var_NAME`.
    let var_columns = vars
        .names
        .iter()
        .map(|n| match CSV_COLUMNS.contains(&n.as_str()) {
            true => format!("var_{n}"),
            false => n.clone(),
        });
    let header: Vec<String> = CSV_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(var_columns)
        .collect();
    // Headers even for an empty ledger, so a spreadsheet import sees the columns.
    w.write_record(&header).map_err(fail)?;
    for r in rows {
        let row = Row::from(r);
        let opt = |t: Option<&str>| t.unwrap_or("").to_string();
        let mut record = vec![
            row.to.to_string(),
            row.message.to_string(),
            row.state.to_string(),
            opt(row.provider_id),
            opt(row.reason),
            row.retryable.to_string(),
            row.attempts.to_string(),
            row.deadline,
            row.planned_at,
            row.attempted_at.unwrap_or_default(),
            row.finished_at.unwrap_or_default(),
            row.delivered_at.unwrap_or_default(),
            row.read_at.unwrap_or_default(),
            row.replied_at.unwrap_or_default(),
            row.error_code.map(|c| c.to_string()).unwrap_or_default(),
        ];
        record.extend(vars.row(row.to).into_iter().map(str::to_string));
        w.write_record(&record).map_err(fail)?;
    }
    w.flush()?;
    Ok(())
}

fn table(
    out: &mut impl Write,
    path: &state::Location,
    c: &Counts,
    rows: &[RowView],
) -> Result<(), Failure> {
    writeln!(out, "ledger: {path}")?;
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
