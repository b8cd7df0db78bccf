//! Password hashing: PBKDF2-HMAC-SHA256 through Web Crypto (the runtime's native code, far
//! faster than hashing in wasm), 100,000 iterations (the Workers maximum), 16-byte random salt.
//! Stored as `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::domain::text::Password;
use crate::http::error::ApiError;

pub const ITERATIONS: u32 = 100_000;

fn internal(step: &'static str) -> impl Fn(JsValue) -> ApiError {
    move |e| ApiError::Internal(format!("{step}: {e:?}"))
}

async fn pbkdf2(password: &str, salt: &[u8], iterations: u32) -> Result<Vec<u8>, ApiError> {
    let crypto: web_sys::Crypto = Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(internal("crypto global"))?
        .unchecked_into();
    let subtle = crypto.subtle();
    let usages = Array::of1(&"deriveBits".into());
    let key = subtle
        .import_key_with_str(
            "raw",
            &Uint8Array::from(password.as_bytes()),
            "PBKDF2",
            false,
            &usages,
        )
        .map_err(internal("pbkdf2 import"))?;
    let key: web_sys::CryptoKey = JsFuture::from(key)
        .await
        .map_err(internal("pbkdf2 import"))?
        .unchecked_into();
    let params = Object::new();
    for (k, v) in [
        ("name", JsValue::from_str("PBKDF2")),
        ("hash", JsValue::from_str("SHA-256")),
        ("salt", Uint8Array::from(salt).into()),
        ("iterations", JsValue::from_f64(iterations as f64)),
    ] {
        Reflect::set(&params, &k.into(), &v).map_err(internal("pbkdf2 params"))?;
    }
    let bits = subtle
        .derive_bits_with_object(&params, &key, 256)
        .map_err(internal("pbkdf2 derive"))?;
    let bits = JsFuture::from(bits)
        .await
        .map_err(internal("pbkdf2 derive"))?;
    Ok(Uint8Array::new(&bits).to_vec())
}

pub async fn hash(password: &Password) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    let derived = pbkdf2(password.expose(), &salt, ITERATIONS).await?;
    Ok(format!(
        "pbkdf2_sha256${ITERATIONS}${}${}",
        hex::encode(salt),
        hex::encode(derived)
    ))
}

/// A stored hash to check against when the e-mail is unknown, so that a login for a missing
/// account costs the same time as one with a wrong password.
pub const DECOY: &str = "pbkdf2_sha256$100000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000";

pub async fn verify(password: &str, stored: &str) -> Result<bool, ApiError> {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, iterations, salt, expected] = parts[..] else {
        return Ok(false);
    };
    let (Ok(iterations), Ok(salt), Ok(expected)) = (
        iterations.parse::<u32>(),
        hex::decode(salt),
        hex::decode(expected),
    ) else {
        return Ok(false);
    };
    if alg != "pbkdf2_sha256" {
        return Ok(false);
    }
    let derived = pbkdf2(password, &salt, iterations).await?;
    Ok(crate::auth::credential::constant_time_eq(
        &derived, &expected,
    ))
}
