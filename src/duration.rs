//! The one duration syntax users write, in every flag and field: `90s`, `10m`, `90min`,
//! `1h30m`, `1h 30m`, `2days`, `250ms` (humantime's grammar: a number and a unit, repeated).
//! Rate-limit headers from servers are a different matter (see `ratelimit::duration`).

use std::time::Duration;

/// What the errors show as examples of the syntax.
pub const EXAMPLES: &str = "e.g. 90s, 10m, 90min or 1h30m";

/// Parse a duration as users write it.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration; write {EXAMPLES}"))
}

/// A duration flag that must be longer than zero (a clap value parser).
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    match parse(text)? {
        d if d.is_zero() => Err(format!("`{text}` is zero; give a duration longer than 0")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_syntax_for_every_duration() {
        for (text, secs) in [
            ("90s", 90),
            ("10m", 600),
            ("90min", 5400),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("2days", 172_800),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse("soon").unwrap_err().contains("90min"));
        assert!(parse_positive("0s").is_err());
    }
}
