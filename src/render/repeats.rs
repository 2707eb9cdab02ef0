//! Repeated numbers once rendered: the row `duplicates:` keeps for a number is sent only when
//! its messages rendered; when they did not, the next row that choice prefers and that did
//! render takes its place. An invalid row (dropped by `--skip-invalid`) thus never costs the
//! number its message.

use super::requests::{Decided, Status, CHUNK};
use crate::campaign::{Campaign, Origin};
use crate::diag::{Place, Problem};

/// Give each repeated number whose kept row is `Invalid` a stand-in: its first preferred row
/// that rendered (now `Ready`, or `Suppressed` like the number). Returns a warning for each,
/// at the stand-in's row (load warned it would be dropped as `duplicate`).
pub(super) fn settle(campaign: &Campaign, decided: &mut Decided) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for rows in &campaign.repeats {
        let status = |i: usize| decided.chunks[i / CHUNK][i % CHUNK].0;
        let Some(&kept) = rows.first() else { continue };
        if status(kept) != Status::Invalid {
            continue;
        }
        let Some(&stand_in) = rows[1..].iter().find(|&&i| status(i) != Status::Invalid) else {
            continue;
        };
        let r = &campaign.recipients[stand_in];
        decided.chunks[stand_in / CHUNK][stand_in % CHUNK].0 =
            match campaign.suppress.contains(&r.to) {
                true => Status::Suppressed,
                false => Status::Ready,
            };
        // Named as load's duplicate warning names it.
        let kept_at = match campaign.recipients[kept].origin {
            Origin::Inline(i) => format!("recipients[{i}]"),
            Origin::Csv(line) | Origin::Inbox(line) => {
                format!("{}:{line}", campaign.recipients_file().display())
            }
        };
        let place = match r.origin {
            Origin::Inline(i) => {
                let path = format!("recipients[{i}].to");
                Place::Yaml {
                    file: campaign.file.clone(),
                    line: campaign.positions.find(&path),
                    path,
                }
            }
            Origin::Csv(line) => Place::Csv {
                file: campaign.recipients_file(),
                line,
                column: Some("to".into()),
            },
            Origin::Inbox(line) => Place::Csv {
                file: campaign.recipients_file(),
                line,
                column: None,
            },
        };
        warnings.push(Problem::warning(
            place,
            format!(
                "{} is not dropped as `duplicate` after all: the row kept for it, {kept_at}, is invalid; this row stands in for it",
                r.to
            ),
        ));
    }
    warnings
}
