//! JSON-RPC 2.0 framing and the MCP rules that decide, from one POST alone, which protocol
//! revision it speaks: legacy (2025-03-26 … 2025-11-25: an `initialize` handshake, then the
//! `MCP-Protocol-Version` header) or modern (2026-07-28: every request carries its version and
//! capabilities in `_meta`, mirrored in `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`).
//! Pure: no `worker`, so the rules are tested natively.

use serde_json::{json, Value};

/// Legacy revisions, newest first: `initialize` answers with the client's if listed here, else
/// with the first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// Per-request revisions (no handshake).
pub const MODERN: &[&str] = &["2026-07-28"];
/// What a legacy request without `MCP-Protocol-Version` speaks (the transport rules of
/// 2025-06-18 onwards say to assume it).
pub const UNVERSIONED: &str = "2025-03-26";

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const INVALID_PARAMS: i32 = -32602;
pub const HEADER_MISMATCH: i32 = -32020;
pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;

/// A JSON-RPC error, with the HTTP status it travels under.
#[derive(Debug, PartialEq)]
pub struct RpcError {
    pub status: u16,
    pub code: i32,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(status: u16, code: i32, message: impl Into<String>) -> Self {
        RpcError {
            status,
            code,
            message: message.into(),
            data: None,
        }
    }

    fn mismatch(message: impl Into<String>) -> Self {
        RpcError::new(400, HEADER_MISMATCH, message)
    }

    fn unsupported(requested: &str) -> Self {
        RpcError {
            data: Some(json!({ "supported": supported(), "requested": requested })),
            ..RpcError::new(
                400,
                UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version",
            )
        }
    }
}

/// Every revision served, newest first.
pub fn supported() -> Vec<&'static str> {
    MODERN.iter().chain(LEGACY).copied().collect()
}

/// One message, as the body of a POST carries it.
#[derive(Debug, PartialEq)]
pub enum Message {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification, or a response to a request of ours (we send none): both are 202.
    NoReply {
        method: Option<String>,
        params: Value,
    },
}

/// Parses a POST body. Total: any input is a message or a JSON-RPC error.
pub fn parse(body: &str) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|_| RpcError::new(400, PARSE_ERROR, "Parse error: the body is not JSON"))?;
    let invalid =
        |why: &str| RpcError::new(400, INVALID_REQUEST, format!("Invalid request: {why}"));
    let obj = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(invalid(
                "batches are not supported; send one message per POST",
            ))
        }
        _ => return Err(invalid("not a JSON-RPC message")),
    };
    if obj.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let id = obj.get("id");
    let id_ok = matches!(id, Some(Value::String(_) | Value::Number(_)));
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = obj.get("params").cloned().unwrap_or(json!({}));
            if !params.is_object() {
                return Err(invalid("`params` must be an object"));
            }
            match id {
                None => Ok(Message::NoReply {
                    method: Some(method.clone()),
                    params,
                }),
                Some(_) if !id_ok => Err(invalid("`id` must be a string or a number")),
                Some(id) => Ok(Message::Request {
                    id: id.clone(),
                    method: method.clone(),
                    params,
                }),
            }
        }
        Some(_) => Err(invalid("`method` must be a string")),
        None if id_ok && (obj.contains_key("result") || obj.contains_key("error")) => {
            Ok(Message::NoReply {
                method: None,
                params: json!({}),
            })
        }
        None => Err(invalid("neither a request, a notification nor a response")),
    }
}

/// The MCP headers of a POST.
#[derive(Debug, Default, Clone, Copy)]
pub struct Headers<'a> {
    pub protocol_version: Option<&'a str>,
    pub method: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Which revision a message speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// The version the header names (or `UNVERSIONED`); `initialize` negotiates its own.
    Legacy(&'static str),
    Modern(&'static str),
}

impl Era {
    pub fn is_modern(self) -> bool {
        matches!(self, Era::Modern(_))
    }
}

fn known(list: &[&'static str], v: &str) -> Option<&'static str> {
    list.iter().find(|k| **k == v).copied()
}

/// Decides the revision of a message and checks its headers against its body: a modern
/// message must mirror its version, method and tool name in the headers; any header that is
/// present must agree with the body, whatever the revision (an intermediary may have routed or
/// limited on it).
pub fn era(method: &str, params: &Value, h: Headers<'_>) -> Result<Era, RpcError> {
    let meta = params.get("_meta");
    let meta_version = match meta.and_then(|m| m.get(META_VERSION)) {
        None => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(_) => {
            return Err(RpcError::new(
                400,
                INVALID_PARAMS,
                format!("`_meta.{META_VERSION}` must be a string"),
            ))
        }
    };
    if let Some(m) = h.method {
        if m != method {
            return Err(RpcError::mismatch(format!(
                "Header mismatch: Mcp-Method header value '{m}' does not match body value '{method}'"
            )));
        }
    }
    let body_name = params.get("name").and_then(Value::as_str);
    if let Some(n) = h.name {
        let decoded = decode_header_value(n).ok_or_else(|| {
            RpcError::mismatch("Header mismatch: Mcp-Name header value is not valid")
        })?;
        if method == "tools/call" && Some(decoded.as_str()) != body_name {
            return Err(RpcError::mismatch(
                "Header mismatch: Mcp-Name header value does not match body value",
            ));
        }
    }
    let modern = meta_version.filter(|v| known(LEGACY, v).is_none());
    match (modern, h.protocol_version) {
        (Some(v), None) => Err(RpcError::mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header is required (body says '{v}')"
        ))),
        (Some(v), Some(hv)) if hv != v => Err(RpcError::mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{hv}' does not match body value '{v}'"
        ))),
        (Some(v), Some(_)) => {
            let v = known(MODERN, v).ok_or_else(|| RpcError::unsupported(v))?;
            if meta.and_then(|m| m.get(META_CAPABILITIES)).is_none() {
                return Err(RpcError::new(
                    400,
                    INVALID_PARAMS,
                    format!("Invalid params: `_meta.{META_CAPABILITIES}` is required"),
                ));
            }
            if h.method.is_none() {
                return Err(RpcError::mismatch("Header mismatch: Mcp-Method header is required"));
            }
            if method == "tools/call" && h.name.is_none() {
                return Err(RpcError::mismatch("Header mismatch: Mcp-Name header is required"));
            }
            Ok(Era::Modern(v))
        }
        (None, None) => Ok(Era::Legacy(UNVERSIONED)),
        (None, Some(hv)) => {
            if let Some(v) = known(LEGACY, hv) {
                Ok(Era::Legacy(v))
            } else if known(MODERN, hv).is_some() {
                Err(RpcError::new(
                    400,
                    INVALID_PARAMS,
                    format!("Invalid params: `_meta.{META_VERSION}` is required with MCP-Protocol-Version {hv}"),
                ))
            } else {
                Err(RpcError::unsupported(hv))
            }
        }
    }
}

/// The version `initialize` answers with: the client's if it is a legacy one we speak, else our
/// newest legacy one (the client then decides whether it can go on).
pub fn negotiate(params: &Value) -> &'static str {
    params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .and_then(|v| known(LEGACY, v))
        .unwrap_or(LEGACY[0])
}

/// A header value as the 2026-07-28 transport encodes it: plain visible ASCII, or
/// `=?base64?…?=` around the Base64 of UTF-8 text. `None` if it is neither.
pub fn decode_header_value(v: &str) -> Option<String> {
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => String::from_utf8(base64_decode(b64)?).ok(),
        None if v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) => Some(v.to_owned()),
        None => None,
    }
}

/// Standard Base64 with optional padding. Total.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` around a result already serialized.
pub fn result(id: &Value, result: &str) -> String {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}")
}

/// An error response; `id` is `None` when the request's could not be read.
pub fn error(id: Option<&Value>, e: &RpcError) -> String {
    let mut err = json!({ "code": e.code, "message": e.message });
    if let Some(d) = &e.data {
        err["data"] = d.clone();
    }
    let mut out = json!({ "jsonrpc": "2.0", "error": err });
    if let Some(id) = id {
        out["id"] = id.clone();
    }
    out.to_string()
}

/// An `Origin` header is allowed when absent (not a browser) or exactly our own origin: a page
/// on another site must not drive the endpoint with a credential its browser holds (or reach a
/// local server through DNS rebinding).
pub fn origin_allowed(origin: Option<&str>, own: &str) -> bool {
    origin.is_none_or(|o| o.eq_ignore_ascii_case(own))
}

/// Whether an `Accept` header admits a JSON answer (absent: anything goes).
pub fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    accept.split(',').any(|part| {
        let essence = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(
            essence.as_str(),
            "application/json" | "application/*" | "*/*"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, params: Value) -> Message {
        Message::Request {
            id: json!(1),
            method: method.into(),
            params,
        }
    }

    #[test]
    fn messages_parse_or_fail_with_the_json_rpc_code() {
        let ok = [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                req("tools/list", json!({})),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
                req("tools/call", json!({"name": "x"})),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Message::NoReply {
                    method: Some("notifications/initialized".into()),
                    params: json!({}),
                },
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","result":{}}"#,
                Message::NoReply {
                    method: None,
                    params: json!({}),
                },
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}"#,
                Message::NoReply {
                    method: None,
                    params: json!({}),
                },
            ),
        ];
        for (body, want) in ok {
            assert_eq!(parse(body).unwrap(), want, "{body}");
        }
        let bad = [
            ("", PARSE_ERROR),
            ("{", PARSE_ERROR),
            ("\u{0}", PARSE_ERROR),
            ("[]", INVALID_REQUEST),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                INVALID_REQUEST,
            ),
            ("3", INVALID_REQUEST),
            (r#"{"id":1,"method":"ping"}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
        ];
        for (body, code) in bad {
            let e = parse(body).unwrap_err();
            assert_eq!((e.status, e.code), (400, code), "{body}");
        }
    }

    fn h<'a>(v: Option<&'a str>, m: Option<&'a str>, n: Option<&'a str>) -> Headers<'a> {
        Headers {
            protocol_version: v,
            method: m,
            name: n,
        }
    }

    fn modern_params(name: Option<&str>) -> Value {
        let mut p = json!({ "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }});
        if let Some(n) = name {
            p["name"] = json!(n);
        }
        p
    }

    #[test]
    fn legacy_requests_take_the_header_version_or_assume_2025_03_26() {
        let p = json!({});
        assert_eq!(
            era("tools/list", &p, h(None, None, None)),
            Ok(Era::Legacy("2025-03-26"))
        );
        for v in LEGACY {
            assert_eq!(
                era("tools/list", &p, h(Some(v), None, None)),
                Ok(Era::Legacy(v))
            );
        }
        for bad in ["2024-11-05", "1900-01-01", "", "2025-11-25 "] {
            let e = era("tools/list", &p, h(Some(bad), None, None)).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (400, UNSUPPORTED_PROTOCOL_VERSION),
                "{bad}"
            );
            assert_eq!(e.data.unwrap()["requested"], json!(bad));
        }
        // A modern version in the header needs the modern body.
        let e = era("tools/list", &p, h(Some("2026-07-28"), None, None)).unwrap_err();
        assert_eq!((e.status, e.code), (400, INVALID_PARAMS));
    }

    #[test]
    fn modern_requests_mirror_version_method_and_name_in_headers() {
        let call = modern_params(Some("posts.get"));
        let v = Some("2026-07-28");
        assert_eq!(
            era(
                "tools/call",
                &call,
                h(v, Some("tools/call"), Some("posts.get"))
            ),
            Ok(Era::Modern("2026-07-28"))
        );
        // Base64 sentinel form of the name.
        assert_eq!(
            era(
                "tools/call",
                &call,
                h(v, Some("tools/call"), Some("=?base64?cG9zdHMuZ2V0?="))
            ),
            Ok(Era::Modern("2026-07-28"))
        );
        let list = modern_params(None);
        assert_eq!(
            era("tools/list", &list, h(v, Some("tools/list"), None)),
            Ok(Era::Modern("2026-07-28"))
        );
        let cases = [
            (
                h(None, Some("tools/call"), Some("posts.get")),
                HEADER_MISMATCH,
            ),
            (
                h(Some("2025-11-25"), Some("tools/call"), Some("posts.get")),
                HEADER_MISMATCH,
            ),
            (h(v, None, Some("posts.get")), HEADER_MISMATCH),
            (h(v, Some("tools/list"), Some("posts.get")), HEADER_MISMATCH),
            (h(v, Some("tools/call"), None), HEADER_MISMATCH),
            (
                h(v, Some("tools/call"), Some("posts.delete")),
                HEADER_MISMATCH,
            ),
            (
                h(v, Some("tools/call"), Some("=?base64?!!?=")),
                HEADER_MISMATCH,
            ),
        ];
        for (headers, code) in cases {
            let e = era("tools/call", &call, headers).unwrap_err();
            assert_eq!((e.status, e.code), (400, code), "{headers:?}");
        }
        let mut no_caps = call.clone();
        no_caps["_meta"]
            .as_object_mut()
            .unwrap()
            .remove("io.modelcontextprotocol/clientCapabilities");
        let e = era(
            "tools/call",
            &no_caps,
            h(v, Some("tools/call"), Some("posts.get")),
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, INVALID_PARAMS));
        let mut future = call.clone();
        future["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
        let e = era(
            "tools/call",
            &future,
            h(Some("2099-01-01"), Some("tools/call"), Some("posts.get")),
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, UNSUPPORTED_PROTOCOL_VERSION));
        assert_eq!(e.data.unwrap()["supported"], json!(supported()));
    }

    #[test]
    fn headers_present_on_legacy_requests_must_agree_too() {
        let p = json!({ "name": "posts.get" });
        assert!(era(
            "tools/call",
            &p,
            h(None, Some("tools/call"), Some("posts.get"))
        )
        .is_ok());
        assert_eq!(
            era("tools/call", &p, h(None, Some("tools/list"), None))
                .unwrap_err()
                .code,
            HEADER_MISMATCH
        );
        assert_eq!(
            era("tools/call", &p, h(None, None, Some("posts.delete")))
                .unwrap_err()
                .code,
            HEADER_MISMATCH
        );
    }

    #[test]
    fn initialize_negotiates_a_legacy_version() {
        for v in LEGACY {
            assert_eq!(negotiate(&json!({ "protocolVersion": v })), *v);
        }
        for other in [
            json!({ "protocolVersion": "2024-11-05" }),
            json!({ "protocolVersion": 3 }),
            json!({}),
        ] {
            assert_eq!(negotiate(&other), "2025-11-25");
        }
    }

    #[test]
    fn header_values_decode_as_the_transport_says() {
        assert_eq!(
            decode_header_value("posts.get").as_deref(),
            Some("posts.get")
        );
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode_header_value("=?base64?IHBhZGRlZCA=?=").as_deref(),
            Some(" padded ")
        );
        assert_eq!(decode_header_value("=?base64?/w==?="), None); // not UTF-8
        assert_eq!(decode_header_value("=?base64?a*b?="), None);
        assert_eq!(decode_header_value("caf\u{e9}"), None);
    }

    #[test]
    fn origins_and_accept_headers() {
        let own = "https://api.example.com";
        assert!(origin_allowed(None, own));
        assert!(origin_allowed(Some("https://api.example.com"), own));
        assert!(origin_allowed(Some("HTTPS://API.EXAMPLE.COM"), own));
        for other in [
            "https://evil.example",
            "null",
            "http://api.example.com",
            "https://api.example.com:8443",
            "",
        ] {
            assert!(!origin_allowed(Some(other), own), "{other}");
        }
        for ok in [
            None,
            Some("application/json, text/event-stream"),
            Some("*/*"),
            Some("application/*;q=0.5"),
        ] {
            assert!(accepts_json(ok), "{ok:?}");
        }
        for no in [Some("text/event-stream"), Some("text/html"), Some("")] {
            assert!(!accepts_json(no), "{no:?}");
        }
    }

    #[test]
    fn responses_are_json_rpc() {
        assert_eq!(
            result(&json!("a"), "{}"),
            r#"{"jsonrpc":"2.0","id":"a","result":{}}"#
        );
        let e = RpcError::unsupported("1900-01-01");
        let v: Value = serde_json::from_str(&error(Some(&json!(3)), &e)).unwrap();
        assert_eq!(v["id"], json!(3));
        assert_eq!(v["error"]["code"], json!(-32022));
        assert_eq!(v["error"]["data"]["requested"], json!("1900-01-01"));
        let v: Value = serde_json::from_str(&error(None, &e)).unwrap();
        assert!(v.get("id").is_none());
    }
}
