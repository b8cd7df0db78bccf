//! Embeds the OpenAPI document minified: `src/openapi.json` stays readable for people and
//! diffs, while the wasm carries only the compact form (a third of the size).

fn main() {
    println!("cargo:rerun-if-changed=src/openapi.json");
    let text = std::fs::read_to_string("src/openapi.json").expect("read src/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("src/openapi.json is valid JSON");
    let out =
        std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("openapi.min.json");
    std::fs::write(out, serde_json::to_string(&document).expect("serialise"))
        .expect("write minified document");
}
