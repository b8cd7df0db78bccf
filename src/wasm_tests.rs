//! Tests of the code that only runs in wasm: Web Crypto (PBKDF2 password hashing, AES-256-GCM
//! sealing), JS dates, and the decoding of rows as D1 hands them over (JS objects, numbers as
//! doubles). Run under Node by `wasm-bindgen-test-runner` (`make wasm-test`, part of
//! `make test`); the expected values come from independent implementations: RFC vectors,
//! Node's `crypto` and JS's own `Date`, never from these modules.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::auth::password;
use crate::domain::sealed::KeyId;
use crate::domain::text::Password;
use crate::domain::time::{self, Timestamp};
use crate::seal;
use crate::store::media::MediaView;
use crate::store::social_accounts::AccountView;

fn subtle() -> web_sys::SubtleCrypto {
    Reflect::get(&js_sys::global(), &"crypto".into())
        .expect("crypto")
        .unchecked_into::<web_sys::Crypto>()
        .subtle()
}

fn set(o: &Object, k: &str, v: impl Into<JsValue>) {
    Reflect::set(o, &k.into(), &v.into()).expect("set");
}

// --- PBKDF2-HMAC-SHA256 through Web Crypto ----------------------------------------------------

/// RFC 7914 §11 vectors (the first 32 bytes of each 64-byte output, which is all `hash` keeps),
/// and two at the product's 100,000 iterations from Node's `crypto.pbkdf2Sync`.
#[wasm_bindgen_test]
async fn pbkdf2_matches_rfc_7914_and_node() {
    let cases = [
        (
            "passwd",
            "salt".as_bytes().to_vec(),
            1,
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
        ),
        (
            "Password",
            "NaCl".as_bytes().to_vec(),
            80_000,
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56",
        ),
        (
            "correct horse battery",
            (0..16).collect(),
            100_000,
            "c8d122ecdb9477cd48a6b1750c5985c0b8b05158d040d20517ccdb49865de436",
        ),
        (
            "pässwörd 日本 💥",
            (0..16).collect(),
            100_000,
            "e6ef66c7bb2ef6cce0208a065c4e0ed7b59cd4444245eded2865c00bd1118c77",
        ),
    ];
    for (pw, salt, iterations, expected) in cases {
        let stored = format!(
            "pbkdf2_sha256${iterations}${}${expected}",
            hex::encode(&salt)
        );
        assert!(
            password::verify(pw, &stored).await.unwrap(),
            "{pw} / {iterations}"
        );
        assert!(!password::verify(&format!("{pw}!"), &stored).await.unwrap());
    }
}

#[wasm_bindgen_test]
async fn hashes_verify_and_are_salted() {
    let pw = Password::parse("correct horse battery").unwrap();
    let (a, b) = (
        password::hash(&pw).await.unwrap(),
        password::hash(&pw).await.unwrap(),
    );
    assert_ne!(a, b, "a fresh salt per hash");
    let parts: Vec<&str> = a.split('$').collect();
    assert_eq!(parts[..2], ["pbkdf2_sha256", "100000"]);
    assert_eq!((parts[2].len(), parts[3].len()), (32, 64));
    assert!(password::verify("correct horse battery", &a).await.unwrap());
    assert!(!password::verify("correct horse batterY", &a).await.unwrap());
    // A stored value that is not ours is a mismatch, not an error.
    for bad in [
        "",
        "md5$x",
        "pbkdf2_sha256$x$00$00",
        "pbkdf2_sha256$1$zz$00",
    ] {
        assert!(!password::verify("x", bad).await.unwrap(), "{bad}");
    }
    assert!(!password::verify("anything", password::DECOY).await.unwrap());
}

// --- AES-256-GCM sealing through Web Crypto -----------------------------------------------

/// The GCM specification's test case 16 (AES-256, 96-bit IV, with additional data), and a
/// product-shaped value from Node's `crypto.createCipheriv("aes-256-gcm")`.
#[wasm_bindgen_test]
async fn sealing_matches_the_gcm_spec_and_node() {
    let key: [u8; 32] =
        hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .unwrap()
            .try_into()
            .unwrap();
    let nonce: [u8; 12] = hex::decode("cafebabefacedbaddecaf888")
        .unwrap()
        .try_into()
        .unwrap();
    let plaintext = hex::decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39").unwrap();
    let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
    let sealed = seal::seal_with_nonce(&seal::Key::new(key), &nonce, &plaintext, &aad)
        .await
        .unwrap();
    let id = KeyId::of(&key).to_hex();
    assert_eq!(sealed, format!("v2:{id}:cafebabefacedbaddecaf888:522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b"));
    let key = [0x0f; 32];
    let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
    let sealed = seal::seal_with_nonce(
        &seal::Key::new(key),
        &nonce,
        br#"{"accessToken":"tok"}"#,
        b"soc_0123456789abcdef0123456789abcdef",
    )
    .await
    .unwrap();
    let id = KeyId::of(&key).to_hex();
    assert_eq!(sealed, format!("v2:{id}:000102030405060708090a0b:c4fdb0b4ab04cdb89a87ce6a41ae24b893e96cec43f65f1a3dc591391697078a8fa613cb9b"));
}

/// Opens a sealed value with Web Crypto, as the publisher will.
async fn unseal(key: &[u8; 32], sealed: &str, aad: &str) -> Result<Vec<u8>, JsValue> {
    let parts: Vec<&str> = sealed.split(':').collect();
    let (nonce, data) = (
        hex::decode(parts[2]).unwrap(),
        hex::decode(parts[3]).unwrap(),
    );
    let usages = Array::of1(&"decrypt".into());
    let k = JsFuture::from(subtle().import_key_with_str(
        "raw",
        &Uint8Array::from(&key[..]),
        "AES-GCM",
        false,
        &usages,
    )?)
    .await?;
    let params = Object::new();
    set(&params, "name", "AES-GCM");
    set(&params, "iv", Uint8Array::from(&nonce[..]));
    set(&params, "additionalData", Uint8Array::from(aad.as_bytes()));
    let out = JsFuture::from(subtle().decrypt_with_object_and_u8_array(
        &params,
        &k.unchecked_into(),
        &data,
    )?)
    .await?;
    Ok(Uint8Array::new(&out).to_vec())
}

#[wasm_bindgen_test]
async fn a_sealed_value_opens_only_with_its_key_and_account() {
    let key = [7u8; 32];
    let account = "soc_aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb";
    let ring = keyring(&key, None);
    let a = seal::seal(&ring, b"secret", account).await.unwrap();
    let b = seal::seal(&ring, b"secret", account).await.unwrap();
    assert_ne!(a, b, "a fresh nonce per value");
    assert!(a.starts_with(&format!("v2:{}:", KeyId::of(&key).to_hex())));
    assert_eq!(a.split(':').nth(2).unwrap().len(), 24);
    assert_eq!(unseal(&key, &a, account).await.unwrap(), b"secret");
    assert!(
        unseal(&key, &a, "soc_cccccccccccccccccccccccccccccccc")
            .await
            .is_err(),
        "bound to its account"
    );
    assert!(
        unseal(&[8u8; 32], &a, account).await.is_err(),
        "bound to its key"
    );
}

fn keyring(current: &[u8; 32], previous: Option<&[u8; 32]>) -> seal::Keyring {
    seal::Keyring::from_vars(
        Some(&hex::encode(current)),
        previous.map(hex::encode).as_deref(),
    )
    .unwrap()
}

/// A key rotation: what the previous key sealed still opens (by the key it names, or for `v1`
/// values by trying), new values are sealed by the current key alone, and a key the deployment
/// no longer has opens nothing.
#[wasm_bindgen_test]
async fn values_open_under_the_key_they_name_during_a_rotation() {
    let (a, b, c) = ([0xa1u8; 32], [0xb2u8; 32], [0xc3u8; 32]);
    let aad = "soc_aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb";
    let old = seal::seal(&keyring(&a, None), b"under a", aad)
        .await
        .unwrap();
    let rotating = keyring(&b, Some(&a));
    assert_eq!(
        seal::open(&rotating, &old, aad).await.unwrap().unwrap(),
        b"under a"
    );
    let new = seal::seal(&rotating, b"under b", aad).await.unwrap();
    assert!(new.starts_with(&format!("v2:{}:", KeyId::of(&b).to_hex())));
    assert_eq!(unseal(&b, &new, aad).await.unwrap(), b"under b");
    let done = keyring(&b, None);
    assert_eq!(
        seal::open(&done, &new, aad).await.unwrap().unwrap(),
        b"under b"
    );
    assert_eq!(
        seal::open(&done, &old, aad).await.unwrap(),
        Err(seal::OpenError::UnknownKey)
    );
    assert_eq!(
        seal::open(&keyring(&c, Some(&b)), &old, aad).await.unwrap(),
        Err(seal::OpenError::UnknownKey)
    );
    assert_eq!(
        seal::open(&rotating, &old, "soc_other").await.unwrap(),
        Err(seal::OpenError::Rejected)
    );
    // A `v1` value (no key id), sealed by the previous key: found by trying both.
    let v1 = format!("v1:{}", old.splitn(3, ':').nth(2).unwrap());
    assert_eq!(
        seal::open(&rotating, &v1, aad).await.unwrap().unwrap(),
        b"under a"
    );
    assert_eq!(
        seal::open(&done, &v1, aad).await.unwrap(),
        Err(seal::OpenError::Rejected)
    );
    assert_eq!(
        seal::open(&done, "v1:00:00", aad).await.unwrap(),
        Err(seal::OpenError::Malformed)
    );
}

// --- JS dates ----------------------------------------------------------------------------------

/// `Timestamp` formats and reads as JS's `Date` does, across the whole accepted range.
#[wasm_bindgen_test]
fn timestamps_agree_with_js_dates() {
    let mut ms = 0i64;
    let mut instants = vec![
        time::MIN.millis(),
        time::MAX.millis(),
        951_782_400_000,
        4_107_542_400_000,
    ];
    // A deterministic walk over the range with uneven steps (leap days, centuries, 9999).
    while ms < time::MAX.millis() {
        instants.push(ms);
        ms += 86_400_000 * 97 + 3_600_000 * 7 + 61_001;
    }
    for ms in instants {
        let js = js_sys::Date::new(&JsValue::from_f64(ms as f64))
            .to_iso_string()
            .as_string()
            .unwrap();
        let ours = Timestamp::from_millis(ms).to_rfc3339();
        assert_eq!(ours, js, "{ms}");
        assert_eq!(Timestamp::parse(&js).map(Timestamp::millis), Ok(ms));
    }
    // Offsets: JS's parser is the reference.
    for text in [
        "2026-11-25T12:00:00+01:00",
        "2000-02-29T23:59:59.999-23:59",
        "1970-01-01T05:30:00+05:30",
        "9999-12-31T23:59:59.999+14:00",
    ] {
        let js = js_sys::Date::parse(text);
        assert_eq!(
            Timestamp::parse(text).map(|t| t.millis() as f64),
            Ok(js),
            "{text}"
        );
    }
}

#[wasm_bindgen_test]
fn the_clock_is_the_js_clock() {
    let before = js_sys::Date::now();
    let now = crate::ctx::now_ms();
    let after = js_sys::Date::now();
    assert!(before <= now && now <= after);
    let t = Timestamp::from_millis(now as i64);
    assert!(time::MIN < t && t < time::MAX);
}

// --- D1 rows -------------------------------------------------------------------------------------

/// A row as D1 hands it over: a plain JS object, INTEGER columns as numbers, NULL as null.
fn row(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        set(&o, k, v.clone());
    }
    o.into()
}

/// The decoder `D1Result::results` uses, on rows shaped like the statements' SELECT lists.
#[wasm_bindgen_test]
fn rows_decode_as_d1_returns_them() {
    let account = |has: f64| {
        row(&[
            ("id", "soc_x".into()),
            ("workspaceId", "ws_x".into()),
            ("platform", "X".into()),
            ("handle", "@h".into()),
            ("displayName", JsValue::NULL),
            ("externalId", "é 日本".into()),
            ("status", "CONNECTED".into()),
            ("hasCredentials", has.into()),
            ("createdAt", "2026-01-01T00:00:00.000Z".into()),
            ("updatedAt", "2026-01-01T00:00:00.000Z".into()),
        ])
    };
    // SQLite booleans arrive as 0 and 1.
    let a: AccountView = serde_wasm_bindgen::from_value(account(1.0)).unwrap();
    assert!(a.has_credentials);
    assert_eq!(
        (a.display_name, a.external_id.as_deref()),
        (None, Some("é 日本"))
    );
    let b: AccountView = serde_wasm_bindgen::from_value(account(0.0)).unwrap();
    assert!(!b.has_credentials);

    let media = |bytes: JsValue| {
        row(&[
            ("id", "med_x".into()),
            ("workspaceId", "ws_x".into()),
            ("folderId", JsValue::NULL),
            ("filename", "a.png".into()),
            ("contentType", "image/png".into()),
            ("bytes", bytes),
            ("status", "READY".into()),
            ("altText", JsValue::NULL),
            ("sourceUrl", JsValue::NULL),
            ("createdBy", "usr_x".into()),
            ("createdAt", "2026-01-01T00:00:00.000Z".into()),
            ("updatedAt", "2026-01-01T00:00:00.000Z".into()),
            ("objectKey", "ws_x/med_x/a.png".into()),
        ])
    };
    // 5 GiB, past 32 bits, is exact as a double.
    let m: MediaView = serde_wasm_bindgen::from_value(media(5_368_709_120f64.into())).unwrap();
    assert_eq!(
        (m.bytes, m.object_key.as_str()),
        (Some(5_368_709_120), "ws_x/med_x/a.png")
    );
    let m: MediaView = serde_wasm_bindgen::from_value(media(JsValue::NULL)).unwrap();
    assert_eq!(m.bytes, None);
    // Past 2^53 a double no longer counts one by one: refused, never rounded (why ids and large
    // counters are TEXT).
    assert!(
        serde_wasm_bindgen::from_value::<MediaView>(media(9_007_199_254_740_992f64.into()))
            .is_err()
    );
    assert!(serde_wasm_bindgen::from_value::<MediaView>(media(1.5f64.into())).is_err());
}
