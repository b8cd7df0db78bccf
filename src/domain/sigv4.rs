//! AWS Signature Version 4, query-string form: presigned URLs for R2's S3 API.
//!
//! `POST /media/presign` hands the client a URL it can `PUT` the file to directly, so the
//! bytes never pass through the worker. R2 checks that URL exactly as S3 does (region `auto`,
//! service `s3`, payload `UNSIGNED-PAYLOAD`). Hand-written because it is a page of string
//! building over `sha2`/`hmac`, and every step is a pure function pinned below against the
//! vectors AWS publishes: a signer that is wrong by one byte fails only in production, as an
//! opaque 403.

use super::percent;
use super::time::Timestamp;
use super::DomainError;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a presigned URL: the body is not known when the URL is made.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// R2's region name; R2 accepts no other.
pub const R2_REGION: &str = "auto";
pub const S3_SERVICE: &str = "s3";
/// The longest validity SigV4 allows for a presigned URL: seven days.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// An access key pair for R2's S3 API. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// What to presign. Strings are raw: `path` is percent-encoded here, not by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PresignRequest {
    /// `PUT` for uploads, `GET` for downloads.
    pub method: String,
    /// e.g. `<account>.r2.cloudflarestorage.com`; always signed as the `host` header.
    pub host: String,
    /// `/<bucket>/<object key>`, unencoded; the leading `/` may be left out.
    pub path: String,
    /// `auto` for R2.
    pub region: String,
    /// `s3`.
    pub service: String,
    /// The signing instant; the URL is valid from here for `expires_seconds`.
    pub time: Timestamp,
    /// 1 to [`MAX_EXPIRES_SECS`].
    pub expires_seconds: u64,
    /// Headers the client must send verbatim, besides `host` (e.g. `content-type`).
    /// Names are matched case-insensitively; order does not matter.
    pub headers: Vec<(String, String)>,
    /// Query parameters besides the `X-Amz-*` ones the signer adds.
    pub query: Vec<(String, String)>,
}

impl PresignRequest {
    /// A request for R2 (region `auto`, service `s3`) with no extra headers or parameters.
    pub fn r2(method: &str, host: &str, path: &str, time: Timestamp, expires_seconds: u64) -> Self {
        PresignRequest {
            method: method.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
            region: R2_REGION.to_owned(),
            service: S3_SERVICE.to_owned(),
            time,
            expires_seconds,
            headers: Vec::new(),
            query: Vec::new(),
        }
    }
}

/// A presigned URL together with the intermediate values that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

const BAD_EXPIRY: DomainError = DomainError::new("must be between 1 and 604800 seconds");
const BAD_TIME: DomainError = DomainError::new("must be a time between years 1970 and 9999");
const BAD_HEADER: DomainError =
    DomainError::new("must be a header name and a value without control characters");
const HOST_HEADER: DomainError = DomainError::new("host is signed from the request's host");
const DUPLICATE_HEADER: DomainError = DomainError::new("names a header twice");
const RESERVED_PARAM: DomainError = DomainError::new("names a parameter the signer sets");
const BAD_METHOD: DomainError = DomainError::new("must be an uppercase HTTP method");
const BAD_HOST: DomainError = DomainError::new("must be a bare host name, with an optional port");

/// The full presigned URL: `https://<host><canonical uri>?<canonical query>&X-Amz-Signature=…`.
pub fn presign(c: &Credentials, req: &PresignRequest) -> Result<String, DomainError> {
    presign_detailed(c, req).map(|p| p.url)
}

/// [`presign`], keeping the canonical request and string to sign for tests and logs.
pub fn presign_detailed(c: &Credentials, req: &PresignRequest) -> Result<Presigned, DomainError> {
    if req.expires_seconds == 0 || req.expires_seconds > MAX_EXPIRES_SECS {
        return Err(BAD_EXPIRY);
    }
    if req.method.is_empty() || !req.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(BAD_METHOD);
    }
    let host_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':');
    if req.host.is_empty() || !req.host.bytes().all(host_char) {
        return Err(BAD_HOST);
    }
    let amz_date = amz_date(req.time)?;
    let date = &amz_date[..8];
    let scope = credential_scope(date, &req.region, &req.service);

    let mut headers: Vec<(&str, &str)> = vec![("host", &req.host)];
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("host") {
            return Err(HOST_HEADER);
        }
        headers.push((name, value));
    }
    let (canonical_headers, signed_headers) = canonical_headers(&headers)?;

    for (key, _) in &req.query {
        if key.len() >= 6 && key.as_bytes()[..6].eq_ignore_ascii_case(b"x-amz-") {
            return Err(RESERVED_PARAM);
        }
    }
    let credential = format!("{}/{scope}", c.access_key_id);
    let expires = req.expires_seconds.to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", &signed_headers),
    ];
    params.extend(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let query = canonical_query(&params);
    let uri = canonical_uri(&req.path);

    let canonical_request = canonical_request(
        &req.method,
        &uri,
        &query,
        &canonical_headers,
        &signed_headers,
        UNSIGNED_PAYLOAD,
    );
    let string_to_sign = string_to_sign(&amz_date, &scope, &canonical_request);
    let key = signing_key(&c.secret_access_key, date, &req.region, &req.service);
    let signature = signature(&key, &string_to_sign);
    let url = format!(
        "https://{}{uri}?{query}&X-Amz-Signature={signature}",
        req.host
    );
    Ok(Presigned {
        url,
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC; sub-second digits are dropped.
pub fn amz_date(t: Timestamp) -> Result<String, DomainError> {
    // `to_rfc3339` is fixed width (`YYYY-MM-DDTHH:MM:SS.mmmZ`) for years 0000 to 9999.
    let s = t.to_rfc3339();
    if t.millis() < 0 || s.len() != 24 {
        return Err(BAD_TIME);
    }
    Ok(format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    ))
}

/// `<YYYYMMDD>/<region>/<service>/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The path with each segment encoded and the `/` between them kept. S3 does not normalise
/// paths, so `.`, `..` and empty segments are left as they are.
pub fn canonical_uri(path: &str) -> String {
    let encoded = percent::encode_path(path);
    if encoded.starts_with('/') {
        encoded
    } else {
        format!("/{encoded}")
    }
}

/// `key=value` pairs, both encoded (`/` too), sorted by key then value, joined by `&`.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent::encode(k), percent::encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical header block (`name:value\n` per header, names lowercased, values trimmed
/// with inner runs of spaces collapsed, sorted by name) and the `;`-joined signed header list.
pub fn canonical_headers(headers: &[(&str, &str)]) -> Result<(String, String), DomainError> {
    let mut list: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for &(name, value) in headers {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':' && b != b';');
        if !valid_name || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(BAD_HEADER);
        }
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        list.push((name.to_ascii_lowercase(), value));
    }
    list.sort();
    if list.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(DUPLICATE_HEADER);
    }
    let block = list
        .iter()
        .map(|(n, v)| format!("{n}:{v}\n"))
        .collect::<String>();
    let signed = list
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    Ok((block, signed))
}

/// The six lines SigV4 hashes. `canonical_headers` already ends in `\n`, which leaves the
/// blank line AWS's examples show before the signed header list.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    )
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

/// `HMAC("AWS4" + secret, date)` → region → service → `"aws4_request"`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Lowercase hex HMAC-SHA256 of the string to sign under the signing key.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse(rfc3339).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        }
    }

    fn r2_put() -> PresignRequest {
        PresignRequest::r2(
            "PUT",
            "a.r2.cloudflarestorage.com",
            "/b/k.png",
            at("2026-01-31T09:30:00Z"),
            900,
        )
    }

    /// "Examples of how to derive a signing key for Signature Version 4", AWS General
    /// Reference (docs.aws.amazon.com/general/latest/gr/signature-v4-examples.html).
    #[test]
    fn signing_key_matches_the_aws_published_derivation() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3
    /// API Reference (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html):
    /// the presigned GET of examplebucket/test.txt. Every stage is asserted, so a failure
    /// names the step that diverged.
    #[test]
    fn presigned_get_matches_the_aws_published_s3_example() {
        let creds = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let req = PresignRequest {
            region: "us-east-1".into(),
            ..PresignRequest::r2(
                "GET",
                "examplebucket.s3.amazonaws.com",
                "/test.txt",
                at("2013-05-24T00:00:00Z"),
                86_400,
            )
        };
        let p = presign_detailed(&creds, &req).unwrap();
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
            &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
            &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host";
        assert_eq!(
            p.canonical_request,
            format!(
                "GET\n/test.txt\n{query}\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
            )
        );
        assert_eq!(
            p.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
        let sig = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        assert_eq!(p.signature, sig);
        assert_eq!(
            p.url,
            format!(
                "https://examplebucket.s3.amazonaws.com/test.txt?{query}&X-Amz-Signature={sig}"
            )
        );
        assert_eq!(presign(&creds, &req), Ok(p.url));
    }

    /// An R2 upload URL, cross-checked against botocore 1.43.11 (`S3SigV4QueryAuth`, region
    /// `auto`, headers `Content-Type` and `host`, same instant): an implementation written
    /// independently of this one, which also reproduces the AWS example above.
    #[test]
    fn r2_upload_url_signs_content_type_and_host() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        };
        let req = PresignRequest {
            headers: pairs(&[("Content-Type", "image/png")]),
            ..PresignRequest::r2(
                "PUT",
                "acct123.r2.cloudflarestorage.com",
                "/media/ws_0123456789abcdef/media_01 photo+1.png",
                at("2026-03-01T12:34:56.789Z"),
                900,
            )
        };
        let p = presign_detailed(&creds, &req).unwrap();
        assert_eq!(
            p.canonical_request,
            "PUT\n/media/ws_0123456789abcdef/media_01%20photo%2B1.png\n\
             X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20260301%2Fauto%2Fs3%2Faws4_request\
             &X-Amz-Date=20260301T123456Z&X-Amz-Expires=900\
             &X-Amz-SignedHeaders=content-type%3Bhost\n\
             content-type:image/png\nhost:acct123.r2.cloudflarestorage.com\n\n\
             content-type;host\nUNSIGNED-PAYLOAD"
        );
        assert_eq!(
            p.signature,
            "7417eec0668b1290434cdfe7b9cc796cb205da03c2436ee727ab0a2eab4f2c1f"
        );
        assert_eq!(
            p.url,
            "https://acct123.r2.cloudflarestorage.com/media/ws_0123456789abcdef/media_01%20photo%2B1.png\
             ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20260301%2Fauto%2Fs3%2Faws4_request\
             &X-Amz-Date=20260301T123456Z&X-Amz-Expires=900\
             &X-Amz-SignedHeaders=content-type%3Bhost\
             &X-Amz-Signature=7417eec0668b1290434cdfe7b9cc796cb205da03c2436ee727ab0a2eab4f2c1f"
        );
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        let cases = [
            ("/bucket/test.txt", "/bucket/test.txt"),
            ("bucket/key", "/bucket/key"),
            ("/bucket/a b.png", "/bucket/a%20b.png"),
            ("/bucket/a+b.png", "/bucket/a%2Bb.png"),
            ("/bucket/ü.jpg", "/bucket/%C3%BC.jpg"),
            ("/bucket/日本.png", "/bucket/%E6%97%A5%E6%9C%AC.png"),
            ("/bucket/🙂", "/bucket/%F0%9F%99%82"),
            ("/bucket/AZaz09-_.~", "/bucket/AZaz09-_.~"),
            ("/bucket/a%2Fb", "/bucket/a%252Fb"),
            ("/bucket/dir/sub/f", "/bucket/dir/sub/f"),
            ("/bucket/a//b/./../c", "/bucket/a//b/./../c"),
            (
                "/bucket/*'()!$&,;=:@?#",
                "/bucket/%2A%27%28%29%21%24%26%2C%3B%3D%3A%40%3F%23",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_uri(raw), want, "{raw}");
        }
    }

    #[test]
    fn query_is_encoded_with_slashes_and_sorted_by_key_then_value() {
        let q = canonical_query(&[("b", "2"), ("a", "x/y z"), ("a", "+1"), ("A", "~")]);
        assert_eq!(q, "A=~&a=%2B1&a=x%2Fy%20z&b=2");
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn headers_are_lowercased_trimmed_collapsed_and_sorted() {
        let (block, signed) = canonical_headers(&[
            ("X-Amz-Meta-Note", "  a   b  "),
            ("Host", "h"),
            ("content-type", "image/png"),
        ])
        .unwrap();
        assert_eq!(
            block,
            "content-type:image/png\nhost:h\nx-amz-meta-note:a b\n"
        );
        assert_eq!(signed, "content-type;host;x-amz-meta-note");
    }

    #[test]
    fn refuses_headers_that_cannot_be_signed() {
        let cases: [&[(&str, &str)]; 5] = [
            &[("", "v")],
            &[("bad name", "v")],
            &[("x-a", "line\nbreak")],
            &[("x-a", "1"), ("X-A", "2")],
            &[("a:b", "v")],
        ];
        for headers in cases {
            assert!(canonical_headers(headers).is_err(), "{headers:?}");
        }
    }

    fn upload_signature(headers: &[(&str, &str)]) -> String {
        let req = PresignRequest {
            headers: pairs(headers),
            ..r2_put()
        };
        presign_detailed(&creds(), &req).unwrap().signature
    }

    #[test]
    fn content_type_is_bound_and_header_order_and_case_do_not_matter() {
        let png = upload_signature(&[("content-type", "image/png"), ("x-amz-meta-ws", "ws_1")]);
        let same = [
            upload_signature(&[("X-Amz-Meta-Ws", "ws_1"), ("Content-Type", "image/png")]),
            upload_signature(&[("CONTENT-TYPE", " image/png "), ("x-amz-meta-ws", "ws_1")]),
        ];
        for s in same {
            assert_eq!(s, png);
        }
        let different = [
            upload_signature(&[("content-type", "image/jpeg"), ("x-amz-meta-ws", "ws_1")]),
            upload_signature(&[("content-type", "image/png")]),
            upload_signature(&[]),
        ];
        for s in different {
            assert_ne!(s, png);
        }
    }

    #[test]
    fn every_input_changes_the_signature() {
        let base = r2_put();
        let sig = |r: &PresignRequest| presign_detailed(&creds(), r).unwrap().signature;
        let variants = [
            PresignRequest {
                method: "GET".into(),
                ..base.clone()
            },
            PresignRequest {
                host: "b.r2.cloudflarestorage.com".into(),
                ..base.clone()
            },
            PresignRequest {
                path: "/b/k2.png".into(),
                ..base.clone()
            },
            PresignRequest {
                region: "us-east-1".into(),
                ..base.clone()
            },
            PresignRequest {
                service: "s4".into(),
                ..base.clone()
            },
            PresignRequest {
                time: at("2026-01-31T09:30:01Z"),
                ..base.clone()
            },
            PresignRequest {
                expires_seconds: 901,
                ..base.clone()
            },
            PresignRequest {
                query: pairs(&[("partNumber", "1")]),
                ..base.clone()
            },
        ];
        let original = sig(&base);
        for v in &variants {
            assert_ne!(sig(v), original, "{v:?}");
        }
        let other_secret = Credentials {
            secret_access_key: "SK2".into(),
            ..creds()
        };
        assert_ne!(
            presign_detailed(&other_secret, &base).unwrap().signature,
            original
        );
    }

    #[test]
    fn expiry_must_be_between_one_second_and_seven_days() {
        let req = |expires_seconds| PresignRequest {
            expires_seconds,
            ..r2_put()
        };
        for ok in [1, 900, 86_400, MAX_EXPIRES_SECS] {
            assert!(presign(&creds(), &req(ok)).is_ok(), "{ok}");
        }
        for bad in [0, MAX_EXPIRES_SECS + 1, u64::MAX] {
            assert_eq!(presign(&creds(), &req(bad)), Err(BAD_EXPIRY), "{bad}");
        }
    }

    #[test]
    fn refuses_a_caller_host_header_and_reserved_parameters() {
        let with_host = PresignRequest {
            headers: pairs(&[("Host", "evil")]),
            ..r2_put()
        };
        assert_eq!(presign(&creds(), &with_host), Err(HOST_HEADER));
        for (key, refused) in [
            ("X-Amz-Signature", true),
            ("x-amz-date", true),
            ("x-amz日本", false),
            ("x-am", false),
        ] {
            let req = PresignRequest {
                query: pairs(&[(key, "0")]),
                ..r2_put()
            };
            assert_eq!(presign(&creds(), &req).is_err(), refused, "{key}");
        }
    }

    #[test]
    fn refuses_a_method_or_host_that_would_not_sign_what_is_sent() {
        let cases = [
            (
                PresignRequest {
                    method: "put".into(),
                    ..r2_put()
                },
                BAD_METHOD,
            ),
            (
                PresignRequest {
                    method: String::new(),
                    ..r2_put()
                },
                BAD_METHOD,
            ),
            (
                PresignRequest {
                    host: String::new(),
                    ..r2_put()
                },
                BAD_HOST,
            ),
            (
                PresignRequest {
                    host: "evil.example/x?".into(),
                    ..r2_put()
                },
                BAD_HOST,
            ),
            (
                PresignRequest {
                    host: "user@a.example".into(),
                    ..r2_put()
                },
                BAD_HOST,
            ),
        ];
        for (req, err) in cases {
            assert_eq!(presign(&creds(), &req), Err(err), "{req:?}");
        }
        let with_port = PresignRequest {
            host: "127.0.0.1:9000".into(),
            ..r2_put()
        };
        assert!(presign(&creds(), &with_port)
            .unwrap()
            .starts_with("https://127.0.0.1:9000/b/k.png?"));
    }

    #[test]
    fn amz_date_is_basic_iso8601_to_the_second() {
        let cases = [
            ("2013-05-24T00:00:00Z", "20130524T000000Z"),
            ("2026-12-31T23:59:59.999Z", "20261231T235959Z"),
            ("2026-01-01T01:02:03+01:00", "20260101T000203Z"),
        ];
        for (t, want) in cases {
            assert_eq!(amz_date(at(t)).unwrap(), want, "{t}");
        }
        assert!(amz_date(Timestamp::from_millis(-1)).is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "super-secret-value".into(),
        };
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("super-secret-value"));
    }
}
