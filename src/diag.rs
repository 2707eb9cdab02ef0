//! Diagnostics: problems found in the input, each pointing at its place (file:line:col, YAML path,
//! CSV row or template line), with what is wrong and what would be right.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in the input a problem is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A whole file (cannot be read, not YAML at all...).
    File { file: PathBuf },
    /// A node of the campaign YAML: its path and, when known, line and column (1-based).
    Yaml {
        file: PathBuf,
        path: String,
        line: Option<(usize, usize)>,
    },
    /// A data row of a CSV file (1-based line number, the header is line 1).
    Csv {
        file: PathBuf,
        line: u64,
        column: Option<String>,
    },
    /// A line of a template file under `templates/`.
    Template { file: PathBuf, line: usize },
}

/// Errors stop the campaign; warnings are reported and the campaign goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub level: Level,
    pub place: Place,
    pub message: String,
    pub hint: Option<String>,
    /// When the same problem repeats for many recipients it is reported once, with a count and
    /// the first recipient it happened for.
    pub recipients: Option<(usize, String)>,
    /// The problem is in one recipient's own data (its row or its rendered messages), so
    /// `--skip-invalid` may drop that recipient instead of failing the whole campaign.
    pub per_recipient: bool,
}

impl Problem {
    pub fn new(place: Place, message: impl Into<String>) -> Self {
        Problem {
            level: Level::Error,
            place,
            message: message.into(),
            hint: None,
            recipients: None,
            per_recipient: false,
        }
    }

    pub fn warning(place: Place, message: impl Into<String>) -> Self {
        Problem {
            level: Level::Warning,
            ..Problem::new(place, message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { file } => write!(f, "{}", show(file)),
            Place::Yaml {
                file,
                path,
                line: Some((l, c)),
            } => write!(f, "{}:{l}:{c}: {path}", show(file)),
            Place::Yaml {
                file,
                path,
                line: None,
            } => write!(f, "{}: {path}", show(file)),
            Place::Csv {
                file,
                line,
                column: Some(col),
            } => write!(f, "{}:{line}: column `{col}`", show(file)),
            Place::Csv {
                file,
                line,
                column: None,
            } => write!(f, "{}:{line}", show(file)),
            Place::Template { file, line } => write!(f, "{}:{line}", show(file)),
        }
    }
}

impl Problem {
    /// The problem as one JSON object for scripts and editors: `severity`, `message`, `hint`,
    /// `file`, `line`, `column`, `yaml_path`, `csv_row`, `csv_column` (absent when unknown),
    /// `recipients` (how many share it) and `first_recipient`, and `per_recipient` (whether
    /// `--skip-invalid` may drop the recipients instead of failing).
    pub fn to_json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        let severity = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        o.insert("severity".into(), severity.into());
        o.insert("message".into(), self.message.as_str().into());
        o.insert("hint".into(), self.hint.as_deref().into());
        let mut put = |k: &str, v: serde_json::Value| {
            o.insert(k.into(), v);
        };
        match &self.place {
            Place::File { file } => put("file", show(file).into()),
            Place::Yaml { file, path, line } => {
                put("file", show(file).into());
                if let Some((l, c)) = line {
                    put("line", (*l).into());
                    put("column", (*c).into());
                }
                put("yaml_path", path.as_str().into());
            }
            Place::Csv { file, line, column } => {
                put("file", show(file).into());
                put("line", (*line).into());
                put("csv_row", (*line).into());
                if let Some(c) = column {
                    put("csv_column", c.as_str().into());
                }
            }
            Place::Template { file, line } => {
                put("file", show(file).into());
                put("line", (*line).into());
            }
        }
        if let Some((n, first)) = &self.recipients {
            put("recipients", (*n).into());
            put("first_recipient", first.as_str().into());
        }
        put("per_recipient", self.per_recipient.into());
        serde_json::Value::Object(o)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        writeln!(f, "{level}: {}", self.message)?;
        write!(f, "  --> {}", self.place)?;
        if let Some((n, first)) = &self.recipients {
            if *n > 1 {
                write!(f, "\n   = for {n} recipients, first {first}")?;
            } else {
                write!(f, "\n   = for recipient {first}")?;
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\n   = help: {h}")?;
        }
        Ok(())
    }
}

/// All problems of one campaign, in input order.
#[derive(Debug, Default, Clone)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }
}

impl Problems {
    /// Every problem, then how many were found and what happens because of them (`then`).
    pub fn then<'a>(&'a self, then: &'a str) -> Then<'a> {
        Then {
            problems: self,
            then,
        }
    }
}

/// Problems followed by their consequence (see [`Problems::then`]).
pub struct Then<'a> {
    problems: &'a Problems,
    then: &'a str,
}

impl fmt::Display for Then<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems.0 {
            writeln!(f, "{p}\n")?;
        }
        let n = self.problems.0.len();
        write!(
            f,
            "{n} problem{} found; {}",
            if n == 1 { "" } else { "s" },
            self.then
        )
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.then("nothing was sent").fmt(f)
    }
}

impl std::error::Error for Problems {}

/// "did you mean `caption`?" for a misspelt name, when a candidate is close enough.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("captoin", ["url", "caption"]).as_deref(),
            Some("did you mean `caption`?")
        );
        assert_eq!(did_you_mean("zzz", ["url", "caption"]), None);
    }

    #[test]
    fn renders_place_and_hint() {
        let p = Problem::new(
            Place::Yaml {
                file: "c.yaml".into(),
                path: "messages[0].captoin".into(),
                line: Some((7, 5)),
            },
            "unknown field `captoin`",
        )
        .hint("did you mean `caption`?");
        let s = p.to_string();
        assert!(s.contains("c.yaml:7:5: messages[0].captoin"), "{s}");
        assert!(s.contains("help: did you mean `caption`?"), "{s}");
    }
}
