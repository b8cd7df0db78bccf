//! `Ctx`: what one request carries through the code — its id, clock, bindings, query and the
//! storage work it has done so far (for `Server-Timing` and the log line).

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::domain::ids::RequestId;
use crate::domain::time::Timestamp;
use crate::http::boundary::RequestHead;
use crate::http::error::{ApiError, Context as _};
use crate::ratelimit::rules::{client_ip, Decision, Limits};
use crate::store::Db;
// The clock and the counters live in a leaf module that storage code can use without `Ctx`;
// re-exported here for code that already reaches them through `ctx`.
pub use crate::timing::{now_ms, SharedTiming, Timing};

/// Binding names, named once.
pub const DB: &str = "DB";
pub const AUTH_CACHE: &str = "AUTH_CACHE";

/// What the log line says about the request beyond method and status.
#[derive(Debug, Default)]
pub struct LogFields {
    pub route: &'static str,
    pub principal: Option<&'static str>,
    pub workspaces: usize,
    /// The MCP tool a `POST /mcp` called, and its error code and cause if it was refused
    /// (the HTTP status of the POST is 200 either way).
    pub tool: Option<&'static str>,
    pub tool_error: Option<(&'static str, Option<String>)>,
}

pub struct Ctx {
    pub request_id: RequestId,
    pub started_ms: f64,
    pub env: Env,
    /// Shared with the `Ctx` of each MCP tool call.
    pub wait: Rc<worker::Context>,
    pub timing: SharedTiming,
    pub db: Db,
    /// `scheme://host` of the request, for `Link` headers.
    pub origin: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub workspace_header: Option<String>,
    pub authorization: Option<String>,
    /// The request's headers, for the few read only on some paths (`Cookie` and `Origin` for
    /// the dashboard's session, `If-Match` for approve): a bearer request never pays for them.
    headers: web_sys::Headers,
    pub idempotency_key: Option<String>,
    pub method: String,
    pub log: RefCell<LogFields>,
    /// `CF-Connecting-IP`, or `unknown`: the rate-limit bucket of unresolved credentials.
    pub client_ip: String,
    /// The last rate-limit decision, for the `RateLimit-Policy` and `RateLimit` headers.
    pub rate: RefCell<Option<(Limits, Decision)>>,
    /// Headers added to the response, success or error (an MCP 401's `WWW-Authenticate`).
    pub response_headers: RefCell<Vec<(&'static str, String)>>,
    /// The API key that authenticated this request, if one did: its `lastUsedAt` is written
    /// once the request has succeeded (`auth::usage`).
    pub api_key_used: RefCell<Option<String>>,
}

impl Ctx {
    pub fn new(req: &web_sys::Request, env: Env, wait: worker::Context) -> Result<Self, ApiError> {
        let timing = SharedTiming::default();
        // Method, URL and the headers every route may need, in one call into JavaScript.
        let head = RequestHead::read(req);
        let (origin, path, query) = split_url(&head.url);
        let db = Db::new(env.d1(DB).ctx("binding DB")?, timing.clone());
        let headers = req.headers();
        Ok(Ctx {
            request_id: RequestId::generate(),
            started_ms: now_ms(),
            origin: origin.to_owned(),
            path: path.to_owned(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            workspace_header: head.workspace,
            authorization: head.authorization,
            idempotency_key: head.idempotency_key,
            method: method(head.method),
            log: RefCell::default(),
            client_ip: client_ip(head.connecting_ip.as_deref()),
            rate: RefCell::default(),
            response_headers: RefCell::default(),
            headers,
            api_key_used: RefCell::default(),
            env,
            wait: Rc::new(wait),
            timing,
            db,
        })
    }

    /// The context of the REST route an MCP tool call runs: this request's id, clock, storage
    /// counters and credential, with the route's own method, path and query, and no header
    /// naming a workspace or an idempotency key (a tool's arguments are all it says).
    pub fn for_route(
        &self,
        method: &str,
        path: String,
        query: Vec<(String, String)>,
    ) -> Result<Ctx, ApiError> {
        Ok(Ctx {
            request_id: self.request_id.clone(),
            started_ms: self.started_ms,
            env: self.env.clone(),
            wait: self.wait.clone(),
            timing: self.timing.clone(),
            db: Db::new(self.env.d1(DB).ctx("binding DB")?, self.timing.clone()),
            origin: self.origin.clone(),
            path,
            query,
            workspace_header: None,
            authorization: self.authorization.clone(),
            idempotency_key: None,
            method: method.to_owned(),
            log: RefCell::default(),
            client_ip: self.client_ip.clone(),
            rate: RefCell::default(),
            response_headers: RefCell::default(),
            // The key's use is the POST's, recorded on its own context.
            api_key_used: RefCell::default(),
            // A tool's arguments are all it says: no cookie, no Origin of its own.
            headers: web_sys::Headers::new()
                .map_err(|e| ApiError::Internal(format!("tool request headers: {e:?}")))?,
        })
    }

    /// The value of query parameter `name`, if given once. Given twice is a validation error:
    /// silently picking one would let two parts of the stack disagree about the request.
    pub fn query(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut it = self.query.iter().filter(|(k, _)| k == name);
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v.as_str())),
            (Some(_), Some(_)) => Err(ApiError::field(name, "must be given at most once")),
        }
    }

    /// A request header, read when a route needs it (most read none beyond the ones above).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    pub fn kv(&self) -> Result<worker::kv::KvStore, ApiError> {
        self.env.kv(AUTH_CACHE).ctx("binding AUTH_CACHE")
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(now_ms() as i64)
    }

    pub fn elapsed_ms(&self) -> f64 {
        now_ms() - self.started_ms
    }
}

/// The method as the router matches it: upper-cased, as clients that send `patch` have always
/// been served; any other method keeps its name, so the router answers 405 (the worker crate's
/// `Method` would have read an unknown method as GET).
fn method(raw: String) -> String {
    if raw.bytes().any(|b| b.is_ascii_lowercase()) {
        raw.to_ascii_uppercase()
    } else {
        raw
    }
}

/// Origin, path and query of a URL as the runtime serializes it (WHATWG: scheme and host
/// normalized, default port dropped, `?` and `#` escaped inside the path). Splitting that text
/// gives what a full parse would, for a fraction of its cost on every request.
fn split_url(url: &str) -> (&str, &str, &str) {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (url, query) = url.split_once('?').unwrap_or((url, ""));
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[host_start..]
        .find('/')
        .map_or(url.len(), |i| host_start + i);
    let path = &url[path_start..];
    (
        &url[..path_start],
        if path.is_empty() { "/" } else { path },
        query,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_as_a_full_parse_would() {
        for raw in [
            "http://api.test/api/v1/posts",
            "https://api.example.com/api/v1/posts?limit=2&cursor=ab",
            "http://127.0.0.1:8787/api/v1/posts?workspaceId=ws_1&status=DRAFT#frag",
            "http://[::1]:8787/api/v1/me",
            "https://api.example.com",
            "https://api.example.com/a%3Fb/c?x=%E2%9C%93&y=a+b&y=2&empty=&flag",
            "https://api.example.com/?q=1?2",
        ] {
            let parsed = url::Url::parse(raw).unwrap();
            // What the runtime hands us is already serialized.
            let serialized = parsed.as_str();
            let (origin, path, query) = split_url(serialized);
            assert_eq!(origin, parsed.origin().ascii_serialization(), "{raw}");
            assert_eq!(path, parsed.path(), "{raw}");
            let ours: Vec<_> = url::form_urlencoded::parse(query.as_bytes()).collect();
            let theirs: Vec<_> = parsed.query_pairs().collect();
            assert_eq!(ours, theirs, "{raw}");
        }
    }

    #[test]
    fn methods_are_upper_cased_and_never_guessed() {
        assert_eq!(method("GET".into()), "GET");
        assert_eq!(method("patch".into()), "PATCH");
        assert_eq!(method("PROPFIND".into()), "PROPFIND");
        assert_eq!(method("brew".into()), "BREW");
    }
}
