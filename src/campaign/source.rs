//! Reading the campaign's YAML text: from a file or from stdin (`-`), refused past a size cap, and
//! refused when its brackets nest deeper than any campaign needs — before any YAML parser sees it.
//!
//! Why a pre-scan: the YAML scanner (libyaml's, in serde_yaml_ng, and yaml-rust2's for positions)
//! rechecks every open flow level on each token, so `[[[[…` costs time quadratic in the depth
//! (2 s at 20,000 levels, over a minute at 100,000). One linear pass over the bytes finds the
//! first bracket past the limit and reports it at its line and column instead.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest campaign file read (2 MiB). A campaign is a few KB and large recipient lists belong
/// in a CSV; a YAML document costs about 170 times its size in memory to load and index (a 6 MB
/// file of small flow sequences: 6 s and 1 GB; 60 MB: 86 s and 9.7 GB, measured with
/// bench/yaml.sh), so the cap bounds the worst case near 2 s and 350 MB.
pub const MAX_BYTES: u64 = 2 * 1024 * 1024;

/// Deepest `[`/`{` nesting accepted. The campaign format needs about 5; the YAML deserializer
/// itself stops at 128.
pub const MAX_NESTING: usize = 100;

/// The name the campaign from stdin goes by in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// `-` means stdin.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The name used in places and messages for `path`.
pub fn display_path(path: &Path) -> PathBuf {
    if is_stdin(path) {
        PathBuf::from(STDIN_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Why the campaign text could not be read; each says what would be right.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the campaign from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("more than {mib} MiB on stdin; a campaign is a few KB", mib = MAX_BYTES / (1024 * 1024))]
    StdinTooBig,
    #[error("cannot read the campaign file: {0}")]
    File(std::io::Error),
    #[error(
        "the campaign file is {0} bytes, over the {mib} MiB limit; a campaign is a few KB — \
         put recipients in a CSV file (`recipients: {{ file: … }}`)",
        mib = MAX_BYTES / (1024 * 1024)
    )]
    TooBig(u64),
    /// `at` is the offset of the first byte that is not UTF-8.
    #[error("the campaign is not UTF-8 text (invalid byte at offset {at}); save it as UTF-8")]
    NotUtf8 { at: usize },
}

/// The text a `Problem` shows.
impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

/// Read the campaign text; the error says what is wrong and what would be right.
pub fn read(path: &Path) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    if is_stdin(path) {
        std::io::stdin()
            .lock()
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Stdin)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(ReadError::StdinTooBig);
        }
    } else {
        let file = std::fs::File::open(path).map_err(ReadError::File)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX_BYTES {
            return Err(ReadError::TooBig(len));
        }
        // `take` also guards a file that grows while it is read (or a pipe given by name).
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadError::File)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(ReadError::TooBig(bytes.len() as u64));
        }
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        at: e.utf8_error().valid_up_to(),
    })
}

/// The first flow bracket nested deeper than `MAX_NESTING`, as 1-based (line, column), skipping
/// comments and quoted strings. Linear in the text.
pub fn too_deep(source: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            (line, col, comment, prev) = (line + 1, 0, false, c);
            // A quoted scalar may span lines; a comment never does.
            continue;
        }
        if comment {
            continue;
        }
        match quote {
            Some('\'') if c == '\'' => {
                // '' is an escaped quote inside a single-quoted scalar.
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    quote = None;
                }
            }
            Some('"') if c == '\\' => {
                if chars.next().is_some() {
                    col += 1;
                }
            }
            Some('"') if c == '"' => quote = None,
            Some(_) => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '\'' | '"' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some((line, col));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_bracket_past_the_limit() {
        let deep = format!("a: {}", "[".repeat(MAX_NESTING + 5));
        assert_eq!(too_deep(&deep), Some((1, 4 + MAX_NESTING)));
        let ok = format!("a: {}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert_eq!(too_deep(&ok), None);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let many = "[".repeat(MAX_NESTING + 1);
        for src in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: 'it''s {many}'\n"),
            format!("a: \"say \\\" {many}\"\n"),
            format!("a: 1 # {many}\n"),
        ] {
            assert_eq!(too_deep(&src), None, "{src}");
        }
        // A comment ends at the line's end; the next line is counted again.
        let src = format!("a: 1 # x\nb: {many}\n");
        assert_eq!(too_deep(&src), Some((2, 4 + MAX_NESTING)));
    }
}
