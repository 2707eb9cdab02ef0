//! The send key: one stable id per (campaign, recipient, message) carried on every request so a
//! provider's status webhook can be matched to its ledger row, even when the answer was lost.

use crate::identity::UserId;

/// `<12 hex of FNV-1a 64 of the campaign name>-<E.164 digits or BSUID>-<message index>`, e.g.
/// `3f2a9c01b7de-14155550101-0` or `3f2a9c01b7de-US.13491208655302741918-0`. The campaign name is hashed, not copied, because names are free
/// text while Messangi's `externalId` is documented as alphanumeric (its own example uses `-`);
/// the key stays under 40 characters, far within the Cloud API's 512. FNV-1a is written out here
/// (not `std`'s hasher) because the key must be identical across runs, builds and Rust versions:
/// frozen payloads and webhooks received days later must still match.
pub fn send_key(campaign: &str, to: &UserId, index: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in campaign.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}-{}-{index}", h >> 16, to.key_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stable_and_names_campaign_recipient_and_message() {
        let to = &UserId::from(crate::identity::Phone::parse("+14155550101").unwrap());
        // Known answer: FNV-1a 64 of "" is cbf29ce484222325; the key keeps its top 48 bits.
        assert_eq!(send_key("", to, 0), "cbf29ce48422-14155550101-0");
        let a = send_key("Spring sale 🌷", to, 2);
        assert_eq!(a, send_key("Spring sale 🌷", to, 2));
        assert!(a.ends_with("-14155550101-2"), "{a}");
        assert_ne!(a, send_key("Spring sale", to, 2));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert!(a.len() <= 40);
    }

    #[test]
    fn a_business_scoped_id_is_in_the_key_as_given() {
        let id = UserId::parse_in("US.13491208655302741918", None).unwrap();
        assert_eq!(
            send_key("", &id, 1),
            "cbf29ce48422-US.13491208655302741918-1"
        );
    }
}
