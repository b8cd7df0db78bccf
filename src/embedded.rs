//! The documents the worker serves verbatim: the OpenAPI document (`GET /api/v1/openapi.json`)
//! and MCP's `tools/list`, embedded packed by `build.rs` (the format and why: `codec`).

pub mod codec;

/// The embedded documents, unpacked on first use: the OpenAPI document, then the MCP tools.
fn embedded() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let lits = include_bytes!(concat!(env!("OUT_DIR"), "/embedded.lits"));
        let ops = include_bytes!(concat!(env!("OUT_DIR"), "/embedded.ops"));
        // `build.rs` checked this round trip on these very bytes; empty is the total answer.
        codec::unpack(lits, ops)
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    })
}

/// Where the OpenAPI document ends in the embedded text.
const DOCUMENT_LEN: usize = include!(concat!(env!("OUT_DIR"), "/embedded.len"));

/// The OpenAPI document, minified (`openapi::document`).
pub fn document() -> &'static str {
    embedded().get(..DOCUMENT_LEN).unwrap_or_default()
}

/// The `tools` array of MCP's `tools/list` (`mcp::tools::tools_json`).
pub fn tools_json() -> &'static str {
    embedded().get(DOCUMENT_LEN..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_documents_unpack_to_what_build_rs_wrote() {
        let doc = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));
        let tools = include_str!(concat!(env!("OUT_DIR"), "/mcp_tools.json"));
        assert_eq!(document(), doc);
        assert_eq!(tools_json(), tools);
    }
}
