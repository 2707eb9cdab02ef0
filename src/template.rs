//! Templates: every string field may be a minijinja template, compiled once at load and rendered
//! per recipient with strict undefined variables. Files are loaded only from the campaign's
//! `templates/` folder (`{% include "greeting.txt" %}`).

use crate::identity::UserId;
use minijinja::value::{Enumerator, Object};
use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Does this string need rendering at all? Plain strings are sent as written.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The compiled templates of one campaign.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Template source → registered name (the YAML path of its first use).
    names: HashMap<String, String>,
    dir: Option<PathBuf>,
}

impl Templates {
    pub fn new(dir: Option<&Path>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template file's trailing newline is dropped (minijinja's default, as in Jinja2), so
        // `{% include "x.txt" %}` renders the text without the editor's final newline.
        if let Some(d) = dir {
            // path_loader refuses names that climb out of the folder (`..`).
            env.set_loader(minijinja::path_loader(d));
        }
        Templates {
            env,
            names: HashMap::new(),
            dir: dir.map(Path::to_path_buf),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The file behind a template name, when it is a file in the templates folder.
    pub fn file_of(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.as_ref()?.join(name);
        path.is_file().then_some(path)
    }

    /// Compile `source`, registered under `name` (its YAML path). Returns the variables it uses.
    pub fn add(&mut self, name: &str, source: &str) -> Result<BTreeSet<String>, minijinja::Error> {
        if !self.names.contains_key(source) {
            self.env
                .add_template_owned(name.to_string(), source.to_string())?;
            self.names.insert(source.to_string(), name.to_string());
        }
        let t = self.env.get_template(&self.names[source])?;
        // Includes are followed so a typo in a template file is caught at load too.
        Ok(t.undeclared_variables(true).into_iter().collect())
    }

    /// Compile a `when:` expression for evaluation (cheaper than rendering a template).
    pub fn expression<'a>(
        &'a self,
        expr: &'a str,
    ) -> Result<minijinja::Expression<'a, 'a>, minijinja::Error> {
        self.env.compile_expression(expr)
    }

    /// The registered name of a compiled template source.
    pub fn name_of(&self, source: &str) -> Option<String> {
        self.names.get(source).cloned()
    }

    /// The compiled template registered at load under `name`.
    pub fn get(&self, name: &str) -> Result<minijinja::Template<'_, '_>, minijinja::Error> {
        self.env.get_template(name)
    }

    /// Check a `when:` condition compiles as an expression. Returns the variables it uses.
    pub fn add_condition(&mut self, expr: &str) -> Result<BTreeSet<String>, minijinja::Error> {
        // Compiled as the expression it is evaluated as (render.rs), not wrapped in a template:
        // wrapped, `false %}{% endif %}{% if true` closed the wrapper's tags and passed.
        let e = self.env.compile_expression(expr)?;
        Ok(e.undeclared_variables(true).into_iter().collect())
    }
}

/// Variables one recipient sees: its own, then the campaign's, plus `to`.
#[derive(Debug)]
pub struct Scope {
    pub campaign: Arc<Vars>,
    pub own: Vars,
    pub to: UserId,
}

/// Named values: CSV rows share the header's names.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub names: Arc<[String]>,
    pub values: Box<[Value]>,
}

impl Vars {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.names
            .iter()
            .position(|n| n == key)
            .map(|i| &self.values[i])
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if key == "to" {
            return Some(Value::from(self.to.to_string()));
        }
        self.own
            .get(key)
            .or_else(|| self.campaign.get(key))
            .cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = vec![Value::from("to")];
        keys.extend(
            self.own
                .names
                .iter()
                .chain(self.campaign.names.iter())
                .map(|n| Value::from(n.as_str())),
        );
        Enumerator::Values(keys)
    }
}

/// Names every template may use besides the recipient's own variables.
pub const BUILTIN_VARS: [&str; 1] = ["to"];
