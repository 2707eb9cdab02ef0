//! Limit checking for rendered messages: per-provider limits, code-point lengths, issue paths.

use std::fmt::Write;

/// One segment of a field path relative to a message: `interactive`, `buttons`, `[2]`, `title`.
#[derive(Debug, Clone, Copy)]
pub enum Seg {
    K(&'static str),
    I(usize),
}

/// Render `[K("buttons"), I(2), K("title")]` as `buttons[2].title`.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::K(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::I(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

/// The limits of the provider a campaign sends through (API reference §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub provider: &'static str,
    /// Text body: Messangi documents 1024 characters, the Cloud API 4096.
    pub text_body: usize,
    /// Whether uploaded media ids (`id:`) can be sent; Messangi takes only public URLs.
    pub media_ids: bool,
}

/// A problem found in one rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Collects issues while a message checks itself.
pub struct Check<'a> {
    pub limits: &'a Limits,
    pub issues: Vec<Issue>,
}

impl<'a> Check<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        Check {
            limits,
            issues: Vec::new(),
        }
    }

    pub fn error(&mut self, path: &[Seg], message: impl Into<String>, hint: Option<String>) {
        self.issues.push(Issue {
            path: path_string(path),
            message: message.into(),
            hint,
        });
    }

    /// At most `max` Unicode code points (what both providers appear to count).
    pub fn max_len(&mut self, path: &[Seg], value: &str, max: usize) {
        // Byte length bounds the code-point count from above, so most values skip the count.
        if value.len() > max {
            let n = value.chars().count();
            if n > max {
                self.error(
                    path,
                    format!(
                        "is {n} characters long; {} allows at most {max}",
                        self.limits.provider
                    ),
                    Some(format!(
                        "shorten it by {} character{}",
                        n - max,
                        if n - max == 1 { "" } else { "s" }
                    )),
                );
            }
        }
    }

    /// Present and not blank after rendering, and at most `max` characters.
    pub fn required(&mut self, path: &[Seg], value: &str, max: usize) {
        if value.trim().is_empty() {
            self.error(
                path,
                "is empty",
                Some("give it a value (templates must not render to nothing)".into()),
            );
        } else {
            self.max_len(path, value, max);
        }
    }

    pub fn optional(&mut self, path: &[Seg], value: &Option<String>, max: usize) {
        if let Some(v) = value {
            self.max_len(path, v, max);
        }
    }

    /// Between `min` and `max` items.
    pub fn count(&mut self, path: &[Seg], n: usize, min: usize, max: usize, what: &str) {
        if n < min || n > max {
            let range = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            self.error(
                path,
                format!("has {n} {what}; {} allows {range}", self.limits.provider),
                Some(format!("keep {range} {what}")),
            );
        }
    }

    /// A public http(s) URL, as both providers fetch media from it.
    pub fn url(&mut self, path: &[Seg], value: &str) {
        match reqwest::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => self.error(
                path,
                format!("`{value}` is not an http(s) URL"),
                Some(
                    "use a public, direct-download link such as https://cdn.example.com/file.jpg"
                        .into(),
                ),
            ),
        }
    }

    /// Values of `field` must be unique among siblings.
    pub fn unique<'v>(&mut self, path: &[Seg], values: impl Iterator<Item = &'v str>, what: &str) {
        let mut seen = std::collections::HashSet::new();
        for (i, v) in values.enumerate() {
            if !seen.insert(v) {
                let mut p = path.to_vec();
                p.push(Seg::I(i));
                self.error(
                    &p,
                    format!("repeats the {what} `{v}`"),
                    Some(format!("each {what} must be unique")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_code_points_not_bytes() {
        let limits = Limits {
            provider: "test",
            text_body: 4,
            media_ids: true,
        };
        let mut c = Check::new(&limits);
        c.max_len(&[Seg::K("body")], "ñañá", 4); // 8 bytes, 4 code points
        assert!(c.issues.is_empty());
        c.max_len(&[Seg::K("buttons"), Seg::I(2), Seg::K("title")], "ñañáx", 4);
        assert_eq!(c.issues[0].path, "buttons[2].title");
        assert!(c.issues[0].message.contains("5 characters"));
    }
}
