//! Rendering: `Campaign` → `(Requests, Problems)`, once per command. Every recipient's messages
//! are rendered (`when:` evaluated, templates filled in) and checked against the provider's
//! limits; what a recipient gets is kept in `Requests`, which the planner, the preview, the
//! ledger's frozen payloads and the executor all read.

mod problems;
mod repeats;
mod requests;

use crate::campaign::{Campaign, Recipient};
use crate::diag::Problems;
use crate::message::{Check, Limits, Message};
use crate::template::Scope;
use rayon::prelude::*;
use requests::{Chunk, Item, CHUNK};
use std::collections::HashSet;
use std::sync::Arc;

pub use requests::{Decided, Requests, Status};

/// One problem with one recipient's messages; `path` is the full YAML path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderIssue {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// A template file and line, when the problem is inside an included file.
    pub template: Option<(String, usize)>,
    /// The problem comes from the recipient's own data (a value their row gives a template),
    /// not from the campaign's text, which is the same for every recipient who renders it.
    pub own_data: bool,
}

/// Message ids are opaque; this bounds what a template could produce by mistake.
const REPLY_TO_MAX: usize = 256;

/// One message rendered for one recipient, as the provider turns it into a wire body.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Position in the file's `messages:` list.
    pub index: usize,
    pub message: Message,
    /// The provider's id of the message this one answers.
    pub reply_to: Option<String>,
}

/// Renders messages for recipients of one campaign.
pub struct Renderer<'c> {
    campaign: &'c Campaign,
    /// Each message's `when:` condition, compiled once (`None`: no condition, or it failed to
    /// compile, which load already reported).
    conditions: Vec<Option<minijinja::Expression<'c, 'c>>>,
    /// Each message's field templates, in the order of its `field_templates` (the binding to
    /// fields is by path, kept there), fetched once (`None`: failed to compile, which load
    /// already reported).
    fields: Vec<Vec<Option<minijinja::Template<'c, 'c>>>>,
    /// Each message's `reply_to` template, when it is one.
    replies: Vec<Option<minijinja::Template<'c, 'c>>>,
    limits: Limits,
}

impl<'c> Renderer<'c> {
    pub fn new(campaign: &'c Campaign) -> Self {
        let conditions = campaign
            .messages
            .iter()
            .map(|m| {
                m.when
                    .as_deref()
                    .and_then(|w| campaign.templates.expression(w).ok())
            })
            .collect();
        let fields = campaign
            .messages
            .iter()
            .map(|m| {
                let names = m.field_templates.iter();
                names
                    .map(|f| campaign.templates.get(&f.name).ok())
                    .collect()
            })
            .collect();
        let replies = campaign
            .messages
            .iter()
            .map(|m| {
                m.reply_template
                    .as_deref()
                    .and_then(|n| campaign.templates.get(n).ok())
            })
            .collect();
        Renderer {
            campaign,
            conditions,
            fields,
            replies,
            limits: campaign.provider.limits(),
        }
    }

    /// Render and check one recipient's messages into `out`. On failure nothing of it is
    /// kept and every problem found is returned.
    fn render(&self, r: &Recipient, out: &mut Chunk) -> Result<(), Vec<RenderIssue>> {
        let c = self.campaign;
        let ctx = minijinja::Value::from_object(Scope {
            campaign: Arc::clone(&c.vars),
            own: r.vars.clone(),
            to: r.to,
        });
        let mut issues = Vec::new();
        let items = out.items.len();
        for (n, m) in c.messages.iter().enumerate() {
            if let Some(cond) = &self.conditions[n] {
                match cond.eval(&ctx).map(|v| v.is_true()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        issues.push(template_issue(format!("messages[{}].when", m.index), &e));
                        continue;
                    }
                }
            }
            if self.render_message(n, &ctx, out, &mut issues) {
                out.items.push(Item {
                    message: n as u32,
                    values_end: out.ends.len() as u32,
                });
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            out.truncate_to(items);
            Err(issues)
        }
    }

    /// Render message `n` for one recipient's context, its values appended to `out`; `false`
    /// when a template failed.
    fn render_message(
        &self,
        n: usize,
        ctx: &minijinja::Value,
        out: &mut Chunk,
        issues: &mut Vec<RenderIssue>,
    ) -> bool {
        let m = &self.campaign.messages[n];
        let i = m.index;
        // Fields whose template failed: their own limit checks would judge the template text,
        // so they are skipped; every other field is still checked.
        let mut failed: Vec<String> = Vec::new();
        let first = out.ends.len();
        for (f, template) in m.field_templates.iter().zip(&self.fields[n]) {
            if let Some(template) = template {
                match template.render(ctx) {
                    Ok(v) => out.text.push_str(&v),
                    Err(e) => {
                        let field = crate::message::path_string(&f.path);
                        issues.push(template_issue(format!("messages[{i}].{field}"), &e));
                        failed.push(field);
                    }
                }
            }
            out.ends.push(out.text.len());
        }
        let reply_to = match (&self.replies[n], &m.reply_to) {
            (Some(t), _) => match t.render(ctx) {
                Ok(v) => {
                    out.text.push_str(&v);
                    out.ends.push(out.text.len());
                    Some(v)
                }
                Err(e) => {
                    issues.push(template_issue(format!("messages[{i}].reply_to"), &e));
                    failed.push("reply_to".into());
                    out.ends.push(out.text.len());
                    None
                }
            },
            (None, literal) => literal.clone(),
        };
        // The message as it will be sent, for its limit checks: each templated field takes its
        // rendered value, found by the field's path.
        let mut message = m.message.clone();
        let text = &out.text;
        let ends = &out.ends;
        message.kind_mut().visit(&mut |seg, s| {
            if let Some(f) = m.field_templates.iter().position(|t| t.is_at(seg)) {
                let k = first + f;
                let from = k.checked_sub(1).map_or(0, |p| ends[p]);
                s.clear();
                s.push_str(&text[from..ends[k]]);
            }
        });
        let mut check = Check::new(&self.limits);
        message.kind().check(&mut check);
        if let Some(id) = &reply_to {
            check.required(&[crate::message::Seg::K("reply_to")], id, REPLY_TO_MAX);
        }
        let found = check
            .issues
            .into_iter()
            .filter(|x| !failed.contains(&x.path));
        issues.extend(found.map(|issue| {
            let path = if issue.path.is_empty() {
                format!("messages[{i}]")
            } else {
                format!("messages[{i}].{}", issue.path)
            };
            RenderIssue {
                own_data: self.campaign.recipient_fields.contains(&path),
                path,
                message: issue.message,
                hint: issue.hint,
                template: None,
            }
        }));
        failed.is_empty()
    }
}

fn template_issue(path: String, e: &minijinja::Error) -> RenderIssue {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let template = match (e.name(), e.line()) {
        (Some(name), Some(line)) if name != path && !name.starts_with("messages[") => {
            Some((name.to_string(), line))
        }
        _ => None,
    };
    // A template that cannot be found or compiled, or names a filter that does not exist, is
    // wrong for everyone; what a recipient's values make a template do is their data's fault.
    use minijinja::ErrorKind as K;
    let own_data = !matches!(
        e.kind(),
        K::SyntaxError
            | K::TemplateNotFound
            | K::UnknownFilter
            | K::UnknownTest
            | K::UnknownFunction
            | K::UnknownMethod
            | K::UnknownBlock
            | K::BadInclude
    );
    let hint = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            Some("every variable must be defined for every recipient: add it to `vars:`, the recipient, or guard it with `{% if x is defined %}`".into())
        }
        minijinja::ErrorKind::TemplateNotFound => {
            Some("included files are read from the templates folder (`templates:`, or the nearest templates/ beside or above the campaign): check the name and the folder".into())
        }
        _ => None,
    };
    RenderIssue {
        path,
        message: format!("template error: {}{detail}", e.kind()),
        hint,
        template,
        own_data,
    }
}

/// Render and check every recipient's messages, in parallel, keeping input order. Problems are
/// reported once each, with how many recipients they hit.
pub fn render(campaign: &Campaign) -> (Requests, Problems) {
    let (decided, chunks, problems) = run(campaign, true);
    let requests = Requests {
        decided,
        chunks,
        url: campaign.provider.url(),
    };
    (requests, problems)
}

/// The same rendering and checks, keeping only what was decided for each recipient and how many
/// messages it gets: for `check` and `plan`, which never build a request body.
pub fn decide(campaign: &Campaign) -> (Decided, Problems) {
    let (decided, _, problems) = run(campaign, false);
    (decided, problems)
}

/// Render every recipient; keep the rendered values when `keep`.
fn run(campaign: &Campaign, keep: bool) -> (Decided, Vec<Chunk>, Problems) {
    let renderer = Renderer::new(campaign);
    let duplicates: HashSet<usize> = campaign.duplicates.iter().copied().collect();
    type Part = (Vec<(Status, u32)>, Chunk, Vec<(usize, RenderIssue)>);
    let parts: Vec<Part> = campaign
        .recipients
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(n, chunk)| {
            let mut decided = Vec::with_capacity(chunk.len());
            let mut out = Chunk::default();
            let mut issues = Vec::new();
            for (j, r) in chunk.iter().enumerate() {
                let i = n * CHUNK + j;
                let before = out.items.len();
                let status = match renderer.render(r, &mut out) {
                    Err(found) => {
                        issues.extend(found.into_iter().map(|x| (i, x)));
                        Status::Invalid
                    }
                    // Rendered all the same: their problems are reported like anyone's.
                    Ok(()) if duplicates.contains(&i) => Status::Duplicate,
                    Ok(()) if campaign.suppress.contains(&r.to) => Status::Suppressed,
                    Ok(()) => Status::Ready,
                };
                decided.push((status, (out.items.len() - before) as u32));
                if keep {
                    out.firsts.push(out.items.len() as u32);
                } else {
                    out.clear();
                }
            }
            (decided, out, issues)
        })
        .collect();
    let mut decided = Decided {
        chunks: Vec::with_capacity(parts.len()),
    };
    let mut chunks = Vec::with_capacity(if keep { parts.len() } else { 0 });
    let mut issues = Vec::new();
    for (d, chunk, found) in parts {
        decided.chunks.push(d);
        if keep {
            chunks.push(chunk);
        }
        issues.extend(found);
    }
    let stand_ins = repeats::settle(campaign, &mut decided);
    let mut problems = problems::group(campaign, issues);
    problems.0.extend(stand_ins);
    (decided, chunks, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_templates_are_found_by_path_not_by_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(
            &file,
            r#"version: 1
name: t
provider: { kind: cloud_api, base_url: "https://h.example.com", token_env: T, phone_number_id: "1" }
rate: 2/300s
recipients: [{ to: "+14155550101", last_inbound_at: 1h ago, vars: { a: "A", b: "B" } }]
messages:
  - type: interactive
    interactive:
      type: button
      body: "body {{ a }}"
      buttons: [{ id: x, title: "one {{ a }}" }, { id: y, title: "two {{ b }}" }]
"#,
        )
        .unwrap();
        let (c, problems) = crate::campaign::load(&file, jiff::Timestamp::now());
        let mut c = c.unwrap_or_else(|| panic!("{problems}"));
        let body = |c: &Campaign| {
            let (requests, problems) = render(c);
            assert!(problems.is_empty(), "{problems}");
            requests.bodies(c, 0).swap_remove(0).1
        };
        let before = body(&c);
        assert!(before.contains("one A") && before.contains("two B") && before.contains("body A"));
        // Another walking order must not move a template to another field.
        c.messages[0].field_templates.reverse();
        assert_eq!(body(&c), before);
    }
}
