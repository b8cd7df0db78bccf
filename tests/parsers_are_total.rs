//! Every parser of untrusted text is total: whatever it is fed — arbitrary Unicode, arbitrary
//! bytes read as a lossy string, over-long text, or a valid value with a few characters
//! replaced, inserted or cut — it answers `Ok` or `Err`, never a panic (with `panic = "abort"`
//! a panic takes the whole isolate down, other tenants' requests with it). Where a parser has a
//! printer, what it accepts is printed in a form it reads back (round trips).
//!
//! Mutations of valid values matter as much as random text: random strings almost never have
//! the shape of a timestamp or a token, so they never reach the code past the shape check,
//! where the byte-offset slicing of the old timestamp parser panicked.
//!
//! The seed is fixed, so `make test` runs the same cases every time; `PROPTEST_RNG_SEED=<n>`
//! and `PROPTEST_CASES=<n>` explore further.
//!
//! Native only (proptest is a native dev-dependency); the wasm-only code has src/wasm_tests.rs.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::Value;

use postbridge::auth::credential::{Credential, CredentialKind, PlainToken};
use postbridge::domain::capability::{self, Claims, Purpose};
use postbridge::domain::ids::{
    CommentId, FolderId, KeyId, MediaId, PostId, RequestId, SessionId, SocialAccountId, TargetId,
    UserId, WorkspaceId,
};
use postbridge::domain::media::{sanitize_filename, sniff, MediaType, MAX_FILENAME_BYTES};
use postbridge::domain::platform::{AccountStatus, Platform};
use postbridge::domain::post_state::PostStatus;
use postbridge::domain::roles::Role;
use postbridge::domain::sigv4::{self, Credentials, PresignRequest};
use postbridge::domain::slug::Slug;
use postbridge::domain::text::{long_text, Email, Name, Password};
use postbridge::domain::time::{self, Timestamp};
use postbridge::domain::timezone::Timezone;
use postbridge::domain::url_guard::{self, Allowance};
use postbridge::http::body::{is_json, Fields};
use postbridge::http::error::ApiError;
use postbridge::http::page::{Cursor, PageRequest};
use postbridge::http::router;
use postbridge::scope::{named_workspace, Named};

fn config(cases: u32) -> Config {
    let mut c = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x5eed_0011);
    }
    c
}

// --- inputs ----------------------------------------------------------------------------------

/// Any characters at all: controls, surrogate-adjacent planes, combining marks, NUL.
fn any_chars(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Arbitrary bytes as the API would see them after a lossy UTF-8 decode.
fn lossy_bytes(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..max)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A few characters from a small, dangerous alphabet repeated far past any bound.
fn over_long() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["9", "a", "é", "\u{0}", "-", ":", "💥", " ", "%", "."]),
        100usize..5000,
    )
        .prop_map(|(s, n)| s.repeat(n))
}

/// One edit of a string: replace, insert or delete a character, or cut it short.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Characters that matter to ASCII grammars: non-ASCII of every UTF-8 width, controls,
    // separators and digits; plus anything.
    let c = prop_oneof![
        prop::sample::select(vec![
            'é', '٣', '日', '💥', '\u{0}', '\u{7f}', '\u{85}', '\u{200b}', '\u{feff}', '-', ':',
            '.', '+', 'T', 'Z', '|', '/', '%', ' ', '9', '0',
        ]),
        any::<char>(),
    ];
    prop_oneof![
        (0usize..96, c.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (0usize..96, c).prop_map(|(i, c)| Edit::Insert(i, c)),
        (0usize..96).prop_map(Edit::Delete),
        (0usize..96).prop_map(Edit::Truncate),
    ]
}

fn apply(s: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for e in edits {
        let n = chars.len();
        match *e {
            Edit::Replace(i, c) if n > 0 => chars[i % n] = c,
            Edit::Insert(i, c) => chars.insert(i % (n + 1), c),
            Edit::Delete(i) if n > 0 => {
                chars.remove(i % n);
            }
            Edit::Truncate(i) => chars.truncate(i % (n + 1)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// A valid value with one to three edits.
fn mutated(valid: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    (valid, proptest::collection::vec(edit(), 1..4)).prop_map(|(s, e)| apply(&s, &e))
}

/// Everything hostile, plus mutations of the given valid values.
fn hostile_or(valid: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    let valid = valid.boxed();
    prop_oneof![
        2 => any_chars(64),
        2 => lossy_bytes(96),
        1 => over_long(),
        1 => valid.clone(),
        6 => mutated(valid),
    ]
    .boxed()
}

fn hostile() -> BoxedStrategy<String> {
    hostile_or(Just(String::from("a")))
}

/// Millisecond instants across the whole accepted range, with the edges weighted in.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        time::MIN.millis()..=time::MAX.millis(),
        Just(time::MIN.millis()),
        Just(time::MAX.millis()),
        (0i64..86_400_000).prop_map(|d| time::MAX.millis() - d),
    ]
}

fn rfc3339() -> impl Strategy<Value = String> {
    (instant(), -1439i32..=1439, 0usize..4).prop_map(|(ms, off, digits)| {
        with_offset(ms, off, digits).unwrap_or_else(|| Timestamp::from_millis(ms).to_rfc3339())
    })
}

/// `ms` written in local time at `offset` minutes east of UTC, with `digits` fraction digits,
/// or `None` when the local date is not a four-digit year.
fn with_offset(ms: i64, offset: i32, digits: usize) -> Option<String> {
    let local = Timestamp::from_millis(ms + i64::from(offset) * 60_000).to_rfc3339();
    if local.len() != 24 || local.starts_with('-') {
        return None;
    }
    let whole = &local[..19];
    let frac = &local[20..20 + digits.min(3)];
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 60, offset.abs() % 60);
    let dot = if digits == 0 { "" } else { "." };
    Some(format!("{whole}{dot}{frac}{sign}{h:02}:{m:02}"))
}

fn base62(n: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9A-Za-z]{{{n}}}")).expect("a regex")
}

fn any_id() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "ws_", "usr_", "key_", "sess_", "req_", "soc_", "post_", "tgt_", "med_", "fld_", "cmt_",
    ]);
    (prefix, prop_oneof![base62(16), base62(32)]).prop_map(|(p, r)| format!("{p}{r}"))
}

fn token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![CredentialKind::ApiKey, CredentialKind::Session])
        .prop_map(|k| PlainToken::generate(k).reveal())
}

// --- properties ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2048))]

    /// The original defect: a non-ASCII character at a byte offset the parser sliced at.
    #[test]
    fn timestamps_parse_totally_and_what_is_accepted_reads_back(s in hostile_or(rfc3339())) {
        if let Ok(t) = Timestamp::parse(&s) {
            prop_assert!(time::MIN <= t && t <= time::MAX, "{s:?} → {t:?}");
            let written = t.to_rfc3339();
            prop_assert_eq!(written.len(), 24);
            prop_assert_eq!(Timestamp::parse(&written), Ok(t));
        }
        let now = Timestamp::from_millis(1_790_000_000_000);
        if let Ok(t) = Timestamp::parse_ahead(&s, now) {
            prop_assert!(t > now);
            prop_assert!(t.millis() - now.millis() <= time::HORIZON_DAYS * 86_400_000);
        }
    }

    /// Any instant, written at any offset, reads back as itself exactly when it lies in range.
    #[test]
    fn timestamps_round_trip_through_every_offset(
        ms in time::MIN.millis() - 86_400_000..=time::MAX.millis() + 86_400_000,
        offset in -1439i32..=1439,
        digits in 0usize..4,
    ) {
        let canonical = Timestamp::from_millis(ms).to_rfc3339();
        if (time::MIN.millis()..=time::MAX.millis()).contains(&ms) {
            prop_assert_eq!(Timestamp::parse(&canonical), Ok(Timestamp::from_millis(ms)));
        }
        if let Some(local) = with_offset(ms, offset, digits) {
            // Fewer than three fraction digits drop the finer milliseconds.
            let kept = ms - ms.rem_euclid(10_i64.pow(3 - digits as u32));
            let in_range = (time::MIN.millis()..=time::MAX.millis()).contains(&kept);
            match Timestamp::parse(&local) {
                Ok(t) => prop_assert_eq!(t.millis(), kept, "{}", local),
                Err(_) => prop_assert!(!in_range, "{} refused but in range", local),
            }
        }
    }

    #[test]
    fn ids_parse_totally_and_keep_their_text(s in hostile_or(any_id())) {
        fn check<T>(s: &str, parse: fn(&str) -> Result<T, postbridge::domain::DomainError>, text: fn(&T) -> &str) -> Result<(), TestCaseError> {
            if let Ok(id) = parse(s) {
                prop_assert_eq!(text(&id), s);
                prop_assert!(s.is_ascii());
            }
            Ok(())
        }
        check(&s, WorkspaceId::parse, WorkspaceId::as_str)?;
        check(&s, UserId::parse, UserId::as_str)?;
        check(&s, KeyId::parse, KeyId::as_str)?;
        check(&s, SessionId::parse, SessionId::as_str)?;
        check(&s, RequestId::parse, RequestId::as_str)?;
        check(&s, SocialAccountId::parse, SocialAccountId::as_str)?;
        check(&s, TargetId::parse, TargetId::as_str)?;
        check(&s, FolderId::parse, FolderId::as_str)?;
        check(&s, CommentId::parse, CommentId::as_str)?;
        if let Ok(id) = PostId::parse(&s) {
            prop_assert!(WorkspaceId::parse(id.workspace().as_str()).is_ok());
        }
        if let Ok(id) = MediaId::parse(&s) {
            prop_assert!(WorkspaceId::parse(id.workspace().as_str()).is_ok());
        }
    }

    #[test]
    fn slugs_and_zones_parse_totally(s in hostile_or(prop_oneof![
        proptest::string::string_regex("[a-z0-9]{1,20}(-[a-z0-9]{1,10}){0,3}").expect("a regex"),
        prop::sample::select(vec!["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"]).prop_map(String::from),
    ])) {
        if let Ok(slug) = Slug::parse(&s) {
            prop_assert_eq!(slug.as_str(), s.as_str());
        }
        // Whatever a name suggests is itself a valid slug.
        if let Ok(slug) = Slug::from_name(&s) {
            prop_assert_eq!(Slug::parse(slug.as_str()).map(|x| x.as_str().to_owned()), Ok(slug.as_str().to_owned()));
        }
        if let Ok(zone) = Timezone::parse(&s) {
            prop_assert_eq!(zone.as_str(), s.as_str());
        }
    }

    #[test]
    fn text_rules_parse_totally(s in hostile_or(prop_oneof![
        Just(String::from("  Acme Café  ")),
        Just(String::from("ada@example.com")),
        Just(String::from("Line 1\n\tLine 2")),
        Just(String::from("correct horse battery")),
    ]), max in 1usize..200) {
        if let Ok(name) = Name::parse(&s, max) {
            let n = name.as_str();
            prop_assert!(!n.is_empty() && n.chars().count() <= max && n == n.trim());
            prop_assert!(!n.chars().any(char::is_control));
        }
        if let Ok(text) = long_text(&s, max) {
            prop_assert!(text.chars().count() <= max);
        }
        if let Ok(email) = Email::parse(&s) {
            prop_assert!(email.as_str().len() <= 254 && email.as_str().contains('@'));
        }
        if let Ok(p) = Password::parse(&s) {
            prop_assert!((8..=128).contains(&p.expose().chars().count()));
        }
    }

    #[test]
    fn wire_enums_parse_totally(s in hostile_or(prop::sample::select(vec![
        "OWNER", "CLIENT_REVIEWER", "INSTAGRAM", "LINKEDIN_COMPANY", "CONNECTED", "DRAFT", "PARTIALLY_PUBLISHED",
    ]).prop_map(String::from))) {
        if let Ok(r) = Role::parse(&s) { prop_assert_eq!(r.as_str(), s.as_str()); }
        if let Ok(p) = Platform::parse(&s) { prop_assert_eq!(p.as_str(), s.as_str()); }
        if let Ok(a) = AccountStatus::parse(&s) { prop_assert_eq!(a.as_str(), s.as_str()); }
        if let Ok(p) = PostStatus::parse(&s) { prop_assert_eq!(p.as_str(), s.as_str()); }
    }

    #[test]
    fn media_types_filenames_and_sniffing_are_total(
        s in hostile_or(prop_oneof![
            Just(String::from("image/PNG; charset=binary")),
            Just(String::from("../../etc/passwd")),
            Just(String::from("  Café 日本 logo..png ")),
            Just(String::from("C:\\Users\\x\\photo.jpg")),
        ]),
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
        magic in prop::sample::select(vec![
            &b"\x89PNG\r\n\x1a\n"[..], b"\xff\xd8\xff", b"GIF89a", b"RIFF\0\0\0\0WEBP", b"%PDF-",
            b"\x1a\x45\xdf\xa3", b"\0\0\0\x18ftypheic", b"\0\0\0\x18ftypqt  ", b"\0\0\0\x08moov",
        ]),
    ) {
        if let Ok(t) = MediaType::parse(&s) {
            prop_assert_eq!(MediaType::parse(t.as_str()), Ok(t));
        }
        if let Ok(name) = sanitize_filename(&s) {
            prop_assert!(!name.is_empty() && name.len() <= MAX_FILENAME_BYTES);
            prop_assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control));
            prop_assert!(name != "." && name != "..");
            prop_assert_eq!(sanitize_filename(&name), Ok(name.clone()), "not idempotent");
        }
        let _ = sniff(&bytes);
        // Magic numbers followed by anything, and cut anywhere.
        let mut framed = magic.to_vec();
        framed.extend_from_slice(&bytes);
        for cut in [0, 1, 4, 8, 12, 16, framed.len()] {
            let _ = sniff(&framed[..cut.min(framed.len())]);
        }
    }

    #[test]
    fn capability_tokens_verify_totally(
        claims in (any_chars(40), any_chars(40), any_chars(40), any::<u64>(), 1_790_000_001i64..i64::MAX),
        edits in proptest::collection::vec(edit(), 1..4),
        junk in hostile(),
    ) {
        const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
        const NOW: i64 = 1_790_000_000;
        let (media_id, workspace_id, content_type, max_bytes, expires_unix) = claims;
        let claims = Claims { purpose: Purpose::Upload, media_id, workspace_id, content_type, max_bytes, expires_unix };
        let token = capability::issue(SECRET, &claims);
        if token.len() <= 2048 {
            prop_assert_eq!(capability::verify(SECRET, &token, NOW), Ok(claims.clone()));
        }
        let altered = apply(&token, &edits);
        if let Ok(c) = capability::verify(SECRET, &altered, NOW) {
            // Only a token that reads back to the same bytes can verify.
            prop_assert_eq!(&altered, &token);
            prop_assert_eq!(c, claims);
        }
        prop_assert!(capability::verify(SECRET, &junk, NOW).is_err());
    }

    #[test]
    fn sigv4_inputs_are_total(
        method in hostile_or(Just(String::from("PUT"))),
        host in hostile_or(Just(String::from("acct.r2.cloudflarestorage.com"))),
        path in hostile(),
        header in (hostile_or(Just(String::from("content-type"))), hostile()),
        query in (hostile_or(Just(String::from("x-id"))), hostile()),
        ms in any::<i64>(),
        expires in any::<u64>(),
    ) {
        let c = Credentials { access_key_id: "AKID".into(), secret_access_key: "secret".into() };
        let req = PresignRequest {
            headers: vec![header],
            query: vec![query],
            ..PresignRequest::r2(&method, &host, &path, Timestamp::from_millis(ms), expires)
        };
        if let Ok(p) = sigv4::presign_detailed(&c, &req) {
            prop_assert!(p.url.starts_with("https://") && p.url.is_ascii());
        }
        let _ = sigv4::amz_date(Timestamp::from_millis(ms));
        prop_assert!(postbridge::domain::percent::encode(&path).is_ascii());
        prop_assert!(postbridge::domain::percent::encode_path(&path).is_ascii());
    }

    #[test]
    fn url_guard_is_total(
        raw in hostile_or(prop_oneof![
            Just(String::from("https://cdn.example.com/a/logo.png?x=1#f")),
            Just(String::from("http://0x7f.1/")),
            Just(String::from("http://[::ffff:127.0.0.1]/")),
            Just(String::from("http://127.0.0.1:8787/x")),
        ]),
        location in hostile_or(Just(String::from("/next?a=b"))),
    ) {
        for allow in [Allowance::default(), Allowance { loopback: true, https_only: false }, Allowance { loopback: false, https_only: true }] {
            if let Ok(url) = url_guard::check_with(&raw, allow) {
                prop_assert!(url.as_str().starts_with("http"));
                let _ = url_guard::check_redirect_with(&url, &location, allow);
            }
        }
    }

    #[test]
    fn credentials_parse_totally(s in hostile_or(token())) {
        if let Ok(c) = Credential::parse(&s) {
            prop_assert!(s.is_ascii() && s.len() == 40);
            prop_assert_eq!(c.hash.as_str().len(), 64);
        }
        for header in [format!("Bearer {s}"), format!("bearer  {s} "), s.clone()] {
            let _ = Credential::from_header(Some(&header));
        }
    }

    #[test]
    fn cursors_decode_totally(
        s in hostile(),
        inner in hostile_or((instant(), any_id()).prop_map(|(ms, id)| format!("{}|{id}", Timestamp::from_millis(ms).to_rfc3339()))),
        limit in hostile_or(Just(String::from("50"))),
    ) {
        let _ = Cursor::decode(&s);
        // Hex that decodes: the text inside is the attacker's.
        if let Some(c) = Cursor::decode(&hex::encode(&inner)) {
            prop_assert_eq!(Timestamp::parse(&c.created_at).map(Timestamp::to_rfc3339), Ok(c.created_at.clone()));
            prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        match PageRequest::parse(Some(&limit), Some(&s)) {
            Ok(p) => prop_assert!((1..=200).contains(&p.limit)),
            Err(e) => prop_assert_eq!(e.code(), "VALIDATION_FAILED"),
        }
    }

    #[test]
    fn issued_cursors_round_trip(ms in instant(), id in any_id()) {
        let c = Cursor { created_at: Timestamp::from_millis(ms).to_rfc3339(), id };
        prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn workspace_names_routes_and_content_types_are_total(
        path in hostile(), query in hostile(), header in hostile_or(any_id()), body in hostile(),
        method in hostile_or(Just(String::from("GET"))),
        route in hostile_or(Just(String::from("/api/v1/workspaces/ws_0123456789abcdef/members/usr_x"))),
    ) {
        let named = Named { path: Some(&path), query: Some(&query), header: Some(&header), body: Some(&body) };
        if let Ok(Some(ws)) = named_workspace(named) {
            prop_assert_eq!(ws.as_str(), header.as_str());
        }
        let _ = named_workspace(Named { header: Some(&header), ..Named::default() });
        let _ = router::resolve(&method, &route);
        let _ = is_json(Some(&body));
        let _ = postbridge::seal::parse_key(Some(&body));
    }
}

// --- JSON bodies -----------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(1e300),
            Just(-0.0),
            Just(2048.0),
            Just(9_007_199_254_740_993.0)
        ]
        .prop_map(Value::from),
        hostile_or(prop_oneof![
            rfc3339(),
            any_id(),
            Just(String::from("image/png"))
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "content", "scheduledFor", "mediaIds", "targets", "accountId", "bytes", "requireApproval",
            "platformOptions", "slug", "name", "workspaceId",
        ]).prop_map(String::from),
        1 => any_chars(12),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    /// Bytes of any kind through the body reader, as the worker receives them.
    #[test]
    fn bodies_of_any_bytes_are_read_totally(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = Fields::from_bytes(&bytes) {
            prop_assert_eq!(e.code(), "VALIDATION_FAILED");
        }
    }

    /// Every field reader over arbitrary JSON objects: a value or field problems, never a panic;
    /// a body that passes `finish` yields its required fields.
    #[test]
    fn body_field_readers_are_total(body in proptest::collection::btree_map(field_name(), json_value(), 0..8)) {
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let mut f = Fields::from_bytes(&bytes).expect("an object");
        let now = Timestamp::from_millis(1_790_000_000_000);
        let content = f.required("content", |s| long_text(s, 100));
        let _ = f.optional("scheduledFor", |s| Timestamp::parse_ahead(s, now));
        let _ = f.optional_list("mediaIds", 3, MediaId::parse);
        let _ = f.optional_objects("targets", 3, |t| {
            let account = t.required("accountId", SocialAccountId::parse);
            let _ = t.optional_list("mediaIds", 3, MediaId::parse);
            let _ = t.optional_json("platformOptions", 64);
            account.into_inner()
        });
        let _ = f.optional_u64("bytes");
        let _ = f.optional_bool("requireApproval");
        let _ = f.workspace_id();
        f.forbid("slug", "cannot be changed");
        let _ = f.optional("name", |s| Name::parse(s, 10));
        match f.finish() {
            Ok(ok) => {
                let _ = content.take(&ok);
            }
            Err(ApiError::Validation(details)) => prop_assert!(!details.is_empty()),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

// --- publishing --------------------------------------------------------------------------------

use postbridge::domain::publish::credentials as publish_credentials;
use postbridge::domain::publish::facets::{self, Feature};
use postbridge::domain::publish::limits::{self, InstanceLimits};
use postbridge::domain::publish::{multipart, retry, tid};

/// An HTTP-date in its three forms, for mutating.
fn http_date() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
        Just("Sunday, 06-Nov-94 08:49:37 GMT".to_owned()),
        Just("Sun Nov  6 08:49:37 1994".to_owned()),
        (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

/// Post texts with links, hashtags, mentions and wide characters, for mutating.
fn post_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "#tag",
            "＃全角",
            " ",
            "https://example.com/a?b=c",
            "(https://x.io/a)",
            "@alice@example.social",
            "é",
            "👨‍👩‍👧‍👦",
            "e\u{301}",
            "#\u{FE0F}\u{20E3}",
            ".",
            "\n",
            "http://",
            "#123",
        ]),
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(config(1024))]

    /// Retry-After (seconds or an HTTP-date) and Bluesky's ratelimit-reset, whatever a platform
    /// (or a fault proxy) sends.
    #[test]
    fn retry_after_parses_totally(s in hostile_or(http_date()), now in instant()) {
        let _ = retry::retry_after_s(&s, now);
        let _ = retry::ratelimit_reset_s(&s, now);
        if let Some(ms) = retry::http_date_ms(&s) {
            // Years 1900 to 9999 only.
            prop_assert!((-2_208_988_800_000..=time::MAX.millis()).contains(&ms));
        }
    }

    /// Facets of any text sit on character boundaries inside it, and mark what they say.
    #[test]
    fn facets_are_total_and_on_char_boundaries(s in hostile_or(post_text())) {
        for f in facets::detect(&s) {
            prop_assert!(f.byte_start < f.byte_end && f.byte_end <= s.len());
            prop_assert!(s.is_char_boundary(f.byte_start) && s.is_char_boundary(f.byte_end));
            let marked = &s[f.byte_start..f.byte_end];
            match f.feature {
                Feature::Link(uri) => prop_assert_eq!(marked, uri.as_str()),
                Feature::Tag(tag) => prop_assert!(marked.ends_with(tag.as_str())),
            }
        }
        let _ = limits::graphemes(&s);
        let _ = limits::mastodon_length(&s, 23);
    }

    /// Record keys, sealed values and multipart boundaries from any text.
    #[test]
    fn keys_seals_and_boundaries_are_total(s in hostile_or(any_id()), ms in instant()) {
        let _ = tid::micros(&s);
        prop_assert!(tid::is_valid(&tid::derive(&s, ms)));
        let _ = postbridge::seal::split_sealed(&s);
        let part = multipart::Part { name: "file", file: Some((&s, "image/png")), body: s.as_bytes() };
        if let Ok(body) = multipart::build(&s, &[part]) {
            prop_assert!(body.ends_with(b"--\r\n"));
        }
    }

    /// Credentials and instance documents of any JSON shape.
    #[test]
    fn publishing_documents_are_read_totally(v in json_value()) {
        for p in [Platform::Bluesky, Platform::Mastodon, Platform::X] {
            let _ = publish_credentials::parse(p, &v);
        }
        let _ = InstanceLimits::from_instance(&v);
        let _ = InstanceLimits::from_instance(&serde_json::json!({ "configuration": v }));
    }
}
