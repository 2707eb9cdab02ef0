//! Identities: who a message goes to, as the platform names them → `UserId`, a phone number
//! (E.164, Mexican `521…` wa_ids normalized) or a business-scoped user id (BSUID). Depends on
//! nothing else in the crate, so every stage (campaign, provider, ledger) can use it.

mod bsuid;
mod phone;

pub use bsuid::Bsuid;
pub use phone::{Country, Phone};

use std::fmt;

/// A recipient as the provider addresses it. The phone arm stays a `u64` (the common case costs
/// what `Phone` alone cost); a BSUID is shared text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserId {
    Phone(Phone),
    Bsuid(Bsuid),
}

impl UserId {
    /// Parse what a user or a webhook wrote: a BSUID (`US.13491208655302741918`) when it has the
    /// `CC.` form, else a phone number (national ones read in `country`).
    pub fn parse_in(input: &str, country: Option<Country>) -> Result<UserId, String> {
        if Bsuid::looks_like(input) {
            return Bsuid::parse(input).map(UserId::Bsuid);
        }
        Phone::parse_in(input, country).map(UserId::Phone)
    }

    /// The phone number, when this identity is one.
    pub fn phone(&self) -> Option<Phone> {
        match self {
            UserId::Phone(p) => Some(*p),
            UserId::Bsuid(_) => None,
        }
    }

    /// The text the send key and the ledger use: E.164 digits without `+`, or the BSUID.
    pub fn key_text(&self) -> String {
        match self {
            UserId::Phone(p) => p.digits(),
            UserId::Bsuid(b) => b.as_str().to_string(),
        }
    }
}

impl From<Phone> for UserId {
    fn from(p: Phone) -> UserId {
        UserId::Phone(p)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserId::Phone(p) => p.fmt(f),
            UserId::Bsuid(b) => b.fmt(f),
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
        let p = UserId::parse_in("5215512345678", None).unwrap();
        assert_eq!(p.to_string(), "+525512345678");
        assert_eq!(p.key_text(), "525512345678");
        assert!(p.phone().is_some());
        let e = UserId::parse_in("us.1349", None).unwrap_err();
        assert!(e.contains("US.13491208655302741918"), "{e}");
    }

    #[test]
    fn the_phone_arm_stays_small() {
        assert_eq!(std::mem::size_of::<Phone>(), 8);
        assert_eq!(std::mem::size_of::<UserId>(), 16);
    }
}
