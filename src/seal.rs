//! Sealing social-account credentials at rest: AES-256-GCM through Web Crypto, with the key
//! from the `CREDENTIALS_KEY` secret (64 hex characters), a random 96-bit nonce per value,
//! and the account id as additional data, so a sealed value cannot be moved to another row.
//! Stored as `v1:<nonce hex>:<ciphertext+tag hex>`. Nothing in the API's answers is ever
//! unsealed: `open` serves the background work that needs the plaintext (webhook signing
//! secrets, the publisher's credentials), and the values are never returned.

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

/// The key from the deployment's `CREDENTIALS_KEY`, or `Internal` naming the variable.
pub fn key_from(value: Option<&str>) -> Result<[u8; 32], ApiError> {
    parse_key(value)
        .ok_or_else(|| ApiError::Internal(format!("{KEY_VAR} is not set to 64 hex characters")))
}

/// The nonce and ciphertext of a sealed value; `None` if it is not in the `v1` form.
pub fn parse_sealed(sealed: &str) -> Option<([u8; 12], Vec<u8>)> {
    let rest = sealed.strip_prefix("v1:")?;
    let (nonce, ciphertext) = rest.split_once(':')?;
    let nonce: [u8; 12] = hex::decode(nonce).ok()?.try_into().ok()?;
    let ciphertext = hex::decode(ciphertext).ok()?;
    // AES-GCM appends a 16-byte tag: anything shorter was never sealed here.
    (ciphertext.len() >= 16).then_some((nonce, ciphertext))
}

/// Web Crypto's `SubtleCrypto` and the AES-GCM key, imported for `usage`.
async fn aes_key(
    key: &[u8; 32],
    usage: &str,
) -> Result<(web_sys::SubtleCrypto, web_sys::CryptoKey), ApiError> {
    let crypto: web_sys::Crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(internal("crypto global"))?
        .unchecked_into();
    let subtle = crypto.subtle();
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
    let key: web_sys::CryptoKey = JsFuture::from(key)
        .await
        .map_err(internal("aes import"))?
        .unchecked_into();
    Ok((subtle, key))
}

/// AES-GCM parameters: the nonce and the additional data the value is bound to.
fn gcm_params(nonce: &[u8; 12], additional_data: &str) -> Result<Object, ApiError> {
    let params = Object::new();
    for (k, v) in [
        ("name", JsValue::from_str("AES-GCM")),
        ("iv", Uint8Array::from(&nonce[..]).into()),
        (
            "additionalData",
            Uint8Array::from(additional_data.as_bytes()).into(),
        ),
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
    let (subtle, key) = aes_key(key, "encrypt").await?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Internal(format!("nonce: {e}")))?;
    let params = gcm_params(&nonce, additional_data)?;
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

/// The plaintext of a value `seal` made with the same key and additional data. A value altered,
/// moved to another row (other additional data) or sealed under another key fails the tag
/// check: `Internal`, never a partial plaintext.
pub async fn open(
    key: &[u8; 32],
    sealed: &str,
    additional_data: &str,
) -> Result<Vec<u8>, ApiError> {
    let (nonce, ciphertext) = parse_sealed(sealed)
        .ok_or_else(|| ApiError::Internal("unseal: not a sealed value".into()))?;
    let (subtle, key) = aes_key(key, "decrypt").await?;
    let params = gcm_params(&nonce, additional_data)?;
    let opened = subtle
        .decrypt_with_object_and_u8_array(&params, &key, &ciphertext)
        .map_err(internal("aes decrypt"))?;
    let opened = JsFuture::from(opened)
        .await
        .map_err(internal("aes decrypt"))?;
    Ok(Uint8Array::new(&opened).to_vec())
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
    fn sealed_values_parse_only_in_the_v1_form() {
        let nonce = "00112233445566778899aabb";
        let ct = "ab".repeat(20);
        let (n, c) = parse_sealed(&format!("v1:{nonce}:{ct}")).unwrap();
        assert_eq!(hex::encode(n), nonce);
        assert_eq!(c.len(), 20);
        for bad in [
            "".to_owned(),
            format!("v2:{nonce}:{ct}"),
            format!("v1:{nonce}{ct}"),
            format!("v1:{}:{ct}", &nonce[2..]),
            format!("v1:{nonce}:{}", "ab".repeat(15)),
            format!("v1:{nonce}:zz{ct}"),
            format!("v1:{nonce}:{ct}:extra"),
        ] {
            assert!(parse_sealed(&bad).is_none(), "{bad}");
        }
    }
}
