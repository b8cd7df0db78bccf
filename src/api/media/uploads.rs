//! Uploads: `POST /media/presign` hands out a URL the client PUTs the bytes to (an R2 presigned
//! URL, or the worker's own capability route), both writing the asset's staging key; then
//! `complete` checks the staged bytes, copies them to the asset's own key and marks it READY.
//! The capability routes (upload and download) are the local stand-ins for R2's presigned URLs.

use serde::Serialize;
use worker::Request;

use super::objects::{content_disposition, peek, put_exact, staging_key, PutError, SNIFF_BYTES};
use super::{
    authorize, bucket, folder_id, required_workspace, same_workspace_folder, URL_TTL_SECONDS,
};
use crate::api::idempotency::once_storing;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::capability::{self, Claims, Purpose};
use crate::domain::ids::MediaId;
use crate::domain::media::{object_key, sanitize_filename, sniff, MediaType};
use crate::domain::roles::Action;
use crate::domain::sigv4;
use crate::domain::time::Timestamp;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::scope;
use crate::store::media::{self as store, MediaView, NewMedia};

/// R2's S3 endpoint and credentials, when all four are configured.
struct S3 {
    account_id: String,
    bucket: String,
    credentials: sigv4::Credentials,
}

fn s3(ctx: &Ctx) -> Option<S3> {
    let get = |k: &str| ctx.var(k).filter(|v| !v.is_empty());
    Some(S3 {
        account_id: get("R2_ACCOUNT_ID")?,
        bucket: get("R2_BUCKET")?,
        credentials: sigv4::Credentials {
            access_key_id: get("R2_ACCESS_KEY_ID")?,
            secret_access_key: get("R2_SECRET_ACCESS_KEY")?,
        },
    })
}

fn capability_secret(ctx: &Ctx) -> Result<Vec<u8>, ApiError> {
    ctx.var("MEDIA_CAPABILITY_SECRET")
        .filter(|s| s.len() >= 16)
        .map(String::into_bytes)
        .ok_or_else(|| {
            ApiError::Internal("MEDIA_CAPABILITY_SECRET is not set (16+ characters)".into())
        })
}

/// A URL the client may use for `method` on the object until `expires`.
pub(super) fn signed_url(
    ctx: &Ctx,
    m: &MediaView,
    purpose: Purpose,
    content_type: &str,
    max_bytes: u64,
    expires: Timestamp,
) -> Result<String, ApiError> {
    if let Some(s3) = s3(ctx) {
        let signed_headers: Vec<(String, String)> = match purpose {
            Purpose::Upload => vec![("content-type".into(), content_type.to_owned())],
            Purpose::Download => vec![],
        };
        // Uploads go to the staging key, never the asset's own; downloads say how to show it.
        let (key, query) = match purpose {
            Purpose::Upload => (staging_key(&m.object_key), vec![]),
            Purpose::Download => (
                m.object_key.clone(),
                vec![("response-content-disposition".to_owned(), disposition_of(m))],
            ),
        };
        return sigv4::presign(
            &s3.credentials,
            &sigv4::PresignRequest {
                method: match purpose {
                    Purpose::Upload => "PUT".into(),
                    Purpose::Download => "GET".into(),
                },
                host: format!("{}.r2.cloudflarestorage.com", s3.account_id),
                path: format!("/{}/{key}", s3.bucket),
                region: "auto".into(),
                service: "s3".into(),
                time: ctx.now(),
                expires_seconds: URL_TTL_SECONDS as u64,
                headers: signed_headers,
                query,
            },
        )
        .map_err(|e| ApiError::Internal(format!("sigv4 presign: {e}")));
    }
    let claims = Claims {
        purpose,
        media_id: m.id.clone(),
        workspace_id: m.workspace_id.clone(),
        content_type: content_type.to_owned(),
        max_bytes,
        expires_unix: expires.millis() / 1000,
    };
    let token = capability::issue(&capability_secret(ctx)?, &claims);
    let route = match purpose {
        Purpose::Upload => "upload",
        Purpose::Download => "download",
    };
    Ok(format!(
        "{}/api/v1/media/{}/{route}?token={token}",
        ctx.origin, m.id
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Presigned {
    upload_url: String,
    method: &'static str,
    headers: serde_json::Value,
    expires_at: String,
    media_asset: MediaView,
}

pub async fn presign_upload(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = required_workspace(ctx, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    let filename = f.required("filename", sanitize_filename);
    let media_type = f.required("contentType", MediaType::parse);
    let bytes = f.optional_u64("bytes");
    let folder = f.optional("folderId", folder_id);
    let ok = f.finish()?;
    let (filename, media_type) = (filename.take(&ok), media_type.take(&ok));
    let cap = media_type.max_bytes();
    if bytes.is_some_and(|b| b == 0 || b > cap) {
        return Err(ApiError::field(
            "bytes",
            format!("must be from 1 to {cap} for {}", media_type.as_str()),
        ));
    }
    same_workspace_folder(folder.as_ref(), &ws)?;
    if s3(ctx).is_none() {
        // Fail before writing a row that no URL could ever complete.
        capability_secret(ctx)?;
    }
    let max_bytes = bytes.unwrap_or(cap);
    let reply = once_storing(ctx, p, &ws, &ok, without_upload_url, || async {
        let id = MediaId::generate_in(&ws.get().id);
        let key = object_key(ws.get().id.as_str(), id.as_str(), &filename);
        let row = NewMedia {
            id: &id,
            folder: folder.as_ref(),
            filename: &filename,
            content_type: media_type.as_str(),
            bytes: bytes.map(|b| b as i64),
            status: "PENDING",
            object_key: &key,
            alt_text: None,
            source_url: None,
            created_by: p.user_id.as_str(),
        };
        let view = store::insert(&ctx.db, &ws, row, &ctx.now().to_rfc3339())
            .await?
            .ok_or(ApiError::NotFound)?;
        presigned(ctx, view, media_type, max_bytes)
    })
    .await?;
    if !reply.is_replay() {
        return Ok(reply);
    }
    // The stored copy names the asset but holds no upload URL (a bearer URL is never stored):
    // sign a fresh one while the asset still waits for its bytes.
    let id = reply
        .body()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v["mediaAsset"]["id"].as_str().map(MediaId::parse))
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Internal("stored presign names no media asset".into()))?;
    let view = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if view.status != "PENDING" {
        return Err(ApiError::InvalidState {
            current: view.status,
        });
    }
    Ok(presigned(ctx, view, media_type, max_bytes)?
        .header("Idempotent-Replayed", "true".to_owned()))
}

/// The presign response for a PENDING asset, with an upload URL valid from now.
fn presigned(
    ctx: &Ctx,
    view: MediaView,
    media_type: MediaType,
    max_bytes: u64,
) -> Result<Reply, ApiError> {
    let expires = ctx.now().plus_millis(URL_TTL_SECONDS * 1000);
    let upload_url = signed_url(
        ctx,
        &view,
        Purpose::Upload,
        media_type.as_str(),
        max_bytes,
        expires,
    )?;
    let location = format!("/api/v1/media/{}", view.id);
    let body = Presigned {
        upload_url,
        method: "PUT",
        headers: serde_json::json!({ "Content-Type": media_type.as_str() }),
        expires_at: expires.to_rfc3339(),
        media_asset: view,
    };
    Ok(Reply::json(201, &body)?.header("Location", location))
}

/// What an idempotent replay of a presign keeps: the response without `uploadUrl` and its
/// `expiresAt`, which a replay signs afresh.
fn without_upload_url(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("uploadUrl");
            m.remove("expiresAt");
            serde_json::Value::Object(m).to_string()
        }
        // Never the text itself: it may hold the URL.
        _ => "{}".to_owned(),
    }
}

/// `PUT /media/{id}/upload?token=…`: the local stand-in for R2's presigned PUT. The token is
/// the credential: it names the media, its workspace, the content type and the size cap.
pub async fn upload_with_capability(
    ctx: &Ctx,
    req: &mut Request,
    id: &str,
) -> Result<Reply, ApiError> {
    let claims = verify_capability(ctx, Purpose::Upload, id)?;
    let content_type = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    if MediaType::parse(&content_type).map(MediaType::as_str).ok()
        != Some(claims.content_type.as_str())
    {
        return Err(ApiError::field(
            "Content-Type",
            format!("must be {}, as presigned", claims.content_type),
        ));
    }
    let length = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = length else {
        return Err(ApiError::field("Content-Length", "is required"));
    };
    if length == 0 {
        return Err(ApiError::field("Content-Length", "must be more than 0"));
    }
    if length > claims.max_bytes {
        return Err(ApiError::PayloadTooLarge {
            limit: claims.max_bytes,
        });
    }
    let media = store::get_for_capability(&ctx.db, &claims.workspace_id, &claims.media_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if media.status != "PENDING" {
        return Err(ApiError::InvalidState {
            current: media.status,
        });
    }
    let body = req
        .inner()
        .body()
        .ok_or_else(|| ApiError::field("body", "is required"))?;
    // The staging key, as an R2 presigned PUT would: `complete` alone writes the asset's own.
    let put = bucket(ctx)?
        .put(staging_key(&media.object_key), body)
        .http_metadata(worker::HttpMetadata {
            content_type: Some(claims.content_type.clone()),
            ..Default::default()
        })
        .execute()
        .await;
    put.ctx("r2: put upload")?;
    Reply::json(
        200,
        &serde_json::json!({ "id": media.id, "bytes": length, "status": media.status }),
    )
}

fn verify_capability(ctx: &Ctx, purpose: Purpose, id: &str) -> Result<Claims, ApiError> {
    let token = ctx.query("token")?.ok_or(ApiError::Unauthorized)?;
    let claims = capability::verify(&capability_secret(ctx)?, token, ctx.now().millis() / 1000)
        .map_err(|_| ApiError::Unauthorized)?;
    if claims.purpose != purpose || claims.media_id != id {
        return Err(ApiError::Unauthorized);
    }
    Ok(claims)
}

/// `GET /media/{id}/download?token=…`: streams the object, for the local mode. Never sniffed
/// by a browser (`nosniff`), and shown in place only if it is an image or a video.
pub async fn download_with_capability(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let claims = verify_capability(ctx, Purpose::Download, id)?;
    let media = store::get_for_capability(&ctx.db, &claims.workspace_id, &claims.media_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let object = bucket(ctx)?
        .get(media.object_key.clone())
        .execute()
        .await
        .ctx("r2: get")?
        .ok_or(ApiError::NotFound)?;
    let body = object
        .body()
        .ok_or(ApiError::NotFound)?
        .response_body()
        .ctx("r2: body")?;
    Ok(Reply::streamed(body, &media.content_type)
        .header("Content-Disposition", disposition_of(&media))
        .header("X-Content-Type-Options", "nosniff".to_owned()))
}

/// The `Content-Disposition` an asset is served with.
pub(super) fn disposition_of(m: &MediaView) -> String {
    let inline = MediaType::parse(&m.content_type).is_ok_and(MediaType::served_inline);
    content_disposition(&m.filename, inline)
}

/// How a READY asset's object is written: its type, and how downloads show it.
pub(super) fn object_metadata(t: MediaType, filename: &str) -> worker::HttpMetadata {
    worker::HttpMetadata {
        content_type: Some(t.as_str().to_owned()),
        content_disposition: Some(content_disposition(filename, t.served_inline())),
        ..Default::default()
    }
}

/// Checks the staged upload (size, and type from its first bytes), copies it to the asset's own
/// key (streamed, read once: what is checked is what is copied) and marks the row READY with its
/// real size and type. The staged object goes once the row is READY.
pub async fn complete_upload(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if media.status != "PENDING" {
        return Reply::json(200, &media);
    }
    let staged = staging_key(&media.object_key);
    let bucket = bucket(ctx)?;
    let object = bucket
        .get(staged.clone())
        .execute()
        .await
        .ctx("r2: get staged")?
        .ok_or(ApiError::UploadIncomplete)?;
    let size = object.size();
    let declared = MediaType::parse(&media.content_type)
        .map_err(|_| ApiError::Internal("stored content type".into()))?;
    let refuse = |field: &str, problem: String| {
        let (bucket, staged) = (&bucket, staged.clone());
        let e = ApiError::field(field, problem);
        async move {
            bucket
                .delete(staged)
                .await
                .ctx("r2: delete refused upload")?;
            Err::<Reply, ApiError>(e)
        }
    };
    // With real R2 the presigned PUT cannot cap the size, so the cap is enforced here: an
    // object over the declared size (or the type's cap) is deleted, not accepted.
    let cap = media.bytes.map_or(declared.max_bytes(), |b| {
        (b as u64).min(declared.max_bytes())
    });
    if size > cap {
        return refuse(
            "bytes",
            format!("the uploaded object is larger than {cap} bytes"),
        )
        .await;
    }
    let stream = match object.body().map(|b| b.response_body()) {
        Some(Ok(worker::ResponseBody::Stream(s))) => s,
        _ => return Err(ApiError::UploadIncomplete),
    };
    let (head, whole) = peek(stream, SNIFF_BYTES).await.map_err(r2_failed)?;
    if !sniff(&head).is_some_and(|found| declared.agrees_with(found)) {
        let _ = whole.cancel();
        return refuse(
            "contentType",
            format!("the uploaded bytes are not {}", declared.as_str()),
        )
        .await;
    }
    put_exact(
        &bucket,
        &media.object_key,
        whole,
        size,
        object_metadata(declared, &media.filename),
    )
    .await
    .map_err(r2_failed)?;
    let now = ctx.now().to_rfc3339();
    let won = store::mark_ready(&ctx.db, &ws, &id, size as i64, declared.as_str(), &now).await?;
    let view = store::get(&ctx.db, &ws, &id).await?;
    match view {
        Some(v) if v.status == "READY" => {
            if won {
                // Best effort: a staged object left behind is removed by the sweep.
                if let Err(e) = bucket.delete(staged).await {
                    worker::console_error!(
                        "{}",
                        serde_json::json!({ "level": "warn", "requestId": ctx.request_id.as_str(), "cause": format!("r2: delete staged: {e}") })
                    );
                }
            }
            Reply::json(200, &v)
        }
        // Deleted meanwhile (by its owner, or the sweep): the copy must not outlive it.
        _ => {
            bucket
                .delete(media.object_key.clone())
                .await
                .ctx("r2: delete orphaned copy")?;
            Err(ApiError::NotFound)
        }
    }
}

fn r2_failed(e: PutError) -> ApiError {
    ApiError::Internal(format!("r2: copy staged upload: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_presign_keeps_the_asset_and_never_the_upload_url() {
        let sent = r#"{"uploadUrl":"https://a.r2.cloudflarestorage.com/b/k?X-Amz-Signature=abc","method":"PUT","headers":{"Content-Type":"image/png"},"expiresAt":"2026-01-01T00:15:00.000Z","mediaAsset":{"id":"med_x","status":"PENDING"}}"#;
        let kept: serde_json::Value = serde_json::from_str(&without_upload_url(sent)).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"method":"PUT","headers":{"Content-Type":"image/png"},"mediaAsset":{"id":"med_x","status":"PENDING"}})
        );
        assert_eq!(without_upload_url("not json ?token=v1.upload"), "{}");
    }
}
