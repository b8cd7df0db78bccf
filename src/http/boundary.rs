//! The request and the response cross between JavaScript and wasm once each. Every call into
//! JavaScript and every string handed over has a price; `Ctx` used to read the URL, the method
//! and four headers in six calls, and `finish` set each response header, built the body and
//! wrote the log line in a dozen more. Now the request's head is read in one call
//! ([`RequestHead::read`]) and the response, with its log line, is handed over in one
//! ([`respond`]), by the functions of `boundary.js`.

use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[wasm_bindgen(module = "/src/http/boundary.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = requestHead)]
    fn request_head(request: &web_sys::Request) -> Result<String, JsValue>;

    #[wasm_bindgen(catch, js_name = respondBytes)]
    fn respond_bytes(
        status: u16,
        head: &str,
        line: &str,
        bytes: &[u8],
    ) -> Result<web_sys::Response, JsValue>;

    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_body(
        status: u16,
        head: &str,
        line: &str,
        body: &JsValue,
    ) -> Result<web_sys::Response, JsValue>;
}

/// What every request is read for: method, URL and the headers any route may need.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub url: String,
    pub authorization: Option<String>,
    pub workspace: Option<String>,
    pub idempotency_key: Option<String>,
    pub connecting_ip: Option<String>,
}

impl RequestHead {
    /// In one call; should the runtime ever hand over something unreadable, value by value.
    pub fn read(req: &web_sys::Request) -> RequestHead {
        request_head(req)
            .ok()
            .and_then(|json| Self::parse(&json))
            .unwrap_or_else(|| Self::read_each(req))
    }

    /// `requestHead`'s JSON: `[method, url, authorization, workspace, key, ip]`. Total.
    pub fn parse(json: &str) -> Option<RequestHead> {
        type Fields = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (method, url, authorization, workspace, idempotency_key, connecting_ip) =
            serde_json::from_str::<Fields>(json).ok()?;
        Some(RequestHead {
            method,
            url,
            authorization,
            workspace,
            idempotency_key,
            connecting_ip,
        })
    }

    fn read_each(req: &web_sys::Request) -> RequestHead {
        let headers = req.headers();
        let get = |name: &str| headers.get(name).ok().flatten();
        RequestHead {
            method: req.method(),
            url: req.url(),
            authorization: get("Authorization"),
            workspace: get("X-Workspace-Id"),
            idempotency_key: get("Idempotency-Key"),
            connecting_ip: get("CF-Connecting-IP"),
        }
    }
}

/// A response's headers as one string for `respond`: `name\0value\0…`, set in this order. A
/// pair holding a NUL is left out here: the runtime refuses NUL in a header, and the response
/// was always built without a header it refused.
#[derive(Debug, Default)]
pub struct Head(String);

impl Head {
    pub fn with_capacity(n: usize) -> Head {
        Head(String::with_capacity(n))
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.set_with(name, |out| out.push_str(value));
    }

    /// A header whose value is written straight into the buffer, with no string of its own.
    pub fn set_with(&mut self, name: &str, value: impl FnOnce(&mut String)) {
        let start = self.0.len();
        self.0.push_str(name);
        self.0.push('\0');
        value(&mut self.0);
        if self.0[start..].matches('\0').count() != 1 {
            self.0.truncate(start);
        } else {
            self.0.push('\0');
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A response body as it crosses: bytes, a stream, or none.
pub enum Body<'a> {
    Bytes(&'a [u8]),
    Stream(&'a web_sys::ReadableStream),
    None,
}

/// The runtime's response, built in one call that also writes the request's log line (when not
/// empty). If the runtime refuses it (it does not, for the statuses and headers the API sends),
/// an empty 500 instead: nothing here fails outward.
pub fn respond(status: u16, head: &Head, line: &str, body: Body<'_>) -> web_sys::Response {
    let built = match body {
        Body::Bytes(b) => respond_bytes(status, head.as_str(), line, b),
        Body::Stream(s) => respond_body(status, head.as_str(), line, s),
        Body::None => respond_body(status, head.as_str(), line, &JsValue::NULL),
    };
    built.unwrap_or_else(|_| {
        let init = web_sys::ResponseInit::new();
        init.set_status(500);
        web_sys::Response::new_with_opt_str_and_init(None, &init).expect("an empty 500 response")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_joined_in_order_and_a_nul_drops_its_pair() {
        let mut h = Head::default();
        h.set("Content-Type", "application/json; charset=utf-8");
        h.set("X-Bad", "a\0b");
        h.set_with("Server-Timing", |o| o.push_str("total;dur=1.0"));
        h.set_with("X-Also-Bad", |o| o.push('\0'));
        h.set("Cache-Control", "no-store");
        h.set("Bad\0Name", "x");
        assert_eq!(
            h.as_str(),
            "Content-Type\0application/json; charset=utf-8\0Server-Timing\0total;dur=1.0\0Cache-Control\0no-store\0"
        );
        assert_eq!(Head::default().as_str(), "");
    }

    #[test]
    fn the_request_head_reads_what_request_head_writes() {
        let json = r#"["GET","http://api.test/api/v1/posts?x=1",null,"ws_1","k\"1","203.0.113.9"]"#;
        assert_eq!(
            RequestHead::parse(json),
            Some(RequestHead {
                method: "GET".into(),
                url: "http://api.test/api/v1/posts?x=1".into(),
                authorization: None,
                workspace: Some("ws_1".into()),
                idempotency_key: Some("k\"1".into()),
                connecting_ip: Some("203.0.113.9".into()),
            })
        );
        // Latin-1 header bytes arrive as characters; anything unreadable is refused, not guessed.
        assert!(RequestHead::parse(r#"["GET","u","é",null,null,null]"#).is_some());
        for bad in [
            "",
            "[]",
            "null",
            r#"["GET"]"#,
            r#"["GET","u",1,null,null,null]"#,
            "[\"GET\",\"u\",null,null,null,null",
        ] {
            assert_eq!(RequestHead::parse(bad), None, "{bad}");
        }
    }
}
