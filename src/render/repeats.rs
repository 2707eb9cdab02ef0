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

#[cfg(test)]
mod tests {
    use crate::render::{decide, Status};

    /// Five rows of one number, two of them invalid (the 1st and the 5th): each `duplicates:`
    /// choice sends the first row it prefers among those that render, and no other.
    #[test]
    fn the_stand_in_is_the_first_valid_row_in_the_order_of_the_choice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.csv"),
            "to,last_inbound_at,pic\n\
             +14155550101,2h ago,bad\n\
             +14155550101,5h ago,https://cdn.example.com/1.jpg\n\
             +14155550101,3h ago,https://cdn.example.com/2.jpg\n\
             +14155550101,4h ago,https://cdn.example.com/3.jpg\n\
             +14155550101,1h ago,bad\n",
        )
        .unwrap();
        for (keep, sent) in [("first", 1), ("last", 3), ("latest", 2)] {
            let file = dir.path().join(format!("{keep}.yaml"));
            std::fs::write(
                &file,
                format!(
                    "version: 1\nname: t\nprovider: {{ kind: cloud_api, base_url: \"https://h.example.com\", token_env: T, phone_number_id: \"1\" }}\nrate: 2/300s\nrecipients: {{ file: r.csv, duplicates: {keep} }}\nmessages:\n  - {{ type: image, url: \"{{{{ pic }}}}\" }}\n"
                ),
            )
            .unwrap();
            let (c, problems) = crate::campaign::load(&file, jiff::Timestamp::now());
            let c = c.unwrap_or_else(|| panic!("{problems}"));
            let (decided, problems) = decide(&c);
            let statuses: Vec<Status> = (0..5).map(|i| decided.status(i)).collect();
            let mut want = [Status::Duplicate; 5];
            want[0] = Status::Invalid;
            want[4] = Status::Invalid;
            want[sent] = Status::Ready;
            assert_eq!(statuses, want, "duplicates: {keep}");
            let stand_in = format!("r.csv:{}: column `to`", sent + 2);
            assert!(
                problems
                    .0
                    .iter()
                    .any(|p| p.place.to_string().ends_with(&stand_in)
                        && p.message.contains("stands in for it")),
                "duplicates: {keep}: {problems}"
            );
        }
    }
}
