//! The credentials each publisher needs, read from the JSON a client registers (and from the
//! same JSON once unsealed, so the publisher reads exactly what was accepted).
//!
//! - BLUESKY: `{"identifier", "appPassword", "service"}`: a handle, DID or e-mail; an app
//!   password; the PDS or entryway to sign in at (default `https://bsky.social`).
//! - MASTODON: `{"instanceUrl", "accessToken"}`.
//!
//! Other platforms have no publisher: their credentials are kept as given (any JSON).
//! The URLs are only shaped here; the caller passes them through the outbound guard.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::platform::Platform;

pub const BLUESKY_DEFAULT_SERVICE: &str = "https://bsky.social";

/// Credentials a publisher can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Credentials {
    #[serde(rename_all = "camelCase")]
    Bluesky {
        identifier: String,
        app_password: String,
        service: String,
    },
    #[serde(rename_all = "camelCase")]
    Mastodon {
        instance_url: String,
        access_token: String,
    },
}

impl Credentials {
    /// The URL requests go to, for the outbound guard.
    pub fn base_url(&self) -> &str {
        match self {
            Credentials::Bluesky { service, .. } => service,
            Credentials::Mastodon { instance_url, .. } => instance_url,
        }
    }

    /// The same credentials with the base URL replaced (by its guarded, normalised form).
    pub fn with_base_url(self, url: String) -> Self {
        match self {
            Credentials::Bluesky {
                identifier,
                app_password,
                ..
            } => Credentials::Bluesky {
                identifier,
                app_password,
                service: url,
            },
            Credentials::Mastodon { access_token, .. } => Credentials::Mastodon {
                instance_url: url,
                access_token,
            },
        }
    }

    /// The JSON that is sealed.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A field of `credentials` and what is wrong with it (`field` is relative: `identifier`).
pub type Problem = (&'static str, &'static str);

/// `Ok(None)`: a platform without a publisher, whose credentials are opaque.
pub fn parse(platform: Platform, value: &Value) -> Result<Option<Credentials>, Vec<Problem>> {
    let fields: &[&str] = match platform {
        Platform::Bluesky => &["identifier", "appPassword", "service"],
        Platform::Mastodon => &["instanceUrl", "accessToken"],
        _ => return Ok(None),
    };
    let Some(map) = value.as_object() else {
        return Err(vec![("", "must be an object")]);
    };
    let mut problems: Vec<Problem> = Vec::new();
    for k in map.keys() {
        if !fields.contains(&k.as_str()) {
            problems.push(("", "has a field this platform does not take"));
            break;
        }
    }
    let creds = match platform {
        Platform::Bluesky => {
            let identifier = text(map, "identifier", 253, true, &mut problems);
            let app_password = text(map, "appPassword", 200, true, &mut problems);
            let service = url(map, "service", false, &mut problems)
                .unwrap_or_else(|| BLUESKY_DEFAULT_SERVICE.to_owned());
            Credentials::Bluesky {
                identifier: identifier.unwrap_or_default(),
                app_password: app_password.unwrap_or_default(),
                service,
            }
        }
        _ => {
            let instance_url = url(map, "instanceUrl", true, &mut problems);
            let access_token = text(map, "accessToken", 2_000, true, &mut problems);
            Credentials::Mastodon {
                instance_url: instance_url.unwrap_or_default(),
                access_token: access_token.unwrap_or_default(),
            }
        }
    };
    if problems.is_empty() {
        Ok(Some(creds))
    } else {
        Err(problems)
    }
}

/// A secret or identifier: a non-blank string of at most `max` bytes, no whitespace or control
/// characters inside (they would never be right, and would corrupt a header).
fn text(
    map: &Map<String, Value>,
    name: &'static str,
    max: usize,
    required: bool,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match map.get(name) {
        None | Some(Value::Null) => {
            if required {
                problems.push((name, "is required"));
            }
            None
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                problems.push((name, "must not be blank"));
                None
            } else if t.len() > max {
                problems.push((name, "is too long"));
                None
            } else if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                problems.push((name, "must not contain spaces or control characters"));
                None
            } else {
                Some(t.to_owned())
            }
        }
        Some(_) => {
            problems.push((name, "must be a string"));
            None
        }
    }
}

/// A base URL: `http(s)://host[:port][/path]`, no query or fragment, trailing `/` dropped.
/// Whether the host may be reached is the outbound guard's decision, not this one's.
fn url(
    map: &Map<String, Value>,
    name: &'static str,
    required: bool,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let raw = text(map, name, 2_000, required, problems)?;
    let lower = raw.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        problems.push((name, "must be an http(s) URL"));
        return None;
    }
    if raw.contains(['?', '#']) {
        problems.push((name, "must be a base URL, without query or fragment"));
        return None;
    }
    Some(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bluesky_credentials_take_a_default_service() {
        let c = parse(
            Platform::Bluesky,
            &json!({"identifier": "alice.bsky.social", "appPassword": "abcd-efgh-ijkl-mnop"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            Credentials::Bluesky {
                identifier: "alice.bsky.social".into(),
                app_password: "abcd-efgh-ijkl-mnop".into(),
                service: "https://bsky.social".into()
            }
        );
        assert_eq!(
            c.to_json(),
            r#"{"identifier":"alice.bsky.social","appPassword":"abcd-efgh-ijkl-mnop","service":"https://bsky.social"}"#
        );
        // The sealed JSON reads back to the same credentials.
        let again: Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(parse(Platform::Bluesky, &again).unwrap().unwrap(), c);
        let own = parse(
            Platform::Bluesky,
            &json!({"identifier": "did:plc:abc", "appPassword": "p", "service": "http://127.0.0.1:2583/"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(own.base_url(), "http://127.0.0.1:2583");
    }

    #[test]
    fn mastodon_credentials_need_both_fields() {
        let c = parse(
            Platform::Mastodon,
            &json!({"instanceUrl": "https://mastodon.social", "accessToken": "tok"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.base_url(), "https://mastodon.social");
        assert_eq!(
            c.to_json(),
            r#"{"instanceUrl":"https://mastodon.social","accessToken":"tok"}"#
        );
    }

    #[test]
    fn malformed_credentials_name_every_problem() {
        for (platform, value, want) in [
            (
                Platform::Bluesky,
                json!("string"),
                vec![("", "must be an object")],
            ),
            (
                Platform::Bluesky,
                json!({}),
                vec![
                    ("identifier", "is required"),
                    ("appPassword", "is required"),
                ],
            ),
            (
                Platform::Bluesky,
                json!({"identifier": " ", "appPassword": 3, "service": "ftp://x"}),
                vec![
                    ("identifier", "must not be blank"),
                    ("appPassword", "must be a string"),
                    ("service", "must be an http(s) URL"),
                ],
            ),
            (
                Platform::Bluesky,
                json!({"identifier": "a b", "appPassword": "x", "extra": 1}),
                vec![
                    ("", "has a field this platform does not take"),
                    (
                        "identifier",
                        "must not contain spaces or control characters",
                    ),
                ],
            ),
            (
                Platform::Mastodon,
                json!({"accessToken": "t"}),
                vec![("instanceUrl", "is required")],
            ),
            (
                Platform::Mastodon,
                json!({"instanceUrl": "https://m.social/?x=1", "accessToken": "t\u{0}"}),
                vec![
                    (
                        "instanceUrl",
                        "must be a base URL, without query or fragment",
                    ),
                    (
                        "accessToken",
                        "must not contain spaces or control characters",
                    ),
                ],
            ),
            (
                Platform::Mastodon,
                json!({"instanceUrl": "https://m.social", "accessToken": "x".repeat(2_001)}),
                vec![("accessToken", "is too long")],
            ),
        ] {
            assert_eq!(parse(platform, &value).unwrap_err(), want, "{value}");
        }
    }

    #[test]
    fn platforms_without_a_publisher_keep_any_json() {
        assert_eq!(parse(Platform::X, &json!({"anything": [1, 2]})), Ok(None));
        assert_eq!(parse(Platform::Instagram, &json!("opaque")), Ok(None));
    }
}
