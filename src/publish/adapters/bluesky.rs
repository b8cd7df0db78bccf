//! Bluesky, over the AT Protocol's XRPC: `createSession` once, then the session is kept
//! (sealed, with the account) and refreshed with `refreshSession` when the PDS says the access
//! token expired; `uploadBlob` for each image; `createRecord` of an `app.bsky.feed.post` with
//! facets and an `app.bsky.embed.images` embed, under a record key derived from the target, so
//! a repeat reads the record first (`getRecord`) and never posts twice.

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{platform_says, stop_for, url, wait_s, Attempt, Published, Report, Stop};
use crate::domain::publish::credentials::Credentials;
use crate::domain::publish::facets::{self, FacetJson};
use crate::domain::publish::outcome::{AuthFailure, ErrorCode};
use crate::domain::publish::tid;
use crate::domain::time::Timestamp;
use crate::net::outbound::{Answer, OutRequest};

const COLLECTION: &str = "app.bsky.feed.post";

/// The session `createSession` and `refreshSession` answer with (kept sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    access_jwt: String,
    refresh_jwt: String,
    did: String,
    #[serde(default)]
    handle: String,
}

struct Client<'a> {
    a: &'a Attempt<'a>,
    service: &'a str,
    identifier: &'a str,
    password: &'a str,
    session: RefCell<Option<Session>>,
    changed: Cell<bool>,
}

pub async fn publish(a: &Attempt<'_>) -> Report {
    let Credentials::Bluesky {
        identifier,
        app_password,
        service,
    } = &a.credentials
    else {
        return Report {
            result: Err(Stop::Auth(
                AuthFailure::Expired,
                "the credentials are not Bluesky's".into(),
            )),
            new_session: None,
        };
    };
    let c = Client {
        a,
        service,
        identifier,
        password: app_password,
        session: RefCell::new(
            a.session
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
        ),
        changed: Cell::new(false),
    };
    let result = run(&c).await;
    let new_session = if c.changed.get() {
        c.session
            .borrow()
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok())
    } else {
        None
    };
    Report {
        result,
        new_session,
    }
}

async fn run(c: &Client<'_>) -> Result<Published, Stop> {
    let claimed = c.a.claimed;
    if c.session.borrow().is_none() {
        c.create_session().await?;
    }
    let did = c.did();
    let created_ms = Timestamp::parse(&claimed.target_created_at).map_or(0, Timestamp::millis);
    let rkey = tid::derive(&claimed.id, created_ms);
    // A repeat: the record may be there from an attempt whose answer was lost.
    if claimed.attempts > 1 {
        if let Some(p) = c.get_record(&did, &rkey).await? {
            return Ok(p);
        }
    }
    let mut images = Vec::new();
    for (m, bytes) in &c.a.media {
        let blob = c.upload_blob(bytes.clone(), &m.content_type).await?;
        images.push(json!({ "alt": m.alt_text.clone().unwrap_or_default(), "image": blob }));
    }
    let text = &claimed.text;
    let mut record = json!({
        "$type": COLLECTION,
        "text": text,
        "createdAt": Timestamp::from_millis(crate::ctx::now_ms() as i64).to_rfc3339(),
    });
    let facets: Vec<FacetJson> = facets::detect(text).iter().map(FacetJson::from).collect();
    if !facets.is_empty() {
        record["facets"] = json!(facets);
    }
    if !images.is_empty() {
        record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
    }
    let body = json!({ "repo": did, "collection": COLLECTION, "rkey": rkey, "record": record })
        .to_string()
        .into_bytes();
    let endpoint = url(c.service, "/xrpc/com.atproto.repo.createRecord");
    let created = c
        .authed(
            &|token| {
                Ok(c.a
                    .http
                    .post(&endpoint, "application/json", body.clone())?
                    .header("Authorization", &format!("Bearer {token}")))
            },
            true,
        )
        .await;
    let (status, answer, json) = match created {
        Ok(answered) => answered,
        // No answer: the record may exist all the same; if it can be read now, it does.
        Err(
            stop @ Stop::Retry {
                maybe_done: true, ..
            },
        ) => {
            let status = c.a.http.last_status.get();
            return match c.get_record(&did, &rkey).await {
                Ok(Some(p)) => Ok(made_here(p, claimed.attempts)),
                _ => {
                    // The attempt is told by the create's outcome, not by the read's.
                    c.a.http.last_status.set(status);
                    Err(stop)
                }
            };
        }
        Err(stop) => return Err(stop),
    };
    match status {
        200..=299 => Ok(Published {
            platform_post_id: json["uri"]
                .as_str()
                .map_or_else(|| at_uri(&did, &rkey), str::to_owned),
            url: post_url(&did, &rkey),
            already: false,
        }),
        // The key may be taken by this target's own record (an earlier attempt's answer was
        // lost): the PDS refuses an existing key with a 500, the same as a fault of its own;
        // reading the record tells them apart. If the read fails too, the outcome is unknown.
        400 | 409 | 500..=599 if status >= 500 || already_exists(&json) => {
            match c.get_record(&did, &rkey).await {
                Ok(Some(p)) => Ok(made_here(p, claimed.attempts)),
                _ => {
                    c.a.http.last_status.set(Some(status));
                    Err(stop_for(status, wait_s(&answer), true, &json))
                }
            }
        }
        _ => Err(stop_for(status, wait_s(&answer), true, &json)),
    }
}

/// A record read back after this attempt's own create: on a first attempt, this attempt made
/// it; on a later one, an earlier attempt may have.
fn made_here(p: Published, attempt: i64) -> Published {
    Published {
        already: attempt > 1,
        ..p
    }
}

fn already_exists(json: &Value) -> bool {
    let says = platform_says(json).to_ascii_lowercase();
    json["error"].as_str() == Some("InvalidSwap") || says.contains("already exist")
}

fn at_uri(did: &str, rkey: &str) -> String {
    format!("at://{did}/{COLLECTION}/{rkey}")
}

/// The post's page on the Bluesky app.
fn post_url(did: &str, rkey: &str) -> String {
    format!("https://bsky.app/profile/{did}/post/{rkey}")
}

fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An expired or unusable access token (the PDS answers 400 `ExpiredToken` or 401
/// `InvalidToken`): refresh, or sign in again.
fn token_rejected(status: u16, json: &Value) -> bool {
    matches!(status, 400 | 401)
        && matches!(
            json["error"].as_str(),
            Some("ExpiredToken" | "InvalidToken")
        )
}

impl Client<'_> {
    fn did(&self) -> String {
        self.session
            .borrow()
            .as_ref()
            .map(|s| s.did.clone())
            .unwrap_or_default()
    }

    fn keep(&self, json: &Value) -> Result<(), Stop> {
        let s: Session = serde_json::from_value(json.clone()).map_err(|_| Stop::Retry {
            code: ErrorCode::PlatformUnavailable,
            wait_s: None,
            maybe_done: false,
            message: "The platform's session answer was not understood.".into(),
        })?;
        *self.session.borrow_mut() = Some(s);
        self.changed.set(true);
        Ok(())
    }

    /// Signs in with the identifier and app password.
    async fn create_session(&self) -> Result<(), Stop> {
        let body = json!({ "identifier": self.identifier, "password": self.password })
            .to_string()
            .into_bytes();
        let req = self.a.http.post(
            &url(self.service, "/xrpc/com.atproto.server.createSession"),
            "application/json",
            body,
        )?;
        let (status, answer, json) = self.a.http.call(req, false).await?;
        match status {
            200..=299 => self.keep(&json),
            400 if matches!(
                json["error"].as_str(),
                Some("AccountTakedown" | "AccountDeactivated")
            ) =>
            {
                Err(Stop::Auth(AuthFailure::Revoked, platform_says(&json)))
            }
            400 if json["error"].as_str() == Some("AuthFactorTokenRequired") => Err(Stop::Auth(
                AuthFailure::Expired,
                "the account asks for a two-factor code: use an app password".into(),
            )),
            _ => Err(stop_for(status, wait_s(&answer), false, &json)),
        }
    }

    /// Trades the refresh token for a new session; `false` if the PDS refuses it (expired or
    /// revoked), so the caller signs in again.
    async fn refresh(&self) -> Result<bool, Stop> {
        let Some(refresh) = self
            .session
            .borrow()
            .as_ref()
            .map(|s| s.refresh_jwt.clone())
        else {
            return Ok(false);
        };
        let req = self
            .a
            .http
            .post(
                &url(self.service, "/xrpc/com.atproto.server.refreshSession"),
                "application/json",
                Vec::new(),
            )?
            .header("Authorization", &format!("Bearer {refresh}"));
        let (status, answer, json) = self.a.http.call(req, false).await?;
        match status {
            200..=299 => self.keep(&json).map(|()| true),
            400 | 401 => Ok(false),
            _ => Err(stop_for(status, wait_s(&answer), false, &json)),
        }
    }

    /// Sends a request with the access token; if the PDS refuses the token, refreshes (or
    /// signs in again) and sends it once more. The PDS refuses a token before doing anything,
    /// so resending a creating request is safe.
    async fn authed(
        &self,
        make: &dyn Fn(&str) -> Result<OutRequest, Stop>,
        creating: bool,
    ) -> Result<(u16, Answer, Value), Stop> {
        if self.session.borrow().is_none() {
            self.create_session().await?;
        }
        let mut renewed = false;
        loop {
            let token = self
                .session
                .borrow()
                .as_ref()
                .map(|s| s.access_jwt.clone())
                .unwrap_or_default();
            let (status, answer, json) = self.a.http.call(make(&token)?, creating).await?;
            if renewed || !token_rejected(status, &json) {
                return Ok((status, answer, json));
            }
            if !self.refresh().await? {
                self.create_session().await?;
            }
            renewed = true;
        }
    }

    /// The target's record, if it is there.
    async fn get_record(&self, did: &str, rkey: &str) -> Result<Option<Published>, Stop> {
        let endpoint = format!(
            "{}?{}",
            url(self.service, "/xrpc/com.atproto.repo.getRecord"),
            query(&[("repo", did), ("collection", COLLECTION), ("rkey", rkey)])
        );
        let (status, answer, json) = self
            .authed(
                &|token| {
                    Ok(self
                        .a
                        .http
                        .get(&endpoint)?
                        .header("Authorization", &format!("Bearer {token}")))
                },
                false,
            )
            .await?;
        match status {
            200..=299 => Ok(Some(Published {
                platform_post_id: json["uri"]
                    .as_str()
                    .map_or_else(|| at_uri(did, rkey), str::to_owned),
                url: post_url(did, rkey),
                already: true,
            })),
            400 | 404 if json["error"].as_str() == Some("RecordNotFound") || status == 404 => {
                Ok(None)
            }
            _ => Err(stop_for(status, wait_s(&answer), false, &json)),
        }
    }

    async fn upload_blob(&self, bytes: Vec<u8>, content_type: &str) -> Result<Value, Stop> {
        let endpoint = url(self.service, "/xrpc/com.atproto.repo.uploadBlob");
        let (status, answer, json) = self
            .authed(
                &|token| {
                    Ok(self
                        .a
                        .http
                        .post(&endpoint, content_type, bytes.clone())?
                        .header("Authorization", &format!("Bearer {token}")))
                },
                false,
            )
            .await?;
        match status {
            200..=299 if json["blob"].is_object() => Ok(json["blob"].clone()),
            200..=299 => Err(Stop::Failed(
                ErrorCode::PlatformRejected,
                "The platform's answer to an image upload held no blob.".into(),
            )),
            _ => Err(stop_for(status, wait_s(&answer), false, &json)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_tokens_are_told_from_other_refusals() {
        assert!(token_rejected(400, &json!({"error": "ExpiredToken"})));
        assert!(token_rejected(401, &json!({"error": "InvalidToken"})));
        assert!(!token_rejected(
            401,
            &json!({"error": "AuthenticationRequired"})
        ));
        assert!(!token_rejected(400, &json!({"error": "InvalidRequest"})));
        assert!(!token_rejected(500, &json!({"error": "ExpiredToken"})));
    }

    #[test]
    fn links_and_ids_of_a_post() {
        assert_eq!(
            post_url("did:plc:abc", "3mbd3542k2222"),
            "https://bsky.app/profile/did:plc:abc/post/3mbd3542k2222"
        );
        assert_eq!(
            at_uri("did:plc:abc", "3mbd3542k2222"),
            "at://did:plc:abc/app.bsky.feed.post/3mbd3542k2222"
        );
        assert_eq!(
            query(&[("repo", "did:plc:a b"), ("rkey", "x&y")]),
            "repo=did%3Aplc%3Aa+b&rkey=x%26y"
        );
        assert!(already_exists(
            &json!({"error": "InvalidRequest", "message": "Record already exists"})
        ));
        assert!(!already_exists(
            &json!({"error": "InvalidRequest", "message": "Invalid record"})
        ));
    }
}
