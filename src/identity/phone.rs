//! Phone numbers: parsed and validated with `rlibphonenumber` (a port of Google's libphonenumber)
//! and kept as E.164.

use rlibphonenumber::{ParseError, PhoneNumber, Region, PHONE_NUMBER_UTIL};
use std::borrow::Cow;
use std::fmt;

/// A valid phone number in E.164 form. Stored as its digits (at most 15, so a `u64` holds them),
/// which keeps a million recipients small in memory and makes duplicate detection cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(u64);

/// A country for numbers written without their country code: an ISO 3166 two-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(Region);

/// Text that is not an ISO 3166 two-letter country code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a country code; write a two-letter ISO 3166 code such as US, GB or MX")]
pub struct CountryError {
    pub input: String,
}

impl std::str::FromStr for Country {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Country, CountryError> {
        let code = s.trim().to_ascii_uppercase();
        // Any two letters make a `Region`; only those with numbering metadata are countries here.
        Region::from_code(&code)
            .ok()
            .filter(|r| {
                code.len() == 2 && PHONE_NUMBER_UTIL.get_country_code_for_region(*r).is_some()
            })
            .map(Country)
            .ok_or_else(|| CountryError { input: s.into() })
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why text is not a phone number; each says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty; write it in international form, e.g. +14155550123")]
    Empty,
    /// National digits with no country to read them in.
    #[error("`{input}` has no country code; write it in international form (e.g. +14155550123), or say the country of national numbers: `default_country: US` under `recipients:` or a `country` column")]
    NoCountryCode { input: String },
    /// Read with its country code, but no number of that country has these digits.
    #[error("`{input}` is not a valid number for country code +{code}; check the digits ({})", invalid_hint(*.written_with_code))]
    Invalid {
        input: String,
        code: u16,
        written_with_code: bool,
    },
    /// The parser could not read it as a number at all.
    #[error("`{input}` is not a phone number ({reason}); write it in international form with the country code, e.g. +14155550123")]
    Unreadable { input: String, reason: Unreadable },
    /// A national form (`(415) …`, `020 …`) that is not a number of the country given.
    #[error("`{input}` is not a valid number in {country}; check the digits, or write it in international form, e.g. +14155550123")]
    NotIn { input: String, country: Country },
    #[error("`{input}` is too long for E.164")]
    TooLong { input: String },
}

/// What the number parser could not read (its own words, shown in parentheses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("not a number")]
    NoNumber,
    #[error("invalid country code")]
    InvalidCountryCode,
    #[error("the number is too short after IDD")]
    TooShortAfterIdd,
    #[error("the number is too short after the country code")]
    TooShortNsn,
    #[error("the number is too long")]
    TooLong,
    #[error("malformed integer part in phone number: {0}")]
    MalformedInteger(std::num::ParseIntError),
}

impl From<ParseError> for Unreadable {
    fn from(e: ParseError) -> Unreadable {
        use rlibphonenumber::NotANumberError;
        match e {
            ParseError::NotANumber(NotANumberError::FailedToParseNumberAsInt(e)) => {
                Unreadable::MalformedInteger(e)
            }
            ParseError::NotANumber(_) => Unreadable::NoNumber,
            ParseError::InvalidCountryCode => Unreadable::InvalidCountryCode,
            ParseError::TooShortAfterIdd => Unreadable::TooShortAfterIdd,
            ParseError::TooShortNsn => Unreadable::TooShortNsn,
            ParseError::TooLongNsn => Unreadable::TooLong,
        }
    }
}

impl Phone {
    /// Parse a number written in international form (`+14155550123`, `+1 (415) 555-0123`,
    /// `0044 20 7946 0958`, or the digits alone as WhatsApp ids are written: `14155550123`).
    /// Returns what would be right on failure. See `parse_in` for national numbers.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        Phone::parse_in(input, None)
    }

    /// Parse a number; one written without `+` is read in `country` first when one is given
    /// (`(415) 555-0123` in US), then as international digits.
    ///
    /// Mexican mobiles as WhatsApp gives them (`521` + 10 digits, the old mobile prefix that
    /// numbering plans dropped in 2019) are normalized to E.164 `+52` + 10 digits, so both forms
    /// are one recipient.
    pub fn parse_in(input: &str, country: Option<Country>) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // Borrowed in the common case (`+…`): a million rows need no allocation here.
        let international: Option<Cow<str>> = if let Some(rest) = trimmed.strip_prefix("00") {
            Some(format!("+{rest}").into())
        } else if trimmed.starts_with('+') {
            Some(trimmed.into())
        } else if trimmed.starts_with(['(', '0']) {
            // `(415) ...` and `020 ...` are national forms: never read them as a country code.
            None
        } else {
            Some(format!("+{trimmed}").into())
        };
        let written_with_code = trimmed.starts_with('+') || trimmed.starts_with("00");
        let national = country
            .filter(|_| !written_with_code)
            .and_then(|c| PhoneNumber::parse(trimmed, Some(c.0)).ok())
            .filter(PhoneNumber::is_valid);
        let number = match (national, international) {
            (Some(n), _) => n,
            (None, Some(intl)) => match PhoneNumber::parse(intl.as_ref(), None) {
                Ok(n) if n.is_valid() => n,
                Ok(n) => match mexican_wa_id(&intl) {
                    Some(p) => return Ok(p),
                    None if written_with_code || country.is_some() => {
                        return Err(PhoneError::Invalid {
                            input: input.into(),
                            code: u16::try_from(n.country_code).unwrap_or_default(),
                            written_with_code,
                        })
                    }
                    None => return Err(no_country_code(input)),
                },
                Err(_) if !written_with_code && looks_national(trimmed) => {
                    return Err(no_country_code(input))
                }
                Err(e) => {
                    return Err(PhoneError::Unreadable {
                        input: input.into(),
                        reason: e.into(),
                    })
                }
            },
            (None, None) => match country {
                Some(country) => {
                    return Err(PhoneError::NotIn {
                        input: input.into(),
                        country,
                    })
                }
                None => return Err(no_country_code(input)),
            },
        };
        e164(&number).ok_or_else(|| PhoneError::TooLong {
            input: input.into(),
        })
    }

    /// The number as one integer (E.164 digits), for `UserId`'s packing.
    pub(super) fn value(self) -> u64 {
        self.0
    }

    /// A number known valid (it came from `value`).
    pub(super) fn from_value(digits: u64) -> Phone {
        Phone(digits)
    }

    /// The digits without `+`, as Messangi wants the sender.
    pub fn digits(&self) -> String {
        self.0.to_string()
    }
}

/// E.164 is the country code followed by the national number with its leading zeros; built
/// arithmetically, as the formatter would only say the same thing more slowly.
fn e164(number: &PhoneNumber) -> Option<Phone> {
    let national = number.national_number;
    // Leading zeros count only when the number has them (Italian fixed lines: `+39 06…`).
    let zeros = match number.italian_leading_zero() {
        true => u32::try_from(number.number_of_leading_zeros()).ok()?,
        false => 0,
    };
    let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d + 1);
    let width = zeros.checked_add(digits(national))?;
    let code = u64::try_from(number.country_code).ok()?;
    10u64
        .checked_pow(width)
        .and_then(|scale| code.checked_mul(scale))
        .and_then(|head| head.checked_add(national))
        .filter(|&d| digits(d) <= 15)
        .map(Phone)
}

/// `+521` + 10 digits (a Mexican mobile as a WhatsApp id) → `+52` + the 10 digits, when valid.
fn mexican_wa_id(international: &str) -> Option<Phone> {
    let digits: String = international.chars().filter(char::is_ascii_digit).collect();
    let rest = digits.strip_prefix("521").filter(|r| r.len() == 10)?;
    let n = PhoneNumber::parse(format!("+52{rest}"), None).ok()?;
    n.is_valid().then(|| e164(&n)).flatten()
}

/// What `PhoneError::Invalid` suggests: national numbers need a `default_country` to be read.
fn invalid_hint(written_with_code: bool) -> &'static str {
    match written_with_code {
        true => "international form, e.g. +14155550123",
        false => {
            "international form, e.g. +14155550123; a `default_country` reads national numbers"
        }
    }
}

/// Digits with the usual separators, enough for a national number: `415-555-0123`.
fn looks_national(s: &str) -> bool {
    s.chars().filter(char::is_ascii_digit).count() >= 6
        && s.chars()
            .all(|c| c.is_ascii_digit() || " -.()/".contains(c))
}

fn no_country_code(input: &str) -> PhoneError {
    PhoneError::NoCountryCode {
        input: input.into(),
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_e164() {
        assert_eq!(
            Phone::parse("+1 (415) 555-0123").unwrap().to_string(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse("14155550123").unwrap().to_string(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().to_string(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("+58 412 555 0101").unwrap().digits(),
            "584125550101"
        );
    }

    #[test]
    fn national_numbers_need_a_country() {
        let us: Country = "us".parse().unwrap();
        assert_eq!(
            Phone::parse_in("(415) 555-0123", Some(us))
                .unwrap()
                .to_string(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse_in("415 555 0123", Some(us))
                .unwrap()
                .to_string(),
            "+14155550123"
        );
        // A number with its country code ignores the default.
        let gb: Country = "GB".parse().unwrap();
        assert_eq!(
            Phone::parse_in("+1 415 555 0123", Some(gb))
                .unwrap()
                .to_string(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse_in("020 7946 0958", Some(gb))
                .unwrap()
                .to_string(),
            "+442079460958"
        );
        // International digits (WhatsApp ids) still read in a campaign with a default.
        assert_eq!(
            Phone::parse_in("14155550123", Some(gb))
                .unwrap()
                .to_string(),
            "+14155550123"
        );
        for national in ["4155550123", "415-555-0123", "415 555 0123"] {
            let e = Phone::parse(national).unwrap_err();
            assert!(
                matches!(e, PhoneError::NoCountryCode { .. }),
                "{national}: {e}"
            );
        }
        let e = Phone::parse("(415) 555-0123").unwrap_err().to_string();
        assert!(e.contains("has no country code"), "{e}");
        assert!(e.contains("default_country"), "{e}");
        assert!(!e.contains("+41"), "{e}");
        assert!("XX"
            .parse::<Country>()
            .unwrap_err()
            .to_string()
            .contains("ISO 3166"));
        assert!("USA".parse::<Country>().is_err());
    }

    #[test]
    fn mexican_whatsapp_ids_are_the_e164_number() {
        let e164 = Phone::parse("+52 55 1234 5678").unwrap();
        assert_eq!(e164.to_string(), "+525512345678");
        assert_eq!(Phone::parse("5215512345678").unwrap(), e164);
        assert_eq!(Phone::parse("+521 55 1234 5678").unwrap(), e164);
        // Only a 10-digit Mexican number after `521`.
        assert!(Phone::parse("+521551234567").is_err());
    }

    #[test]
    fn errors_say_what_they_said_as_text() {
        let gb: Country = "GB".parse().unwrap();
        for (input, country, text) in [
            ("", None, "the phone number is empty; write it in international form, e.g. +14155550123"),
            ("020 1", Some(gb), "`020 1` is not a valid number in GB; check the digits, or write it in international form, e.g. +14155550123"),
            ("44 20 7946 095", Some(gb), "`44 20 7946 095` is not a valid number for country code +44; check the digits (international form, e.g. +14155550123; a `default_country` reads national numbers)"),
            ("+1 415", None, "`+1 415` is not a valid number for country code +1; check the digits (international form, e.g. +14155550123)"),
            ("hello", None, "`hello` is not a phone number (not a number); write it in international form with the country code, e.g. +14155550123"),
        ] {
            let e = Phone::parse_in(input, country).unwrap_err();
            assert_eq!(e.to_string(), text, "{input}");
        }
        assert_eq!(
            "XX".parse::<Country>().unwrap_err().to_string(),
            "`XX` is not a country code; write a two-letter ISO 3166 code such as US, GB or MX"
        );
    }

    #[test]
    fn rejects_garbage_with_guidance() {
        for bad in ["", "hello", "+1 415", "+999 1234"] {
            let e = Phone::parse(bad).unwrap_err().to_string();
            assert!(e.contains("e.g. +14155550123"), "{bad}: {e}");
        }
    }
}
