//! Test support (conformance): the `oneOf`/`anyOf` step of the schema walk — one body value and
//! its alternatives → the matching branch, or errors from the branch that came closest.

use super::{child, members, Issue, Names, Walk};
use serde_json::Value;

impl<'s> Walk<'s> {
    /// `oneOf`/`anyOf`; a `discriminator` picks the branch, so errors come from that branch only.
    pub(super) fn check_alternatives(
        &mut self,
        kw: &str,
        schema: &'s Value,
        inst: &Value,
        ptr: &str,
        names: &Names,
    ) {
        if let Some((prop, tag, mapping)) = discriminator(schema, inst) {
            let target = mapping.get(tag).and_then(Value::as_str);
            match target.and_then(|r| self.resolve(r)) {
                Some(branch) => self.check(branch, inst, ptr, names),
                None => {
                    let known = mapping.keys().cloned().collect::<Vec<_>>().join(", ");
                    self.fail(
                        &child(ptr, prop),
                        format!("\"{tag}\" is not one of: {known}"),
                    );
                }
            }
            return;
        }
        let outcomes: Vec<Vec<Issue>> = members(schema, kw)
            .map(|branch| self.trial(branch, inst, ptr, names))
            .collect();
        let matched: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].is_empty())
            .collect();
        if matched.is_empty() {
            self.report_closest(kw, outcomes, ptr);
        } else if kw == "oneOf" && matched.len() > 1 {
            let which: Vec<String> = matched.iter().map(|i| format!("#{}", i + 1)).collect();
            let msg = format!(
                "matches {} oneOf alternatives ({}), exactly one must match",
                matched.len(),
                which.join(", ")
            );
            self.fail(ptr, msg);
        }
    }

    /// Runs a check on the side and returns its errors without recording them.
    fn trial(&mut self, schema: &'s Value, inst: &Value, ptr: &str, names: &Names) -> Vec<Issue> {
        let saved = std::mem::take(&mut self.errors);
        self.check(schema, inst, ptr, names);
        std::mem::replace(&mut self.errors, saved)
    }

    /// The closest branch is the one that failed least at this level (it had the right shape).
    fn report_closest(&mut self, kw: &str, outcomes: Vec<Vec<Issue>>, ptr: &str) {
        let count = outcomes.len();
        let closest = outcomes
            .into_iter()
            .enumerate()
            .min_by_key(|(_, errs)| (errs.iter().filter(|e| e.ptr == ptr).count(), errs.len()));
        let Some((index, errors)) = closest else {
            return;
        };
        let msg = format!(
            "matches none of the {count} {kw} alternatives; closest is #{}:",
            index + 1
        );
        self.fail(ptr, msg);
        self.errors.extend(errors);
    }
}

/// `(property, tag, mapping)` when the schema has a discriminator and the body carries the tag.
fn discriminator<'s, 'i>(
    schema: &'s Value,
    inst: &'i Value,
) -> Option<(&'s str, &'i str, &'s serde_json::Map<String, Value>)> {
    let disc = schema.get("discriminator")?;
    let prop = disc.get("propertyName")?.as_str()?;
    let mapping = disc.get("mapping")?.as_object()?;
    Some((prop, inst.get(prop)?.as_str()?, mapping))
}
