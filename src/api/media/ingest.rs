//! `POST /media/from-url`: fetch a public http(s) URL through the outbound guard into R2,
//! streamed: the first bytes are sniffed, then the body goes on to R2 as it arrives (a pipe of
//! known length, or a multipart upload counted against the cap when the length is not
//! declared), all within the fetch's deadline.

use worker::Request;

use super::objects::{before, peek, put_counted, put_exact, PutError, SNIFF_BYTES};
use super::uploads::object_metadata;
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
use crate::net::outbound::{Answer, OutRequest, Outbound, OutboundError, Redirects};
use crate::scope;
use crate::store::media::{self as store, NewMedia};

pub const INGEST_MAX_BYTES_DEFAULT: u64 = 100 * 1024 * 1024;
pub const MAX_REDIRECTS: usize = 5;

/// How long an ingest may take, from the first request to the last byte.
pub const INGEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends the GET through the outbound guard (every redirect hop checked again) and refuses
/// anything but a 2xx; the body is left unread.
async fn fetch(ctx: &Ctx, first: SafeUrl) -> Result<Answer, ApiError> {
    let answer = Outbound::from_env(&ctx.env)
        .send(
            // Asked uncoded, so a declared length is the length of the bytes read.
            OutRequest::get(first).header("Accept-Encoding", "identity"),
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
                warn(ctx, &format!("ingest fetch: {cause}"));
                ApiError::UpstreamFailed(e.problem())
            }
            other => ApiError::UpstreamFailed(other.problem()),
        })?;
    let status = answer.status();
    if !(200..300).contains(&status) {
        return Err(ApiError::UpstreamFailed(format!("HTTP {status}")));
    }
    Ok(answer)
}

fn warn(ctx: &Ctx, cause: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({ "level": "warn", "requestId": ctx.request_id.as_str(), "cause": cause })
    );
}

fn too_large(cap: u64) -> ApiError {
    ApiError::field("url", format!("the file is larger than {cap} bytes"))
}

/// What a streamed read or write ended in, as the client hears it.
fn streaming_failed(ctx: &Ctx, e: PutError) -> ApiError {
    match e {
        PutError::TooLarge { cap } => too_large(cap),
        PutError::Timeout => ApiError::UpstreamFailed("the host did not answer in time".into()),
        PutError::Failed(cause) => {
            warn(ctx, &format!("ingest stream: {cause}"));
            ApiError::UpstreamFailed("the download was interrupted".into())
        }
    }
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
        let answer = fetch(ctx, first).await?;
        let (deadline, abort) = (answer.deadline_ms(), || answer.abort());
        let length = answer.content_length();
        let cap = ingest_cap(ctx);
        if length.is_some_and(|n| n > cap) {
            answer.abort();
            return Err(too_large(cap));
        }
        // The first bytes decide the type; the body is then streamed on to R2 from its start,
        // never held whole in memory, within the exchange's deadline.
        let (head, body) = match answer.body_stream() {
            Some(stream) => before(deadline, abort, peek(stream, SNIFF_BYTES))
                .await
                .map(|(head, body)| (head, Some(body)))
                .map_err(|e| streaming_failed(ctx, e))?,
            None => (Vec::new(), None),
        };
        let refuse = |e: ApiError| {
            if let Some(b) = &body {
                let _ = b.cancel();
            }
            answer.abort();
            Err(e)
        };
        let Some(sniffed) = sniff(&head) else {
            return refuse(ApiError::field(
                "url",
                "the file is not an allowed image, video or PDF",
            ));
        };
        let claimed = declared.or_else(|| {
            answer
                .header("Content-Type")
                .as_deref()
                .and_then(|c| MediaType::parse(c).ok())
        });
        if length.is_some_and(|n| n > sniffed.max_bytes()) {
            return refuse(ApiError::field(
                "url",
                format!(
                    "the file is larger than {} bytes, the cap for {}",
                    sniffed.max_bytes(),
                    sniffed.as_str()
                ),
            ));
        }
        if claimed.is_some_and(|c| !c.agrees_with(sniffed)) {
            return refuse(ApiError::field(
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
        let Some(body) = body else {
            return Err(ApiError::field("url", "the file is empty"));
        };
        let name = match filename.clone() {
            Some(n) => n,
            None => last_segment(answer.url.as_str())
                .and_then(|n| sanitize_filename(n).ok())
                .unwrap_or_else(|| format!("media.{}", extension(sniffed))),
        };
        let id = MediaId::generate_in(&ws.get().id);
        let key = object_key(ws.get().id.as_str(), id.as_str(), &name);
        let bucket = bucket(ctx)?;
        let meta = object_metadata(sniffed, &name);
        let written = match length {
            Some(n) => {
                before(deadline, abort, async {
                    put_exact(&bucket, &key, body, n, meta).await.map(|()| n)
                })
                .await
            }
            None => {
                let cap = cap.min(sniffed.max_bytes());
                before(deadline, abort, put_counted(&bucket, &key, body, cap, meta)).await
            }
        };
        let size = written.map_err(|e| streaming_failed(ctx, e))?;
        let row = NewMedia {
            id: &id,
            folder: folder.as_ref(),
            filename: &name,
            content_type: sniffed.as_str(),
            bytes: Some(size as i64),
            status: "READY",
            object_key: &key,
            alt_text: alt.as_deref(),
            source_url: Some(answer.url.as_str()),
            created_by: p.user_id.as_str(),
        };
        let Some(view) = store::insert(&ctx.db, &ws, row, &ctx.now().to_rfc3339()).await? else {
            bucket.delete(key).await.ctx("r2: delete orphan")?;
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
