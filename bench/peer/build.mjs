// Bundles the peer (bench/peer/worker.ts) with esbuild from node_modules into
// bench/peer/build/index.js, with the product's SQL read out of src/store/posts.rs, so the
// peer runs the product's statements verbatim and cannot drift from them.
//
//   node bench/peer/build.mjs
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The value of `const NAME: &str = "…";` in a Rust file (plain literals: `\"`, `\\`, `\n`, line continuations). */
export function rustConstant(source, name) {
  const m = source.match(new RegExp(`const ${name}: &str = "((?:[^"\\\\]|\\\\[\\s\\S])*)";`));
  if (!m) throw new Error(`const ${name} not found in src/store/posts.rs: update bench/peer/build.mjs`);
  return m[1].replace(/\\(\n\s*|[\s\S])/g, (_, e) => {
    if (e.startsWith("\n")) return "";
    const out = { n: "\n", t: "\t", '"': '"', "\\": "\\", "'": "'" }[e];
    if (out === undefined) throw new Error(`unsupported escape \\${e} in ${name}`);
    return out;
  });
}

export async function buildPeer() {
  const source = fs.readFileSync(path.join(root, "src/store/posts.rs"), "utf8");
  const SQL = Object.fromEntries(["SELECT", "PAGE_FILTER", "HEADS", "ABOVE_FLOOR"].map((n) => [n, rustConstant(source, n)]));
  await build({
    entryPoints: [path.join(root, "bench/peer/worker.ts")],
    outfile: path.join(root, "bench/peer/build/index.js"),
    bundle: true,
    format: "esm",
    // As wrangler bundles a worker: the workerd/worker export conditions, no minification.
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    target: "es2022",
    define: { SQL: JSON.stringify(SQL) },
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPeer();
