//! The one guarded fetch that every request to an address a user gave goes through (API.md §9):
//! media ingest, a platform's `service` or `instanceUrl`, webhook endpoints.
//!
//! Every URL, the first and each redirect hop, passes `domain::url_guard` before it is fetched;
//! the exchange has a deadline (an abort, not just a timer we stop waiting on); bodies are read
//! against a cap. What the guard admits beyond public hosts comes from the deployment
//! ([`Outbound::from_env`]): `OUTBOUND_ALLOW_LOOPBACK=1` admits `127.0.0.1` and `localhost` for
//! local work and tests, and is ignored (with a log line) when `ENVIRONMENT` is `production`.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::time::Duration;
use worker::{AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

use crate::domain::url_guard::{self, Allowance, SafeUrl, UrlRefusal};

pub const ALLOW_LOOPBACK_VAR: &str = "OUTBOUND_ALLOW_LOOPBACK";

/// Whether redirects are followed (each hop checked again), and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// A 3xx is returned to the caller as it is (webhooks, API calls).
    None,
    /// Up to this many hops, each one guarded. Only for bodiless requests.
    Follow(usize),
}

/// Why an outbound exchange did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// The URL (or a redirect hop) is not one the guard admits.
    Refused(UrlRefusal),
    TooManyRedirects,
    RedirectWithoutLocation,
    /// No answer before the deadline; the request was aborted.
    Timeout,
    /// The connection failed (refused, reset, DNS); the text is for logs only.
    Network(String),
}

impl OutboundError {
    /// A sentence for an error message shown to the client (never internal detail).
    pub fn problem(&self) -> String {
        match self {
            OutboundError::Refused(r) => r.problem().to_owned(),
            OutboundError::TooManyRedirects => "too many redirects".into(),
            OutboundError::RedirectWithoutLocation => "a redirect without Location".into(),
            OutboundError::Timeout => "the host did not answer in time".into(),
            OutboundError::Network(_) => "the host could not be reached".into(),
        }
    }
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    TooLarge { cap: u64 },
    Interrupted,
    Timeout,
}

/// One request to send: a checked URL, a method, headers and an optional body.
#[derive(Debug)]
#[must_use]
pub struct OutRequest {
    pub method: Method,
    pub url: SafeUrl,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl OutRequest {
    pub fn get(url: SafeUrl) -> Self {
        OutRequest {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn post(url: SafeUrl, content_type: &str, body: Vec<u8>) -> Self {
        OutRequest {
            method: Method::Post,
            url,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Some(body),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The answer, with the URL that gave it (after redirects) and the time left to read its body.
pub struct Answer {
    pub url: SafeUrl,
    pub response: worker::Response,
    deadline_ms: f64,
    /// Kept so the deadline can still abort the body while it is read; taken by `abort`.
    abort: std::cell::RefCell<Option<AbortController>>,
}

impl Answer {
    pub fn status(&self) -> u16 {
        self.response.status_code()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.response.headers().get(name).ok().flatten()
    }

    /// The body's length, when the sender declared it and the bytes read will be those bytes
    /// (no content coding the runtime decodes on the way, which would change their number).
    pub fn content_length(&self) -> Option<u64> {
        let coded = self
            .header("Content-Encoding")
            .is_some_and(|c| !c.trim().eq_ignore_ascii_case("identity"));
        if coded {
            return None;
        }
        self.header("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok())
    }

    /// The body as the runtime's stream, to pipe on without reading it here (`None`: no body).
    pub fn body_stream(&self) -> Option<web_sys::ReadableStream> {
        match self.response.body() {
            worker::ResponseBody::Stream(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// When the exchange must be over (epoch milliseconds), body included.
    pub fn deadline_ms(&self) -> f64 {
        self.deadline_ms
    }

    /// Abandons the exchange: the body's stream errors for whoever is reading it.
    pub fn abort(&self) {
        if let Some(controller) = self.abort.borrow_mut().take() {
            controller.abort();
        }
    }

    /// Reads the whole body, giving up past `cap` bytes (the rest is never downloaded) or at
    /// the exchange's deadline.
    pub async fn bytes_capped(&mut self, cap: u64) -> Result<Vec<u8>, ReadError> {
        if self
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > cap)
        {
            return Err(ReadError::TooLarge { cap });
        }
        let mut stream = self.response.stream().map_err(|_| ReadError::Interrupted)?;
        let mut bytes = Vec::new();
        loop {
            let left = self.deadline_ms - crate::timing::now_ms();
            if left <= 0.0 {
                return Err(ReadError::Timeout);
            }
            let next = Box::pin(stream.next());
            let timer = Delay::from(Duration::from_millis(left as u64));
            let chunk = match select(next, timer).await {
                Either::Left((chunk, _)) => chunk,
                Either::Right(_) => return Err(ReadError::Timeout),
            };
            match chunk {
                None => return Ok(bytes),
                Some(Err(_)) => return Err(ReadError::Interrupted),
                Some(Ok(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > cap {
                        // Dropping the stream cancels the rest of the download.
                        return Err(ReadError::TooLarge { cap });
                    }
                    bytes.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// The body as text, cut to `cap` bytes (for logs of what a receiver answered).
    pub async fn text_prefix(&mut self, cap: usize) -> String {
        let mut stream = match self.response.stream() {
            Ok(s) => s,
            Err(_) => return String::new(),
        };
        let mut bytes = Vec::new();
        while bytes.len() < cap {
            let left = self.deadline_ms - crate::timing::now_ms();
            if left <= 0.0 {
                break;
            }
            let timer = Delay::from(Duration::from_millis(left as u64));
            match select(Box::pin(stream.next()), timer).await {
                Either::Left((Some(Ok(chunk)), _)) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
        bytes.truncate(cap);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The guard and fetcher of one deployment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbound {
    allow: Allowance,
}

impl Outbound {
    /// From the deployment's variables. `OUTBOUND_ALLOW_LOOPBACK=1` is honoured unless
    /// `ENVIRONMENT` is `production`, where it is ignored and logged.
    pub fn from_env(env: &Env) -> Self {
        let var = |k: &str| env.var(k).ok().map(|v| v.to_string());
        let production = var("ENVIRONMENT").as_deref() == Some("production");
        let asked = var(ALLOW_LOOPBACK_VAR).as_deref() == Some("1");
        if asked && production {
            worker::console_error!(
                "{{\"level\":\"warn\",\"cause\":\"{ALLOW_LOOPBACK_VAR}=1 ignored: ENVIRONMENT is production\"}}"
            );
        }
        Outbound {
            allow: Allowance {
                loopback: asked && !production,
                https_only: false,
            },
        }
    }

    /// The same guard, demanding https (webhook endpoints in production).
    #[must_use]
    pub fn https_only(self, on: bool) -> Self {
        Outbound {
            allow: Allowance {
                https_only: on,
                ..self.allow
            },
        }
    }

    pub fn allowance(&self) -> Allowance {
        self.allow
    }

    /// Checks a URL a user gave, before anything is stored or fetched.
    pub fn guard(&self, raw: &str) -> Result<SafeUrl, UrlRefusal> {
        url_guard::check_with(raw, self.allow)
    }

    /// Sends `req`, following redirects as `redirects` says (each hop guarded again), and
    /// aborts if no answer has come within `timeout`. The URL in `req` was checked by
    /// [`Outbound::guard`] (a `SafeUrl` cannot be made otherwise); it is checked again here in
    /// case it was guarded under a wider allowance.
    pub async fn send(
        &self,
        req: OutRequest,
        redirects: Redirects,
        timeout: Duration,
    ) -> Result<Answer, OutboundError> {
        let deadline_ms = crate::timing::now_ms() + timeout.as_millis() as f64;
        let mut url = self
            .guard(req.url.as_str())
            .map_err(OutboundError::Refused)?;
        let hops = match redirects {
            Redirects::None => 0,
            Redirects::Follow(n) => n,
        };
        for _ in 0..=hops {
            let abort = AbortController::default();
            let headers = Headers::new();
            for (k, v) in &req.headers {
                headers
                    .set(k, v)
                    .map_err(|e| OutboundError::Network(format!("header {k}: {e}")))?;
            }
            let mut init = RequestInit::new();
            init.with_method(req.method.clone())
                .with_headers(headers)
                .with_redirect(worker::RequestRedirect::Manual);
            if let Some(body) = &req.body {
                init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
            }
            let request = Request::new_with_init(url.as_str(), &init)
                .map_err(|e| OutboundError::Network(format!("build request: {e}")))?;
            let left = deadline_ms - crate::timing::now_ms();
            if left <= 0.0 {
                return Err(OutboundError::Timeout);
            }
            let signal = abort.signal();
            let fetch = Fetch::Request(request);
            let sending = Box::pin(fetch.send_with_signal(&signal));
            let timer = Delay::from(Duration::from_millis(left as u64));
            let response = match select(sending, timer).await {
                Either::Left((r, _)) => r.map_err(|e| OutboundError::Network(e.to_string()))?,
                Either::Right(_) => {
                    abort.abort();
                    return Err(OutboundError::Timeout);
                }
            };
            let status = response.status_code();
            let follow = matches!(redirects, Redirects::Follow(_))
                && matches!(status, 301 | 302 | 303 | 307 | 308);
            if !follow {
                return Ok(Answer {
                    url,
                    response,
                    deadline_ms,
                    abort: std::cell::RefCell::new(Some(abort)),
                });
            }
            let location = response
                .headers()
                .get("Location")
                .ok()
                .flatten()
                .ok_or(OutboundError::RedirectWithoutLocation)?;
            url = url_guard::check_redirect_with(&url, &location, self.allow)
                .map_err(OutboundError::Refused)?;
        }
        Err(OutboundError::TooManyRedirects)
    }
}
