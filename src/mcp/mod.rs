//! The MCP server: `POST /mcp`, Model Context Protocol over Streamable HTTP, stateless (no
//! session; any isolate answers any POST), plain JSON answers. The same bearer credentials,
//! principal cache and rate-limit bucket as REST (one authentication per POST), and each tool
//! runs the REST route it mirrors (`tools.rs`). Also the RFC 9728 metadata document that a 401
//! points at.

pub mod catalog;
pub mod protocol;
#[cfg(test)]
mod schema;
pub mod tools;

use serde_json::{json, Value};

use crate::auth::authenticate;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::http::body::{is_json, MAX_BODY_BYTES};
use crate::http::error::{ApiError, Context as _};
use crate::http::incoming::Incoming;
use crate::http::respond::Reply;
use protocol::{Era, Headers, Message, RpcError};

pub const PATH: &str = "/mcp";
pub const METADATA_PATHS: &[&str] = &[
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
];

/// The endpoints outside `/api/v1` that this module answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Mcp,
    Metadata,
}

pub fn endpoint(path: &str) -> Option<Endpoint> {
    if path == PATH {
        Some(Endpoint::Mcp)
    } else if METADATA_PATHS.contains(&path) {
        Some(Endpoint::Metadata)
    } else {
        None
    }
}

const INSTRUCTIONS: &str = "PostBridge schedules social-media posts across workspaces (one per brand or client). Every tool is a REST operation of the PostBridge API (/api/v1) with the same rules: a refused or invalid call returns the API's error envelope (`code`, `message`, `requestId`, `details`) with isError. Ids name their workspace, so most tools need no workspaceId; lists without one span every workspace the key reaches.";

/// How long a client may reuse `tools/list` and `server/discover` (2026-07-28 caching): the
/// tools change only with a deployment.
const TTL_MS: u32 = 300_000;

fn server_info() -> Value {
    json!({ "name": "postbridge", "title": "PostBridge", "version": env!("CARGO_PKG_VERSION") })
}

pub async fn serve(ctx: &Ctx, incoming: &mut Incoming, e: Endpoint) -> Result<Reply, ApiError> {
    ctx.log.borrow_mut().route = match e {
        Endpoint::Mcp => PATH,
        Endpoint::Metadata => "/.well-known/oauth-protected-resource",
    };
    match (e, ctx.method.as_str()) {
        (Endpoint::Metadata, "GET") => Ok(Reply::json(200, &metadata(ctx))?),
        (Endpoint::Metadata, _) => Err(ApiError::MethodNotAllowed {
            allow: "GET".into(),
        }),
        (Endpoint::Mcp, "POST") => post(ctx, incoming).await,
        // No server-to-client stream and no sessions to delete.
        (Endpoint::Mcp, _) => Err(ApiError::MethodNotAllowed {
            allow: "POST".into(),
        }),
    }
}

/// RFC 9728 protected resource metadata. No `authorization_servers`: the credentials are this
/// API's own keys, minted in the dashboard or with `POST /api/v1/api-keys`.
fn metadata(ctx: &Ctx) -> Value {
    json!({
        "resource": format!("{}{PATH}", ctx.origin),
        "bearer_methods_supported": ["header"],
        "resource_name": "PostBridge MCP server",
        "resource_documentation": format!("{}/api/v1/openapi.json", ctx.origin),
    })
}

fn header(incoming: &Incoming, name: &str) -> Option<String> {
    incoming.raw().headers().get(name).ok().flatten()
}

fn rpc(status: u16, body: String) -> Reply {
    Reply::raw_json(&body).with_status(status)
}

async fn post(ctx: &Ctx, incoming: &mut Incoming) -> Result<Reply, ApiError> {
    if !protocol::origin_allowed(header(incoming, "Origin").as_deref(), &ctx.origin) {
        let e = RpcError::new(
            403,
            protocol::INVALID_REQUEST,
            "Forbidden: Origin not allowed",
        );
        return Ok(rpc(403, protocol::error(None, &e)));
    }
    let principal = match authenticate(ctx).await {
        Ok(p) => p,
        Err(e) => {
            if matches!(e, ApiError::Unauthorized) {
                let invalid = if ctx.authorization.is_some() {
                    "error=\"invalid_token\", "
                } else {
                    ""
                };
                ctx.response_headers.borrow_mut().push((
                    "WWW-Authenticate",
                    format!(
                        "Bearer {invalid}resource_metadata=\"{}{}\"",
                        ctx.origin, METADATA_PATHS[0]
                    ),
                ));
            }
            return Err(e);
        }
    };
    if !protocol::accepts_json(header(incoming, "Accept").as_deref()) {
        let e = RpcError::new(
            406,
            protocol::INVALID_REQUEST,
            "Not Acceptable: this server answers application/json",
        );
        return Ok(rpc(406, protocol::error(None, &e)));
    }
    let body = read_body(incoming).await?;
    if !is_json(header(incoming, "Content-Type").as_deref()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let (id, method, params) = match protocol::parse(&body) {
        Err(e) => return Ok(rpc(e.status, protocol::error(None, &e))),
        Ok(Message::NoReply { method, params }) => {
            // A notification still has its headers checked: a mismatch is refused, not ignored.
            if let Some(m) = method {
                if let Err(e) = protocol::era(&m, &params, mcp_headers(incoming).as_ref()) {
                    return Ok(rpc(e.status, protocol::error(None, &e)));
                }
            }
            return Ok(Reply::accepted());
        }
        Ok(Message::Request { id, method, params }) => (id, method, params),
    };
    let era = match protocol::era(&method, &params, mcp_headers(incoming).as_ref()) {
        Ok(era) => era,
        Err(e) => return Ok(rpc(e.status, protocol::error(Some(&id), &e))),
    };
    match answer(ctx, &principal, era, &method, &params).await {
        Ok(result) => Ok(rpc(200, protocol::result(&id, &result))),
        Err(e) => Ok(rpc(e.status, protocol::error(Some(&id), &e))),
    }
}

/// The MCP headers, owned, so they outlive the borrow of the request.
struct OwnedHeaders {
    protocol_version: Option<String>,
    method: Option<String>,
    name: Option<String>,
}

impl OwnedHeaders {
    fn as_ref(&self) -> Headers<'_> {
        Headers {
            protocol_version: self.protocol_version.as_deref(),
            method: self.method.as_deref(),
            name: self.name.as_deref(),
        }
    }
}

fn mcp_headers(incoming: &Incoming) -> OwnedHeaders {
    OwnedHeaders {
        protocol_version: header(incoming, "MCP-Protocol-Version"),
        method: header(incoming, "Mcp-Method"),
        name: header(incoming, "Mcp-Name"),
    }
}

/// The body as text, refused past the same 1 MB as REST bodies.
async fn read_body(incoming: &Incoming) -> Result<String, ApiError> {
    let declared = header(incoming, "Content-Length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES as u64,
        });
    }
    let promise = incoming
        .raw()
        .text()
        .map_err(|e| ApiError::Internal(format!("mcp: read body: {e:?}")))?;
    let text = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| worker::Error::JsError(format!("{e:?}")))
        .ctx("mcp: read body")?;
    let text = text.as_string().unwrap_or_default();
    if text.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES as u64,
        });
    }
    Ok(text)
}

/// The result of one request, serialized, or its JSON-RPC error.
async fn answer(
    ctx: &Ctx,
    who: &Principal,
    era: Era,
    method: &str,
    params: &Value,
) -> Result<String, RpcError> {
    let not_found = || {
        // 2026-07-28 sends an unknown method back as 404; earlier revisions answer 200.
        let status = if era.is_modern() { 404 } else { 200 };
        RpcError::new(
            status,
            protocol::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    };
    let invalid = |why: String| {
        let status = if era.is_modern() { 400 } else { 200 };
        RpcError::new(
            status,
            protocol::INVALID_PARAMS,
            format!("Invalid params: {why}"),
        )
    };
    // Fields every modern result carries.
    let modern = |extra: &str| {
        match era {
        Era::Modern(_) => format!(
            ",\"resultType\":\"complete\",\"_meta\":{{\"io.modelcontextprotocol/serverInfo\":{}}}{extra}",
            server_info()
        ),
        Era::Legacy(_) => String::new(),
    }
    };
    let cache = format!(",\"ttlMs\":{TTL_MS},\"cacheScope\":\"public\"");
    match (method, era) {
        ("initialize", Era::Legacy(_)) => Ok(json!({
            "protocolVersion": protocol::negotiate(params),
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
        })
        .to_string()),
        ("ping", Era::Legacy(_)) => Ok("{}".into()),
        ("server/discover", _) => Ok(format!(
            "{{\"supportedVersions\":{},\"capabilities\":{{\"tools\":{{}}}},\"instructions\":{}{}}}",
            json!(protocol::supported()),
            Value::String(INSTRUCTIONS.into()),
            modern(&cache)
        )),
        ("tools/list", _) => {
            // One page: a cursor can only be one we never issued.
            if params.get("cursor").is_some_and(|c| !c.is_null()) {
                return Err(invalid("unknown cursor".into()));
            }
            Ok(format!("{{\"tools\":{}{}}}", tools::tools_json(), modern(&cache)))
        }
        ("tools/call", _) => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("`name` must be a string".into()))?;
            let (tool, args) =
                tools::find(name).ok_or_else(|| invalid(format!("unknown tool `{name}`")))?;
            let empty = serde_json::Map::new();
            let arguments = match params.get("arguments") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(a)) => a,
                Some(_) => return Err(invalid("`arguments` must be an object".into())),
            };
            let call = tools::request(tool, args, arguments).map_err(invalid)?;
            ctx.log.borrow_mut().tool = Some(tool.name);
            let outcome = tools::run(ctx, who, tool, call).await;
            if let Err(e) = &outcome {
                let cause = match e {
                    ApiError::Internal(cause) => Some(cause.clone()),
                    _ => None,
                };
                ctx.log.borrow_mut().tool_error = Some((e.code(), cause));
                // A refused call is not a use of the key: no `lastUsedAt` write, as on REST.
                ctx.api_key_used.borrow_mut().take();
            }
            Ok(tools::result(ctx, args.list, &outcome, &modern("")))
        }
        _ => Err(not_found()),
    }
}
