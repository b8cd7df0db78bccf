//! Media objects in R2: where uploads are staged, and how a body reaches R2 after its first
//! bytes were sniffed, streamed rather than held in memory.
//!
//! An upload URL (R2 presigned, or the worker's capability route) writes only the *staging*
//! key, `staging/<object key>`. `complete` checks the staged bytes and copies them to the
//! asset's own key, which nothing else writes; so an upload URL still valid after `complete`
//! can change nothing a READY asset serves. Staged objects are deleted after the copy, and the
//! cron sweep (`crate::cleanup`) removes any left behind.

use futures_util::future::{join, select, Either};
use futures_util::StreamExt;
use js_sys::{BigInt, Reflect, Uint8Array};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};
use worker::worker_sys::FixedLengthStream;
use worker::{Bucket, ByteStream, Data, Delay, HttpMetadata};

/// How many leading bytes the type sniffer reads.
pub const SNIFF_BYTES: usize = 64;
/// The part size of a multipart upload (R2 wants at least 5 MiB for every part but the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// The prefix of staged uploads.
pub const STAGING_PREFIX: &str = "staging/";

/// Where the upload URLs of an asset put its bytes.
pub fn staging_key(object_key: &str) -> String {
    format!("{STAGING_PREFIX}{object_key}")
}

/// Why a body did not reach R2.
#[derive(Debug)]
pub enum PutError {
    /// More bytes than the cap: the upload was abandoned, nothing written.
    TooLarge { cap: u64 },
    /// The deadline passed first.
    Timeout,
    /// The body broke off or R2 refused; the text is for logs only.
    Failed(String),
}

fn failed(step: &str, e: impl std::fmt::Debug) -> PutError {
    PutError::Failed(format!("{step}: {e:?}"))
}

/// The first `n` bytes of `stream` (fewer if it is shorter), and the stream whole again, to be
/// read from its start: a tee, whose sniffed branch is cancelled once it has enough, so the other
/// is buffered no further than those first chunks.
pub async fn peek(stream: ReadableStream, n: usize) -> Result<(Vec<u8>, ReadableStream), PutError> {
    let branches = stream.tee();
    let sniffed: ReadableStream = branches.get(0).unchecked_into();
    let whole: ReadableStream = branches.get(1).unchecked_into();
    let reader: ReadableStreamDefaultReader = sniffed.get_reader().unchecked_into();
    let mut head = Vec::with_capacity(n);
    while head.len() < n {
        let result = JsFuture::from(reader.read())
            .await
            .map_err(|e| failed("read", e))?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .map_err(|e| failed("read", e))?
            .as_bool()
            .unwrap_or(true);
        if done {
            break;
        }
        let value =
            Reflect::get(&result, &JsValue::from_str("value")).map_err(|e| failed("read", e))?;
        let Some(chunk) = value.dyn_ref::<Uint8Array>() else {
            return Err(PutError::Failed("read: a chunk that is not bytes".into()));
        };
        let take = (n - head.len()).min(chunk.length() as usize);
        head.extend(chunk.subarray(0, take as u32).to_vec());
    }
    // Only the promise of the cancel is dropped: the branch is cancelled at once.
    let _ = reader.cancel();
    Ok((head, whole))
}

/// Streams `body`, exactly `length` bytes, into `key`, through a `FixedLengthStream` (R2 needs
/// the length up front); the pipe runs in the runtime, so the bytes never cross into wasm.
pub async fn put_exact(
    bucket: &Bucket,
    key: &str,
    body: ReadableStream,
    length: u64,
    meta: HttpMetadata,
) -> Result<(), PutError> {
    let fixed = if length < u64::from(u32::MAX) {
        FixedLengthStream::new(length as u32)
    } else {
        FixedLengthStream::new_big_int(BigInt::from(length))
    }
    .map_err(|e| failed("fixed length stream", e))?;
    let pipe = JsFuture::from(body.pipe_to(&fixed.writable()));
    let put = bucket
        .put(key.to_owned(), Data::ReadableStream(fixed.readable()))
        .http_metadata(meta)
        .execute();
    let (piped, put) = join(pipe, put).await;
    put.map_err(|e| failed("r2 put", e))?;
    piped.map_err(|e| failed("pipe", e))?;
    Ok(())
}

/// Streams a body of unknown length into `key`, counting as it goes and giving up past `cap`
/// (nothing is left written). Up to one part it is one put; past that a multipart upload of
/// `PART_BYTES` parts, so at most a part is held in memory. Returns the size written.
pub async fn put_counted(
    bucket: &Bucket,
    key: &str,
    body: ReadableStream,
    cap: u64,
    meta: HttpMetadata,
) -> Result<u64, PutError> {
    let mut chunks = ByteStream::from(body);
    let mut buffer: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let mut upload = None;
    let mut parts = Vec::new();
    let outcome: Result<(), PutError> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| failed("read", e))?;
            total += chunk.len() as u64;
            if total > cap {
                return Err(PutError::TooLarge { cap });
            }
            buffer.extend_from_slice(&chunk);
            while buffer.len() >= PART_BYTES {
                let rest = buffer.split_off(PART_BYTES);
                let part = std::mem::replace(&mut buffer, rest);
                if upload.is_none() {
                    let started = bucket
                        .create_multipart_upload(key.to_owned())
                        .http_metadata(meta.clone())
                        .execute()
                        .await
                        .map_err(|e| failed("r2 create multipart", e))?;
                    upload = Some(started);
                }
                if let Some(u) = &upload {
                    let number =
                        u16::try_from(parts.len() + 1).map_err(|_| PutError::TooLarge { cap })?;
                    parts.push(
                        u.upload_part(number, part)
                            .await
                            .map_err(|e| failed("r2 upload part", e))?,
                    );
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if let Some(u) = &upload {
            let _ = u.abort().await;
        }
        return Err(e);
    }
    match upload {
        None => {
            bucket
                .put(key.to_owned(), buffer)
                .http_metadata(meta)
                .execute()
                .await
                .map_err(|e| failed("r2 put", e))?;
        }
        Some(u) => {
            if !buffer.is_empty() {
                let number =
                    u16::try_from(parts.len() + 1).map_err(|_| PutError::TooLarge { cap })?;
                match u.upload_part(number, buffer).await {
                    Ok(p) => parts.push(p),
                    Err(e) => {
                        let _ = u.abort().await;
                        return Err(failed("r2 upload part", e));
                    }
                }
            }
            u.complete(parts)
                .await
                .map_err(|e| failed("r2 complete multipart", e))?;
        }
    }
    Ok(total)
}

/// Runs `work` until `deadline_ms` (epoch milliseconds); past it, `on_timeout` (which aborts the
/// body's source) and `Timeout`.
pub async fn before<F, T>(
    deadline_ms: f64,
    on_timeout: impl FnOnce(),
    work: F,
) -> Result<T, PutError>
where
    F: std::future::Future<Output = Result<T, PutError>>,
{
    let left = deadline_ms - crate::timing::now_ms();
    if left <= 0.0 {
        on_timeout();
        return Err(PutError::Timeout);
    }
    let timer = Delay::from(Duration::from_millis(left as u64));
    match select(Box::pin(work), timer).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => {
            on_timeout();
            Err(PutError::Timeout)
        }
    }
}

/// `inline` for images and video, which browsers show; `attachment` for anything else (PDF),
/// which a browser must not render in the API's or R2's origin. The file name is given in ASCII
/// and, for any script, as RFC 6266 `filename*`.
pub fn content_disposition(name: &str, inline: bool) -> String {
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
    let encoded = crate::domain::percent::encode(name);
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_staged_beside_nothing_an_asset_serves() {
        assert_eq!(
            staging_key("ws_a/med_b/logo.png"),
            "staging/ws_a/med_b/logo.png"
        );
    }

    #[test]
    fn content_disposition_is_ascii_with_the_utf8_name_encoded() {
        assert_eq!(
            content_disposition("logo.png", true),
            "inline; filename=\"logo.png\"; filename*=UTF-8''logo.png"
        );
        let h = content_disposition("café 日本.pdf", false);
        assert!(h.is_ascii());
        assert_eq!(
            h,
            "attachment; filename=\"caf_ __.pdf\"; filename*=UTF-8''caf%C3%A9%20%E6%97%A5%E6%9C%AC.pdf"
        );
    }
}
