//! Sealing social-account credentials at rest: AES-256-GCM through Web Crypto, with the key
//! from the `CREDENTIALS_KEY` secret (64 hex characters), a random 96-bit nonce per value,
//! and the account id as additional data, so a sealed value cannot be moved to another row.
//! Stored as `v1:<nonce hex>:<ciphertext+tag hex>`. Nothing in the API ever unseals: the
//! credentials are for the publisher, and are never returned.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::http::error::ApiError;

pub const KEY_VAR: &str = "CREDENTIALS_KEY";

fn internal(step: &'static str) -> impl Fn(JsValue) -> ApiError {
    move |e| ApiError::Internal(format!("{step}: {e:?}"))
}

/// The 32-byte key from its hex form; `None` if absent or malformed.
pub fn parse_key(hex_key: Option<&str>) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_key?.trim()).ok()?;
    bytes.try_into().ok()
}

pub async fn seal(
    key: &[u8; 32],
    plaintext: &[u8],
    additional_data: &str,
) -> Result<String, ApiError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Internal(format!("nonce: {e}")))?;
    seal_with_nonce(key, &nonce, plaintext, additional_data.as_bytes()).await
}

/// [`seal`] with a given nonce: the deterministic core, for known-answer tests. A nonce must
/// never be used twice with one key.
pub(crate) async fn seal_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; 12],
    plaintext: &[u8],
    additional_data: &[u8],
) -> Result<String, ApiError> {
    let crypto: web_sys::Crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(internal("crypto global"))?
        .unchecked_into();
    let subtle = crypto.subtle();
    let usages = Array::of1(&"encrypt".into());
    let key = subtle
        .import_key_with_str(
            "raw",
            &Uint8Array::from(&key[..]),
            "AES-GCM",
            false,
            &usages,
        )
        .map_err(internal("aes import"))?;
    let key: web_sys::CryptoKey = JsFuture::from(key)
        .await
        .map_err(internal("aes import"))?
        .unchecked_into();
    let params = Object::new();
    for (k, v) in [
        ("name", JsValue::from_str("AES-GCM")),
        ("iv", Uint8Array::from(&nonce[..]).into()),
        ("additionalData", Uint8Array::from(additional_data).into()),
    ] {
        Reflect::set(&params, &k.into(), &v).map_err(internal("aes params"))?;
    }
    let sealed = subtle
        .encrypt_with_object_and_u8_array(&params, &key, plaintext)
        .map_err(internal("aes encrypt"))?;
    let sealed = JsFuture::from(sealed)
        .await
        .map_err(internal("aes encrypt"))?;
    Ok(format!(
        "v1:{}:{}",
        hex::encode(nonce),
        hex::encode(Uint8Array::new(&sealed).to_vec())
    ))
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
    }
}
