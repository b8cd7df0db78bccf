//! Bearer tokens: their format, checksum and hash. No storage is touched here.
//!
//! A token is `pb_live_` (API key) or `pb_sess_` (session) followed by 32 base62 characters:
//! 26 random ones and a 6-character checksum, the CRC32 of those 26, base62-encoded and
//! zero-padded. So a typo or a random string is refused before any hashing or lookup, and a
//! secret scanner can recognise a real key offline. The server keeps only SHA-256 of the token.

use sha2::{Digest, Sha256};

use crate::domain::ids::{random_base62, BASE62};

const BODY: usize = 26;
const CHECK: usize = 6;
/// Characters of a key, after `pb_live_`, that listings show.
pub const PREFIX_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    Session,
}

impl CredentialKind {
    pub fn token_prefix(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "pb_live_",
            CredentialKind::Session => "pb_sess_",
        }
    }
}

/// Any failure to read a token. Deliberately carries no detail: every cause is one 401.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// A token whose shape and checksum are right; it may still be unknown, revoked or expired.
#[derive(Debug)]
pub struct Credential {
    pub kind: CredentialKind,
    pub hash: KeyHash,
}

impl Credential {
    /// Reads an `Authorization` header value.
    pub fn from_header(value: Option<&str>) -> Result<Self, Malformed> {
        let value = value.ok_or(Malformed)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Malformed);
        }
        Self::parse(token.trim())
    }

    pub fn parse(token: &str) -> Result<Self, Malformed> {
        let kind = [CredentialKind::ApiKey, CredentialKind::Session]
            .into_iter()
            .find(|k| token.starts_with(k.token_prefix()))
            .ok_or(Malformed)?;
        let rest = &token[kind.token_prefix().len()..];
        if rest.len() != BODY + CHECK || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Malformed);
        }
        let (body, check) = rest.split_at(BODY);
        if checksum(body) != check {
            return Err(Malformed);
        }
        Ok(Credential {
            kind,
            hash: KeyHash::of(token),
        })
    }
}

/// A freshly minted token. It exists only until the create response is written.
pub struct PlainToken(String);

impl PlainToken {
    pub fn generate(kind: CredentialKind) -> Self {
        let body = random_base62(BODY);
        PlainToken(format!(
            "{}{}{}",
            kind.token_prefix(),
            body,
            checksum(&body)
        ))
    }

    /// The characters after `pb_live_` that listings may show.
    pub fn display_prefix(&self) -> &str {
        &self.0[8..8 + PREFIX_LEN]
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The plaintext, for the one response that returns it.
    pub fn reveal(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

/// SHA-256 of a whole token, lowercase hex: what D1 stores and what caches are keyed by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(token: &str) -> Self {
        KeyHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    pub fn from_stored(hex: String) -> Self {
        KeyHash(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `get`, not a slice: a stored value is not guaranteed ASCII, and `Debug` must not panic.
        write!(f, "KeyHash({}…)", self.0.get(..6).unwrap_or_default())
    }
}

/// Compares secrets (or their hashes) in time that depends only on their length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// CRC-32 (ISO-HDLC, zlib's) computed bit by bit: a key body is 32 bytes, and the table
/// versions cost the wasm 1 KB (`Table<1>`) to 16 KB (crc32fast) of incompressible data.
const CRC32: crc::Crc<u32, crc::NoTable> =
    crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);

/// CRC32 of `body`, base62, left-padded with `0` to 6 characters (62^6 > 2^32).
pub fn checksum(body: &str) -> String {
    let mut n = u64::from(CRC32.checksum(body.as_bytes()));
    let mut out = [b'0'; CHECK];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_have_the_documented_shape_and_parse() {
        for kind in [CredentialKind::ApiKey, CredentialKind::Session] {
            let t = PlainToken::generate(kind);
            let hash = t.hash();
            let prefix = t.display_prefix().to_owned();
            let s = t.reveal();
            assert!(s.starts_with(kind.token_prefix()));
            assert_eq!(s.len(), 8 + 32);
            assert_eq!(prefix, s[8..16]);
            let c = Credential::parse(&s).unwrap();
            assert_eq!(c.kind, kind);
            assert_eq!(c.hash, hash);
            assert_eq!(c.hash.as_str().len(), 64);
        }
    }

    #[test]
    fn a_one_character_typo_is_refused() {
        let s = PlainToken::generate(CredentialKind::ApiKey).reveal();
        for i in 8..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(b).unwrap();
            assert_eq!(
                Credential::parse(&typo).unwrap_err(),
                Malformed,
                "position {i}"
            );
        }
        // Swapping two neighbouring characters is caught too.
        let mut b = s.clone().into_bytes();
        let i = (8..s.len() - 1).find(|&i| b[i] != b[i + 1]).unwrap();
        b.swap(i, i + 1);
        assert!(Credential::parse(&String::from_utf8(b).unwrap()).is_err());
    }

    #[test]
    fn checksum_is_crc32_in_base62() {
        // Expected values computed independently with Python's zlib.crc32.
        assert_eq!(checksum(""), "000000");
        assert_eq!(checksum("123456789"), "3jZRME"); // CRC32 = 0xCBF43926, the check value
    }

    #[test]
    fn random_and_malformed_strings_are_refused() {
        for bad in [
            "",
            "pb_live_",
            "pb_live_short",
            "sk_live_0123456789012345678901234567890",
            "pb_test_00000000000000000000000000000000",
            "pb_live_000000000000000000000000000000000",
            "pb_live_0000000000000000000000000-000000",
            "pb_live_abcdefghijklmnopqrstuvwxyzABCDEF",
        ] {
            assert!(Credential::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_need_the_bearer_scheme() {
        let s = PlainToken::generate(CredentialKind::Session).reveal();
        assert!(Credential::from_header(Some(&format!("Bearer {s}"))).is_ok());
        assert!(Credential::from_header(Some(&format!("bearer  {s} "))).is_ok());
        assert!(Credential::from_header(Some(&format!("Basic {s}"))).is_err());
        assert!(Credential::from_header(Some(&s)).is_err());
        assert!(Credential::from_header(None).is_err());
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let t = PlainToken::generate(CredentialKind::ApiKey);
        assert_eq!(format!("{t:?}"), "PlainToken(<redacted>)");
        let h = t.hash();
        assert!(format!("{h:?}").len() < 20);
    }
}
