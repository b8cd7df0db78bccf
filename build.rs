//! Embeds the OpenAPI document minified: `src/openapi.json` stays readable for people and
//! diffs, while the wasm carries only the compact form (a third of the size).
//!
//! Also derives the MCP tools from it (`src/mcp/schema.rs` over the table in
//! `src/mcp/catalog.rs`): their definitions as served by `tools/list`, and where each
//! argument goes in the REST request a tool runs. So the worker never derives anything at run
//! time, and a tool cannot describe a route other than the document's.

#[path = "src/mcp/catalog.rs"]
mod catalog;
#[path = "src/mcp/schema.rs"]
mod schema;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    for f in [
        "src/openapi.json",
        "src/mcp/catalog.rs",
        "src/mcp/schema.rs",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let text = std::fs::read_to_string("src/openapi.json").expect("read src/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("src/openapi.json is valid JSON");
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let out = Path::new(&out_dir);
    std::fs::write(
        out.join("openapi.min.json"),
        serde_json::to_string(&document).expect("serialise"),
    )
    .expect("write minified document");

    let mut tools = Vec::new();
    let mut args = String::from("&[\n");
    for tool in catalog::TOOLS {
        let d = schema::derive(&document, tool).unwrap_or_else(|e| panic!("MCP tool {e}"));
        tools.push(d.tool);
        let list = |names: &[String]| format!("&{names:?}");
        writeln!(
            args,
            "    Args {{ path: {}, query: {}, body: {}, list: {} }},",
            list(&d.path),
            list(&d.query),
            d.body
                .as_deref()
                .map_or("None".into(), |b| format!("Some({})", list(b))),
            d.list
        )
        .expect("format");
    }
    args.push(']');
    std::fs::write(
        out.join("mcp_tools.json"),
        serde_json::to_string(&tools).expect("serialise tools"),
    )
    .expect("write MCP tools");
    std::fs::write(out.join("mcp_args.rs"), args).expect("write MCP arguments");
}
