//! Phone numbers: parsed with the `phonenumber` crate and kept as validated E.164.

use std::fmt;

/// A valid phone number in E.164 form. Stored as its digits (at most 15, so a `u64` holds them),
/// which keeps a million recipients small in memory and makes duplicate detection cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(u64);

impl Phone {
    /// Parse a number written in international form (`+14155550123`, `+1 (415) 555-0123`;
    /// a leading `+` may be omitted). Returns what would be right on failure.
    pub fn parse(input: &str) -> Result<Phone, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(
                "the phone number is empty; write it in international form, e.g. +14155550123"
                    .into(),
            );
        }
        let with_plus: std::borrow::Cow<str> = if trimmed.starts_with('+') {
            trimmed.into()
        } else {
            format!("+{trimmed}").into()
        };
        let number = phonenumber::parse(None, with_plus.as_ref())
            .map_err(|e| format!("`{input}` is not a phone number ({e}); write it in international form with the country code, e.g. +14155550123"))?;
        if !phonenumber::is_valid(&number) {
            return Err(format!(
                "`{input}` is not a valid number for country code +{}; check the digits (international form, e.g. +14155550123)",
                number.code().value()
            ));
        }
        // E.164 is the country code followed by the national number with its leading zeros;
        // built arithmetically, as the formatter would only say the same thing more slowly.
        let national = number.national();
        let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d + 1);
        let width = u32::from(national.zeros()) + digits(national.value());
        10u64
            .checked_pow(width)
            .and_then(|scale| u64::from(number.code().value()).checked_mul(scale))
            .and_then(|head| head.checked_add(national.value()))
            .filter(|&d| digits(d) <= 15)
            .map(Phone)
            .ok_or_else(|| format!("`{input}` is too long for E.164"))
    }

    /// The digits without `+`, as Messangi wants the sender.
    pub fn digits(&self) -> String {
        self.0.to_string()
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
    fn rejects_garbage_with_guidance() {
        for bad in ["", "hello", "+1 415", "+999 1234"] {
            let e = Phone::parse(bad).unwrap_err();
            assert!(e.contains("e.g. +14155550123"), "{bad}: {e}");
        }
    }
}
