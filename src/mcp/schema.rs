//! A tool's definition derived from the OpenAPI document: input schema = the operation's path
//! and query parameters and its JSON body's properties; output schema = its 2xx body (a list
//! wrapped as `{items, nextCursor}`, since MCP's structured content is an object) or the error
//! envelope; title and description from its summary and first paragraph. Every `$ref` is
//! inlined, since MCP clients do not resolve them against a document they never see.
//!
//! `build.rs` runs this over `src/openapi.json` and embeds the result, so the worker serves
//! `tools/list` without deriving anything; the contract tests run it again. Depends on
//! `serde_json` alone (a build dependency too).

use serde_json::{json, Map, Value};

use super::catalog::Tool;

/// Keywords that only annotate: a `$ref` with nothing but these beside it is the target with
/// them laid over it; anything else beside a `$ref` becomes an `allOf`.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "examples",
    "example",
    "default",
    "deprecated",
];

/// What a tool is made of: its MCP definition, and where each argument goes in the REST
/// request it runs.
#[derive(Debug)]
pub struct Derived {
    pub tool: Value,
    /// Path parameters, in template order.
    pub path: Vec<String>,
    pub query: Vec<String>,
    /// Body properties; `None` when the route reads no body.
    pub body: Option<Vec<String>>,
    /// The 2xx body is a JSON array (a page), wrapped as `{items, nextCursor}`.
    pub list: bool,
}

fn resolve_pointer<'a>(doc: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("non-local $ref {reference}"))?;
    doc.pointer(pointer)
        .ok_or_else(|| format!("dangling $ref {reference}"))
}

/// `v` with every local `$ref` replaced by what it points at.
pub fn inline(doc: &Value, v: &Value) -> Result<Value, String> {
    inline_at(doc, v, 0)
}

fn inline_at(doc: &Value, v: &Value, depth: u32) -> Result<Value, String> {
    if depth > 40 {
        return Err("schema nests too deep (a $ref cycle?)".into());
    }
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| inline_at(doc, i, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                if k != "$ref" {
                    out.insert(k.clone(), inline_at(doc, x, depth + 1)?);
                }
            }
            let Some(reference) = map.get("$ref") else {
                return Ok(Value::Object(out));
            };
            let reference = reference.as_str().ok_or("$ref is not a string")?;
            let target = inline_at(doc, resolve_pointer(doc, reference)?, depth + 1)?;
            if out.is_empty() {
                return Ok(target);
            }
            match target {
                Value::Object(mut t) if out.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) => {
                    t.extend(out);
                    Ok(Value::Object(t))
                }
                t => Ok(json!({ "allOf": [t, Value::Object(out)] })),
            }
        }
        other => Ok(other.clone()),
    }
}

/// The operation's parameters (path item's and operation's), each resolved.
fn parameters<'a>(
    doc: &'a Value,
    item: &'a Value,
    op: &'a Value,
) -> Result<Vec<&'a Value>, String> {
    let mut out = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        for p in list.as_array().ok_or("`parameters` is not an array")? {
            out.push(match p.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve_pointer(doc, r)?,
                None => p,
            });
        }
    }
    Ok(out)
}

/// A parameter's schema as a tool property: its schema, with its description.
fn parameter_property(doc: &Value, p: &Value) -> Result<Value, String> {
    let mut schema = inline(doc, p.get("schema").unwrap_or(&json!({})))?;
    if let (Some(d), Value::Object(s)) = (p.get("description"), &mut schema) {
        s.insert("description".into(), d.clone());
    }
    Ok(schema)
}

fn first_paragraph(text: &str) -> &str {
    text.split("\n\n").next().unwrap_or("").trim()
}

pub fn derive(doc: &Value, tool: &Tool) -> Result<Derived, String> {
    let fail = |what: String| format!("{}: {what}", tool.name);
    let item = doc["paths"]
        .get(tool.path)
        .ok_or_else(|| fail(format!("no path {} in the document", tool.path)))?;
    let op = item
        .get(tool.method.to_ascii_lowercase())
        .ok_or_else(|| fail(format!("no operation {} {}", tool.method, tool.path)))?;

    // The body first: where a query parameter and a body property share a name
    // (`workspaceId`), the argument goes in the body.
    let body_schema = match op.pointer("/requestBody/content/application~1json/schema") {
        Some(s) => Some(inline(doc, s).map_err(fail)?),
        None => None,
    };
    let mut input = match &body_schema {
        Some(Value::Object(b)) => b.clone(),
        Some(_) => return Err(fail("the request body schema is not an object".into())),
        None => Map::new(),
    };
    let body_props = input
        .remove("properties")
        .map(|p| match p {
            Value::Object(m) => Ok(m),
            _ => Err(fail("body `properties` is not an object".into())),
        })
        .transpose()?
        .unwrap_or_default();
    let mut required: Vec<Value> = match input.remove("required") {
        Some(Value::Array(r)) => r,
        _ => Vec::new(),
    };

    let mut properties = Map::new();
    let (mut path, mut query) = (Vec::new(), Vec::new());
    let params = parameters(doc, item, op).map_err(fail)?;
    let in_path = |name: &str| {
        params
            .iter()
            .any(|p| p["in"] == "path" && p["name"] == name)
    };
    for p in &params {
        let name = p["name"]
            .as_str()
            .ok_or_else(|| fail("a parameter has no name".into()))?;
        match p["in"].as_str() {
            Some("path") => {
                path.push(name.to_owned());
                required.push(json!(name));
            }
            // A query parameter named like a path parameter or a body property is that one
            // (`workspaceId` may repeat the path's or the body's; a tool takes it once).
            Some("query") if !body_props.contains_key(name) && !in_path(name) => {
                query.push(name.to_owned());
                if p["required"] == json!(true) {
                    required.push(json!(name));
                }
            }
            // Headers (`X-Workspace-Id`, `Idempotency-Key`) are not arguments.
            _ => continue,
        }
        properties.insert(name.to_owned(), parameter_property(doc, p).map_err(fail)?);
    }
    // Path parameters in template order, whatever the order of the document's list.
    let template: Vec<&str> = tool
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    if template.len() != path.len() || template.iter().any(|t| !path.iter().any(|p| p == t)) {
        return Err(fail(format!(
            "path parameters {path:?} do not match the template {}",
            tool.path
        )));
    }
    path = template.iter().map(|s| (*s).to_owned()).collect();
    let body = body_schema
        .as_ref()
        .map(|_| body_props.keys().cloned().collect::<Vec<_>>());
    properties.extend(body_props);

    input.insert("type".into(), json!("object"));
    input.insert("properties".into(), Value::Object(properties));
    input.insert("additionalProperties".into(), json!(false));
    if !required.is_empty() {
        input.insert("required".into(), Value::Array(required));
    }

    let summary = op["summary"].as_str().unwrap_or(tool.name);
    let description = format!(
        "{summary}. {}\n\n{}",
        first_paragraph(op["description"].as_str().unwrap_or("")),
        tool.workspace
    );
    let mut out = json!({
        "name": tool.name,
        "title": summary,
        "description": description,
        "inputSchema": Value::Object(input),
        "annotations": {
            "title": summary,
            "readOnlyHint": tool.hints.read_only,
            "destructiveHint": tool.hints.destructive,
            "idempotentHint": tool.hints.idempotent,
            "openWorldHint": tool.hints.open_world,
        },
    });

    let success = ["200", "201"]
        .iter()
        .find_map(|s| op.pointer(&format!("/responses/{s}/content/application~1json/schema")));
    let mut list = false;
    if let Some(s) = success {
        let s = inline(doc, s).map_err(fail)?;
        list = s["type"] == json!("array");
        let success = if list {
            json!({
                "type": "object",
                "description": "A page: `items` is the REST body; `nextCursor`, when present, is the `cursor` argument for the next page.",
                "required": ["items"],
                "properties": {
                    "items": s,
                    "nextCursor": { "type": "string", "minLength": 1 },
                },
            })
        } else {
            s
        };
        let error = inline(doc, &json!({ "$ref": "#/components/schemas/Error" })).map_err(fail)?;
        out["outputSchema"] = json!({
            "type": "object",
            "description": "The REST response body on success; the error envelope (with `isError: true`) when the call is refused or invalid.",
            "anyOf": [success, error],
        });
    }
    Ok(Derived {
        tool: out,
        path,
        query,
        body,
        list,
    })
}

#[cfg(test)]
mod tests {
    //! The contract: what `tools/list` serves is the document's, route by route.

    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::{derive, inline};
    use crate::http::router::ROUTES;
    use crate::mcp::catalog::TOOLS;
    use crate::mcp::tools::{find, tools_json};
    use crate::openapi::document;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    fn served() -> Vec<Value> {
        serde_json::from_str(tools_json()).unwrap()
    }

    fn has_ref(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
            Value::Array(a) => a.iter().any(has_ref),
            _ => false,
        }
    }

    #[test]
    fn the_issue_s_tools_exist_once_each() {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        for want in [
            "workspaces.list",
            "workspaces.get",
            "socialAccounts.list",
            "socialAccounts.get",
            "socialAccounts.disconnect",
            "posts.list",
            "posts.get",
            "posts.create",
            "posts.update",
            "posts.schedule",
            "posts.cancel",
            "posts.retry",
            "posts.delete",
            "comments.list",
            "comments.create",
            "media.list",
            "media.get",
            "media.presign",
            "media.ingestFromUrl",
            "media.move",
        ] {
            assert!(names.contains(&want), "{want} is missing");
        }
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn every_tool_runs_a_route_of_the_router_and_the_document() {
        let d = doc();
        for t in TOOLS {
            assert!(
                ROUTES
                    .iter()
                    .any(|(m, p, _)| *m == t.method && *p == t.path),
                "{}: {} {} is not in the route table",
                t.name,
                t.method,
                t.path
            );
            derive(&d, t).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn no_tool_manages_keys_members_or_webhooks() {
        for t in TOOLS {
            for segment in t.path.split('/') {
                assert!(
                    !["api-keys", "members", "webhooks", "auth", "me"].contains(&segment),
                    "{} runs {}",
                    t.name,
                    t.path
                );
            }
        }
    }

    #[test]
    fn hints_follow_the_method() {
        for t in TOOLS {
            assert_eq!(t.hints.read_only, t.method == "GET", "{}", t.name);
            if t.method == "DELETE" {
                assert!(t.hints.destructive && t.hints.idempotent, "{}", t.name);
            }
        }
    }

    #[test]
    fn what_is_served_is_the_derivation_of_the_document() {
        let d = doc();
        let served = served();
        assert_eq!(served.len(), TOOLS.len());
        for (t, s) in TOOLS.iter().zip(&served) {
            let derived = derive(&d, t).unwrap();
            assert_eq!(&derived.tool, s, "{}", t.name);
            let (_, args) = find(t.name).unwrap();
            let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            assert_eq!(owned(args.path), derived.path, "{}", t.name);
            assert_eq!(owned(args.query), derived.query, "{}", t.name);
            assert_eq!(args.body.map(owned), derived.body, "{}", t.name);
            assert_eq!(args.list, derived.list, "{}", t.name);
        }
    }

    /// Checked against the document directly, property by property, not through `derive`.
    #[test]
    fn tool_schemas_agree_with_the_document() {
        let d = doc();
        for (t, s) in TOOLS.iter().zip(served()) {
            let op = &d["paths"][t.path][t.method.to_ascii_lowercase()];
            assert!(!has_ref(&s), "{}: a $ref is left", t.name);
            let input = &s["inputSchema"];
            assert_eq!(input["type"], "object", "{}", t.name);
            let props = input["properties"].as_object().unwrap();

            let body = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|b| inline(&d, b).unwrap());
            let mut want = BTreeSet::new();
            let mut required = BTreeSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = inline(&d, p).unwrap();
                let name = p["name"].as_str().unwrap();
                match p["in"].as_str().unwrap() {
                    "header" => assert!(!props.contains_key(name) || name == "workspaceId"),
                    "path" => {
                        required.insert(name.to_owned());
                        want.insert(name.to_owned());
                        assert_eq!(
                            props[name]["description"], p["description"],
                            "{} {name}",
                            t.name
                        );
                    }
                    _ => {
                        want.insert(name.to_owned());
                        let in_body = body
                            .as_ref()
                            .is_some_and(|b| b["properties"].get(name).is_some());
                        let in_path = t.path.contains(&format!("{{{name}}}"));
                        if !in_body && !in_path {
                            let mut schema = p["schema"].clone();
                            schema["description"] = p["description"].clone();
                            assert_eq!(props[name], schema, "{} {name}", t.name);
                        }
                    }
                }
            }
            if let Some(b) = &body {
                for (name, schema) in b["properties"].as_object().unwrap() {
                    want.insert(name.clone());
                    assert_eq!(&props[name], schema, "{} {name}", t.name);
                }
                for r in b["required"].as_array().into_iter().flatten() {
                    required.insert(r.as_str().unwrap().to_owned());
                }
            }
            let got: BTreeSet<String> = props.keys().cloned().collect();
            assert_eq!(
                got, want,
                "{}: arguments differ from the operation's",
                t.name
            );
            let got_required: BTreeSet<String> = input["required"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got_required, required, "{}: required differs", t.name);

            let success = ["200", "201"].iter().find_map(|c| {
                op.pointer(&format!("/responses/{c}/content/application~1json/schema"))
            });
            match success {
                None => assert!(s.get("outputSchema").is_none(), "{}", t.name),
                Some(schema) => {
                    let schema = inline(&d, schema).unwrap();
                    let out = &s["outputSchema"];
                    assert_eq!(out["type"], "object", "{}", t.name);
                    let ok = &out["anyOf"][0];
                    if schema["type"] == "array" {
                        assert_eq!(ok["properties"]["items"], schema, "{}", t.name);
                        assert!(
                            got.contains("cursor") && got.contains("limit"),
                            "{}",
                            t.name
                        );
                    } else {
                        assert_eq!(ok, &schema, "{}", t.name);
                    }
                    let error = inline(&d, &d["components"]["schemas"]["Error"]).unwrap();
                    assert_eq!(out["anyOf"][1], error, "{}", t.name);
                }
            }
            assert!(s["description"].as_str().unwrap().contains(t.workspace));
        }
    }

    #[test]
    fn a_document_that_disagrees_is_caught() {
        let t = TOOLS.iter().find(|t| t.name == "posts.create").unwrap();
        let mut d = doc();
        d["components"]["schemas"]["CreatePostRequest"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("content");
        let derived = derive(&d, t).unwrap();
        let served = served();
        let s = served.iter().find(|s| s["name"] == "posts.create").unwrap();
        assert_ne!(&derived.tool, s);
        assert!(derived.tool["inputSchema"]["properties"]
            .get("content")
            .is_none());

        let mut d = doc();
        d["paths"].as_object_mut().unwrap().remove("/posts");
        assert!(derive(&d, t).unwrap_err().contains("no path /posts"));
        let mut d = doc();
        d["paths"]["/posts"].as_object_mut().unwrap().remove("post");
        assert!(derive(&d, t)
            .unwrap_err()
            .contains("no operation POST /posts"));
    }

    #[test]
    fn refs_inline_with_their_siblings() {
        let d = json!({
            "a": { "type": "string", "description": "A" },
            "b": { "type": "object", "properties": { "x": { "$ref": "#/a" } } },
            "loop": { "$ref": "#/loop" },
        });
        assert_eq!(
            inline(&d, &json!({ "$ref": "#/a", "description": "mine" })).unwrap(),
            json!({ "type": "string", "description": "mine" })
        );
        assert_eq!(
            inline(&d, &json!({ "$ref": "#/a", "maxLength": 3 })).unwrap(),
            json!({ "allOf": [{ "type": "string", "description": "A" }, { "maxLength": 3 }] })
        );
        assert_eq!(
            inline(&d, &json!({ "$ref": "#/b" })).unwrap(),
            json!({ "type": "object", "properties": { "x": { "type": "string", "description": "A" } } })
        );
        assert!(inline(&d, &json!({ "$ref": "#/loop" })).is_err());
        assert!(inline(&d, &json!({ "$ref": "#/nowhere" })).is_err());
        assert!(inline(&d, &json!({ "$ref": "https://example.com/s.json" })).is_err());
    }
}
