//! Standard `RateLimit` fields (IETF drafts ≤06, 07 and 08–10): field text → quota facts.
//!
//! Parsed with `sfv` (RFC 8941 structured fields). Where the provider deviates from the
//! grammar (`2;w= 300`, `ratelimit-reset: 5m0s`) a tolerant second try reads the value; a field
//! that still does not parse is discarded, as the drafts require.

use std::time::Duration;

use sfv::{BareItem, Item, ListEntry, Parser};

use super::duration::parse_go_duration;

/// What the standard fields say; every part optional because servers send any subset.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Standard {
    pub limit: Option<u32>,
    pub window: Option<Duration>,
    pub remaining: Option<u32>,
    pub reset: Option<Duration>,
    /// How coarsely `reset` was written: 1 s for whole delta seconds (every draft's Integer),
    /// zero for the provider's Go durations (milliseconds, as written).
    pub reset_resolution: Duration,
}

/// Whole delta seconds: a server that rounds up writes `1` for anything in (0, 1] s.
const WHOLE_SECONDS: Duration = Duration::from_secs(1);

/// One `RateLimit-Policy` entry: `10;w=1` (≤07) or `"burst";q=100;w=60` (08+).
#[derive(Debug, Clone, PartialEq)]
struct Policy {
    name: Option<String>,
    quota: u32,
    window: Option<Duration>,
}

/// One draft-08+ `RateLimit` item: `"burst";r=0;t=30`.
#[derive(Debug, Clone)]
struct ServiceLimit {
    name: Option<String>,
    remaining: u32,
    reset: Option<Duration>,
}

/// Reads the standard fields; `get` returns a field's (joined) value by lower-case name.
pub fn parse_standard<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Standard {
    let policies = get("ratelimit-policy")
        .map(parse_policies)
        .unwrap_or_default();
    let mut out = Standard::default();
    if let Some(value) = get("ratelimit") {
        if !apply_draft07(value, &mut out) {
            apply_draft10(value, &policies, &mut out);
        }
    }
    // Draft ≤06 separate fields; they only fill what the combined field did not say.
    out.limit = out
        .limit
        .or_else(|| get("ratelimit-limit").and_then(parse_limit_field));
    out.remaining = out
        .remaining
        .or_else(|| get("ratelimit-remaining").and_then(parse_count_item));
    if out.reset.is_none() {
        if let Some((reset, resolution)) = get("ratelimit-reset").and_then(parse_reset_field) {
            (out.reset, out.reset_resolution) = (Some(reset), resolution);
        }
    } else {
        out.reset_resolution = WHOLE_SECONDS;
    }
    if out.window.is_none() {
        pick_policy(&policies, &mut out);
    }
    out
}

/// Fills limit/window from the policy matching the limit, else from the most restrictive one.
fn pick_policy(policies: &[Policy], out: &mut Standard) {
    let chosen = match out.limit {
        Some(limit) => policies.iter().find(|p| p.quota == limit),
        None => most_restrictive(policies),
    };
    if let Some(p) = chosen {
        out.limit = Some(p.quota);
        out.window = p.window;
    }
}

/// Lowest quota per second among policies with a window; without windows, the lowest quota.
fn most_restrictive(policies: &[Policy]) -> Option<&Policy> {
    let per_sec = |p: &&Policy| p.window.map(|w| f64::from(p.quota) / w.as_secs_f64());
    let windowed = policies
        .iter()
        .filter(|p| p.window.is_some())
        .min_by(|a, b| {
            per_sec(a)
                .partial_cmp(&per_sec(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    windowed.or_else(|| policies.iter().min_by_key(|p| p.quota))
}

/// Parses an SF List, retrying without the spaces after `=` that the provider note shows.
fn parse_list_tolerant(value: &str) -> Option<Vec<ListEntry>> {
    Parser::parse_list(value.as_bytes()).ok().or_else(|| {
        let squeezed = squeeze_after_equals(value);
        Parser::parse_list(squeezed.as_bytes()).ok()
    })
}

fn squeeze_after_equals(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut after_eq = false;
    for c in value.chars() {
        if after_eq && c == ' ' {
            continue;
        }
        after_eq = c == '=';
        out.push(c);
    }
    out
}

fn parse_policies(value: &str) -> Vec<Policy> {
    let entries = parse_list_tolerant(value).unwrap_or_default();
    entries.iter().filter_map(policy_from_entry).collect()
}

fn policy_from_entry(entry: &ListEntry) -> Option<Policy> {
    let ListEntry::Item(item) = entry else {
        return None;
    };
    let window = match item.params.get("w") {
        Some(w) => Some(Duration::from_secs(positive(w)?.into())),
        None => None,
    };
    match &item.bare_item {
        // Drafts ≤07: the quota is the item itself.
        BareItem::Integer(_) => Some(Policy {
            name: None,
            quota: positive(&item.bare_item)?,
            window,
        }),
        // Drafts 08+: a named policy; byte or concurrency quotas do not pace requests.
        BareItem::String(_) | BareItem::Token(_) => {
            let unit = item
                .params
                .get("qu")
                .and_then(|u| u.as_str().or_else(|| u.as_token()));
            if unit.is_some_and(|u| u != "requests") {
                return None;
            }
            let quota = positive(item.params.get("q")?)?;
            Some(Policy {
                name: name_of(item),
                quota,
                window,
            })
        }
        _ => None,
    }
}

/// Draft-07 `RateLimit: limit=100, remaining=50, reset=5`; false when the field is not that form.
fn apply_draft07(value: &str, out: &mut Standard) -> bool {
    let Ok(dict) = Parser::parse_dictionary(value.as_bytes()) else {
        return false;
    };
    let int = |key: &str| match dict.get(key) {
        Some(ListEntry::Item(item)) => item.bare_item.as_int(),
        _ => None,
    };
    if !["limit", "remaining", "reset"]
        .iter()
        .any(|k| dict.contains_key(*k))
    {
        return false;
    }
    out.limit = int("limit")
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0);
    out.remaining = int("remaining").map(clamp_count);
    out.reset = int("reset").map(|v| Duration::from_secs(u64::try_from(v).unwrap_or(0)));
    true
}

/// Drafts 08–10 `RateLimit: "burst";r=0;t=30, ...`: takes the most restrictive item and the
/// policy of the same name.
fn apply_draft10(value: &str, policies: &[Policy], out: &mut Standard) {
    let entries = parse_list_tolerant(value).unwrap_or_default();
    let items = entries.iter().filter_map(|e| match e {
        ListEntry::Item(item) => service_limit(item),
        ListEntry::InnerList(_) => None,
    });
    // Fewest remaining first; among equals, the one that stays blocked longest.
    let Some(worst) = items.min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset))) else {
        return;
    };
    out.remaining = Some(worst.remaining);
    out.reset = worst.reset;
    let matched = policies
        .iter()
        .find(|p| p.name.is_some() && p.name == worst.name);
    if let Some(p) = matched.or_else(|| most_restrictive(policies)) {
        out.limit = Some(p.quota);
        out.window = p.window;
    }
}

fn service_limit(item: &Item) -> Option<ServiceLimit> {
    let remaining = item.params.get("r")?.as_int().map(clamp_count)?;
    let reset = item
        .params
        .get("t")
        .and_then(BareItem::as_int)
        .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(0)));
    Some(ServiceLimit {
        name: name_of(item),
        remaining,
        reset,
    })
}

fn name_of(item: &Item) -> Option<String> {
    let bare = &item.bare_item;
    bare.as_str()
        .or_else(|| bare.as_token())
        .map(str::to_string)
}

/// `RateLimit-Limit`: an Integer; early drafts appended policies (`10, 10;w=1`), so take the first.
fn parse_limit_field(value: &str) -> Option<u32> {
    match parse_list_tolerant(value)?.first()? {
        ListEntry::Item(item) => positive(&item.bare_item),
        ListEntry::InnerList(_) => None,
    }
}

fn parse_count_item(value: &str) -> Option<u32> {
    let item = Parser::parse_item(value.as_bytes()).ok()?;
    item.bare_item.as_int().map(clamp_count)
}

/// `RateLimit-Reset`: delta seconds per the drafts, or a Go duration as the provider sends it;
/// with the resolution it was written in.
fn parse_reset_field(value: &str) -> Option<(Duration, Duration)> {
    if let Ok(item) = Parser::parse_item(value.as_bytes()) {
        if let Some(secs) = item.bare_item.as_int() {
            let reset = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
            return Some((reset, WHOLE_SECONDS));
        }
    }
    // The provider's Go durations carry milliseconds: kept as written, as rounding them up to
    // whole seconds held every burst back by up to a second past the window (0.86 of the pace
    // at 4/2s); the pacer adds its margin.
    parse_go_duration(value).map(|reset| (reset, Duration::ZERO))
}

/// A quota or window must be at least 1 to mean anything.
fn positive(bare: &BareItem) -> Option<u32> {
    bare.as_int()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
}

fn clamp_count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}
