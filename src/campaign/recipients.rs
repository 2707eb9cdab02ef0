//! Recipients: an inline list or a CSV (`to,last_inbound_at,<vars...>`) → validated recipients,
//! with rejected rows and duplicates (after E.164 normalization) reported by row.

use super::inbound::parse_inbound;
use super::load::Loader;
use super::spec::InlineRecipient;
use super::{Origin, Phone, Recipient};
use crate::diag::{Place, Problem};
use crate::template::Vars;
use jiff::Timestamp;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Recipients as loaded, before planning.
#[derive(Debug, Default)]
pub struct Raw {
    pub recipients: Vec<Recipient>,
    pub csv: Option<PathBuf>,
    /// Rows whose own data is invalid (reported as problems too).
    pub rejected: Vec<Rejected>,
    /// Indexes into `recipients` of numbers already seen earlier in the list.
    pub duplicates: Vec<usize>,
    pub warnings: Vec<Problem>,
    /// Variable names recipients define (CSV columns or inline `vars` keys).
    pub var_names: Vec<String>,
}

/// A recipient whose own data failed validation.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub origin: Origin,
    pub to: String,
    pub reason: String,
}

/// A bad CSV row: line, the raw `to`, the column at fault, what is wrong.
type RowError = (u64, String, &'static str, String);

/// Rows are parsed in parallel chunks: phone validation dominates loading time.
const CHUNK: usize = 1 << 15;

pub(super) fn inline(
    l: &mut Loader,
    parsed: Vec<Option<(InlineRecipient, Option<Vars>)>>,
    now: Timestamp,
) -> Raw {
    let mut raw = Raw::default();
    let mut names = HashSet::new();
    for (i, item) in parsed.into_iter().enumerate() {
        let Some((r, vars)) = item else { continue };
        let path = format!("recipients[{i}]");
        let to = Phone::parse(&r.to).map_err(|e| (format!("{path}.to"), e));
        let at = parse_inbound(&r.last_inbound_at, now)
            .map_err(|e| (format!("{path}.last_inbound_at"), e));
        match (to, at, vars) {
            (Ok(to), Ok(last_inbound_at), Some(vars)) => {
                names.extend(vars.names.iter().cloned());
                raw.recipients.push(Recipient {
                    to,
                    last_inbound_at,
                    vars,
                    origin: Origin::Inline(i),
                });
            }
            (to, at, _) => {
                for (p, e) in [to.err(), at.err()].into_iter().flatten() {
                    let mut problem = Problem::new(l.place(&p), e.clone());
                    problem.per_recipient = true;
                    l.problems.push(problem);
                    raw.rejected.push(Rejected {
                        origin: Origin::Inline(i),
                        to: r.to.clone(),
                        reason: e,
                    });
                }
            }
        }
    }
    raw.var_names = names.into_iter().collect();
    raw.var_names.sort();
    find_duplicates(&mut raw, |o| match o {
        Origin::Inline(i) => format!("recipients[{i}]"),
        Origin::Csv(line) => format!("line {line}"),
    });
    raw
}

/// Where the columns are: `to`, `last_inbound_at`, and the variables (every other column).
struct Columns {
    to: usize,
    at: usize,
    vars: Vec<usize>,
    names: Arc<[String]>,
}

pub(super) fn csv(l: &mut Loader, path: &Path, now: Timestamp) -> Option<Raw> {
    let (reader, cols) = open_csv(l, path)?;
    let mut raw = Raw {
        csv: Some(path.to_path_buf()),
        var_names: cols.names.to_vec(),
        ..Raw::default()
    };
    // A reader thread reads the next chunk while the pool parses this one: phone validation is
    // parallel, CSV reading is not, and this way neither waits for the other.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<csv::Result<csv::StringRecord>>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut records = reader.into_records();
            loop {
                let chunk: Vec<_> = records.by_ref().take(CHUNK).collect();
                if chunk.is_empty() || tx.send(chunk).is_err() {
                    break;
                }
            }
        });
        for batch in rx {
            let mut rows = Vec::with_capacity(batch.len());
            for rec in batch {
                match rec {
                    Ok(r) => rows.push(r),
                    Err(e) => malformed(l, path, &e),
                }
            }
            let parsed: Vec<_> = rows
                .par_iter()
                .map(|rec| parse_row(rec, &cols, now))
                .collect();
            for row in parsed {
                keep(l, &mut raw, path, row);
            }
        }
    });
    let file = path.display().to_string();
    find_duplicates(&mut raw, |o| match o {
        Origin::Csv(line) => format!("{file}:{line}"),
        Origin::Inline(i) => format!("recipients[{i}]"),
    });
    Some(raw)
}

/// Open the CSV and find its columns from the header.
fn open_csv(l: &mut Loader, path: &Path) -> Option<(csv::Reader<std::fs::File>, Columns)> {
    let header_place = Place::Csv {
        file: path.to_path_buf(),
        line: 1,
        column: None,
    };
    let mut reader = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
    {
        Ok(r) => r,
        Err(e) => {
            let place = l.place("recipients.file");
            let p = Problem::new(place, format!("cannot read `{}`: {e}", path.display()));
            l.problems
                .push(p.hint(format!("the path is relative to {}", l.relative_to())));
            return None;
        }
    };
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            l.problems.push(Problem::new(
                header_place,
                format!("cannot read the CSV header: {e}"),
            ));
            return None;
        }
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(to), Some(at)) = (col("to"), col("last_inbound_at")) else {
        let p = Problem::new(
            header_place,
            format!(
                "the header `{}` lacks `to` or `last_inbound_at`",
                header.join(",")
            ),
        );
        l.problems.push(
            p.hint("the first line must name the columns: to,last_inbound_at,<your variables...>"),
        );
        return None;
    };
    let vars: Vec<usize> = (0..header.len()).filter(|&i| i != to && i != at).collect();
    let names = vars.iter().map(|&i| header[i].clone()).collect();
    Some((
        reader,
        Columns {
            to,
            at,
            vars,
            names,
        },
    ))
}

/// One data row → a recipient, or what is wrong with it.
fn parse_row(
    rec: &csv::StringRecord,
    cols: &Columns,
    now: Timestamp,
) -> Result<Recipient, RowError> {
    let line = rec.position().map_or(0, |p| p.line());
    let to_raw = rec.get(cols.to).unwrap_or("");
    let to = Phone::parse(to_raw).map_err(|e| (line, to_raw.to_string(), "to", e))?;
    let last_inbound_at = parse_inbound(rec.get(cols.at).unwrap_or(""), now)
        .map_err(|e| (line, to_raw.to_string(), "last_inbound_at", e))?;
    let values = cols
        .vars
        .iter()
        .map(|&i| minijinja::Value::from(rec.get(i).unwrap_or("")))
        .collect();
    let vars = Vars {
        names: cols.names.clone(),
        values,
    };
    Ok(Recipient {
        to,
        last_inbound_at,
        vars,
        origin: Origin::Csv(line),
    })
}

/// Keep a parsed row, or report it and remember it as rejected.
fn keep(l: &mut Loader, raw: &mut Raw, path: &Path, row: Result<Recipient, RowError>) {
    match row {
        Ok(r) => raw.recipients.push(r),
        Err((line, to, column, e)) => {
            let place = Place::Csv {
                file: path.to_path_buf(),
                line,
                column: Some(column.to_string()),
            };
            let mut p = Problem::new(place, e.clone());
            p.per_recipient = true;
            l.problems.push(p);
            raw.rejected.push(Rejected {
                origin: Origin::Csv(line),
                to,
                reason: e,
            });
        }
    }
}

/// A row the CSV reader itself could not read.
fn malformed(l: &mut Loader, path: &Path, e: &csv::Error) {
    let line = e.position().map_or(0, |p| p.line());
    let place = Place::Csv {
        file: path.to_path_buf(),
        line,
        column: None,
    };
    let p = Problem::new(place, format!("malformed CSV row: {e}"));
    l.problems.push(
        p.hint("every row needs as many fields as the header; quote values containing commas"),
    );
}

/// Warn about numbers that repeat an earlier recipient after normalization; the planner sends
/// to the first and drops the rest as `duplicate`.
fn find_duplicates(raw: &mut Raw, show: impl Fn(Origin) -> String) {
    // Keys are plain numbers: FxHash is several times faster than SipHash here.
    let mut first: FxHashMap<Phone, Origin> = FxHashMap::default();
    first.reserve(raw.recipients.len());
    for (i, r) in raw.recipients.iter().enumerate() {
        if let Some(&earlier) = first.get(&r.to) {
            raw.duplicates.push(i);
            if raw.warnings.len() < 20 {
                let place = match r.origin {
                    Origin::Csv(line) => Place::Csv {
                        file: raw.csv.clone().unwrap_or_default(),
                        line,
                        column: Some("to".into()),
                    },
                    Origin::Inline(i) => Place::File {
                        file: format!("recipients[{i}]").into(),
                    },
                };
                let p = Problem::warning(
                    place,
                    format!("{} repeats {}; it will be sent once", r.to, show(earlier)),
                );
                raw.warnings.push(p.hint("remove the repeated row"));
            }
        } else {
            first.insert(r.to, r.origin);
        }
    }
    let extra = raw.duplicates.len().saturating_sub(20);
    if extra > 0 {
        let place = Place::File {
            file: raw.csv.clone().unwrap_or_default(),
        };
        raw.warnings.push(Problem::warning(
            place,
            format!("{extra} more repeated numbers"),
        ));
    }
}

/// Numbers never to contact: one per line, or a CSV whose header has a `to` column.
pub(super) fn suppress_list(l: &mut Loader, path: &Path) -> HashSet<Phone> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let place = l.place("suppress");
            l.problems.push(Problem::new(
                place,
                format!("cannot read `{}`: {e}", path.display()),
            ));
            return HashSet::new();
        }
    };
    let mut lines = text.lines().enumerate().peekable();
    let to_col = match lines.peek() {
        Some((_, first)) if first.split(',').any(|c| c.trim() == "to") => {
            let col = first.split(',').position(|c| c.trim() == "to");
            lines.next();
            col
        }
        _ => Some(0),
    };
    let mut out = HashSet::new();
    for (i, line) in lines {
        let value = line
            .split(',')
            .nth(to_col.unwrap_or(0))
            .unwrap_or("")
            .trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        match Phone::parse(value) {
            Ok(p) => {
                out.insert(p);
            }
            Err(e) => {
                let place = Place::Csv {
                    file: path.to_path_buf(),
                    line: i as u64 + 1,
                    column: None,
                };
                l.problems.push(Problem::new(place, e));
            }
        }
    }
    out
}
