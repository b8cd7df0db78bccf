//! Sealing secrets at rest: AES-256-GCM through Web Crypto, with the key from the
//! `CREDENTIALS_KEY` secret (64 hex characters), a random 96-bit nonce per value, and the row's
//! id as additional data, so a sealed value cannot be moved to another row. Sealed: social-account
//! credentials (the account id as additional data), the publisher's platform sessions
//! (`<account id>:session`), webhook signing secrets (the endpoint id). Stored as
//! `v2:<key id>:<nonce hex>:<ciphertext+tag hex>` (src/domain/sealed.rs). Nothing in the API
//! ever unseals: the credentials are for the publisher and the secrets for the webhook consumer
//! (`open`), and neither is ever returned.
//!
//! Rotation: `CREDENTIALS_KEY_PREVIOUS` (optional) holds the key before the current one. Sealing
//! always uses the current key; opening uses the key the value names (for `v1` values, from
//! before key ids, the current key, then the previous one). The re-seal sweep
//! (src/reseal_sweep.rs) rewrites what the previous key sealed, so that it can then be deleted.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::domain::sealed::{keys_to_try, KeyId, Sealed, Slot};
use crate::http::error::ApiError;

pub const KEY_VAR: &str = "CREDENTIALS_KEY";
pub const PREVIOUS_KEY_VAR: &str = "CREDENTIALS_KEY_PREVIOUS";

fn internal(step: &'static str) -> impl Fn(JsValue) -> ApiError {
    move |e| ApiError::Internal(format!("{step}: {e:?}"))
}

/// The 32-byte key from its hex form; `None` if absent or malformed.
pub fn parse_key(hex_key: Option<&str>) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_key?.trim()).ok()?;
    bytes.try_into().ok()
}

/// The deployment's key, or `Internal` naming the variable.
pub fn key_from(value: Option<&str>) -> Result<[u8; 32], ApiError> {
    parse_key(value)
        .ok_or_else(|| ApiError::Internal(format!("{KEY_VAR} is not set to 64 hex characters")))
}

/// A key and its id.
#[derive(Clone, Copy)]
pub struct Key {
    bytes: [u8; 32],
    id: KeyId,
}

impl Key {
    pub fn new(bytes: [u8; 32]) -> Self {
        Key {
            bytes,
            id: KeyId::of(&bytes),
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }
}

/// The deployment's keys: the current one seals; it and the previous one (during a rotation)
/// open.
#[derive(Clone, Copy)]
pub struct Keyring {
    current: Key,
    previous: Option<Key>,
}

impl Keyring {
    /// From the variables' values: the current key must be 64 hex characters; the previous one,
    /// if set (and not blank), too. `Internal` names the variable that is wrong.
    pub fn from_vars(current: Option<&str>, previous: Option<&str>) -> Result<Self, ApiError> {
        let current = Key::new(key_from(current)?);
        let previous = match previous.filter(|p| !p.trim().is_empty()) {
            None => None,
            Some(p) => Some(Key::new(parse_key(Some(p)).ok_or_else(|| {
                ApiError::Internal(format!(
                    "{PREVIOUS_KEY_VAR} is not set to 64 hex characters"
                ))
            })?)),
        };
        Ok(Keyring { current, previous })
    }

    pub fn from_env(env: &worker::Env) -> Result<Self, ApiError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        Self::from_vars(var(KEY_VAR).as_deref(), var(PREVIOUS_KEY_VAR).as_deref())
    }

    pub fn current(&self) -> KeyId {
        self.current.id
    }

    pub fn previous(&self) -> Option<KeyId> {
        self.previous.map(|k| k.id)
    }

    fn slot(&self, slot: Slot) -> Option<&Key> {
        match slot {
            Slot::Current => Some(&self.current),
            Slot::Previous => self.previous.as_ref(),
        }
    }
}

fn subtle() -> Result<web_sys::SubtleCrypto, ApiError> {
    let crypto: web_sys::Crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(internal("crypto global"))?
        .unchecked_into();
    Ok(crypto.subtle())
}

async fn import(
    subtle: &web_sys::SubtleCrypto,
    key: &[u8; 32],
    usage: &str,
) -> Result<web_sys::CryptoKey, ApiError> {
    let usages = Array::of1(&usage.into());
    let key = subtle
        .import_key_with_str(
            "raw",
            &Uint8Array::from(&key[..]),
            "AES-GCM",
            false,
            &usages,
        )
        .map_err(internal("aes import"))?;
    Ok(JsFuture::from(key)
        .await
        .map_err(internal("aes import"))?
        .unchecked_into())
}

fn params(nonce: &[u8], additional_data: &[u8]) -> Result<Object, ApiError> {
    let params = Object::new();
    for (k, v) in [
        ("name", JsValue::from_str("AES-GCM")),
        ("iv", Uint8Array::from(nonce).into()),
        ("additionalData", Uint8Array::from(additional_data).into()),
    ] {
        Reflect::set(&params, &k.into(), &v).map_err(internal("aes params"))?;
    }
    Ok(params)
}

/// Seals under the current key.
pub async fn seal(
    keys: &Keyring,
    plaintext: &[u8],
    additional_data: &str,
) -> Result<String, ApiError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Internal(format!("nonce: {e}")))?;
    seal_with_nonce(&keys.current, &nonce, plaintext, additional_data.as_bytes()).await
}

/// [`seal`] with a given key and nonce: the deterministic core, for known-answer tests. A nonce
/// must never be used twice with one key.
pub(crate) async fn seal_with_nonce(
    key: &Key,
    nonce: &[u8; 12],
    plaintext: &[u8],
    additional_data: &[u8],
) -> Result<String, ApiError> {
    let subtle = subtle()?;
    let crypto_key = import(&subtle, &key.bytes, "encrypt").await?;
    let params = params(nonce, additional_data)?;
    let sealed = subtle
        .encrypt_with_object_and_u8_array(&params, &crypto_key, plaintext)
        .map_err(internal("aes encrypt"))?;
    let sealed = JsFuture::from(sealed)
        .await
        .map_err(internal("aes encrypt"))?;
    Ok(Sealed::format(
        key.id,
        nonce,
        &Uint8Array::new(&sealed).to_vec(),
    ))
}

/// Why a sealed value could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Neither `v2:<16 hex>:<24 hex>:<hex>` nor `v1:<24 hex>:<hex>`.
    Malformed,
    /// Sealed by a key this deployment no longer has (neither the current nor the previous).
    UnknownKey,
    /// The tag did not verify: another key, another row's value, or altered bytes.
    Rejected,
}

/// Opens what `seal` sealed with the same additional data, under whichever of the keys sealed it.
pub async fn open(
    keys: &Keyring,
    sealed: &str,
    additional_data: &str,
) -> Result<Result<Vec<u8>, OpenError>, ApiError> {
    let Some(parsed) = Sealed::parse(sealed) else {
        return Ok(Err(OpenError::Malformed));
    };
    let slots = keys_to_try(parsed.sealed_by, keys.current(), keys.previous());
    if slots.is_empty() {
        return Ok(Err(OpenError::UnknownKey));
    }
    let subtle = subtle()?;
    let params = params(&parsed.nonce, additional_data.as_bytes())?;
    for key in slots.into_iter().filter_map(|s| keys.slot(s)) {
        let crypto_key = import(&subtle, &key.bytes, "decrypt").await?;
        let opened = subtle
            .decrypt_with_object_and_u8_array(&params, &crypto_key, &parsed.ciphertext)
            .map_err(internal("aes decrypt"))?;
        // Web Crypto rejects with OperationError when the tag does not verify.
        if let Ok(plain) = JsFuture::from(opened).await {
            return Ok(Ok(Uint8Array::new(&plain).to_vec()));
        }
    }
    Ok(Err(OpenError::Rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(parse_key(Some(&"ab".repeat(32))).is_some());
        assert!(parse_key(Some(&"ab".repeat(31))).is_none());
        assert!(parse_key(Some("not hex")).is_none());
        assert!(parse_key(None).is_none());
        assert!(key_from(Some(&"0f".repeat(32))).is_ok());
        assert_eq!(key_from(Some("short")).unwrap_err().code(), "INTERNAL");
    }

    #[test]
    fn the_previous_key_is_optional_but_must_be_a_key_when_set() {
        let a = "ab".repeat(32);
        let b = "cd".repeat(32);
        let ring = Keyring::from_vars(Some(&b), Some(&a)).unwrap();
        assert_eq!(ring.current(), KeyId::of(&[0xcd; 32]));
        assert_eq!(ring.previous(), Some(KeyId::of(&[0xab; 32])));
        for blank in [None, Some(""), Some("  \n")] {
            assert_eq!(
                Keyring::from_vars(Some(&b), blank).unwrap().previous(),
                None
            );
        }
        let bad = Keyring::from_vars(Some(&b), Some("short")).err().unwrap();
        assert!(matches!(&bad, ApiError::Internal(m) if m.contains(PREVIOUS_KEY_VAR)));
        let bad = Keyring::from_vars(None, Some(&a)).err().unwrap();
        assert!(matches!(&bad, ApiError::Internal(m) if m.starts_with(KEY_VAR)));
    }
}
