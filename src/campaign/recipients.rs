//! Recipients: an inline list or a CSV (`to,last_inbound_at,<vars...>`) → validated recipients,
//! with rejected rows and duplicates (after E.164 normalization) reported by row.

use super::csvfile::CsvFile;
use super::inbound::{parse_inbound, InboundError};
use super::load::Loader;
use super::spec::InlineRecipient;
use super::{Country, Origin, Recipient, UserId};
use crate::diag::{Place, Problem};
use crate::identity::{CountryError, IdError};
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
    /// See `Campaign::repeats`.
    pub repeats: Vec<Vec<usize>>,
    pub warnings: Vec<Problem>,
    /// Variable names recipients define (CSV columns or inline `vars` keys).
    pub var_names: Vec<String>,
    /// The campaign's `default_country`, for the suppression list too.
    pub default_country: Option<Country>,
}

/// A recipient whose own data failed validation.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub origin: Origin,
    pub to: String,
    pub reason: String,
}

/// A bad CSV row: line, the raw `to`, the column at fault, what is wrong.
type RowError = (u64, String, &'static str, FieldError);

/// What is wrong with one field of a recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error(transparent)]
    Country(#[from] CountryError),
    #[error(transparent)]
    To(#[from] IdError),
    #[error(transparent)]
    LastInboundAt(#[from] InboundError),
}

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
        let at_to = |e: IdError| (format!("{path}.to"), FieldError::from(e));
        let to = match r.country.as_deref().map(str::parse::<Country>) {
            Some(Err(e)) => Err((format!("{path}.country"), e.into())),
            Some(Ok(c)) => UserId::parse_in(&r.to, Some(c)).map_err(at_to),
            None => UserId::parse_in(&r.to, None).map_err(at_to),
        };
        let at = parse_inbound(&r.last_inbound_at, now)
            .map_err(|e| (format!("{path}.last_inbound_at"), FieldError::from(e)));
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
                    let reason = e.to_string();
                    let mut problem = Problem::new(l.place(&p), reason.clone());
                    problem.per_recipient = true;
                    l.problems.push(problem);
                    raw.rejected.push(Rejected {
                        origin: Origin::Inline(i),
                        to: r.to.clone(),
                        reason,
                    });
                }
            }
        }
    }
    raw.var_names = names.into_iter().collect();
    raw.var_names.sort();
    find_future(l, &mut raw, now);
    find_duplicates(l, &mut raw, Keep::default(), |o| match o {
        Origin::Inline(i) => format!("recipients[{i}]"),
        Origin::Csv(line) | Origin::Inbox(line) => format!("line {line}"),
    });
    raw
}

/// Up to `CHUNK` rows read from the CSV, and the rows among them the reader could not read.
#[derive(Default)]
struct Batch {
    /// Each row's line and its untrimmed fields; only the first `len` are this batch's, the
    /// rest are records kept for reuse.
    rows: Vec<(u64, csv::StringRecord)>,
    len: usize,
    errors: Vec<(u64, csv::Error)>,
}

impl Batch {
    /// Read the next rows into this batch's records.
    fn fill(&mut self, reader: &mut CsvFile) {
        self.len = 0;
        while self.len + self.errors.len() < CHUNK {
            if self.len == self.rows.len() {
                self.rows.push((0, csv::StringRecord::new()));
            }
            let (line, record) = &mut self.rows[self.len];
            match reader.read_into(record) {
                None => break,
                Some((at, Ok(()))) => {
                    *line = at;
                    self.len += 1;
                }
                Some((at, Err(e))) => self.errors.push((at, e)),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && self.errors.is_empty()
    }
}

/// Where the columns are: `to`, `last_inbound_at`, and the variables (every other column).
struct Columns {
    to: usize,
    at: usize,
    /// A per-row country for national numbers (also a variable).
    country: Option<usize>,
    /// The campaign's `default_country`.
    default_country: Option<Country>,
    vars: Vec<usize>,
    names: Arc<[String]>,
}

pub(super) fn csv(
    l: &mut Loader,
    path: &Path,
    default_country: Option<Country>,
    policy: Keep,
    now: Timestamp,
) -> Option<Raw> {
    let (reader, mut cols) = open_csv(l, path)?;
    cols.default_country = default_country;
    let mut raw = Raw {
        csv: Some(path.to_path_buf()),
        default_country,
        var_names: cols.names.to_vec(),
        ..Raw::default()
    };
    // A reader thread reads the next chunk while the pool parses this one: phone validation is
    // parallel, CSV reading is not, and this way neither waits for the other. Parsed batches go
    // back to the reader, which reads the next rows into the same records without allocating.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (back, spare) = std::sync::mpsc::sync_channel::<Batch>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = reader;
            loop {
                let mut batch = spare.try_recv().unwrap_or_default();
                batch.fill(&mut reader);
                if batch.is_empty() || tx.send(batch).is_err() {
                    break;
                }
            }
        });
        for mut batch in rx {
            for (line, e) in batch.errors.drain(..) {
                malformed(l, path, line, &e);
            }
            let parsed: Vec<_> = batch.rows[..batch.len]
                .par_iter()
                .map(|(line, rec)| parse_row(*line, rec, &cols, now))
                .collect();
            for row in parsed {
                keep(l, &mut raw, path, row);
            }
            let _ = back.try_send(batch);
        }
    });
    let file = path.display().to_string();
    find_future(l, &mut raw, now);
    find_duplicates(l, &mut raw, policy, |o| match o {
        Origin::Csv(line) | Origin::Inbox(line) => format!("{file}:{line}"),
        Origin::Inline(i) => format!("recipients[{i}]"),
    });
    Some(raw)
}

/// Open the CSV and find its columns from the header.
fn open_csv(l: &mut Loader, path: &Path) -> Option<(CsvFile, Columns)> {
    let header_place = Place::Csv {
        file: path.to_path_buf(),
        line: 1,
        column: None,
    };
    let mut reader = match CsvFile::open(path, true) {
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
        Ok(h) => h,
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
            country: col("country"),
            default_country: None,
            vars,
            names,
        },
    ))
}

/// One data row → a recipient, or what is wrong with it.
fn parse_row(
    line: u64,
    rec: &csv::StringRecord,
    cols: &Columns,
    now: Timestamp,
) -> Result<Recipient, RowError> {
    // The reader leaves fields untrimmed (see `CsvFile::read_into`).
    let field = |i: usize| rec.get(i).map_or("", str::trim);
    let to_raw = field(cols.to);
    let country = match cols.country.map(field).filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<Country>()
                .map_err(|e| (line, to_raw.to_string(), "country", e.into()))?,
        ),
        None => cols.default_country,
    };
    let to = UserId::parse_in(to_raw, country)
        .map_err(|e| (line, to_raw.to_string(), "to", e.into()))?;
    let last_inbound_at = parse_inbound(field(cols.at), now)
        .map_err(|e| (line, to_raw.to_string(), "last_inbound_at", e.into()))?;
    let values = cols
        .vars
        .iter()
        .map(|&i| minijinja::Value::from(field(i)))
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
            let reason = e.to_string();
            let mut p = Problem::new(place, reason.clone());
            p.per_recipient = true;
            l.problems.push(p);
            raw.rejected.push(Rejected {
                origin: Origin::Csv(line),
                to,
                reason,
            });
        }
    }
}

/// A row the CSV reader itself could not read, with the hint that fits what is wrong.
fn malformed(l: &mut Loader, path: &Path, line: u64, e: &csv::Error) {
    let place = Place::Csv {
        file: path.to_path_buf(),
        line,
        column: None,
    };
    let p = Problem::new(place, format!("malformed CSV row: {}", csv_error(e)));
    l.problems.push(p.hint(csv_hint(e)));
}

/// The reader's error without its own position (the place already gives the real line).
pub(super) fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("it has {len} fields; the first row has {expected_len}"),
        _ => e.to_string(),
    }
}

/// What would make an unreadable CSV row readable.
pub(super) fn csv_hint(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the file is not UTF-8: save it as UTF-8 (Excel: \"CSV UTF-8\"; or `iconv -f WINDOWS-1252 -t UTF-8`)"
        }
        csv::ErrorKind::UnequalLengths { .. } => {
            "every row needs as many fields as the header; quote values containing commas"
        }
        _ => "check the file can be read and its quoting: a value with `\"` inside is quoted, with the quote doubled",
    }
}

/// The place of a recipient's row and column, or of its inline entry's field.
fn row_place(l: &Loader, raw: &Raw, origin: Origin, column: &str) -> Place {
    match origin {
        Origin::Csv(line) => Place::Csv {
            file: raw.csv.clone().unwrap_or_default(),
            line,
            column: Some(column.into()),
        },
        Origin::Inline(i) => l.place(&format!("recipients[{i}].{column}")),
        // A line of the webhook log: its JSON has no columns.
        Origin::Inbox(line) => Place::Csv {
            file: raw.csv.clone().unwrap_or_default(),
            line,
            column: None,
        },
    }
}

/// Messangi documents no way to send to a business-scoped user id, so such recipients of a
/// Messangi campaign are refused at their place (their own data: `--skip-invalid` drops them).
pub(super) fn refuse_bsuids(l: &mut Loader, raw: &mut Raw) {
    if raw.recipients.iter().all(|r| r.to.phone().is_some()) {
        return;
    }
    // `duplicates` are indexes into `recipients`: renumber them for those kept.
    let mut new_index = vec![None; raw.recipients.len()];
    let mut kept = Vec::with_capacity(raw.recipients.len());
    for (i, r) in std::mem::take(&mut raw.recipients).into_iter().enumerate() {
        if r.to.phone().is_some() {
            new_index[i] = Some(kept.len());
            kept.push(r);
            continue;
        }
        let e = format!(
            "{} is a business-scoped user id; Messangi documents no way to send to one",
            r.to
        );
        let mut p = Problem::new(row_place(l, raw, r.origin, "to"), e.clone());
        p.per_recipient = true;
        l.problems.push(p.hint(
            "give this user's phone number, or send with `provider: { kind: cloud_api, … }`, which addresses ids with `recipient`",
        ));
        raw.rejected.push(Rejected {
            origin: r.origin,
            to: r.to.to_string(),
            reason: e,
        });
    }
    raw.recipients = kept;
    raw.duplicates = raw
        .duplicates
        .iter()
        .filter_map(|&i| new_index[i])
        .collect();
    raw.repeats = std::mem::take(&mut raw.repeats)
        .into_iter()
        .map(|rows| {
            rows.iter()
                .filter_map(|&i| new_index[i])
                .collect::<Vec<_>>()
        })
        .filter(|rows| rows.len() > 1)
        .collect();
}

/// Warn about inbound times after `now`: a wrong clock or wrong data, and the deadline computed
/// from them would be later than the real one.
pub(super) fn find_future(l: &Loader, raw: &mut Raw, now: Timestamp) {
    let future: Vec<_> = raw
        .recipients
        .iter()
        .filter(|r| r.last_inbound_at > now)
        .map(|r| (r.origin, r.last_inbound_at))
        .collect();
    for &(origin, at) in future.iter().take(20) {
        let p = Problem::warning(
            row_place(l, raw, origin, "last_inbound_at"),
            format!("last_inbound_at {at} is in the future (now is {now})"),
        );
        raw.warnings
            .push(p.hint("check the data, its time zone offset, or this machine's clock"));
    }
    if future.len() > 20 {
        let place = Place::File {
            file: raw.csv.clone().unwrap_or_default(),
        };
        raw.warnings.push(Problem::warning(
            place,
            format!("{} more inbound times in the future", future.len() - 20),
        ));
    }
}

/// Which of the rows that share a number is kept when a number repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// The first row in the file.
    First,
    /// The last row in the file.
    Last,
    /// The row with the latest `last_inbound_at` (the first of them on a tie): the customer's
    /// most recent contact, whose window closes last.
    #[default]
    Latest,
}

/// `duplicates:` names no row to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a choice of row; write first, last or latest")]
pub struct KeepError(String);

/// The text a `Problem` shows.
impl From<KeepError> for String {
    fn from(e: KeepError) -> String {
        e.to_string()
    }
}

impl std::str::FromStr for Keep {
    type Err = KeepError;

    fn from_str(s: &str) -> Result<Keep, KeepError> {
        match s.trim() {
            "first" => Ok(Keep::First),
            "last" => Ok(Keep::Last),
            "latest" => Ok(Keep::Latest),
            _ => Err(KeepError(s.into())),
        }
    }
}

impl Keep {
    fn why(self) -> &'static str {
        match self {
            Keep::First => "the first row: `duplicates: first`",
            Keep::Last => "the last row: `duplicates: last`",
            Keep::Latest => "the latest last_inbound_at: `duplicates: latest`, the default",
        }
    }
}

/// Numbers that repeat after normalization: one row per number is kept (by `keep`), the others
/// are warned about and the planner drops them as `duplicate`.
pub(super) fn find_duplicates(
    l: &Loader,
    raw: &mut Raw,
    keep: Keep,
    show: impl Fn(Origin) -> String,
) {
    // Keys are plain numbers: FxHash is several times faster than SipHash here.
    let mut kept: FxHashMap<UserId, usize> = FxHashMap::default();
    kept.reserve(raw.recipients.len());
    let mut repeated = false;
    for (i, r) in raw.recipients.iter().enumerate() {
        match kept.entry(r.to) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(mut e) => {
                repeated = true;
                let replace = match keep {
                    Keep::First => false,
                    Keep::Last => true,
                    Keep::Latest => r.last_inbound_at > raw.recipients[*e.get()].last_inbound_at,
                };
                if replace {
                    e.insert(i);
                }
            }
        }
    }
    if !repeated {
        return;
    }
    // Each repeated number's rows, the kept one first, then in the order `keep` prefers them.
    let mut rows: FxHashMap<UserId, Vec<usize>> = FxHashMap::default();
    for (i, r) in raw.recipients.iter().enumerate() {
        let k = kept[&r.to];
        if k == i {
            continue;
        }
        rows.entry(r.to).or_insert_with(|| vec![k]).push(i);
    }
    let mut repeats: Vec<Vec<usize>> = rows.into_values().collect();
    for group in &mut repeats {
        let rest = &mut group[1..];
        match keep {
            Keep::First => rest.sort_unstable(),
            Keep::Last => rest.sort_unstable_by(|a, b| b.cmp(a)),
            Keep::Latest => {
                rest.sort_by_key(|&i| (std::cmp::Reverse(raw.recipients[i].last_inbound_at), i))
            }
        }
    }
    repeats.sort_unstable();
    raw.repeats = repeats;
    for (i, r) in raw.recipients.iter().enumerate() {
        let k = kept[&r.to];
        if k == i {
            continue;
        }
        raw.duplicates.push(i);
        if raw.warnings.len() < 20 {
            let kept_at = show(raw.recipients[k].origin);
            let p = Problem::warning(
                row_place(l, raw, r.origin, "to"),
                format!(
                    "{} is also on {kept_at}, the row kept for it ({}); this row is dropped as `duplicate`",
                    r.to,
                    keep.why()
                ),
            );
            raw.warnings.push(p.hint(
                "remove the repeated row, or choose the row kept with `duplicates: first|last|latest` under `recipients:`",
            ));
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

/// Numbers never to contact, read with the recipients' CSV reader (quotes, BOM, CRLF, `#`
/// comments): one number a line, or a CSV whose first row names a `to` column. National numbers
/// are read in the campaign's `default_country`. A line that cannot be read as a number is an
/// error with its row, never skipped: it may be someone who opted out, so the campaign is refused
/// until the list is fixed.
pub(super) fn suppress_list(
    l: &mut Loader,
    path: &Path,
    country: Option<Country>,
) -> HashSet<UserId> {
    let mut out = HashSet::new();
    let mut rows = match CsvFile::open_list(path) {
        Ok(r) => r,
        Err(e) => {
            let place = l.place("suppress");
            l.problems.push(Problem::new(
                place,
                format!("cannot read `{}`: {e}", path.display()),
            ));
            return out;
        }
    };
    let place = |line: u64, column: Option<&str>| Place::Csv {
        file: path.to_path_buf(),
        line,
        column: column.map(str::to_string),
    };
    let hint = "an opt-out that cannot be read is never skipped: write one number a line in international form (+14155550123), or a CSV with a `to` column";
    // A first row naming a `to` column is a header; otherwise the number is in column 1.
    let (mut col, mut name, mut first) = (0, None, true);
    for (line, row) in rows.by_ref() {
        let record = match row {
            Ok(r) => r,
            Err(e) => {
                let p = Problem::new(
                    place(line, None),
                    format!("malformed opt-out row: {}", csv_error(&e)),
                );
                l.problems.push(p.hint(csv_hint(&e)));
                continue;
            }
        };
        if std::mem::take(&mut first) {
            if let Some(i) = record.iter().position(|f| f.eq_ignore_ascii_case("to")) {
                (col, name) = (i, Some("to"));
                continue;
            }
        }
        let value = record.get(col).unwrap_or("");
        if value.is_empty() && record.iter().all(str::is_empty) {
            continue;
        }
        match UserId::parse_in(value, country) {
            Ok(p) => {
                out.insert(p);
            }
            Err(e) => {
                let e = if value.is_empty() {
                    format!("no number in column {}", col + 1)
                } else {
                    e.to_string()
                };
                l.problems
                    .push(Problem::new(place(line, name), e).hint(hint));
            }
        }
    }
    out
}
