//! Webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`,
//! made by the sandbox (as the platform does) and checked by `webhook --listen`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header the Cloud API signs every webhook POST with.
pub const HEADER: &str = "x-hub-signature-256";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first): this cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// The header value for `body`: `sha256=` and 64 lowercase hex digits.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of the raw `body` bytes. The comparison runs in constant
/// time (`verify_slice`), so an attacker learns nothing from how long a refusal takes. A header
/// without the `sha256=` prefix or with malformed hex is simply invalid.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_tag) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_from_rfc_4231() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(sign(b"Jefe", b"what do ya want for nothing?"), expected);
        assert!(verify(b"Jefe", b"what do ya want for nothing?", expected));
    }

    #[test]
    fn tampered_bodies_wrong_secrets_and_malformed_headers_are_refused() {
        let body = "{\"text\":\"hola 👋\"}".as_bytes();
        let good = sign(b"secret", body);
        assert!(verify(b"secret", body, &good));
        assert!(!verify(
            b"secret",
            "{\"text\":\"hola 👊\"}".as_bytes(),
            &good
        ));
        assert!(!verify(b"other", body, &good));
        assert!(!verify(b"secret", body, good.trim_start_matches("sha256=")));
        assert!(!verify(b"secret", body, "sha256=zz"));
        assert!(!verify(b"secret", body, "sha256="));
        assert!(!verify(b"secret", body, &good[..good.len() - 2]));
    }
}
