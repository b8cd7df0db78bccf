//! Sealing social-account credentials at rest: AES-256-GCM through Web Crypto, with the key
//! from the `CREDENTIALS_KEY` secret (64 hex characters), a random 96-bit nonce per value,
//! and the account id as additional data, so a sealed value cannot be moved to another row.
//! Stored as `v1:<nonce hex>:<ciphertext+tag hex>`. Webhook signing secrets are sealed the same
//! way (the endpoint id as additional data). Nothing in the API ever unseals: the credentials
//! are for the publisher and the secrets for the webhook consumer (`open`), and neither is ever
//! returned.

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

/// The deployment's key, or `Internal` naming the variable.
pub fn key_from(value: Option<&str>) -> Result<[u8; 32], ApiError> {
    parse_key(value)
        .ok_or_else(|| ApiError::Internal(format!("{KEY_VAR} is not set to 64 hex characters")))
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
    let subtle = subtle()?;
    let key = import(&subtle, key, "encrypt").await?;
    let params = params(nonce, additional_data)?;
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

/// Why a sealed value could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not `v1:<24 hex>:<hex>`.
    Malformed,
    /// The tag did not verify: another key, another row's value, or altered bytes.
    Rejected,
}

/// The nonce and ciphertext of a sealed value, if it is well formed.
pub fn split_sealed(sealed: &str) -> Option<([u8; 12], Vec<u8>)> {
    let rest = sealed.strip_prefix("v1:")?;
    let (nonce, ct) = rest.split_once(':')?;
    let nonce: [u8; 12] = hex::decode(nonce).ok()?.try_into().ok()?;
    let ct = hex::decode(ct).ok()?;
    // AES-GCM's tag alone is 16 bytes.
    (ct.len() >= 16).then_some((nonce, ct))
}

/// Opens what `seal` sealed with the same key and additional data.
pub async fn open(
    key: &[u8; 32],
    sealed: &str,
    additional_data: &str,
) -> Result<Result<Vec<u8>, OpenError>, ApiError> {
    let Some((nonce, ct)) = split_sealed(sealed) else {
        return Ok(Err(OpenError::Malformed));
    };
    let subtle = subtle()?;
    let key = import(&subtle, key, "decrypt").await?;
    let params = params(&nonce, additional_data.as_bytes())?;
    let opened = subtle
        .decrypt_with_object_and_u8_array(&params, &key, &ct)
        .map_err(internal("aes decrypt"))?;
    match JsFuture::from(opened).await {
        Ok(plain) => Ok(Ok(Uint8Array::new(&plain).to_vec())),
        // Web Crypto rejects with OperationError when the tag does not verify.
        Err(_) => Ok(Err(OpenError::Rejected)),
    }
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
    fn sealed_values_split_only_when_well_formed() {
        let good = format!("v1:{}:{}", "00".repeat(12), "ab".repeat(20));
        let (nonce, ct) = split_sealed(&good).unwrap();
        assert_eq!(nonce, [0; 12]);
        assert_eq!(ct.len(), 20);
        for bad in [
            "",
            "v2:000000000000000000000000:abababababababababababababababab",
            "v1:00:abababababababababababababababab",
            "v1:000000000000000000000000:abab",
            "v1:000000000000000000000000",
            "v1:zz0000000000000000000000:abababababababababababababababab",
            "v1:000000000000000000000000:é",
        ] {
            assert!(split_sealed(bad).is_none(), "{bad}");
        }
    }
}
