//! `POST /media/from-url`: fetch a public http(s) URL through the outbound guard into R2.

use worker::Request;

use super::{bucket, folder_id, required_workspace, same_workspace_folder};
use crate::api::idempotency::once;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::MediaId;
use crate::domain::media::{object_key, sanitize_filename, sniff, MediaType};
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::domain::url_guard::SafeUrl;
use crate::domain::DomainError;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::net::outbound::{OutRequest, Outbound, OutboundError, ReadError, Redirects};
use crate::scope;
use crate::store::media::{self as store, NewMedia};

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
