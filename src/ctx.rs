//! `Ctx`: what one request carries through the code — its id, clock, bindings, query and the
//! storage work it has done so far (for `Server-Timing` and the log line).

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::domain::ids::RequestId;
use crate::domain::time::Timestamp;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::LogFields;
use crate::ratelimit::{client_ip, Decision, Limits};
use crate::store::Db;

/// Binding names, named once.
pub const DB: &str = "DB";
pub const AUTH_CACHE: &str = "AUTH_CACHE";

/// Storage work done by this request, by kind.
#[derive(Debug, Default)]
pub struct Timing {
    pub kv_reads: u32,
    pub kv_writes: u32,
    pub kv_ms: f64,
    pub d1_statements: u32,
    pub d1_ms: f64,
    /// Calls to the rate limiter's Durable Object.
    pub rl_calls: u32,
    /// Rate-limit decisions taken from this isolate's lease, with no call.
    pub rl_local: u32,
    pub rl_ms: f64,
    /// D1 statements scheduled to run after the response (through `wait_until`): announced
    /// here, since they cannot be timed before the response leaves.
    pub d1_after: u32,
}

impl Timing {
    /// `kv;desc="1 read";dur=0.8, d1;desc="2 queries";dur=3.1, total;dur=5.0`: only the kinds of
    /// storage the request touched appear, so a refusal at the edge shows no `d1`.
    pub fn header(&self, total_ms: f64) -> String {
        let mut parts = Vec::new();
        // One entry per kind of storage touched, naming only the counts that are not zero.
        let mut entry = |name: &str, counts: &[(u32, &str)], ms: f64| {
            let what: Vec<String> = counts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|&(n, word)| plural(n, word))
                .collect();
            if !what.is_empty() {
                parts.push(format!("{name};desc=\"{}\";dur={ms:.1}", what.join(", ")));
            }
        };
        entry(
            "kv",
            &[(self.kv_reads, "read"), (self.kv_writes, "write")],
            self.kv_ms,
        );
        entry("d1", &[(self.d1_statements, "query")], self.d1_ms);
        entry(
            "rl",
            &[(self.rl_calls, "call"), (self.rl_local, "local")],
            self.rl_ms,
        );
        if self.d1_after > 0 {
            parts.push(format!(
                "d1-after;desc=\"{}\"",
                plural(self.d1_after, "query")
            ));
        }
        parts.push(format!("total;dur={total_ms:.1}"));
        parts.join(", ")
    }
}

fn plural(n: u32, word: &str) -> String {
    match (n, word) {
        (1, w) => format!("1 {w}"),
        (n, "query") => format!("{n} queries"),
        (n, "local") => format!("{n} local"),
        (n, w) => format!("{n} {w}s"),
    }
}

pub type SharedTiming = Rc<RefCell<Timing>>;

pub struct Ctx {
    pub request_id: RequestId,
    pub started_ms: f64,
    pub env: Env,
    pub wait: worker::Context,
    pub timing: SharedTiming,
    pub db: Db,
    /// `scheme://host` of the request, for `Link` headers.
    pub origin: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub workspace_header: Option<String>,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub method: String,
    pub log: RefCell<LogFields>,
    /// `CF-Connecting-IP`, or `unknown`: the rate-limit bucket of unresolved credentials.
    pub client_ip: String,
    /// The last rate-limit decision, for the `RateLimit-Policy` and `RateLimit` headers.
    pub rate: RefCell<Option<(Limits, Decision)>>,
    /// The API key that authenticated this request, if one did: its `lastUsedAt` is written
    /// once the request has succeeded (`auth::usage`).
    pub api_key_used: RefCell<Option<String>>,
}

impl Ctx {
    pub fn new(req: &web_sys::Request, env: Env, wait: worker::Context) -> Result<Self, ApiError> {
        let timing = SharedTiming::default();
        let url = req.url();
        let (origin, path, query) = split_url(&url);
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
            workspace_header: headers.get("X-Workspace-Id").ok().flatten(),
            authorization: headers.get("Authorization").ok().flatten(),
            idempotency_key: headers.get("Idempotency-Key").ok().flatten(),
            method: method(req.method()),
            log: RefCell::default(),
            client_ip: client_ip(headers.get("CF-Connecting-IP").ok().flatten().as_deref()),
            rate: RefCell::default(),
            api_key_used: RefCell::default(),
            env,
            wait,
            timing,
            db,
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

pub fn now_ms() -> f64 {
    js_sys::Date::now()
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

    #[test]
    fn server_timing_names_only_the_storage_touched() {
        let t = Timing::default();
        assert_eq!(t.header(1.0), "total;dur=1.0");
        let t = Timing {
            kv_reads: 1,
            kv_ms: 0.8,
            d1_statements: 2,
            d1_ms: 3.12,
            ..Default::default()
        };
        assert_eq!(
            t.header(5.0),
            "kv;desc=\"1 read\";dur=0.8, d1;desc=\"2 queries\";dur=3.1, total;dur=5.0"
        );
        let t = Timing {
            kv_writes: 2,
            d1_statements: 1,
            ..Default::default()
        };
        let t2 = Timing {
            rl_calls: 1,
            rl_ms: 0.44,
            ..Default::default()
        };
        assert_eq!(t2.header(2.0), "rl;desc=\"1 call\";dur=0.4, total;dur=2.0");
        let t3 = Timing {
            rl_local: 1,
            ..Default::default()
        };
        assert_eq!(t3.header(2.0), "rl;desc=\"1 local\";dur=0.0, total;dur=2.0");
        assert_eq!(
            t.header(0.0),
            "kv;desc=\"2 writes\";dur=0.0, d1;desc=\"1 query\";dur=0.0, total;dur=0.0"
        );
        let t4 = Timing {
            d1_statements: 1,
            d1_after: 1,
            ..Default::default()
        };
        assert_eq!(
            t4.header(1.0),
            "d1;desc=\"1 query\";dur=0.0, d1-after;desc=\"1 query\", total;dur=1.0"
        );
    }
}
