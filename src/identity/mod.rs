//! Identities: who a message goes to, as the platform names them → `UserId`, a phone number
//! (E.164, Mexican `521…` wa_ids normalized) or a business-scoped user id (BSUID). Depends on
//! nothing else in the crate, so every stage (campaign, provider, ledger) can use it.

mod bsuid;
mod phone;

pub use bsuid::{Bsuid, BsuidError};
pub use phone::{Country, CountryError, Phone, PhoneError, Unreadable};

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

/// Why text is neither a phone number nor a business-scoped user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error(transparent)]
    Bsuid(#[from] BsuidError),
}

/// The text a diagnostic shows: these errors become `Problem` messages as they are.
macro_rules! message_text {
    ($($e:ty),*) => {$(
        impl From<$e> for String {
            fn from(e: $e) -> String {
                e.to_string()
            }
        }
    )*};
}
message_text!(IdError, PhoneError, BsuidError, CountryError);

/// A recipient as the provider addresses it: 8 bytes and `Copy`, exactly what `Phone` cost, so
/// the phone path (a million CSV rows) pays nothing for ids. A phone number is its E.164 digits
/// (at most 15, below 2^50); a BSUID is the top bit plus its index in a table of the ids this
/// process has seen (a campaign's few; never freed, as a CLI run is short).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(u64);

const BSUID_TAG: u64 = 1 << 63;

/// BSUIDs seen so far, by index, and the index of each.
#[derive(Default)]
struct Table {
    ids: Vec<Bsuid>,
    index: HashMap<Bsuid, u64>,
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl UserId {
    /// Parse what a user or a webhook wrote: a BSUID (`US.13491208655302741918`) when it has the
    /// `CC.` form, else a phone number (national ones read in `country`).
    pub fn parse_in(input: &str, country: Option<Country>) -> Result<UserId, IdError> {
        if Bsuid::looks_like(input) {
            return Ok(Bsuid::parse(input)?.into());
        }
        Ok(Phone::parse_in(input, country)?.into())
    }

    /// The phone number, when this identity is one.
    pub fn phone(self) -> Option<Phone> {
        (self.0 & BSUID_TAG == 0).then(|| Phone::from_value(self.0))
    }

    /// A phone number's E.164 digits as a number (the digits `key_text` writes), when this
    /// identity is one: 8 bytes where the text would take a string.
    pub fn phone_number(self) -> Option<u64> {
        (self.0 & BSUID_TAG == 0).then_some(self.0)
    }

    /// The business-scoped id, when this identity is one.
    pub fn bsuid(self) -> Option<Bsuid> {
        if self.0 & BSUID_TAG == 0 {
            return None;
        }
        let t = table().read().unwrap_or_else(|e| e.into_inner());
        t.ids.get((self.0 & !BSUID_TAG) as usize).cloned()
    }

    /// The text the send key and the ledger use: E.164 digits without `+`, or the BSUID.
    pub fn key_text(self) -> String {
        match self.bsuid() {
            Some(b) => b.as_str().to_string(),
            None => self.0.to_string(),
        }
    }
}

impl From<Phone> for UserId {
    fn from(p: Phone) -> UserId {
        UserId(p.value())
    }
}

impl From<Bsuid> for UserId {
    fn from(b: Bsuid) -> UserId {
        let mut t = table().write().unwrap_or_else(|e| e.into_inner());
        if let Some(&i) = t.index.get(&b) {
            return UserId(BSUID_TAG | i);
        }
        let i = t.ids.len() as u64;
        t.ids.push(b.clone());
        t.index.insert(b, i);
        UserId(BSUID_TAG | i)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bsuid() {
            Some(b) => b.fmt(f),
            None => write!(f, "+{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_bsuids_are_told_apart() {
        let b = UserId::parse_in("US.13491208655302741918", None).unwrap();
        assert_eq!(b.to_string(), "US.13491208655302741918");
        assert_eq!(b.key_text(), "US.13491208655302741918");
        assert_eq!(b.phone(), None);
        assert_eq!(
            b,
            UserId::parse_in(" US.13491208655302741918", None).unwrap()
        );
        assert_ne!(
            b,
            UserId::parse_in("US.13491208655302741919", None).unwrap()
        );
        let p = UserId::parse_in("5215512345678", None).unwrap();
        assert_eq!(p.to_string(), "+525512345678");
        assert_eq!(p.key_text(), "525512345678");
        assert!(p.phone().is_some() && p.bsuid().is_none());
        let e = UserId::parse_in("us.1349", None).unwrap_err().to_string();
        assert!(e.contains("US.13491208655302741918"), "{e}");
    }

    #[test]
    fn an_identity_costs_what_a_phone_number_cost() {
        assert_eq!(std::mem::size_of::<Phone>(), 8);
        assert_eq!(std::mem::size_of::<UserId>(), 8);
    }
}
