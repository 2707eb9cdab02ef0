//! Reports: the plan as a table, JSON or CSV, written to any `impl Write`.

use crate::campaign::Campaign;
use crate::plan::{Decision, DropReason, Plan, Planned};
use jiff::{SignedDuration, Timestamp};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// A summary and one line per recipient in send order.
    Table,
    /// `{"summary":{...},"recipients":[...]}`.
    Json,
    /// One row per recipient.
    Csv,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub now: String,
    pub rate: String,
    pub recipients_in_file: usize,
    pub valid: usize,
    pub scheduled: usize,
    pub requests: u64,
    pub dropped: BTreeMap<&'static str, usize>,
    pub first_eta: Option<String>,
    pub last_eta: Option<String>,
    /// scheduled / valid.
    pub reach: f64,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub to: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<usize>,
    pub messages: u32,
}

pub fn summary(c: &Campaign, plan: &Plan) -> Summary {
    let mut dropped: BTreeMap<&'static str, usize> =
        DropReason::ALL.iter().map(|r| (r.as_str(), 0)).collect();
    for (_, reason) in plan.dropped() {
        *dropped.entry(reason.as_str()).or_default() += 1;
    }
    *dropped.entry(DropReason::Invalid.as_str()).or_default() += c.rejected.len();
    // Scheduled entries come first, in send order.
    let scheduled = plan.scheduled().count();
    let etas: Vec<Timestamp> = [
        plan.entries.first(),
        scheduled.checked_sub(1).and_then(|i| plan.entries.get(i)),
    ]
    .into_iter()
    .flatten()
    .filter_map(|e| plan.eta(e))
    .collect();
    let invalid = dropped[DropReason::Invalid.as_str()];
    let dup = dropped[DropReason::Duplicate.as_str()];
    let total = c.recipients.len() + c.rejected.len();
    let valid = total - invalid - dup;
    Summary {
        now: plan.now.to_string(),
        rate: c.rate.to_string(),
        recipients_in_file: total,
        valid,
        scheduled,
        requests: plan.requests(),
        dropped,
        first_eta: etas.first().map(ToString::to_string),
        last_eta: etas.last().map(ToString::to_string),
        reach: if valid == 0 {
            0.0
        } else {
            (scheduled as f64 / valid as f64 * 10_000.0).round() / 10_000.0
        },
    }
}

/// Entry `order` of the plan as a row (scheduled entries come first, so the position is the
/// send order).
fn row(c: &Campaign, plan: &Plan, order: usize, e: &Planned) -> Row {
    let (status, reason, eta, order) = match e.decision {
        Decision::Scheduled { .. } => (
            "scheduled",
            None,
            plan.eta(e).map(|t| t.to_string()),
            Some(order),
        ),
        Decision::Dropped(r) => ("dropped", Some(r.as_str()), None, None),
    };
    Row {
        to: c.recipients[e.recipient()].to.to_string(),
        status,
        reason,
        deadline: Some(e.deadline.to_string()),
        eta,
        order,
        messages: e.messages,
    }
}

/// Rows for every recipient: the plan's, then rows rejected while loading.
pub fn rows<'a>(c: &'a Campaign, plan: &'a Plan) -> impl Iterator<Item = Row> + 'a {
    let rejected = c.rejected.iter().map(|r| Row {
        to: r.to.clone(),
        status: "dropped",
        reason: Some(DropReason::Invalid.as_str()),
        deadline: None,
        eta: None,
        order: None,
        messages: 0,
    });
    plan.entries
        .iter()
        .enumerate()
        .map(|(i, e)| row(c, plan, i, e))
        .chain(rejected)
}

pub fn write_plan(
    c: &Campaign,
    plan: &Plan,
    format: PlanFormat,
    color: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        PlanFormat::Json => {
            out.write_all(b"{\"summary\":")?;
            serde_json::to_writer(&mut *out, &summary(c, plan))?;
            out.write_all(b",\"recipients\":[")?;
            write_json_rows(c, plan, out)?;
            let rejected = rows(c, plan).skip(plan.entries.len());
            for row in rejected {
                if !plan.entries.is_empty() {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, &row)?;
            }
            out.write_all(b"]}\n")
        }
        PlanFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "to", "status", "reason", "deadline", "eta", "order", "messages",
            ])?;
            for r in rows(c, plan) {
                let order = r.order.map(|o| o.to_string()).unwrap_or_default();
                let fields = [
                    r.to,
                    r.status.into(),
                    r.reason.unwrap_or("").into(),
                    r.deadline.unwrap_or_default(),
                    r.eta.unwrap_or_default(),
                    order,
                    r.messages.to_string(),
                ];
                w.write_record(&fields)?;
            }
            w.flush()
        }
        PlanFormat::Table => write_table(c, plan, color, out),
    }
}

/// The plan's rows as comma-separated JSON objects, formatted in parallel a batch at a time and
/// written in order: a million rows never sit in memory at once, and both cores format.
fn write_json_rows(c: &Campaign, plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    const PART: usize = 4096;
    let batch = PART * rayon::current_num_threads().max(1) * 4;
    for (b, entries) in plan.entries.chunks(batch).enumerate() {
        let parts: Vec<Vec<u8>> = entries
            .par_chunks(PART)
            .enumerate()
            .map(|(p, part)| {
                let mut buf = Vec::with_capacity(part.len() * 160);
                for (k, e) in part.iter().enumerate() {
                    let order = b * batch + p * PART + k;
                    if order > 0 {
                        buf.push(b',');
                    }
                    // Writing to a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut buf, &row(c, plan, order, e));
                }
                buf
            })
            .collect();
        for part in parts {
            out.write_all(&part)?;
        }
    }
    Ok(())
}

fn spare(deadline: Timestamp, eta: Timestamp) -> String {
    let secs = deadline.duration_since(eta).as_secs();
    let d = SignedDuration::from_secs(secs);
    format!("{:#}", d)
}

fn write_table(c: &Campaign, plan: &Plan, color: bool, out: &mut impl Write) -> io::Result<()> {
    let s = summary(c, plan);
    let (bold, dim, red, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    writeln!(
        out,
        "{bold}{}{reset} at {} ({} via {})",
        c.name,
        s.now,
        s.rate,
        c.provider.name()
    )?;
    writeln!(out, "  recipients in file  {}", s.recipients_in_file)?;
    writeln!(out, "  valid               {}", s.valid)?;
    writeln!(
        out,
        "  scheduled           {} ({} requests)",
        s.scheduled, s.requests
    )?;
    for (reason, n) in s.dropped.iter().filter(|(_, n)| **n > 0) {
        writeln!(out, "  dropped {reason:<19} {n}")?;
    }
    writeln!(
        out,
        "  first eta           {}",
        s.first_eta.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  last eta            {}",
        s.last_eta.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "  reach               {:.1}%", s.reach * 100.0)?;
    writeln!(out)?;
    writeln!(
        out,
        "{bold}{:>6}  {:<16} {:<21} {:<21} {:>10}  messages{reset}",
        "order", "to", "deadline", "eta", "spare"
    )?;
    for (order, e) in plan.entries.iter().enumerate() {
        let to = c.recipients[e.recipient()].to.to_string();
        match e.decision {
            Decision::Scheduled { slot } => {
                let eta = plan.slots.at(slot);
                writeln!(
                    out,
                    "{:>6}  {to:<16} {:<21} {:<21} {:>10}  {}",
                    order + 1,
                    e.deadline.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    eta.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    spare(e.deadline, eta),
                    e.messages
                )?
            }
            Decision::Dropped(reason) => writeln!(
                out,
                "{dim}{:>6}  {to:<16} {:<21} {red}dropped: {reason}{reset}",
                "-",
                e.deadline.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            )?,
        }
    }
    for r in &c.rejected {
        writeln!(
            out,
            "{dim}{:>6}  {:<16} {:<21} {red}dropped: invalid ({}){reset}",
            "-", r.to, "-", r.reason
        )?;
    }
    Ok(())
}
