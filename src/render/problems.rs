//! Render problems → `Problems`: each distinct problem reported once, at its YAML or template
//! place, with how many recipients it hit and the first of them.

use super::RenderIssue;
use crate::campaign::Campaign;
use crate::diag::{Place, Problem, Problems};
use std::collections::HashMap;

/// Group `issues` (each with the index of the recipient it hit, in recipient order).
pub(super) fn group(campaign: &Campaign, issues: Vec<(usize, RenderIssue)>) -> Problems {
    let mut groups: HashMap<RenderIssue, usize> = HashMap::new();
    let mut problems = Problems::default();
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
    problems
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
