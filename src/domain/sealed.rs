//! The stored form of a sealed value (src/seal.rs seals and opens it) and which key sealed it.
//!
//! `v2:<key id>:<nonce>:<ciphertext+tag>`, all lower-case hex: the key id is 8 bytes of
//! SHA-256 over a fixed context and the key, so a reader picks the key without trying each one,
//! and SQL can tell, from the text alone, which rows a key rotation still has to re-seal
//! (migration 0011's generated `*_sealed_by` columns are `substr(value, 4, 16)`).
//! `v1:<nonce>:<ciphertext+tag>` values, written before key ids, are still read: by trying the
//! current key, then the previous one (GCM's tag tells which).

use sha2::{Digest, Sha256};

/// Hex characters of a key id (8 bytes: a 2^-64 chance that two keys share one).
pub const KEY_ID_HEX: usize = 16;
/// Hashed before the key, so the id is of no use for anything but naming it.
const KEY_ID_CONTEXT: &[u8] = b"postbridge seal key id v1\n";
/// AES-GCM's tag alone is 16 bytes.
const TAG_BYTES: usize = 16;

/// Which key sealed a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn of(key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_CONTEXT)
            .chain_update(key)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    fn parse(s: &str) -> Option<Self> {
        // Lower case only: the id is compared as text in SQL.
        if s.len() != KEY_ID_HEX || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        Some(KeyId(hex::decode(s).ok()?.try_into().ok()?))
    }
}

/// A sealed value, parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Sealed {
    /// `None` for a `v1` value: sealed before key ids were written.
    pub sealed_by: Option<KeyId>,
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// `None` unless `v2:<16 hex>:<24 hex>:<at least 32 hex>` or `v1:<24 hex>:<…>`.
    pub fn parse(s: &str) -> Option<Self> {
        let (sealed_by, rest) = if let Some(rest) = s.strip_prefix("v2:") {
            let (id, rest) = rest.split_once(':')?;
            (Some(KeyId::parse(id)?), rest)
        } else {
            (None, s.strip_prefix("v1:")?)
        };
        let (nonce, ct) = rest.split_once(':')?;
        let nonce: [u8; 12] = hex::decode(nonce).ok()?.try_into().ok()?;
        let ciphertext = hex::decode(ct).ok()?;
        (ciphertext.len() >= TAG_BYTES).then_some(Sealed {
            sealed_by,
            nonce,
            ciphertext,
        })
    }

    /// The stored text: always `v2`, naming its key.
    pub fn format(key: KeyId, nonce: &[u8; 12], ciphertext: &[u8]) -> String {
        format!(
            "v2:{}:{}:{}",
            key.to_hex(),
            hex::encode(nonce),
            hex::encode(ciphertext)
        )
    }
}

/// One of the deployment's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Current,
    Previous,
}

/// The keys that may open a value sealed by `sealed_by`, in the order to try them: the one it
/// names, if the deployment has it (none otherwise); for a `v1` value, every key it has.
pub fn keys_to_try(sealed_by: Option<KeyId>, current: KeyId, previous: Option<KeyId>) -> Vec<Slot> {
    match sealed_by {
        Some(k) if k == current => vec![Slot::Current],
        Some(k) if Some(k) == previous => vec![Slot::Previous],
        Some(_) => vec![],
        None if previous.is_some() => vec![Slot::Current, Slot::Previous],
        None => vec![Slot::Current],
    }
}

/// Whether the re-seal sweep should rewrite this value under the current key: it is not
/// already sealed by it (a `v1` value is rewritten too, so that every value comes to name its
/// key).
pub fn needs_reseal(sealed_by: Option<KeyId>, current: KeyId) -> bool {
    sealed_by != Some(current)
}

/// What SQL sees of a value's key (migration 0011's generated columns): its id, or `''` for a
/// `v1` value (or anything else that is not `v2`). The sweep's queries rely on this agreeing
/// with the migration; a native test ties the two together.
pub fn sql_sealed_by(stored: &str) -> String {
    match stored.strip_prefix("v2:") {
        Some(rest) => rest.chars().take(KEY_ID_HEX).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [0xaa; 32];
    const B: [u8; 32] = [0xbb; 32];

    #[test]
    fn key_ids_are_sha256_of_the_context_and_the_key() {
        // Computed independently: printf 'postbridge seal key id v1\n' + 32 × 0x00 | sha256sum.
        let mut input = KEY_ID_CONTEXT.to_vec();
        input.extend_from_slice(&[0u8; 32]);
        let expected = hex::encode(&Sha256::digest(&input)[..8]);
        assert_eq!(KeyId::of(&[0; 32]).to_hex(), expected);
        assert_eq!(KeyId::of(&A).to_hex().len(), KEY_ID_HEX);
        assert_ne!(KeyId::of(&A), KeyId::of(&B));
        assert_eq!(KeyId::of(&A), KeyId::of(&A));
    }

    #[test]
    fn v2_values_round_trip_and_name_their_key() {
        let id = KeyId::of(&A);
        let text = Sealed::format(id, &[1; 12], &[9; 20]);
        assert!(text.starts_with(&format!("v2:{}:010101010101010101010101:", id.to_hex())));
        let parsed = Sealed::parse(&text).unwrap();
        assert_eq!(parsed.sealed_by, Some(id));
        assert_eq!(parsed.nonce, [1; 12]);
        assert_eq!(parsed.ciphertext, vec![9; 20]);
        assert_eq!(sql_sealed_by(&text), id.to_hex());
    }

    #[test]
    fn v1_values_still_parse_without_a_key() {
        let text = format!("v1:{}:{}", "00".repeat(12), "ab".repeat(20));
        let parsed = Sealed::parse(&text).unwrap();
        assert_eq!(parsed.sealed_by, None);
        assert_eq!(parsed.ciphertext.len(), 20);
        assert_eq!(sql_sealed_by(&text), "");
    }

    #[test]
    fn malformed_values_do_not_parse() {
        let id = "0123456789abcdef";
        let nonce = "00".repeat(12);
        let ct = "ab".repeat(16);
        for bad in [
            String::new(),
            "v1:00:00".into(),
            format!("v3:{id}:{nonce}:{ct}"),
            format!("v2:{nonce}:{ct}"),
            format!("v2:0123456789ABCDEF:{nonce}:{ct}"),
            format!("v2:0123456789abcde:{nonce}:{ct}"),
            format!("v2:0123456789abcdefa:{nonce}:{ct}"),
            format!("v2:0123456789abcdeg:{nonce}:{ct}"),
            format!("v2:{id}:{nonce}:abab"),
            format!("v2:{id}:{nonce}"),
            format!("v2:{id}:00:{ct}"),
            format!("v2:{id}:{nonce}:é"),
            format!("v2:{id}:{nonce}:{ct}:"),
            format!("v1:{nonce}:abab"),
            format!("v1:zz{}:{ct}", &nonce[2..]),
            format!("v2:é{}:{nonce}:{ct}", &id[2..]),
        ] {
            assert!(Sealed::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_key_a_value_names_is_the_only_one_tried() {
        let (a, b, c) = (KeyId::of(&A), KeyId::of(&B), KeyId::of(&[0xcc; 32]));
        use Slot::*;
        // (the key a value names, the current key, the previous key) → the keys tried.
        type Case = (Option<KeyId>, KeyId, Option<KeyId>, &'static [Slot]);
        let cases: &[Case] = &[
            (Some(b), b, Some(a), &[Current]),
            (Some(a), b, Some(a), &[Previous]),
            (Some(a), b, None, &[]),
            (Some(c), b, Some(a), &[]),
            (None, b, Some(a), &[Current, Previous]),
            (None, b, None, &[Current]),
            (Some(b), b, None, &[Current]),
        ];
        for (i, (by, cur, prev, want)) in cases.iter().enumerate() {
            assert_eq!(keys_to_try(*by, *cur, *prev), *want, "case {i}");
        }
    }

    #[test]
    fn only_values_not_sealed_by_the_current_key_are_resealed() {
        let (a, b) = (KeyId::of(&A), KeyId::of(&B));
        assert!(!needs_reseal(Some(b), b));
        assert!(needs_reseal(Some(a), b));
        assert!(needs_reseal(None, b));
    }

    #[test]
    fn the_migration_computes_sealed_by_as_this_module_does() {
        let sql = include_str!("../../migrations/0011_sealed_by.sql");
        let columns = [
            ("credentials", "credentials_sealed_by"),
            ("platform_session", "session_sealed_by"),
            ("secret", "secret_sealed_by"),
            ("previous_secret", "previous_secret_sealed_by"),
        ];
        for (value, by) in columns {
            let expr = format!(
                "{by} TEXT GENERATED ALWAYS AS (CASE WHEN {value} IS NULL THEN NULL WHEN substr({value}, 1, 3) = 'v2:' THEN substr({value}, 4, {KEY_ID_HEX}) ELSE '' END) VIRTUAL"
            );
            let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(&expr), "migration 0011 no longer has: {expr}");
        }
    }
}
