//! Business-scoped user ids (BSUID): text → a validated id. WhatsApp gives one per user and
//! business portfolio (`US.13491208655302741918`: an ISO 3166 two-letter country code, a period,
//! then letters and digits; parent ids add a segment, `US.ENT.11815799212886844830`). Stored and
//! sent back exactly as received.

use std::fmt;
use std::sync::Arc;

/// Longest id part accepted after the country code (providers document up to 128 characters).
const MAX_ID: usize = 128;

/// What the errors show as the right form.
const EXAMPLE: &str = "a business-scoped user id is a country code, a period and the id, as WhatsApp gives it, e.g. US.13491208655302741918";

/// Why text is not a BSUID; each names the right form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BsuidError {
    #[error("`{0}` is not a business-scoped user id; {EXAMPLE}")]
    NotAnId(String),
    #[error("`{0}` does not start with a two-letter country code in capitals; {EXAMPLE}")]
    NoCountryCode(String),
    #[error("`{input}` has characters other than letters, digits and single periods after `{cc}.`; {EXAMPLE}")]
    Characters { input: String, cc: String },
    #[error("`{input}` is {len} characters long after `{cc}.`; a business-scoped user id has at most {MAX_ID}")]
    TooLong {
        input: String,
        cc: String,
        len: usize,
    },
}

/// A validated BSUID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bsuid(Arc<String>);

impl Bsuid {
    /// Whether `input` is meant as a BSUID: letters then a period (`US.`, `us.`), which no phone
    /// number is written as. Such text is then validated by `parse`, never read as a number.
    pub fn looks_like(input: &str) -> bool {
        input
            .trim()
            .split_once('.')
            .is_some_and(|(cc, _)| !cc.is_empty() && cc.chars().all(|c| c.is_ascii_alphabetic()))
    }

    /// Parse a BSUID; the error says what is wrong and what would be right.
    pub fn parse(input: &str) -> Result<Bsuid, BsuidError> {
        let s = input.trim();
        let at = |kind: fn(String) -> BsuidError| Err(kind(input.into()));
        let Some((cc, id)) = s.split_once('.') else {
            return at(BsuidError::NotAnId);
        };
        if cc.len() != 2 || !cc.chars().all(|c| c.is_ascii_uppercase()) {
            return at(BsuidError::NoCountryCode);
        }
        let segments_ok = id
            .split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric()));
        if id.is_empty() || !segments_ok {
            return Err(BsuidError::Characters {
                input: input.into(),
                cc: cc.into(),
            });
        }
        if id.len() > MAX_ID {
            return Err(BsuidError::TooLong {
                input: input.into(),
                cc: cc.into(),
                len: id.len(),
            });
        }
        Ok(Bsuid(Arc::new(s.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bsuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_as_whatsapp_gives_them() {
        for ok in [
            "US.13491208655302741918",
            " MX.8812 ",
            "US.ENT.11815799212886844830",
            "BR.a1B2c3",
        ] {
            let b = Bsuid::parse(ok).unwrap();
            assert_eq!(b.as_str(), ok.trim());
            assert!(Bsuid::looks_like(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_ids_saying_what_is_right() {
        for (bad, why) in [
            ("us.1349", "two-letter country code in capitals"),
            ("USA.1349", "two-letter country code"),
            ("US.", "characters other than"),
            ("US.13-49", "characters other than"),
            ("US..1349", "characters other than"),
            ("US", "is not a business-scoped user id"),
        ] {
            let e = Bsuid::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains("US.13491208655302741918"), "{bad}: {e}");
        }
        let long = format!("US.{}", "1".repeat(129));
        assert!(Bsuid::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("at most 128"));
    }

    #[test]
    fn phone_numbers_do_not_look_like_ids() {
        for phone in [
            "+1 415 555 0101",
            "14155550101",
            "(415) 555-0101",
            "+44 20.7946.0958",
        ] {
            assert!(!Bsuid::looks_like(phone), "{phone}");
        }
    }
}
