//! Loading: campaign YAML → `Campaign`, collecting every problem with its place instead of
//! stopping at the first. Sections are read one by one; a broken message is left out and the
//! rest is still checked, so one run reports everything.
//!
//! The YAML parser is serde_yaml_ng, the maintained fork of the deprecated serde_yaml: the same
//! `Value` tree and the same errors with line and column, so every diagnostic reads as before.
//! serde-saphyr was the other candidate (its spans could replace the second pass in
//! `positions.rs`), but it deserializes straight into typed values with its own error texts,
//! while loading here goes section by section over a `Value` so that one broken section does not
//! hide the others: the swap would have rewritten every message for no gain in what users see.

use super::node::{DeError, DeProblem, Node};
use super::recipients::{self, Keep, Raw};
use super::spec::{InlineRecipient, MessageSpec, WindowSpec, TOP_LEVEL};
use super::{Campaign, Country, FieldTemplate, Msg, Phone, Positions, UserId, Window};
use crate::diag::{did_you_mean, Place, Problem, Problems};
use crate::message::Message;
use crate::provider::{check_base_url, Account, Provider, ProviderSpec, Wire};
use crate::ratelimit::Rate;
use crate::template::{Templates, Vars, BUILTIN_VARS};
use jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Load and validate a campaign file. The campaign is returned whenever its essentials could be
/// read, even with problems, so later stages can still render and report theirs.
pub fn load(path: &Path, now: Timestamp) -> (Option<Campaign>, Problems) {
    let mut l = Loader {
        // From stdin, places say `<stdin>` and relative paths resolve against the current
        // directory (the parent of a bare name is the empty path).
        file: super::source::display_path(path),
        source: path.to_path_buf(),
        positions: Positions::default(),
        problems: Problems::default(),
        reported: Default::default(),
        recipient_fields: Default::default(),
    };
    let campaign = l.load(now);
    (campaign, l.problems)
}

pub(super) struct Loader {
    pub file: PathBuf,
    /// What to read: a path, or `-` for stdin.
    source: PathBuf,
    positions: Positions,
    pub problems: Problems,
    /// Template paths already reported (see `Campaign::reported`).
    reported: std::collections::HashSet<String>,
    /// See `Campaign::recipient_fields`.
    recipient_fields: std::collections::HashSet<String>,
}

impl Loader {
    pub fn place(&self, path: &str) -> Place {
        Place::Yaml {
            file: self.file.clone(),
            path: path.to_string(),
            line: self.positions.find(path),
        }
    }

    /// What relative paths in the campaign are relative to, as hints say it.
    pub fn relative_to(&self) -> &'static str {
        if super::source::is_stdin(&self.source) {
            "the current directory (the campaign came from stdin)"
        } else {
            "the campaign file"
        }
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut p = Problem::new(self.place(path), message);
        p.hint = hint;
        self.problems.push(p);
    }

    fn load(&mut self, now: Timestamp) -> Option<Campaign> {
        let source = match super::source::read(&self.source) {
            Ok(s) => s,
            Err(e) => {
                let place = Place::File {
                    file: self.file.clone(),
                };
                self.problems.push(Problem::new(place, e));
                return None;
            }
        };
        if let Some(line) = super::source::too_deep(&source) {
            let place = Place::Yaml {
                file: self.file.clone(),
                path: "(syntax)".into(),
                line: Some(line),
            };
            self.problems.push(
                Problem::new(
                    place,
                    format!(
                        "brackets nested more than {} deep",
                        super::source::MAX_NESTING
                    ),
                )
                .hint("a campaign needs a few levels; close the brackets opened before this one"),
            );
            return None;
        }
        let root: Value = match serde_yaml_ng::from_str(&source) {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map(|l| (l.line(), l.column()));
                let place = Place::Yaml {
                    file: self.file.clone(),
                    path: "(syntax)".into(),
                    line,
                };
                self.problems.push(
                    Problem::new(place, format!("invalid YAML: {e}"))
                        .hint("fix the YAML syntax at this place"),
                );
                return None;
            }
        };
        self.positions = Positions::index(&source);
        let Some(map) = root.as_mapping() else {
            self.error(
                "",
                "the campaign file must be a mapping of keys (version, name, provider, ...)",
                None,
            );
            return None;
        };
        self.campaign(map, now)
    }

    fn campaign(&mut self, map: &Mapping, now: Timestamp) -> Option<Campaign> {
        for key in map.keys() {
            let k = key.as_str().unwrap_or("?");
            if !TOP_LEVEL.contains(&k) {
                let hint = did_you_mean(k, TOP_LEVEL)
                    .or(Some(format!("known keys: {}", TOP_LEVEL.join(", "))));
                self.error(k, format!("unknown key `{k}`"), hint);
            }
        }
        let version: Option<u32> = self.required(map, "version");
        if version.is_some_and(|v| v != 1) {
            self.error(
                "version",
                "unsupported format version",
                Some("this sessioncast reads `version: 1`".into()),
            );
        }
        let name: Option<String> = self.required(map, "name");
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.error(
                "name",
                "the name is empty",
                Some("name the campaign, e.g. `name: order-followup`".into()),
            );
        }
        let provider = self.provider(map);
        let rate = self.rate(map);
        let window = self.window(map);
        let vars = self.vars(map.get("vars"), "vars").map(Arc::new);
        let mut templates = Templates::new(self.templates_dir(map).as_deref());
        let raw = self.recipients(map, now, window.map(|w| w.length));
        let messages = self.messages(map, &mut templates, vars.as_deref(), raw.as_ref());
        let not_after = self.not_after(map);
        let country = raw.as_ref().and_then(|r| r.default_country);
        let suppress = self.suppress(map, country);
        let mut raw = raw?;
        if provider
            .as_ref()
            .is_some_and(|p| p.wire() == Wire::Messangi)
        {
            recipients::refuse_bsuids(self, &mut raw);
        }
        Some(Campaign {
            file: self.file.clone(),
            name: name?,
            provider: provider?,
            rate: rate?,
            window: window?,
            vars: vars?,
            messages,
            recipients: raw.recipients,
            recipients_csv: raw.csv,
            rejected: raw.rejected,
            duplicates: raw.duplicates,
            repeats: raw.repeats,
            templates,
            suppress,
            not_after,
            warnings: raw.warnings,
            positions: std::mem::take(&mut self.positions),
            reported: std::mem::take(&mut self.reported),
            recipient_fields: std::mem::take(&mut self.recipient_fields),
        })
    }

    /// Deserialize the value at `path`, turning serde's error into a placed problem.
    pub fn parse<T: DeserializeOwned>(&mut self, path: &str, value: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(Node::<DeError>::new(value)) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let at = match inner.as_str() {
                    "." | "" => path.to_string(),
                    rest if path.is_empty() => rest.to_string(),
                    rest if rest.starts_with('[') => format!("{path}{rest}"),
                    rest => format!("{path}.{rest}"),
                };
                self.serde_problem(&at, value, e.into_inner());
                None
            }
        }
    }

    fn required<T: DeserializeOwned>(&mut self, map: &Mapping, key: &str) -> Option<T> {
        match map.get(key) {
            Some(v) => self.parse(key, v),
            None => {
                self.error(
                    "",
                    format!("missing `{key}`"),
                    Some(format!("add `{key}:` at the top level")),
                );
                None
            }
        }
    }

    /// Place serde's problem precisely and add a hint: unknown fields and variants get the
    /// closest valid name, a missing field says what to add.
    fn serde_problem(&mut self, at: &str, value: &Value, e: DeError) {
        let closest = |wrong: &str, expected: &[&str]| {
            did_you_mean(wrong, expected.iter().copied()).or_else(|| {
                (!expected.is_empty()).then(|| format!("expected one of: {}", expected.join(", ")))
            })
        };
        let mut path = at.to_string();
        let hint = match &e.problem {
            DeProblem::UnknownField { field, expected } => {
                // Inside tagged enums serde loses the path (it stops at the enum); find the key
                // in the value then. Elsewhere the path already ends at the key.
                let tracked = at == field.as_str() || at.ends_with(&format!(".{field}"));
                if let Some(sub) = find_key(value, field, "").filter(|_| !tracked) {
                    path = join(at_root(at), &sub);
                }
                closest(field, expected)
            }
            DeProblem::UnknownVariant { variant, expected } => closest(variant, expected),
            DeProblem::MissingField { field } => Some(format!("add `{field}:`")),
            DeProblem::Other => None,
        };
        self.error(&path, e.message(), hint);
    }

    fn provider(&mut self, map: &Mapping) -> Option<Provider> {
        let spec: ProviderSpec = self.required(map, "provider")?;
        let (base_url, token_env, wire) = match spec {
            ProviderSpec::Messangi(m) => {
                let from = match Phone::parse(&m.from) {
                    Ok(p) => Some(p.digits()),
                    Err(e) => {
                        self.error(
                            "provider.from",
                            e,
                            Some("the sender number registered for WhatsApp".into()),
                        );
                        None
                    }
                };
                (
                    m.base_url,
                    m.token_env,
                    from.map(|from| Account::Messangi {
                        from,
                        callbacks: m.callbacks,
                    }),
                )
            }
            ProviderSpec::CloudApi(c) => {
                if c.phone_number_id.is_empty()
                    || !c.phone_number_id.chars().all(|ch| ch.is_ascii_digit())
                {
                    self.error(
                        "provider.phone_number_id",
                        format!("`{}` is not a phone number id", c.phone_number_id),
                        Some("copy the numeric id from WhatsApp Manager".into()),
                    );
                }
                let api_version = c
                    .api_version
                    .unwrap_or_else(|| crate::provider::DEFAULT_API_VERSION.to_string());
                if !api_version.starts_with('v') || api_version[1..].parse::<f32>().is_err() {
                    self.error(
                        "provider.api_version",
                        format!("`{api_version}` is not a Graph API version"),
                        Some("write e.g. v23.0".into()),
                    );
                }
                (
                    c.base_url,
                    c.token_env,
                    Some(Account::CloudApi {
                        api_version,
                        phone_number_id: c.phone_number_id,
                    }),
                )
            }
        };
        let base_url = check_base_url(&base_url)
            .map_err(|e| self.error("provider.base_url", e, None))
            .ok();
        let env_ok = !token_env.is_empty()
            && token_env
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !token_env.starts_with(|c: char| c.is_ascii_digit());
        if !env_ok {
            self.error(
                "provider.token_env",
                format!("`{token_env}` is not an environment variable name"),
                Some("give the NAME of the variable that holds the token, e.g. MESSANGI_API_KEY; never the token itself".into()),
            );
        }
        Some(Provider {
            account: wire?,
            base_url: base_url?,
            token_env,
        })
    }

    fn rate(&mut self, map: &Mapping) -> Option<Rate> {
        let raw: String = self.required(map, "rate")?;
        raw.parse::<Rate>()
            .map_err(|e| self.error("rate", e.to_string(), None))
            .ok()
    }

    fn window(&mut self, map: &Mapping) -> Option<Window> {
        let spec: WindowSpec = match map.get("window") {
            Some(v) => self.parse("window", v)?,
            None => WindowSpec::default(),
        };
        let mut duration =
            |key: &str, raw: Option<String>, default: u64| -> Option<SignedDuration> {
                let Some(raw) = raw else {
                    return Some(SignedDuration::from_secs(default as i64));
                };
                match crate::duration::parse(&raw)
                    .ok()
                    .and_then(|d| SignedDuration::try_from(d).ok())
                {
                    Some(d) => Some(d),
                    None => {
                        self.error(
                            &format!("window.{key}"),
                            format!("`{raw}` is not a duration"),
                            Some(format!("write {}", crate::duration::EXAMPLES)),
                        );
                        None
                    }
                }
            };
        let length = duration("length", spec.length, 24 * 3600)?;
        let margin = duration("margin", spec.margin, 600)?;
        if margin >= length {
            self.error(
                "window.margin",
                "the margin is as long as the window itself",
                Some("keep the margin shorter than `window.length`".into()),
            );
            return None;
        }
        Some(Window { length, margin })
    }

    /// Variables from a YAML mapping (campaign `vars:` or an inline recipient's).
    pub fn vars(&mut self, value: Option<&Value>, path: &str) -> Option<Vars> {
        let Some(v) = value else {
            return Some(Vars::default());
        };
        let map: BTreeMap<String, serde_json::Value> = self.parse(path, v)?;
        let (names, values): (Vec<String>, Vec<minijinja::Value>) = map
            .into_iter()
            .map(|(k, v)| (k, minijinja::Value::from(minijinja::value::Serde(&v))))
            .unzip();
        Some(Vars {
            names: names.into(),
            values: values.into(),
        })
    }

    fn templates_dir(&mut self, map: &Mapping) -> Option<PathBuf> {
        let base = self.file.parent().unwrap_or(Path::new(".")).to_path_buf();
        match map.get("templates") {
            Some(v) => {
                let rel: String = self.parse("templates", v)?;
                let dir = base.join(&rel);
                if !dir.is_dir() {
                    self.error(
                        "templates",
                        format!("`{}` is not a folder", dir.display()),
                        Some(format!(
                            "give the template folder relative to {}",
                            self.relative_to()
                        )),
                    );
                    return None;
                }
                Some(dir)
            }
            // Campaigns usually live in `campaigns/` beside the project's `templates/`.
            None => [base.join("templates"), base.join("../templates")]
                .into_iter()
                .find(|d| d.is_dir()),
        }
    }

    fn recipients(
        &mut self,
        map: &Mapping,
        now: Timestamp,
        window: Option<SignedDuration>,
    ) -> Option<Raw> {
        let Some(v) = map.get("recipients") else {
            self.error(
                "",
                "missing `recipients`",
                Some("add an inline list or `recipients: {file: recipients.csv}`".into()),
            );
            return None;
        };
        match v {
            Value::Sequence(items) => {
                let parsed: Vec<Option<(InlineRecipient, Option<Vars>)>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = format!("recipients[{i}]");
                        let r: InlineRecipient = self.parse(&path, item)?;
                        let vars = self.vars(item.get("vars"), &format!("{path}.vars"));
                        Some((r, vars))
                    })
                    .collect();
                Some(recipients::inline(self, parsed, now))
            }
            Value::Mapping(m) if m.contains_key("inbox") => {
                let spec = super::inbox::spec(self, m, window)?;
                super::inbox::recipients(self, &spec, now)
            }
            Value::Mapping(m) => {
                let allowed = ["file", "default_country", "duplicates"];
                if let Some(k) = m
                    .keys()
                    .map(|k| k.as_str().unwrap_or("?"))
                    .find(|k| !allowed.contains(k))
                {
                    let candidates = allowed.iter().chain(&super::inbox::KEYS).copied();
                    let hint = if super::inbox::KEYS.contains(&k) {
                        Some(format!("`{k}` belongs to recipients from the inbox: `recipients: {{ inbox: webhooks.jsonl, {k}: … }}`"))
                    } else {
                        did_you_mean(k, candidates)
                            .or(Some(format!("known keys: {}", allowed.join(", "))))
                    };
                    self.error(
                        &format!("recipients.{k}"),
                        format!("unknown key `{k}`"),
                        hint,
                    );
                    return None;
                }
                let file: String = match m.get("file") {
                    Some(f)
                        if m.keys()
                            .all(|k| allowed.contains(&k.as_str().unwrap_or(""))) =>
                    {
                        self.parse("recipients.file", f)?
                    }
                    _ => {
                        self.error(
                            "recipients",
                            "expected an inline list or `{file: PATH}` (with optional `default_country`, `duplicates`)",
                            Some("write `recipients: {file: recipients.csv}`".into()),
                        );
                        return None;
                    }
                };
                let country = match m.get("default_country") {
                    None => None,
                    Some(v) => {
                        let raw: String = self.parse("recipients.default_country", v)?;
                        match raw.parse::<Country>() {
                            Ok(c) => Some(c),
                            Err(e) => {
                                self.error("recipients.default_country", e, None);
                                return None;
                            }
                        }
                    }
                };
                let keep = match m.get("duplicates") {
                    None => Keep::default(),
                    Some(v) => {
                        let raw: String = self.parse("recipients.duplicates", v)?;
                        match raw.parse::<Keep>() {
                            Ok(k) => k,
                            Err(e) => {
                                self.error("recipients.duplicates", e, None);
                                return None;
                            }
                        }
                    }
                };
                let path = self.file.parent().unwrap_or(Path::new(".")).join(file);
                recipients::csv(self, &path, country, keep, now)
            }
            _ => {
                self.error(
                    "recipients",
                    "expected an inline list or `{file: PATH}`",
                    None,
                );
                None
            }
        }
    }

    fn messages(
        &mut self,
        map: &Mapping,
        templates: &mut Templates,
        vars: Option<&Vars>,
        raw: Option<&Raw>,
    ) -> Vec<Msg> {
        let items = match map.get("messages") {
            Some(Value::Sequence(items)) if !items.is_empty() => items,
            Some(_) => {
                self.error(
                    "messages",
                    "expected a list of one or more messages",
                    Some("add `- type: text` with a `body:`".into()),
                );
                return Vec::new();
            }
            None => {
                self.error(
                    "",
                    "missing `messages`",
                    Some("add `messages:` with at least one message".into()),
                );
                return Vec::new();
            }
        };
        let mut known: BTreeSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
        known.extend(vars.iter().flat_map(|v| v.names.iter().cloned()));
        known.extend(raw.iter().flat_map(|r| r.var_names.iter().cloned()));
        // What differs between recipients: their own variables and their number.
        let own: BTreeSet<String> = raw
            .iter()
            .flat_map(|r| r.var_names.iter().cloned())
            .chain(BUILTIN_VARS.iter().map(|s| s.to_string()))
            .collect();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("messages[{i}]");
            if let Some(spec) = self.parse::<MessageSpec>(&path, item) {
                let (field_templates, reply_template) =
                    self.compile(&path, &spec, templates, &known, &own);
                out.push(Msg {
                    index: i,
                    when: spec.when,
                    reply_to: spec.reply_to,
                    message: spec.message,
                    field_templates,
                    reply_template,
                });
            }
        }
        out
    }

    /// Compile every template of one message and check the variables it uses exist somewhere.
    fn compile(
        &mut self,
        path: &str,
        spec: &MessageSpec,
        templates: &mut Templates,
        known: &BTreeSet<String>,
        own: &BTreeSet<String>,
    ) -> (Vec<FieldTemplate>, Option<String>) {
        let mut found = Vec::new();
        if let Some(w) = &spec.when {
            found.push((format!("{path}.when"), templates.add_condition(w)));
        }
        let mut reply = None;
        if let Some(r) = spec
            .reply_to
            .as_deref()
            .filter(|r| crate::template::is_template(r))
        {
            let p = format!("{path}.reply_to");
            found.push((p.clone(), templates.add(&p, r)));
            reply = templates.name_of(r);
        }
        let mut message: Message = spec.message.clone();
        let mut fields = Vec::new();
        message.kind_mut().visit(&mut |seg, s| {
            if crate::template::is_template(s) {
                let p = format!("{path}.{}", crate::message::path_string(seg));
                found.push((p.clone(), templates.add(&p, s)));
                // Bound by the field's path: rendering looks the field up by it, so no field can
                // receive another's template whatever order `visit` walks them in.
                if let Some(name) = templates.name_of(s) {
                    fields.push(FieldTemplate {
                        path: seg.to_vec(),
                        name,
                    });
                }
            }
        });
        for (p, result) in found {
            if let Ok(used) = &result {
                if used.iter().any(|v| own.contains(v)) {
                    self.recipient_fields.insert(p.clone());
                }
            }
            if result
                .as_ref()
                .map_or(true, |used| used.iter().any(|v| !known.contains(v)))
            {
                self.reported.insert(p.clone());
            }
            match result {
                Err(e) => self.template_error(&p, &e, templates),
                Ok(used) => {
                    for var in used.iter().filter(|v| !known.contains(*v)) {
                        let hint =
                            did_you_mean(var, known.iter().map(String::as_str)).or_else(|| {
                                Some(format!(
                                    "define `{var}` in `vars:` or as a recipient column; known: {}",
                                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                                ))
                            });
                        self.error(&p, format!("undefined variable `{var}` in template"), hint);
                    }
                }
            }
        }
        (fields, reply)
    }

    fn template_error(&mut self, path: &str, e: &minijinja::Error, templates: &Templates) {
        let detail = e.detail().unwrap_or("").to_string();
        let msg = format!(
            "template error: {}{}",
            e.kind(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        );
        match (
            e.name(),
            e.line(),
            e.name().and_then(|n| templates.file_of(n)),
        ) {
            (Some(name), Some(line), Some(file)) if name != path => {
                self.problems.push(
                    Problem::new(Place::Template { file, line }, msg)
                        .hint(format!("used by {path}")),
                );
            }
            // A condition is an expression, not a template: say so rather than the tag syntax.
            _ if path.ends_with(".when") => self.error(
                path,
                msg,
                Some("a `when:` is one expression, without {{ }} or {% %}: e.g. `lang == \"es\"` or `orders > 2 and vip`".into()),
            ),
            _ => self.error(
                path,
                msg,
                Some("check the template syntax: {{ variable }}, {% if ... %}".into()),
            ),
        }
    }

    fn not_after(&mut self, map: &Mapping) -> Option<Timestamp> {
        let raw: String = self.parse("not_after", map.get("not_after")?)?;
        raw.parse::<Timestamp>()
            .map_err(|_| {
                self.error(
                    "not_after",
                    format!("`{raw}` is not an RFC 3339 time"),
                    Some("write e.g. 2026-11-30T18:00:00Z".into()),
                )
            })
            .ok()
    }

    fn suppress(
        &mut self,
        map: &Mapping,
        country: Option<Country>,
    ) -> std::collections::HashSet<UserId> {
        let Some(v) = map.get("suppress") else {
            return Default::default();
        };
        let Some(rel) = self.parse::<String>("suppress", v) else {
            return Default::default();
        };
        let path = self.file.parent().unwrap_or(Path::new(".")).join(rel);
        recipients::suppress_list(self, &path, country)
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// The message-level prefix of a path such as `messages[1].interactive` → `messages[1]`.
fn at_root(at: &str) -> &str {
    match at.find("].") {
        Some(i) => &at[..=i],
        None => at,
    }
}

/// Path of the first mapping key `key` inside `value`, depth first.
fn find_key(value: &Value, key: &str, prefix: &str) -> Option<String> {
    match value {
        Value::Mapping(m) => {
            if m.contains_key(key) {
                return Some(join(prefix, key));
            }
            m.iter()
                .find_map(|(k, v)| find_key(v, key, &join(prefix, k.as_str().unwrap_or("?"))))
        }
        Value::Sequence(s) => s
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_key(v, key, &format!("{prefix}[{i}]"))),
        Value::Tagged(t) => find_key(&t.value, key, prefix),
        _ => None,
    }
}
