//! Signing by the Standard Webhooks spec (<https://www.standardwebhooks.com/>): the secret is
//! `whsec_` + base64 of 32 random bytes; a signature is `v1,` + base64 of HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the secret's bytes; while a rotated-out
//! secret still signs, `webhook-signature` lists both, separated by a space.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::DomainError;

pub const SECRET_PREFIX: &str = "whsec_";
const KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A signing secret's key bytes. Its `Debug` shows nothing of them: a secret never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// A new key from the platform's CSPRNG (Web Crypto on wasm).
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).expect("the platform CSPRNG is available");
        SigningKey(bytes)
    }

    /// `whsec_…`, the form shown to the customer once and sealed at rest.
    pub fn to_secret(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0))
    }

    /// Reads a secret in the form [`SigningKey::to_secret`] writes; anything else is refused.
    pub fn from_secret(secret: &str) -> Result<Self, DomainError> {
        let bad = DomainError::new("is not a webhook secret");
        let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(bad.clone())?;
        let bytes = STANDARD.decode(encoded).map_err(|_| bad.clone())?;
        bytes.try_into().map(SigningKey).map_err(|_| bad)
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether `header` (a `webhook-signature` value) holds a `v1` signature of this message by
    /// this key. The tags are compared in constant time (`Mac::verify_slice`).
    pub fn verifies(&self, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
        header.split(' ').any(|part| {
            let Some(encoded) = part.strip_prefix("v1,") else {
                return false;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                return false;
            };
            self.mac(id, timestamp, body).verify_slice(&tag).is_ok()
        })
    }
}

/// The `webhook-signature` header: one signature per key that signs (the current secret first).
pub fn signature_header(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| k.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' test suites.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn secrets_are_whsec_and_32_bytes_of_base64() {
        let key = SigningKey::generate();
        let secret = key.to_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret.len(), 6 + 44);
        assert_eq!(SigningKey::from_secret(&secret), Ok(key.clone()));
        assert_ne!(SigningKey::generate(), key);
        assert_eq!(format!("{key:?}"), "SigningKey(…)");
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let good = SigningKey::generate().to_secret();
        for bad in [
            "",
            "whsec_",
            &good[6..],
            &good.replace("whsec_", "whsec-"),
            &good[..good.len() - 4],
            "whsec_!!!!",
            // 24 bytes: a valid secret elsewhere, not one this product makes.
            SPEC_SECRET,
        ] {
            assert!(SigningKey::from_secret(bad).is_err(), "{bad}");
        }
    }

    /// The spec's own vector, signed with the same HMAC over `id.timestamp.body`.
    #[test]
    fn signatures_match_the_reference_vector() {
        let key_bytes = STANDARD.decode(&SPEC_SECRET[6..]).unwrap();
        let mut mac = HmacSha256::new_from_slice(&key_bytes).unwrap();
        mac.update(format!("{SPEC_ID}.{SPEC_TIMESTAMP}.{SPEC_BODY}").as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(expected, SPEC_SIGNATURE);
        // Our 32-byte keys take the same path: content and encoding are the spec's.
        let key = SigningKey::generate();
        let sig = key.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.as_bytes());
        let mut mac = HmacSha256::new_from_slice(&key.0).unwrap();
        mac.update(format!("{SPEC_ID}.{SPEC_TIMESTAMP}.{SPEC_BODY}").as_bytes());
        assert_eq!(
            sig,
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn two_secrets_sign_space_separated_and_either_verifies() {
        let (new, old, other) = (
            SigningKey::generate(),
            SigningKey::generate(),
            SigningKey::generate(),
        );
        let body = br#"{"type":"webhook.test"}"#;
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 1700000000, body);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert!(new.verifies(&header, "msg_1", 1700000000, body));
        assert!(old.verifies(&header, "msg_1", 1700000000, body));
        assert!(!other.verifies(&header, "msg_1", 1700000000, body));
        // Any change to id, timestamp or body breaks it.
        assert!(!new.verifies(&header, "msg_2", 1700000000, body));
        assert!(!new.verifies(&header, "msg_1", 1700000001, body));
        assert!(!new.verifies(&header, "msg_1", 1700000000, b"{}"));
        // Malformed headers verify nothing (and do not panic).
        for bad in ["", "v1,", "v1,!!!", "v2,abc", " ", "v1"] {
            assert!(!new.verifies(bad, "msg_1", 1700000000, body), "{bad}");
        }
        assert_eq!(
            signature_header(std::slice::from_ref(&new), "msg_1", 1, body),
            new.sign("msg_1", 1, body)
        );
    }
}
