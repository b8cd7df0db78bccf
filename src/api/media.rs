//! Media: presigned uploads (real R2 presigned URLs when S3 credentials are configured, else
//! the worker's own capability-authorised upload route), URL ingest, reads, moves, folders.

use serde::Serialize;
use worker::Request;

use crate::api::idempotency::{once, once_storing};
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::capability::{self, Claims, Purpose};
use crate::domain::ids::{FolderId, MediaId};
use crate::domain::media::{object_key, sanitize_filename, sniff, MediaType};
use crate::domain::roles::Action;
use crate::domain::sigv4;
use crate::domain::text::{long_text, Name};
use crate::domain::time::Timestamp;
use crate::domain::url_guard::SafeUrl;
use crate::domain::DomainError;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::net::outbound::{OutRequest, Outbound, OutboundError, ReadError, Redirects};
use crate::scope::{self, Authorized, InWorkspace};
use crate::store::media::{self as store, FolderView, MediaView, NewMedia};

pub const URL_TTL_SECONDS: i64 = 15 * 60;
pub const MEDIA_BUCKET: &str = "MEDIA";

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

fn bucket(ctx: &Ctx) -> Result<worker::Bucket, ApiError> {
    ctx.env.bucket(MEDIA_BUCKET).ctx("binding MEDIA")
}

/// A URL the client may use for `method` on the object until `expires`.
fn signed_url(
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
        return sigv4::presign(
            &s3.credentials,
            &sigv4::PresignRequest {
                method: match purpose {
                    Purpose::Upload => "PUT".into(),
                    Purpose::Download => "GET".into(),
                },
                host: format!("{}.r2.cloudflarestorage.com", s3.account_id),
                path: format!("/{}/{}", s3.bucket, m.object_key),
                region: "auto".into(),
                service: "s3".into(),
                time: ctx.now(),
                expires_seconds: URL_TTL_SECONDS as u64,
                headers: signed_headers,
                query: vec![],
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

/// The workspace a media request names; required.
fn required_workspace(
    ctx: &Ctx,
    body: Option<&str>,
) -> Result<crate::domain::ids::WorkspaceId, ApiError> {
    named(ctx, None, body)?.ok_or(ApiError::WorkspaceRequired)
}

fn folder_id(s: &str) -> Result<FolderId, DomainError> {
    FolderId::parse(s).map_err(|_| DomainError::new("is not a folder id"))
}

fn same_workspace_folder(
    folder: Option<&FolderId>,
    ws: &Authorized<InWorkspace>,
) -> Result<(), ApiError> {
    match folder {
        Some(f) if f.workspace() != ws.get().id => Err(ApiError::NotFound),
        _ => Ok(()),
    }
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
    let put = bucket(ctx)?
        .put(media.object_key.clone(), body)
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

/// `GET /media/{id}/download?token=…`: streams the object, for the local mode.
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
        .header("Content-Disposition", content_disposition(&media.filename)))
}

/// `inline; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266), so
/// names in any script survive and the header stays ASCII.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("inline; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn media_id(s: &str) -> Result<MediaId, ApiError> {
    MediaId::parse(s).map_err(|_| ApiError::NotFound)
}

fn authorize(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    action: Action,
) -> Result<(MediaId, Authorized<InWorkspace>), ApiError> {
    let id = media_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    Ok((id, scope::check(p, &ws, action)?))
}

/// The first bytes of an object, to sniff its type.
async fn head_bytes(ctx: &Ctx, key: &str) -> Result<Vec<u8>, ApiError> {
    let object = bucket(ctx)?
        .get(key.to_owned())
        .range(worker::Range::OffsetWithLength {
            offset: 0,
            length: 64,
        })
        .execute()
        .await
        .ctx("r2: get range")?;
    let Some(object) = object else {
        return Ok(Vec::new());
    };
    match object.body() {
        Some(body) => body.bytes().await.ctx("r2: read range"),
        None => Ok(Vec::new()),
    }
}

/// Checks the uploaded object in R2 and marks the row READY with its real size and type.
pub async fn complete_upload(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if media.status != "PENDING" {
        return Reply::json(200, &media);
    }
    let object = bucket(ctx)?
        .head(media.object_key.clone())
        .await
        .ctx("r2: head")?
        .ok_or(ApiError::UploadIncomplete)?;
    let declared = MediaType::parse(&media.content_type)
        .map_err(|_| ApiError::Internal("stored content type".into()))?;
    // With real R2 the presigned PUT cannot cap the size, so the cap is enforced here: an
    // object over the declared size (or the type's cap) is deleted, not accepted.
    let cap = media.bytes.map_or(declared.max_bytes(), |b| {
        (b as u64).min(declared.max_bytes())
    });
    if object.size() > cap {
        bucket(ctx)?
            .delete(media.object_key.clone())
            .await
            .ctx("r2: delete oversized")?;
        return Err(ApiError::field(
            "bytes",
            format!("the uploaded object is larger than {cap} bytes"),
        ));
    }
    match sniff(&head_bytes(ctx, &media.object_key).await?) {
        Some(found) if declared.agrees_with(found) => {}
        _ => {
            bucket(ctx)?
                .delete(media.object_key.clone())
                .await
                .ctx("r2: delete mistyped")?;
            return Err(ApiError::field(
                "contentType",
                format!("the uploaded bytes are not {}", declared.as_str()),
            ));
        }
    }
    store::mark_ready(
        &ctx.db,
        &ws,
        &id,
        object.size() as i64,
        declared.as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await?;
    let view = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WithUrl {
    #[serde(flatten)]
    media: MediaView,
    url: Option<String>,
    url_expires_at: Option<String>,
}

pub async fn get_media(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::Read)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let expires = ctx.now().plus_millis(URL_TTL_SECONDS * 1000);
    let url = match media.status.as_str() {
        "READY" => Some(signed_url(
            ctx,
            &media,
            Purpose::Download,
            &media.content_type.clone(),
            0,
            expires,
        )?),
        _ => None,
    };
    let url_expires_at = url.as_ref().map(|_| expires.to_rfc3339());
    Reply::json(
        200,
        &WithUrl {
            media,
            url,
            url_expires_at,
        },
    )
}

pub async fn list_media(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = required_workspace(ctx, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let folder = ctx
        .query("folderId")?
        .map(|s| folder_id(s).map_err(|e| ApiError::field("folderId", e.0)))
        .transpose()?;
    same_workspace_folder(folder.as_ref(), &ws)?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &ws, folder.as_ref(), &page).await?;
    page_reply(ctx, &page, rows, MediaView::cursor)
}

pub async fn update_media(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let mut f = read_json(req).await?;
    let alt = f.optional("altText", |s| long_text(s, 1_500));
    let filename = f.optional("filename", sanitize_filename);
    f.finish()?;
    if !store::update(
        &ctx.db,
        &ws,
        &id,
        alt.as_deref(),
        filename.as_deref(),
        &ctx.now().to_rfc3339(),
    )
    .await?
    {
        return Err(ApiError::NotFound);
    }
    Reply::json(
        200,
        &store::get(&ctx.db, &ws, &id)
            .await?
            .ok_or(ApiError::NotFound)?,
    )
}

pub async fn delete_media(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The object first: if R2 fails, the row stays and a retry can finish the job; the other
    // order could leave an object no row points to.
    bucket(ctx)?
        .delete(media.object_key)
        .await
        .ctx("r2: delete")?;
    store::delete(&ctx.db, &ws, &id).await?;
    Ok(Reply::no_content())
}

pub async fn move_media(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let mut f = read_json(req).await?;
    let folder = f.optional("folderId", folder_id);
    f.finish()?;
    // A folder of another workspace is simply not there: 404, before any storage.
    same_workspace_folder(folder.as_ref(), &ws)?;
    if !store::move_to(&ctx.db, &ws, &id, folder.as_ref(), &ctx.now().to_rfc3339()).await? {
        return Err(ApiError::NotFound);
    }
    Reply::json(
        200,
        &store::get(&ctx.db, &ws, &id)
            .await?
            .ok_or(ApiError::NotFound)?,
    )
}

// --- folders ---------------------------------------------------------------------------

pub async fn list_folders(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = required_workspace(ctx, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let page = page_request(ctx)?;
    let rows = store::list_folders(&ctx.db, &ws, &page).await?;
    page_reply(ctx, &page, rows, FolderView::cursor)
}

pub async fn create_folder(ctx: &Ctx, req: &mut Request, p: &Principal) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = required_workspace(ctx, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let ok = f.finish()?;
    let name = name.take(&ok);
    once(ctx, p, &ws, &ok, || async {
        let view =
            store::insert_folder(&ctx.db, &ws, name.as_str(), &ctx.now().to_rfc3339()).await?;
        let location = format!("/api/v1/media/folders/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

fn authorize_folder(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
) -> Result<(FolderId, Authorized<InWorkspace>), ApiError> {
    let id = FolderId::parse(id).map_err(|_| ApiError::NotFound)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    Ok((id, scope::check(p, &ws, Action::WriteContent)?))
}

pub async fn rename_folder(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize_folder(ctx, p, id)?;
    let mut f = read_json(req).await?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let ok = f.finish()?;
    let view = store::rename_folder(
        &ctx.db,
        &ws,
        &id,
        name.take(&ok).as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

/// A non-empty folder is kept (409) unless `?recursive=true`, which deletes its media too.
pub async fn delete_folder(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize_folder(ctx, p, id)?;
    let recursive = match ctx.query("recursive")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("recursive", "must be true or false")),
    };
    let contents = store::folder_contents(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !recursive {
        // The statement re-checks emptiness, so media moved in meanwhile are never lost.
        return match store::delete_empty_folder(&ctx.db, &ws, &id).await? {
            true => Ok(Reply::no_content()),
            false => Err(ApiError::FolderNotEmpty),
        };
    }
    // Objects first (see delete_media), then the rows of exactly those media and the folder.
    if !contents.is_empty() {
        // R2 deletes at most 1,000 keys per call.
        for chunk in contents.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|c| c.object_key.clone()).collect();
            bucket(ctx)?
                .delete_multiple(keys)
                .await
                .ctx("r2: delete folder objects")?;
        }
    }
    let ids: Vec<&str> = contents.iter().map(|c| c.id.as_str()).collect();
    store::delete_folder_with(&ctx.db, &ws, &id, &ids).await?;
    Ok(Reply::no_content())
}

// --- ingest from a URL ---------------------------------------------------------------------

pub const INGEST_MAX_BYTES_DEFAULT: u64 = 100 * 1024 * 1024;
pub const MAX_REDIRECTS: usize = 5;

/// How long an ingest may take, from the first request to the last byte.
pub const INGEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct Fetched {
    url: SafeUrl,
    bytes: Vec<u8>,
    content_type: Option<String>,
}

/// Fetches through the outbound guard (every redirect hop checked again) and reads the body
/// as a stream, giving up as soon as it passes `cap`.
async fn fetch_capped(ctx: &Ctx, first: SafeUrl, cap: u64) -> Result<Fetched, ApiError> {
    let mut answer = Outbound::from_env(&ctx.env)
        .send(
            OutRequest::get(first),
            Redirects::Follow(MAX_REDIRECTS),
            INGEST_TIMEOUT,
        )
        .await
        .map_err(|e| match e {
            OutboundError::Refused(r) => ApiError::UrlNotAllowed(r.problem().to_owned()),
            OutboundError::TooManyRedirects => {
                ApiError::UrlNotAllowed(format!("more than {MAX_REDIRECTS} redirects"))
            }
            OutboundError::Network(ref cause) => {
                worker::console_error!(
                    "{{\"level\":\"warn\",\"cause\":{}}}",
                    serde_json::Value::from(format!("ingest fetch: {cause}"))
                );
                ApiError::UpstreamFailed(e.problem())
            }
            other => ApiError::UpstreamFailed(other.problem()),
        })?;
    let status = answer.status();
    if !(200..300).contains(&status) {
        return Err(ApiError::UpstreamFailed(format!("HTTP {status}")));
    }
    let content_type = answer.header("Content-Type");
    let bytes = answer.bytes_capped(cap).await.map_err(|e| match e {
        ReadError::TooLarge { cap } => {
            ApiError::field("url", format!("the file is larger than {cap} bytes"))
        }
        ReadError::Interrupted => ApiError::UpstreamFailed("the download was interrupted".into()),
        ReadError::Timeout => ApiError::UpstreamFailed("the host did not answer in time".into()),
    })?;
    Ok(Fetched {
        url: answer.url,
        bytes,
        content_type,
    })
}

/// The last path segment of a URL, if any (`https://h/a/b.png?x` → `b.png`).
fn last_segment(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let after_host = path.splitn(4, '/').nth(3)?;
    after_host.rsplit('/').next().filter(|s| !s.is_empty())
}

fn extension(t: MediaType) -> &'static str {
    match t {
        MediaType::Jpeg => "jpg",
        MediaType::Png => "png",
        MediaType::Gif => "gif",
        MediaType::Webp => "webp",
        MediaType::Heic => "heic",
        MediaType::Heif => "heif",
        MediaType::Mp4 => "mp4",
        MediaType::QuickTime => "mov",
        MediaType::Webm => "webm",
        MediaType::Pdf => "pdf",
    }
}

fn ingest_cap(ctx: &Ctx) -> u64 {
    ctx.var("MEDIA_INGEST_MAX_BYTES")
        .and_then(|v| v.parse().ok())
        .unwrap_or(INGEST_MAX_BYTES_DEFAULT)
}

/// `POST /media/from-url`: fetch a public http(s) URL into R2 and return a READY asset.
pub async fn ingest_from_url(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = required_workspace(ctx, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    let url = f.required("url", |s| {
        if s.len() <= 2048 {
            Ok(s.to_owned())
        } else {
            Err(DomainError::new("is too long"))
        }
    });
    let folder = f.optional("folderId", folder_id);
    let alt = f.optional("altText", |s| long_text(s, 1_500));
    let filename = f.optional("filename", sanitize_filename);
    let declared = f.optional("contentType", MediaType::parse);
    let ok = f.finish()?;
    // Refused URLs cost no fetch and no storage.
    let first = Outbound::from_env(&ctx.env)
        .guard(&url.take(&ok))
        .map_err(|e| ApiError::UrlNotAllowed(e.problem().to_owned()))?;
    same_workspace_folder(folder.as_ref(), &ws)?;
    once(ctx, p, &ws, &ok, || async {
        let fetched = fetch_capped(ctx, first, ingest_cap(ctx)).await?;
        let sniffed = sniff(&fetched.bytes).ok_or_else(|| {
            ApiError::field("url", "the file is not an allowed image, video or PDF")
        })?;
        let claimed = declared.or_else(|| {
            fetched
                .content_type
                .as_deref()
                .and_then(|c| MediaType::parse(c).ok())
        });
        if sniffed.max_bytes() < fetched.bytes.len() as u64 {
            return Err(ApiError::field(
                "url",
                format!(
                    "the file is larger than {} bytes, the cap for {}",
                    sniffed.max_bytes(),
                    sniffed.as_str()
                ),
            ));
        }
        if claimed.is_some_and(|c| !c.agrees_with(sniffed)) {
            return Err(ApiError::field(
                if declared.is_some() {
                    "contentType"
                } else {
                    "url"
                },
                format!(
                    "the file's bytes are {}, not the type it claims",
                    sniffed.as_str()
                ),
            ));
        }
        let name = match filename.clone() {
            Some(n) => n,
            None => last_segment(fetched.url.as_str())
                .and_then(|n| sanitize_filename(n).ok())
                .unwrap_or_else(|| format!("media.{}", extension(sniffed))),
        };
        let id = MediaId::generate_in(&ws.get().id);
        let key = object_key(ws.get().id.as_str(), id.as_str(), &name);
        let size = fetched.bytes.len() as i64;
        bucket(ctx)?
            .put(key.clone(), fetched.bytes)
            .http_metadata(worker::HttpMetadata {
                content_type: Some(sniffed.as_str().to_owned()),
                ..Default::default()
            })
            .execute()
            .await
            .ctx("r2: put ingested")?;
        let row = NewMedia {
            id: &id,
            folder: folder.as_ref(),
            filename: &name,
            content_type: sniffed.as_str(),
            bytes: Some(size),
            status: "READY",
            object_key: &key,
            alt_text: alt.as_deref(),
            source_url: Some(fetched.url.as_str()),
            created_by: p.user_id.as_str(),
        };
        let Some(view) = store::insert(&ctx.db, &ws, row, &ctx.now().to_rfc3339()).await? else {
            bucket(ctx)?.delete(key).await.ctx("r2: delete orphan")?;
            return Err(ApiError::NotFound);
        };
        let location = format!("/api/v1/media/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_ascii_with_the_utf8_name_encoded() {
        assert_eq!(
            content_disposition("logo.png"),
            "inline; filename=\"logo.png\"; filename*=UTF-8''logo.png"
        );
        let h = content_disposition("café 日本.png");
        assert!(h.is_ascii());
        assert_eq!(
            h,
            "inline; filename=\"caf_ __.png\"; filename*=UTF-8''caf%C3%A9%20%E6%97%A5%E6%9C%AC.png"
        );
    }

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

    #[test]
    fn file_names_come_from_the_last_path_segment() {
        assert_eq!(
            last_segment("https://cdn.example.com/a/b/logo.png?size=2#x"),
            Some("logo.png")
        );
        assert_eq!(last_segment("https://cdn.example.com/"), None);
        assert_eq!(last_segment("https://cdn.example.com"), None);
        assert_eq!(last_segment("https://cdn.example.com/dir/"), None);
    }
}
