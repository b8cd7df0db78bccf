//! The finished response: JSON or the error envelope, with `X-Request-Id`, `Server-Timing`
//! and one structured log line. Nothing here can fail outward: the runtime never sees an `Err`.
//! The headers are written into one buffer and handed to the runtime with the body and the log
//! line in one call (`boundary::respond`).

use serde::Serialize;
use serde_json::json;
use worker::{Headers, Response};

use super::boundary::{self, Body, Head};
use super::error::ApiError;
use crate::ctx::Ctx;

/// A successful answer, before the common headers are added.
#[must_use]
pub struct Reply {
    status: u16,
    body: Option<String>,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    /// A body streamed through rather than buffered (media downloads).
    stream: Option<worker::ResponseBody>,
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Reply, ApiError> {
        let body = serde_json::to_string(value)
            .map_err(|e| ApiError::Internal(format!("serialize response: {e}")))?;
        Ok(Reply {
            status,
            body: Some(body),
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            stream: None,
        })
    }

    /// A body that is already JSON text (the OpenAPI document).
    pub fn raw_json(body: &str) -> Reply {
        Reply {
            status: 200,
            body: Some(body.to_owned()),
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            stream: None,
        }
    }

    /// A streamed body of any type, e.g. an R2 object.
    pub fn streamed(body: worker::ResponseBody, content_type: &str) -> Reply {
        Reply {
            status: 200,
            body: None,
            content_type: "",
            headers: vec![("Content-Type", content_type.to_owned())],
            stream: Some(body),
        }
    }

    /// 202 with no body (an MCP notification).
    pub fn accepted() -> Reply {
        Reply {
            status: 202,
            ..Reply::no_content()
        }
    }

    /// The same answer under another status (a JSON-RPC error travels under 4xx).
    pub fn with_status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            content_type: "",
            headers: Vec::new(),
            stream: None,
        }
    }

    /// A stored response, replayed for a repeated Idempotency-Key.
    pub fn replay(status: u16, body: Option<String>, location: Option<String>) -> Reply {
        let content_type = if body.is_some() {
            "application/json; charset=utf-8"
        } else {
            ""
        };
        let mut r = Reply {
            status,
            body,
            content_type,
            headers: vec![("Idempotent-Replayed", "true".to_owned())],
            stream: None,
        };
        if let Some(l) = location {
            r.headers.push(("Location", l));
        }
        r
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether this is a stored response replayed for a repeated Idempotency-Key.
    pub fn is_replay(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| *k == "Idempotent-Replayed")
    }

    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    pub fn location(&self) -> Option<&str> {
        self.header_value("Location")
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// The error envelope (API.md §5). Serialized from a struct, in field order, with the
/// variant's extra field only when it has one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    status_code: u16,
    code: &'static str,
    message: String,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a [super::error::FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

pub fn envelope(ctx: &Ctx, e: &ApiError) -> String {
    let body = Envelope {
        status_code: e.status(),
        code: e.code(),
        message: e.message(),
        request_id: ctx.request_id.as_str(),
        details: match e {
            ApiError::Validation(details) | ApiError::PublishingNotSupported(details) => {
                Some(details)
            }
            _ => None,
        },
        current_status: match e {
            ApiError::InvalidState { current } => Some(current),
            _ => None,
        },
        retry_after_ms: match e {
            ApiError::RateLimited { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

pub fn finish(ctx: &Ctx, result: Result<Reply, ApiError>) -> web_sys::Response {
    let (reply, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let mut r = Reply {
                status: e.status(),
                body: Some(envelope(ctx, &e)),
                content_type: "application/json; charset=utf-8",
                headers: Vec::new(),
                stream: None,
            };
            if let ApiError::MethodNotAllowed { allow } = &e {
                r.headers.push(("Allow", allow.clone()));
            }
            // RFC 9110 §15.5.2: a 401 names the scheme it wants. The capability routes take their
            // credential in the URL, not a header, so they name none.
            if matches!(e, ApiError::Unauthorized) && !takes_capability(ctx.log.borrow().route) {
                r.headers
                    .push(("WWW-Authenticate", BEARER_CHALLENGE.to_owned()));
            }
            if let ApiError::RateLimited { retry_after_ms } = &e {
                r.headers.push((
                    "Retry-After",
                    crate::ratelimit::rules::retry_after_s(*retry_after_ms as i64).to_string(),
                ));
            }
            (r, Some(e))
        }
    };
    let total = ctx.elapsed_ms();
    let mut head = Head::with_capacity(256);
    if !reply.content_type.is_empty() {
        head.set("Content-Type", reply.content_type);
    }
    head.set("X-Request-Id", ctx.request_id.as_str());
    head.set_with("Server-Timing", |out| {
        ctx.timing.borrow().write_header(out, total)
    });
    head.set("Cache-Control", "no-store");
    if let Some((limits, decision)) = ctx.rate.borrow().as_ref() {
        head.set_with("RateLimit-Policy", |out| limits.write_policy_header(out));
        head.set_with("RateLimit", |out| decision.write_ratelimit_header(out));
    }
    for (k, v) in &reply.headers {
        head.set(k, v);
    }
    for (k, v) in ctx.response_headers.borrow().iter() {
        head.set(k, v);
    }
    let line = log_line(ctx, reply.status, total, error.as_ref());
    let body = match (&reply.body, &reply.stream) {
        (_, Some(worker::ResponseBody::Stream(s))) => Body::Stream(s),
        (_, Some(worker::ResponseBody::Body(b))) => Body::Bytes(b),
        (_, Some(worker::ResponseBody::Empty)) | (None, None) => Body::None,
        (Some(b), None) => Body::Bytes(b.as_bytes()),
    };
    boundary::respond(reply.status, &head, &line, body)
}

/// The challenge of every 401 on a route that takes a bearer credential.
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"postbridge\"";

/// The routes authorised by a capability token in their URL rather than a bearer credential.
fn takes_capability(route: &str) -> bool {
    route.ends_with("/upload") || route.ends_with("/download")
}

/// For the one failure that happens before a `Ctx` exists (a missing binding): the envelope
/// without timing, still never a bare runtime error.
pub fn early_failure(cause: &str) -> Response {
    let request_id = crate::domain::ids::RequestId::generate();
    let e = ApiError::Internal(cause.to_owned());
    let body = json!({ "statusCode": 500, "code": e.code(), "message": e.message(), "requestId": request_id.as_str() });
    worker::console_error!(
        "{}",
        json!({ "level": "error", "requestId": request_id.as_str(), "status": 500, "cause": cause })
    );
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    let _ = headers.set("X-Request-Id", request_id.as_str());
    match Response::from_bytes(body.to_string().into_bytes()) {
        Ok(r) => r.with_status(500).with_headers(headers),
        Err(_) => Response::empty()
            .expect("an empty response")
            .with_status(500),
    }
}

/// One request's log line. A struct, not a `json!` map: it is written on every request, and
/// serializing fields in order is cheaper than building a map first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogLine<'a> {
    level: &'static str,
    request_id: &'a str,
    method: &'a str,
    route: &'static str,
    status: u16,
    duration_ms: f64,
    principal: &'static str,
    workspaces: usize,
    d1_queries: u32,
    kv_reads: u32,
    rate_limiter_calls: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// The cause names the failing step and the storage error; it never holds a credential,
    /// because credentials reach storage only as hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'a str>,
}

/// The request's log line, written by `boundary::respond` as the response is handed over.
fn log_line(ctx: &Ctx, status: u16, total: f64, error: Option<&ApiError>) -> String {
    let fields = ctx.log.borrow();
    let t = ctx.timing.borrow();
    let line = LogLine {
        level: if status >= 500 { "error" } else { "info" },
        request_id: ctx.request_id.as_str(),
        method: &ctx.method,
        route: fields.route,
        status,
        duration_ms: (total * 10.0).round() / 10.0,
        principal: fields.principal.unwrap_or("none"),
        workspaces: fields.workspaces,
        d1_queries: t.d1_statements,
        kv_reads: t.kv_reads,
        rate_limiter_calls: t.rl_calls,
        tool: fields.tool,
        code: error
            .map(ApiError::code)
            .or(fields.tool_error.as_ref().map(|(code, _)| *code)),
        cause: match error {
            Some(ApiError::Internal(cause)) => Some(cause),
            _ => fields.tool_error.as_ref().and_then(|(_, c)| c.as_deref()),
        },
    };
    serde_json::to_string(&line).unwrap_or_default()
}
