//! Rendering: one recipient × the campaign's messages → rendered, limit-checked messages and the
//! exact requests they cause. The same code serves `check`, the dry run and the real run.

use crate::campaign::{Campaign, Recipient};
use crate::diag::{Place, Problem, Problems};
use crate::message::{Check, Limits, Message};
use crate::provider::Request;
use crate::template::Scope;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

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

/// One message rendered for one recipient.
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
    /// Each message's string-field templates in `Kind::visit` order, fetched once (`None`:
    /// plain text, or a template that failed to compile, which load already reported).
    fields: Vec<Vec<Option<minijinja::Template<'c, 'c>>>>,
    /// Each message's `reply_to` template, when it is one.
    replies: Vec<Option<minijinja::Template<'c, 'c>>>,
    limits: Limits,
    url: String,
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
                    .map(|n| n.as_deref().and_then(|n| campaign.templates.get(n).ok()))
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
            url: campaign.provider.url(),
        }
    }

    /// The messages this recipient gets (after `when:`), rendered and checked.
    pub fn messages(&self, r: &Recipient) -> Result<Vec<Rendered>, Vec<RenderIssue>> {
        self.render(r, true)
    }

    /// Render, checking limits only when asked: requests are built for recipients that
    /// `validate_all` has already checked, so the send and preview paths skip the second check.
    fn render(&self, r: &Recipient, check_limits: bool) -> Result<Vec<Rendered>, Vec<RenderIssue>> {
        let c = self.campaign;
        let ctx = minijinja::Value::from_object(Scope {
            campaign: Arc::clone(&c.vars),
            own: r.vars.clone(),
            to: r.to,
        });
        let mut issues = Vec::new();
        let mut out = Vec::with_capacity(c.messages.len());
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
            if let Some(rendered) = self.render_message(n, &ctx, check_limits, &mut issues) {
                out.push(rendered);
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(issues)
        }
    }

    /// Render message `n` for one recipient's context; `None` when a template failed.
    fn render_message(
        &self,
        n: usize,
        ctx: &minijinja::Value,
        check_limits: bool,
        issues: &mut Vec<RenderIssue>,
    ) -> Option<Rendered> {
        let m = &self.campaign.messages[n];
        let i = m.index;
        let mut message = m.message.clone();
        // Fields whose template failed: their own limit checks would judge the template text,
        // so they are skipped; every other field is still checked.
        let mut failed: Vec<String> = Vec::new();
        let mut field = 0;
        message.kind_mut().visit(&mut |seg, s| {
            let template = self.fields[n].get(field).and_then(Option::as_ref);
            field += 1;
            if let Some(template) = template {
                match template.render(ctx) {
                    Ok(v) => *s = v,
                    Err(e) => {
                        let field = crate::message::path_string(seg);
                        issues.push(template_issue(format!("messages[{i}].{field}"), &e));
                        failed.push(field);
                    }
                }
            }
        });
        let reply_to = match (&self.replies[n], &m.reply_to) {
            (Some(t), _) => match t.render(ctx) {
                Ok(v) => Some(v),
                Err(e) => {
                    issues.push(template_issue(format!("messages[{i}].reply_to"), &e));
                    failed.push("reply_to".into());
                    None
                }
            },
            (None, literal) => literal.clone(),
        };
        if check_limits {
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
        }
        failed.is_empty().then_some(Rendered {
            index: i,
            message,
            reply_to,
        })
    }

    /// The requests for one recipient, in message order. The recipient must have passed
    /// `validate_all`: limits are not checked again.
    pub fn requests(&self, r: &Recipient) -> Result<Vec<(usize, Request)>, Vec<RenderIssue>> {
        let messages = self.render(r, false)?;
        let provider = &self.campaign.provider;
        Ok(messages
            .iter()
            .map(|m| {
                let key = crate::provider::send_key(&self.campaign.name, &r.to, m.index);
                (m.index, provider.request(&self.url, &key, &r.to, m))
            })
            .collect())
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

/// The result of rendering every recipient: how many messages each gets (`None` when its
/// messages are invalid) and the problems, each reported once with how many recipients it hit.
pub struct Validation {
    pub counts: Vec<Option<u32>>,
    pub problems: Problems,
}

/// Per chunk: message counts, and issues with the recipient index they hit.
type ChunkResult = (Vec<Option<u32>>, Vec<(usize, RenderIssue)>);

/// Render and check every recipient's messages, in parallel, keeping input order.
pub fn validate_all(campaign: &Campaign) -> Validation {
    let renderer = Renderer::new(campaign);
    let chunks: Vec<ChunkResult> = campaign
        .recipients
        .par_chunks(4096)
        .enumerate()
        .map(|(n, chunk)| {
            let mut counts = Vec::with_capacity(chunk.len());
            let mut issues = Vec::new();
            for (j, r) in chunk.iter().enumerate() {
                match renderer.messages(r) {
                    Ok(m) => counts.push(Some(m.len() as u32)),
                    Err(found) => {
                        counts.push(None);
                        issues.extend(found.into_iter().map(|i| (n * 4096 + j, i)));
                    }
                }
            }
            (counts, issues)
        })
        .collect();
    let mut counts = Vec::with_capacity(campaign.recipients.len());
    let mut groups: HashMap<RenderIssue, usize> = HashMap::new();
    let mut problems = Problems::default();
    for (chunk_counts, issues) in chunks {
        counts.extend(chunk_counts);
        for (idx, issue) in issues {
            if campaign.reported.contains(&issue.path) {
                continue; // already reported once, at load
            }
            if let Some(&at) = groups.get(&issue) {
                let p: &mut Problem = &mut problems.0[at];
                if let Some((n, _)) = &mut p.recipients {
                    *n += 1;
                }
                continue;
            }
            let r = &campaign.recipients[idx];
            let place = match &issue.template {
                Some((name, line)) => match campaign.templates.file_of(name) {
                    Some(file) => Place::Template { file, line: *line },
                    None => yaml_place(campaign, &issue.path),
                },
                None => yaml_place(campaign, &issue.path),
            };
            let mut p = Problem::new(
                place,
                format!("{} {}", last_segment(&issue.path), issue.message),
            );
            if issue.template.is_some() {
                p.message = format!("{} (used by {})", issue.message, issue.path);
            }
            p.hint = issue.hint.clone();
            p.recipients = Some((1, campaign.origin(r)));
            p.per_recipient = issue.own_data;
            groups.insert(issue, problems.len());
            problems.push(p);
        }
    }
    // A problem every recipient has is the campaign's, not any one recipient's: skipping
    // recipients cannot fix it.
    let everyone = campaign.recipients.len();
    for p in &mut problems.0 {
        if p.recipients
            .as_ref()
            .is_some_and(|(n, _)| *n == everyone && everyone > 1)
        {
            p.per_recipient = false;
        }
    }
    Validation { counts, problems }
}

fn yaml_place(c: &Campaign, path: &str) -> Place {
    Place::Yaml {
        file: c.file.clone(),
        path: path.to_string(),
        line: c.positions.find(path),
    }
}

/// `messages[1].interactive.buttons[2].title` → `title`, to start a sentence.
fn last_segment(path: &str) -> String {
    let tail = path.rsplit('.').next().unwrap_or(path);
    format!("`{tail}`")
}
