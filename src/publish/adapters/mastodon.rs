//! Mastodon, over its REST API: `POST /api/v2/media` for each image or video (multipart, the
//! alt text as `description`; while it answers 202 the attachment is still processing, and
//! `GET /api/v1/media/{id}` is polled until it is ready), then `POST /api/v1/statuses` with
//! `media_ids[]` and an `Idempotency-Key` derived from the target. Mastodon answers a repeat of
//! that key with the status it already created, for an hour; past the configured window a
//! repeat of an attempt whose outcome is unknown is not made (`OUTCOME_UNKNOWN`).

use std::time::Duration;

use serde_json::{json, Value};

use super::{stop_for, url, wait_s, Attempt, Published, Report, Stop};
use crate::domain::ids::random_base62;
use crate::domain::publish::credentials::Credentials;
use crate::domain::publish::multipart::{self, Part};
use crate::domain::publish::outcome::{self, AuthFailure, ErrorCode};
use crate::domain::time::Timestamp;

/// How long to wait between polls of an attachment that is still processing.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The `Idempotency-Key` of a target: the same for every attempt to publish it.
pub fn idempotency_key(target_id: &str) -> String {
    format!("postbridge-{target_id}")
}

pub async fn publish(a: &Attempt<'_>) -> Report {
    Report {
        result: run(a).await,
        new_session: None,
    }
}

async fn run(a: &Attempt<'_>) -> Result<Published, Stop> {
    let Credentials::Mastodon {
        instance_url,
        access_token,
    } = &a.credentials
    else {
        return Err(Stop::Auth(
            AuthFailure::Expired,
            "the credentials are not Mastodon's".into(),
        ));
    };
    let claimed = a.claimed;
    let first_unknown = claimed
        .first_unknown_at
        .as_deref()
        .and_then(|t| Timestamp::parse(t).ok())
        .map(Timestamp::millis);
    if !outcome::mastodon_may_repeat(first_unknown, a.started_ms, a.config.mastodon_window_ms) {
        return Err(Stop::OutcomeUnknown);
    }
    let bearer = format!("Bearer {access_token}");
    let mut media_ids = Vec::new();
    for (m, bytes) in &a.media {
        media_ids.push(upload(a, instance_url, &bearer, m, bytes).await?);
    }
    let body = json!({ "status": claimed.text, "media_ids": media_ids })
        .to_string()
        .into_bytes();
    let req = a
        .http
        .post(
            &url(instance_url, "/api/v1/statuses"),
            "application/json",
            body,
        )?
        .header("Authorization", &bearer)
        .header("Idempotency-Key", &idempotency_key(&claimed.id));
    let (status, answer, json) = a.http.call(req, true).await?;
    if !(200..300).contains(&status) {
        return Err(stop(status, wait_s(&answer), true, &json));
    }
    let Some(id) = json["id"].as_str() else {
        return Err(Stop::Retry {
            code: ErrorCode::PlatformUnavailable,
            wait_s: None,
            maybe_done: true,
            message: "The platform's answer named no status.".into(),
        });
    };
    // A replay of the key answers with the status created before this attempt began.
    let created = json["created_at"]
        .as_str()
        .and_then(|t| Timestamp::parse(t).ok())
        .map(Timestamp::millis);
    Ok(Published {
        platform_post_id: id.to_owned(),
        url: json["url"].as_str().or(json["uri"].as_str()).map_or_else(
            || url(instance_url, &format!("/statuses/{id}")),
            str::to_owned,
        ),
        already: created.is_some_and(|c| c < a.started_ms - 1_000),
    })
}

/// A non-2xx answer; Mastodon says "The access token was revoked" for a revoked token.
fn stop(status: u16, wait: Option<u64>, creating: bool, json: &Value) -> Stop {
    match stop_for(status, wait, creating, json) {
        Stop::Auth(_, why) if why.to_ascii_lowercase().contains("revoked") => {
            Stop::Auth(AuthFailure::Revoked, why)
        }
        other => other,
    }
}

async fn upload(
    a: &Attempt<'_>,
    instance: &str,
    bearer: &str,
    m: &crate::store::publishing::MediaRow,
    bytes: &[u8],
) -> Result<String, Stop> {
    let description = m.alt_text.clone().unwrap_or_default();
    let parts = [
        Part {
            name: "file",
            file: Some((&m.filename, &m.content_type)),
            body: bytes,
        },
        Part {
            name: "description",
            file: None,
            body: description.as_bytes(),
        },
    ];
    // A random boundary is practically never inside the body; draw again if it is.
    let (boundary, body) = loop {
        let boundary = format!("postbridge-{}", random_base62(32));
        if let Ok(body) = multipart::build(&boundary, &parts) {
            break (boundary, body);
        }
    };
    let req = a
        .http
        .post(
            &url(instance, "/api/v2/media"),
            &multipart::content_type(&boundary),
            body,
        )?
        .header("Authorization", bearer);
    let (status, answer, json) = a.http.call(req, false).await?;
    let id = match (status, json["id"].as_str()) {
        (200..=299, Some(id)) => id.to_owned(),
        (200..=299, None) => {
            return Err(Stop::Failed(
                ErrorCode::PlatformRejected,
                "The platform's answer to a media upload named no attachment.".into(),
            ))
        }
        _ => return Err(stop(status, wait_s(&answer), false, &json)),
    };
    // 202, or an attachment without its URL yet: still processing.
    let mut ready = status != 202 && !json["url"].is_null();
    while !ready {
        worker::Delay::from(POLL_EVERY).await;
        let req = a
            .http
            .get(&url(instance, &format!("/api/v1/media/{id}")))?
            .header("Authorization", bearer);
        let (status, answer, json) = a.http.call(req, false).await?;
        match status {
            200 => ready = !json["url"].is_null(),
            206 => {}
            _ => return Err(stop(status, wait_s(&answer), false, &json)),
        }
    }
    Ok(id)
}

/// What the instance says about its limits (`GET /api/v2/instance`, no credentials needed),
/// asked when an account's credentials are given. `None` if it cannot say (unreachable,
/// not JSON): Mastodon's defaults apply.
pub async fn instance_limits(
    outbound: &crate::net::outbound::Outbound,
    instance_url: &str,
) -> Option<crate::domain::publish::limits::InstanceLimits> {
    let target = outbound
        .guard(&url(instance_url, "/api/v2/instance"))
        .ok()?;
    let mut answer = outbound
        .send(
            crate::net::outbound::OutRequest::get(target),
            crate::net::outbound::Redirects::None,
            Duration::from_secs(5),
        )
        .await
        .ok()?;
    if answer.status() != 200 {
        return None;
    }
    let bytes = answer.bytes_capped(1024 * 1024).await.ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    doc.get("configuration")?;
    Some(crate::domain::publish::limits::InstanceLimits::from_instance(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_always_sends_the_same_key() {
        assert_eq!(
            idempotency_key("tgt_0123456789abcdefXYZ"),
            "postbridge-tgt_0123456789abcdefXYZ"
        );
    }

    #[test]
    fn revoked_tokens_are_told_from_expired_ones() {
        let revoked = stop(
            401,
            None,
            true,
            &json!({"error": "The access token was revoked"}),
        );
        assert_eq!(
            revoked,
            Stop::Auth(
                AuthFailure::Revoked,
                "401: The access token was revoked".into()
            )
        );
        let invalid = stop(
            401,
            None,
            true,
            &json!({"error": "The access token is invalid"}),
        );
        assert!(matches!(invalid, Stop::Auth(AuthFailure::Expired, _)));
        assert!(matches!(
            stop(
                422,
                None,
                true,
                &json!({"error": "Validation failed: Text is too long"})
            ),
            Stop::Failed(ErrorCode::PlatformRejected, _)
        ));
    }
}
