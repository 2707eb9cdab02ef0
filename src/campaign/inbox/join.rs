//! Recipients from the inbox, joining: a CSV (`to,<vars...>`) → each number's values, for the
//! inbox users it names.

use super::super::csvfile::CsvFile;
use super::super::load::Loader;
use super::super::recipients::{csv_error, csv_hint};
use super::super::{Bsuid, Country, Phone, UserId};
use crate::diag::{Place, Problem};
use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::Arc;

/// A CSV joined to the inbox by number: its columns (other than `to`) and each number's values.
pub(super) struct Joined {
    pub names: Arc<[String]>,
    pub rows: FxHashMap<UserId, Vec<String>>,
}

/// Read the `join:` CSV: a `to` column (national numbers read in `default_country` or the row's
/// `country`), every other column a variable. A repeated number keeps its first row (warned).
pub(super) fn join(
    l: &mut Loader,
    warnings: &mut Vec<Problem>,
    path: &Path,
    default_country: Option<Country>,
    links: &FxHashMap<Bsuid, Phone>,
) -> Option<Joined> {
    let place = |line: u64, column: Option<&str>| Place::Csv {
        file: path.to_path_buf(),
        line,
        column: column.map(str::to_string),
    };
    let mut reader = match CsvFile::open(path, true) {
        Ok(r) => r,
        Err(e) => {
            let p = Problem::new(
                l.place("recipients.join"),
                format!("cannot read `{}`: {e}", path.display()),
            );
            l.problems
                .push(p.hint(format!("the path is relative to {}", l.relative_to())));
            return None;
        }
    };
    let header = match reader.headers() {
        Ok(h) => h,
        Err(e) => {
            l.problems.push(Problem::new(
                place(1, None),
                format!("cannot read the CSV header: {e}"),
            ));
            return None;
        }
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let Some(to) = col("to") else {
        let p = Problem::new(
            place(1, None),
            format!("the header `{}` lacks `to`", header.join(",")),
        );
        l.problems
            .push(p.hint("the first line must name the columns: to,<your variables...>"));
        return None;
    };
    if col("last_inbound_at").is_some() {
        let p = Problem::new(
            place(1, Some("last_inbound_at")),
            "a joined CSV cannot set `last_inbound_at`: the inbox gives each user's latest message time",
        );
        l.problems.push(p.hint("remove the column, or take recipients from the CSV alone with `recipients: { file: … }`"));
        return None;
    }
    let country = col("country");
    let vars: Vec<usize> = (0..header.len()).filter(|&i| i != to).collect();
    let names: Arc<[String]> = vars.iter().map(|&i| header[i].clone()).collect();
    let mut rows: FxHashMap<UserId, Vec<String>> = FxHashMap::default();
    let mut first_line: FxHashMap<UserId, u64> = FxHashMap::default();
    for (line, rec) in reader {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let p = Problem::new(
                    place(line, None),
                    format!("malformed CSV row: {}", csv_error(&e)),
                );
                l.problems.push(p.hint(csv_hint(&e)));
                continue;
            }
        };
        let row_country = match country.and_then(|c| rec.get(c)).filter(|c| !c.is_empty()) {
            None => Ok(default_country),
            Some(c) => c
                .parse::<Country>()
                .map(Some)
                .map_err(|e| (String::from(e), "country")),
        };
        // A row naming a linked id joins the phone number the inbox knows for it.
        let number = row_country
            .and_then(|c| {
                UserId::parse_in(rec.get(to).unwrap_or(""), c).map_err(|e| (String::from(e), "to"))
            })
            .map(|id| {
                id.bsuid()
                    .and_then(|b| links.get(&b))
                    .map_or(id, |p| UserId::from(*p))
            });
        match number {
            Err((e, column)) => l.problems.push(Problem::new(place(line, Some(column)), e)),
            Ok(p) => {
                if let Some(first) = first_line.get(&p) {
                    let w = Problem::warning(
                        place(line, Some("to")),
                        format!("{p} is also on line {first}, the row joined; this row is ignored"),
                    );
                    warnings.push(w.hint("remove the repeated row"));
                    continue;
                }
                first_line.insert(p, line);
                let values = vars.iter().map(|&i| rec.get(i).unwrap_or("").to_string());
                rows.insert(p, values.collect());
            }
        }
    }
    Some(Joined { names, rows })
}
