//! Test support (conformance): walks a JSON body through an OpenAPI schema graph → the list of
//! failures, each as `<json pointer>: <what failed>` ("(root)" for the body itself).
//!
//! Hand-written for the keyword subset reachable from Meta's `Message` schema: local `$ref`,
//! `allOf`, `oneOf`/`anyOf` (with OpenAPI `discriminator` dispatch), `type` (+ 3.0 `nullable`),
//! `enum`, `const`, `required`, `properties`, `additionalProperties`, `items`, `minItems`,
//! `maxItems`, `minLength`, `maxLength`, `minimum`, `maximum`. `format` is ignored. `pattern` is
//! ignored as well: under `Message` only template button `index` uses it, and the crate carries
//! no regex engine.
//!
//! OpenAPI reading of `allOf`: the spec writes `allOf: [Base, {additionalProperties: false, ..}]`
//! to mean "Base's fields plus these, nothing else", so `additionalProperties: false` in any member
//! accepts every property declared by any member (their union), not only its own.

#[path = "alternatives.rs"]
mod alternatives;

use serde_json::Value;
use std::collections::BTreeSet;

/// Bounds recursion that does not advance into the body (a `$ref` cycle in the spec).
const MAX_SAME_INSTANCE_DEPTH: usize = 64;

/// Property names a schema must accept on top of its own `properties` (declared by siblings).
type Names = BTreeSet<String>;

/// Applies `schema` (usually a `{"$ref": ...}` into `spec`) to `body`; empty means valid.
pub(super) fn validate(spec: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let mut walk = Walk {
        spec,
        errors: Vec::new(),
        depth: 0,
    };
    walk.check(schema, body, "", &Names::new());
    walk.errors.iter().map(Issue::render).collect()
}

struct Issue {
    ptr: String,
    msg: String,
}

impl Issue {
    fn render(&self) -> String {
        let at = if self.ptr.is_empty() {
            "(root)"
        } else {
            &self.ptr
        };
        format!("{at}: {}", self.msg)
    }
}

struct Walk<'s> {
    spec: &'s Value,
    errors: Vec<Issue>,
    depth: usize,
}

impl<'s> Walk<'s> {
    fn fail(&mut self, ptr: &str, msg: String) {
        self.errors.push(Issue {
            ptr: ptr.to_string(),
            msg,
        });
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        self.spec.pointer(reference.strip_prefix('#')?)
    }

    /// Applies `schema` to `inst` at `ptr`; `inherited` are names declared by `allOf` siblings.
    fn check(&mut self, schema: &'s Value, inst: &Value, ptr: &str, inherited: &Names) {
        if !schema.is_object() {
            if schema == &Value::Bool(false) {
                self.fail(ptr, "no value is allowed here".into());
            }
            return;
        }
        if self.depth >= MAX_SAME_INSTANCE_DEPTH {
            self.fail(ptr, "schema nests too deeply (reference cycle?)".into());
            return;
        }
        self.depth += 1;
        let mut names = inherited.clone();
        names.extend(self.declared_names(schema, 0));
        self.check_composition(schema, inst, ptr, &names);
        self.check_value(schema, inst, ptr, &names);
        self.depth -= 1;
    }

    /// Own `properties` plus those reached through `$ref` and `allOf` (the union rule).
    fn declared_names(&self, schema: &'s Value, depth: usize) -> Names {
        let mut names: Names = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default();
        if depth >= MAX_SAME_INSTANCE_DEPTH {
            return names;
        }
        let by_ref = schema.get("$ref").and_then(Value::as_str);
        if let Some(target) = by_ref.and_then(|r| self.resolve(r)) {
            names.extend(self.declared_names(target, depth + 1));
        }
        for member in members(schema, "allOf") {
            names.extend(self.declared_names(member, depth + 1));
        }
        names
    }

    fn check_composition(&mut self, schema: &'s Value, inst: &Value, ptr: &str, names: &Names) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) => self.check(target, inst, ptr, names),
                None => self.fail(ptr, format!("spec has unresolvable $ref {reference}")),
            }
        }
        for member in members(schema, "allOf") {
            self.check(member, inst, ptr, names);
        }
        for keyword in ["oneOf", "anyOf"] {
            if schema.get(keyword).is_some() {
                self.check_alternatives(keyword, schema, inst, ptr, names);
            }
        }
    }

    fn check_value(&mut self, schema: &'s Value, inst: &Value, ptr: &str, names: &Names) {
        if !self.check_type(schema, inst, ptr) {
            return;
        }
        for keyword in ["enum", "const"] {
            let allowed = match (keyword, schema.get(keyword)) {
                ("enum", Some(Value::Array(list))) => list.clone(),
                ("const", Some(value)) => vec![value.clone()],
                _ => continue,
            };
            if !allowed.contains(inst) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                self.fail(ptr, format!("{inst} is not one of [{}]", list.join(", ")));
            }
        }
        match inst {
            Value::Object(map) => self.check_object(schema, map, ptr, names),
            Value::Array(items) => self.check_array(schema, items, ptr),
            Value::String(s) => self.check_bounds(schema, s.chars().count() as f64, ptr, LENGTH),
            Value::Number(n) => self.check_bounds(schema, n.as_f64().unwrap_or(0.0), ptr, RANGE),
            _ => {}
        }
    }

    /// Returns false on a mismatch so the value's other keywords do not pile up noise.
    fn check_type(&mut self, schema: &Value, inst: &Value, ptr: &str) -> bool {
        let expected: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        let nullable = schema.get("nullable") == Some(&Value::Bool(true));
        let actual = kind(inst);
        let fits = |t: &&str| *t == actual || (*t == "number" && actual == "integer");
        if expected.iter().any(fits) || (nullable && inst.is_null()) {
            return true;
        }
        self.fail(
            ptr,
            format!("expected {}, got {actual} {inst}", expected.join(" or ")),
        );
        false
    }

    fn check_object(
        &mut self,
        schema: &'s Value,
        map: &serde_json::Map<String, Value>,
        ptr: &str,
        names: &Names,
    ) {
        for name in members(schema, "required").filter_map(Value::as_str) {
            if !map.contains_key(name) {
                self.fail(ptr, format!("missing required property \"{name}\""));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (key, value) in map {
            let at = child(ptr, key);
            match (
                props.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => self.check(sub, value, &at, &Names::new()),
                (None, _) if names.contains(key) => {}
                (None, Some(Value::Bool(false))) => {
                    let known = names.iter().cloned().collect::<Vec<_>>().join(", ");
                    self.fail(
                        &at,
                        format!("property \"{key}\" is not allowed here (allowed: {known})"),
                    );
                }
                (None, Some(sub @ Value::Object(_))) => self.check(sub, value, &at, &Names::new()),
                (None, _) => {}
            }
        }
    }

    fn check_array(&mut self, schema: &'s Value, items: &[Value], ptr: &str) {
        self.check_bounds(schema, items.len() as f64, ptr, ITEMS);
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                self.check(
                    item_schema,
                    item,
                    &child(ptr, &index.to_string()),
                    &Names::new(),
                );
            }
        }
    }

    fn check_bounds(&mut self, schema: &Value, measured: f64, ptr: &str, bounds: Bounds) {
        let (min_kw, max_kw, what) = bounds;
        if let Some(min) = schema
            .get(min_kw)
            .and_then(Value::as_f64)
            .filter(|m| measured < *m)
        {
            self.fail(ptr, format!("{what} {measured} is below {min_kw} {min}"));
        }
        if let Some(max) = schema
            .get(max_kw)
            .and_then(Value::as_f64)
            .filter(|m| measured > *m)
        {
            self.fail(ptr, format!("{what} {measured} exceeds {max_kw} {max}"));
        }
    }
}

/// (lower keyword, upper keyword, what is measured) for one family of numeric limits.
type Bounds = (&'static str, &'static str, &'static str);
const LENGTH: Bounds = ("minLength", "maxLength", "length");
const ITEMS: Bounds = ("minItems", "maxItems", "item count");
const RANGE: Bounds = ("minimum", "maximum", "value");

fn members<'s>(schema: &'s Value, keyword: &str) -> impl Iterator<Item = &'s Value> {
    schema
        .get(keyword)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// JSON pointer of a member, escaping `~` and `/` as RFC 6901 requires.
fn child(ptr: &str, key: &str) -> String {
    format!("{ptr}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
