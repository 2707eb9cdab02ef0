//! Recipients from the inbox: a webhook log (JSON lines, read through `webhook::parse_line`) →
//! one recipient per user who wrote within `since`, with `to`, `last_inbound_at` and `name` from
//! their latest message (the provider's timestamp, not the file order), plus the columns of an
//! optional CSV joined by number.

mod join;
mod log;

use super::load::Loader;
use super::recipients::{find_duplicates, find_future, Keep, Raw, Rejected};
use super::{Bsuid, Country, Origin, Phone, Recipient, UserId};
use crate::diag::{did_you_mean, Place, Problem};
use crate::identity::IdError;
use crate::template::Vars;
use crate::webhook::Inbound;
use jiff::{SignedDuration, Timestamp};
use minijinja::Value;
use rustc_hash::FxHashMap;
use serde_yaml_ng::Mapping;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The keys of `recipients: { inbox: … }`.
pub(super) const KEYS: [&str; 4] = ["inbox", "since", "join", "default_country"];

/// `recipients: { inbox: PATH, since: 24h, join: extra.csv, default_country: US }`, validated.
pub(super) struct Spec {
    pub path: PathBuf,
    pub since: SignedDuration,
    pub join: Option<PathBuf>,
    pub default_country: Option<Country>,
}

/// Read the `recipients:` mapping of the inbox form; `since` defaults to the window's length.
pub(super) fn spec(l: &mut Loader, m: &Mapping, window: Option<SignedDuration>) -> Option<Spec> {
    if let Some(k) = m
        .keys()
        .map(|k| k.as_str().unwrap_or("?"))
        .find(|k| !KEYS.contains(k))
    {
        let hint = match k {
            "file" => "take recipients from the inbox or from a CSV, not both; a CSV of extra columns is `join:`".to_string(),
            _ => did_you_mean(k, KEYS).unwrap_or(format!("known keys: {}", KEYS.join(", "))),
        };
        l.error(
            &format!("recipients.{k}"),
            format!("unknown key `{k}`"),
            Some(hint),
        );
        return None;
    }
    let base = l.file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let inbox: String = l.parse("recipients.inbox", m.get("inbox")?)?;
    let since = match m.get("since") {
        None => window.unwrap_or(SignedDuration::from_hours(24)),
        Some(v) => {
            let raw: String = l.parse("recipients.since", v)?;
            match crate::duration::parse_positive(&raw)
                .ok()
                .and_then(|d| SignedDuration::try_from(d).ok())
            {
                Some(d) => d,
                None => {
                    let hint = format!(
                        "write how far back users count, {}; 24h is the WhatsApp window",
                        crate::duration::EXAMPLES
                    );
                    let e = format!("`{raw}` is not a duration longer than zero");
                    l.error("recipients.since", e, Some(hint));
                    return None;
                }
            }
        }
    };
    let join = match m.get("join") {
        None => None,
        Some(v) => Some(base.join(l.parse::<String>("recipients.join", v)?)),
    };
    let default_country = match m.get("default_country") {
        None => None,
        Some(v) => {
            let raw: String = l.parse("recipients.default_country", v)?;
            match raw.parse::<Country>() {
                Ok(c) => Some(c),
                Err(e) => {
                    l.error("recipients.default_country", e, None);
                    return None;
                }
            }
        }
    };
    Some(Spec {
        path: base.join(inbox),
        since,
        join,
        default_country,
    })
}

/// One user's latest inbound message so far.
struct Latest {
    to: UserId,
    at: i64,
    line: u64,
    /// The latest profile name and its message's time.
    name: Option<(i64, String)>,
}

/// The inbox's users who wrote within `since` of `now`, as recipients in the order they first
/// appear in the file.
pub(super) fn recipients(l: &mut Loader, spec: &Spec, now: Timestamp) -> Option<Raw> {
    let messages = log::read(l, &spec.path)?;
    let mut raw = Raw {
        csv: Some(spec.path.clone()),
        default_country: spec.default_country,
        ..Raw::default()
    };
    let links = links(&messages);
    let mut users: Vec<Latest> = Vec::new();
    let mut index: FxHashMap<UserId, usize> = FxHashMap::default();
    for (line, m) in messages {
        let Some(to) = identity(l, &mut raw, &spec.path, line, &m, &links) else {
            continue;
        };
        let name = m.profile_name.map(|n| (m.at, n));
        let i = *index.entry(to).or_insert_with(|| {
            users.push(Latest {
                to,
                at: i64::MIN,
                line,
                name: None,
            });
            users.len() - 1
        });
        let u = &mut users[i];
        // A tie in time goes to the later line: the provider's order is all there is then.
        if m.at >= u.at {
            (u.at, u.line) = (m.at, line);
        }
        if let Some((at, n)) = name.filter(|(at, _)| u.name.as_ref().is_none_or(|(t, _)| at >= t)) {
            u.name = Some((at, n));
        }
    }
    let oldest = now.checked_sub(spec.since).unwrap_or(Timestamp::MIN);
    let joined = match &spec.join {
        Some(path) => Some(join::join(
            l,
            &mut raw.warnings,
            path,
            spec.default_country,
            &links,
        )?),
        None => None,
    };
    let (names, name_col) = match &joined {
        Some(j) => match j.names.iter().position(|n| n == "name") {
            Some(i) => (j.names.clone(), i),
            None => (prepend_name(&j.names), 0),
        },
        None => (Arc::from(vec!["name".to_string()]), 0),
    };
    for u in users {
        let Ok(last_inbound_at) = Timestamp::from_second(u.at) else {
            continue;
        };
        if last_inbound_at < oldest {
            continue;
        }
        let profile = u.name.map(|(_, n)| n).unwrap_or_default();
        let values = match &joined {
            Some(j) => {
                let row = j.rows.get(&u.to);
                let mut values: Vec<Value> = Vec::with_capacity(names.len());
                if names.len() > j.names.len() {
                    values.push(Value::from(profile.as_str()));
                }
                match row {
                    Some(row) => values.extend(row.iter().map(|v| Value::from(v.as_str()))),
                    None => values.extend(j.names.iter().map(|_| Value::from(""))),
                }
                // The CSV's own `name` wins where it has one: the operator wrote it on purpose.
                if values[name_col].as_str().is_none_or(str::is_empty) {
                    values[name_col] = Value::from(profile.as_str());
                }
                values
            }
            None => vec![Value::from(profile)],
        };
        raw.recipients.push(Recipient {
            to: u.to,
            last_inbound_at,
            vars: Vars {
                names: names.clone(),
                values: values.into(),
            },
            origin: Origin::Inbox(u.line),
        });
    }
    raw.var_names = names.to_vec();
    let file = spec.path.display().to_string();
    find_future(l, &mut raw, now);
    find_duplicates(l, &mut raw, Keep::default(), |o| match o {
        Origin::Inbox(line) | Origin::Csv(line) => format!("{file}:{line}"),
        Origin::Inline(i) => format!("recipients[{i}]"),
    });
    Some(raw)
}

fn prepend_name(names: &[String]) -> Arc<[String]> {
    std::iter::once("name".to_string())
        .chain(names.iter().cloned())
        .collect()
}

/// Business-scoped ids that the inbox links to a phone number: a message that carries both
/// (`from` and `from_user_id`, or its contact's `user_id`) says they are one person.
fn links(messages: &[(u64, Inbound)]) -> FxHashMap<Bsuid, Phone> {
    messages
        .iter()
        .filter_map(|(_, m)| {
            let phone = Phone::parse(m.from.as_deref()?).ok()?;
            Some((Bsuid::parse(m.from_user_id.as_deref()?).ok()?, phone))
        })
        .collect()
}

/// Whom an inbound message is from: the phone number when the message or a link gives one (one
/// person is one recipient, and the phone is what every provider can send to), else the
/// business-scoped id; `None` (reported) when neither can be read.
fn identity(
    l: &mut Loader,
    raw: &mut Raw,
    file: &Path,
    line: u64,
    m: &Inbound,
    links: &FxHashMap<Bsuid, Phone>,
) -> Option<UserId> {
    let (written, parsed) = match (m.from.as_deref(), m.from_user_id.as_deref()) {
        (Some(from), _) => (
            from,
            Phone::parse(from).map(UserId::from).map_err(IdError::from),
        ),
        (None, Some(id)) => (
            id,
            Bsuid::parse(id)
                .map_err(IdError::from)
                .map(|b| match links.get(&b) {
                    Some(p) => UserId::from(*p),
                    None => UserId::from(b),
                }),
        ),
        // The parser refuses a message without a sender.
        (None, None) => return None,
    };
    match parsed {
        Ok(to) => Some(to),
        Err(e) => {
            let place = Place::Csv {
                file: file.to_path_buf(),
                line,
                column: None,
            };
            let mut p = Problem::new(
                place,
                format!("the sender of message {}: {e}", m.message_id),
            );
            p.per_recipient = true;
            l.problems.push(p);
            raw.rejected.push(Rejected {
                origin: Origin::Inbox(line),
                to: written.to_string(),
                reason: e.to_string(),
            });
            None
        }
    }
}
