//! The one duration syntax users write, in every flag and field: `90s`, `10m`, `90min`,
//! `1h30m`, `1h 30m`, `2days`, `250ms` (humantime's grammar: a number and a unit, repeated).
//! Rate-limit headers from servers are a different matter (see `ratelimit::duration`).

use std::time::Duration;

/// What the errors show as examples of the syntax.
pub const EXAMPLES: &str = "e.g. 90s, 10m, 90min or 1h30m";

/// Why text is not the duration wanted; each says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration; write {EXAMPLES}")]
    NotADuration(String),
    #[error("`{0}` is zero; give a duration longer than 0")]
    Zero(String),
}

/// Parse a duration as users write it.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|_| DurationError::NotADuration(text.into()))
}

/// A duration flag that must be longer than zero (a clap value parser).
pub fn parse_positive(text: &str) -> Result<Duration, DurationError> {
    match parse(text)? {
        d if d.is_zero() => Err(DurationError::Zero(text.into())),
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
        assert_eq!(
            parse("soon").unwrap_err().to_string(),
            "`soon` is not a duration; write e.g. 90s, 10m, 90min or 1h30m"
        );
        assert_eq!(
            parse_positive("0s").unwrap_err().to_string(),
            "`0s` is zero; give a duration longer than 0"
        );
    }
}
