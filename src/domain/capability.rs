//! Expiring HMAC capabilities for the worker's own media upload and download routes.
//!
//! Without R2 S3 credentials (local development) `POST /media/presign` cannot hand out an R2
//! presigned URL, so it points the client at the worker itself with one of these tokens in
//! the query string. The token carries everything the route needs to act without a session,
//! and nothing it can be talked out of: purpose, media id, workspace id, content type, size
//! cap and expiry, all under one HMAC-SHA256.
//!
//! Format (every character in `[a-z0-9.-]`, so it survives a query parameter unescaped):
//!
//! ```text
//! v1.<purpose>.<expires unix s>.<max bytes>.<hex media id>.<hex workspace id>.<hex content type>.<hex mac>
//! ```
//!
//! The MAC covers a fixed context string and the exact bytes before the last `.`, so any
//! change to the token, even one that would parse to the same claims, breaks it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";
/// Domain separation: a MAC made with the same secret for anything else never verifies here.
const CONTEXT: &[u8] = b"postbridge media capability v1\n";
/// Longer than any token `issue` makes for real ids; bounds the work before the MAC check.
const MAX_TOKEN_LEN: usize = 2048;
const MAC_HEX_LEN: usize = 64;
const FIELDS: usize = 8;

/// What the bearer may do with the media object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Upload,
    Download,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Upload => "upload",
            Purpose::Download => "download",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(Purpose::Upload),
            "download" => Some(Purpose::Download),
            _ => None,
        }
    }
}

/// What a token grants. `verify` returns them; the route must still compare them with the
/// request (the media id in the path, the `Content-Type` and length of the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub purpose: Purpose,
    pub media_id: String,
    pub workspace_id: String,
    pub content_type: String,
    /// Upload: the most bytes the body may hold. Download: 0, and ignored.
    pub max_bytes: u64,
    /// Unix seconds; the token is refused from this second on.
    pub expires_unix: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapabilityError {
    /// Not a token this module could have issued.
    Malformed,
    /// Shaped like one, but not signed with this secret, or altered since.
    BadSignature,
    /// Genuine, but `now >= expires_unix`.
    Expired,
}

impl std::fmt::Display for CapabilityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CapabilityError::Malformed => "capability token is malformed",
            CapabilityError::BadSignature => "capability token signature does not match",
            CapabilityError::Expired => "capability token has expired",
        })
    }
}

impl std::error::Error for CapabilityError {}

/// A token for `claims`, signed with `secret` (at least 32 random bytes).
pub fn issue(secret: &[u8], claims: &Claims) -> String {
    let payload = format!(
        "{VERSION}.{}.{}.{}.{}.{}.{}",
        claims.purpose.as_str(),
        claims.expires_unix,
        claims.max_bytes,
        hex::encode(&claims.media_id),
        hex::encode(&claims.workspace_id),
        hex::encode(&claims.content_type),
    );
    let tag = mac(secret, &payload).finalize().into_bytes();
    format!("{payload}.{}", hex::encode(tag))
}

/// The claims of a token `issue` made with `secret`, if it has not expired at `now_unix`.
/// Checks, in order: shape (`Malformed`), MAC in constant time (`BadSignature`), expiry.
pub fn verify(secret: &[u8], token: &str, now_unix: i64) -> Result<Claims, CapabilityError> {
    use CapabilityError::*;
    if token.len() > MAX_TOKEN_LEN {
        return Err(Malformed);
    }
    let (payload, tag_hex) = token.rsplit_once('.').ok_or(Malformed)?;
    if payload.split_once('.').map(|(version, _)| version) != Some(VERSION)
        || payload.split('.').count() != FIELDS - 1
        || tag_hex.len() != MAC_HEX_LEN
    {
        return Err(Malformed);
    }
    let tag = lower_hex(tag_hex).ok_or(Malformed)?;
    mac(secret, payload)
        .verify_slice(&tag)
        .map_err(|_| BadSignature)?;

    let claims = parse_payload(payload).ok_or(Malformed)?;
    if now_unix >= claims.expires_unix {
        return Err(Expired);
    }
    Ok(claims)
}

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(CONTEXT);
    mac.update(payload.as_bytes());
    mac
}

fn parse_payload(payload: &str) -> Option<Claims> {
    let parts: Vec<&str> = payload.split('.').collect();
    let [version, purpose, expires_unix, max_bytes, media_id, workspace_id, content_type] =
        parts[..]
    else {
        return None;
    };
    if version != VERSION {
        return None;
    }
    Some(Claims {
        purpose: Purpose::parse(purpose)?,
        expires_unix: decimal_i64(expires_unix)?,
        max_bytes: digits(max_bytes)?.parse().ok()?,
        media_id: hex_text(media_id)?,
        workspace_id: hex_text(workspace_id)?,
        content_type: hex_text(content_type)?,
    })
}

/// Only ASCII digits (no sign, no spaces): what `u64`'s `Display` writes.
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// What `i64`'s `Display` writes: an optional `-`, then digits.
fn decimal_i64(s: &str) -> Option<i64> {
    digits(s.strip_prefix('-').unwrap_or(s))?;
    s.parse().ok()
}

/// Lowercase hex only, as `hex::encode` writes it (`hex::decode` would also take uppercase,
/// which would let a changed character through the MAC field unnoticed).
fn lower_hex(s: &str) -> Option<Vec<u8>> {
    if s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        hex::decode(s).ok()
    } else {
        None
    }
}

fn hex_text(s: &str) -> Option<String> {
    String::from_utf8(lower_hex(s)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CapabilityError::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_790_000_000;

    fn upload(media_id: &str) -> Claims {
        Claims {
            purpose: Purpose::Upload,
            media_id: media_id.into(),
            workspace_id: "ws_0123456789abcdef".into(),
            content_type: "image/png".into(),
            max_bytes: 50 * 1024 * 1024,
            expires_unix: NOW + 900,
        }
    }

    /// Known answers computed outside this module, with Node's HMAC (not `mac`):
    /// `crypto.createHmac("sha256", SECRET).update("postbridge media capability v1\n" + payload)`,
    /// each text field hex-encoded with `Buffer.from(s).toString("hex")`.
    #[test]
    fn tokens_match_known_answers_from_an_independent_hmac() {
        let media = "med_0123456789abcdefGHIJKLMNOPQRSTUV";
        let up = Claims {
            expires_unix: 1_790_000_900,
            ..upload(media)
        };
        assert_eq!(
            issue(SECRET, &up),
            "v1.upload.1790000900.52428800.\
             6d65645f303132333435363738396162636465664748494a4b4c4d4e4f50515253545556.\
             77735f30313233343536373839616263646566.696d6167652f706e67.\
             db83b4d7cbac45c74100391dbd7cb1417dd4921c6cc34699db1c348b6298fe7a"
        );
        let down = Claims {
            purpose: Purpose::Download,
            max_bytes: 0,
            ..up.clone()
        };
        assert_eq!(
            issue(SECRET, &down),
            "v1.download.1790000900.0.\
             6d65645f303132333435363738396162636465664748494a4b4c4d4e4f50515253545556.\
             77735f30313233343536373839616263646566.696d6167652f706e67.\
             03a405be3faf7ff70b62dab3b786f931c6e68ec76ca89c87f1354afc683993f5"
        );
        assert_eq!(verify(SECRET, &issue(SECRET, &down), NOW), Ok(down));
    }

    #[test]
    fn verify_returns_exactly_the_issued_claims() {
        let cases = [
            upload("media_0123456789abcdefGHIJKLMNOPQRSTUV"),
            Claims {
                purpose: Purpose::Download,
                max_bytes: 0,
                ..upload("media_x")
            },
            Claims {
                content_type: "image/svg+xml; charset=utf-8".into(),
                ..upload("media_y")
            },
            Claims {
                media_id: "média ü/.?&=%~".into(),
                workspace_id: String::new(),
                content_type: String::new(),
                max_bytes: u64::MAX,
                expires_unix: i64::MAX,
                purpose: Purpose::Upload,
            },
        ];
        for claims in cases {
            let token = issue(SECRET, &claims);
            assert_eq!(verify(SECRET, &token, NOW), Ok(claims.clone()), "{token}");
        }
    }

    #[test]
    fn tokens_survive_a_query_parameter_unescaped() {
        let token = issue(
            SECRET,
            &Claims {
                content_type: "video/mp4; codecs=\"avc1\"".into(),
                ..upload("media_1")
            },
        );
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.'));
        let escaped: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        assert_eq!(escaped, token);
        assert_eq!(token.split('.').count(), FIELDS);
    }

    #[test]
    fn expires_at_the_stated_second() {
        let claims = upload("media_1");
        let token = issue(SECRET, &claims);
        let cases = [
            (claims.expires_unix - 1, Ok(claims.clone())),
            (claims.expires_unix, Err(Expired)),
            (claims.expires_unix + 1, Err(Expired)),
            (i64::MAX, Err(Expired)),
        ];
        for (now, want) in cases {
            assert_eq!(verify(SECRET, &token, now), want, "now={now}");
        }
    }

    #[test]
    fn any_single_character_change_is_refused() {
        let token = issue(SECRET, &upload("media_1"));
        let replacements = [
            '0', '1', '9', 'a', 'f', 'g', 'A', 'F', 'z', '.', '-', '~', '_',
        ];
        for i in 0..token.len() {
            let original = token.as_bytes()[i] as char;
            for r in replacements.iter().filter(|&&r| r != original) {
                let mut tampered = token.clone();
                tampered.replace_range(i..=i, &r.to_string());
                assert!(
                    verify(SECRET, &tampered, NOW).is_err(),
                    "position {i}: {original} -> {r}"
                );
            }
            let mut dropped = token.clone();
            dropped.remove(i);
            assert!(verify(SECRET, &dropped, NOW).is_err(), "dropped {i}");
            let mut inserted = token.clone();
            inserted.insert(i, '0');
            assert!(verify(SECRET, &inserted, NOW).is_err(), "inserted at {i}");
        }
        assert!(verify(SECRET, &format!("{token}0"), NOW).is_err());
    }

    #[test]
    fn a_token_for_one_media_is_not_a_token_for_another() {
        let (a, b) = (upload("media_A"), upload("media_B"));
        let token_a = issue(SECRET, &a);
        let claims = verify(SECRET, &token_a, NOW).unwrap();
        assert_eq!(claims, a);
        assert_ne!(claims.media_id, b.media_id);
        // Splicing B's id into A's token does not make a token for B.
        let spliced = token_a.replace(&hex::encode("media_A"), &hex::encode("media_B"));
        assert_ne!(spliced, token_a);
        assert_eq!(verify(SECRET, &spliced, NOW), Err(BadSignature));
    }

    #[test]
    fn purpose_is_bound() {
        let up = upload("media_1");
        let token = issue(SECRET, &up);
        assert_eq!(
            verify(SECRET, &token, NOW).unwrap().purpose,
            Purpose::Upload
        );
        let as_download = token.replacen(".upload.", ".download.", 1);
        assert_eq!(verify(SECRET, &as_download, NOW), Err(BadSignature));
        let down = Claims {
            purpose: Purpose::Download,
            ..up
        };
        assert_ne!(issue(SECRET, &down), token);
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = issue(SECRET, &upload("media_1"));
        for other in [&b""[..], b"0123456789abcdef0123456789abcdeF", b"short"] {
            assert_eq!(verify(other, &token, NOW), Err(BadSignature));
        }
        // The signature is checked before the expiry, so a forged token never reads `Expired`.
        assert_eq!(verify(b"other", &token, i64::MAX), Err(BadSignature));
    }

    #[test]
    fn refuses_what_is_not_a_token() {
        let good = issue(SECRET, &upload("media_1"));
        let (payload, tag) = good.rsplit_once('.').unwrap();
        let cases = [
            String::new(),
            "v1".into(),
            "not a token".into(),
            payload.into(),
            format!("{payload}.{}", tag.to_uppercase()),
            format!("{payload}.{}", &tag[..62]),
            format!("v2{}.{tag}", &payload[2..]),
            format!("{payload}.{tag}.{tag}"),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ];
        for bad in cases {
            assert_eq!(verify(SECRET, &bad, NOW), Err(Malformed), "{bad}");
        }
    }

    #[test]
    fn a_signed_but_unparsable_payload_is_malformed() {
        // Only reachable by someone holding the secret; still refused, never a panic.
        let cases = [
            "v1.upload.1.2.00.00",
            "v1.delete.1.2.00.00.00",
            "v1.upload.+1.2.00.00.00",
            "v1.upload.1.-2.00.00.00",
            "v1.upload.1.2.0.00.00",
            "v1.upload.1.2.AA.00.00",
            "v1.upload.1.2.ff.00.00",
        ];
        for payload in cases {
            let tag = hex::encode(mac(SECRET, payload).finalize().into_bytes());
            let token = format!("{payload}.{tag}");
            assert_eq!(verify(SECRET, &token, 0), Err(Malformed), "{payload}");
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        for (e, text) in [
            (Malformed, "capability token is malformed"),
            (BadSignature, "capability token signature does not match"),
            (Expired, "capability token has expired"),
        ] {
            assert_eq!(e.to_string(), text);
        }
    }
}
