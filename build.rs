//! Embeds the OpenAPI document minified: `src/openapi.json` stays readable for people and
//! diffs, while the wasm carries only the compact form (a third of the size).
//!
//! Also derives the MCP tools from it (`src/mcp/schema.rs` over the table in
//! `src/mcp/catalog.rs`): their definitions as served by `tools/list`, and where each
//! argument goes in the REST request a tool runs. So the worker never derives anything at run
//! time, and a tool cannot describe a route other than the document's.

#[path = "src/mcp/catalog.rs"]
mod catalog;
#[path = "src/embedded/codec.rs"]
mod codec;
#[path = "src/mcp/schema.rs"]
mod schema;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    for f in [
        "src/openapi.json",
        "src/mcp/catalog.rs",
        "src/mcp/schema.rs",
        "src/embedded/codec.rs",
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

    // What the wasm embeds: the document, then the tools, packed (src/embedded/codec.rs).
    let document = serde_json::to_string(&document).expect("serialise");
    let tools = serde_json::to_string(&tools).expect("serialise tools");
    let text = [document.as_bytes(), tools.as_bytes()].concat();
    let (lits, ops) = pack(&text);
    assert_eq!(
        codec::unpack(&lits, &ops).as_deref(),
        Some(&text[..]),
        "packing round trip"
    );
    std::fs::write(out.join("embedded.lits"), lits).expect("write packed literals");
    std::fs::write(out.join("embedded.ops"), ops).expect("write packed references");
    std::fs::write(out.join("embedded.len"), document.len().to_string()).expect("write length");
}

/// The shortest repeat worth a reference: shorter ones cost about what they save.
const MIN_REPEAT: usize = 48;
/// Repeats are found by their first 16 bytes, among the latest 32 places those bytes occur.
const KEY: usize = 16;
const CANDIDATES: usize = 32;

/// Greedy LZ77 with an unbounded window, in `codec::unpack`'s format.
fn pack(text: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn varint(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut seen: std::collections::HashMap<&[u8], Vec<usize>> = Default::default();
    let (mut lits, mut ops) = (Vec::new(), Vec::new());
    let (mut i, mut start, mut indexed) = (0, 0, 0);
    while i < text.len() {
        while indexed + KEY <= i {
            seen.entry(&text[indexed..indexed + KEY])
                .or_default()
                .push(indexed);
            indexed += 1;
        }
        let mut best = (0, 0);
        if i + KEY <= text.len() {
            if let Some(places) = seen.get(&text[i..i + KEY]) {
                for &p in places.iter().rev().take(CANDIDATES) {
                    let len = (0..)
                        .take_while(|&l| {
                            i + l < text.len() && p + l < i && text[p + l] == text[i + l]
                        })
                        .count();
                    if len > best.0 {
                        best = (len, p);
                    }
                }
            }
        }
        if best.0 >= MIN_REPEAT {
            lits.extend_from_slice(&text[start..i]);
            varint(&mut ops, i - start);
            varint(&mut ops, best.0);
            varint(&mut ops, i - best.1);
            i += best.0;
            start = i;
        } else {
            i += 1;
        }
    }
    lits.extend_from_slice(&text[start..]);
    varint(&mut ops, text.len() - start);
    varint(&mut ops, 0);
    varint(&mut ops, 0);
    (lits, ops)
}
