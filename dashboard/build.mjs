// Builds the dashboard into dashboard/dist, the Workers static assets directory (wrangler.toml
// `[assets]`): the pages' script bundled and minified by esbuild (Preact, JSX compiled ahead of
// time, so the page needs no `eval`), the stylesheet, index.html and `_headers`. Offline: only
// packages already in node_modules. Fails if the script outweighs its budget.
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, "src");
const out = path.join(here, "dist");
/** The whole dashboard's script, gzipped (issue 14). */
export const SCRIPT_BUDGET_BYTES = 100 * 1000;

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { app: path.join(src, "main.jsx"), "app.css": path.join(src, "app.css") },
  outdir: out,
  entryNames: "[name]",
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome120", "firefox120", "safari17"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
// esbuild names the CSS entry app.css.css; keep the plain name.
fs.renameSync(path.join(out, "app.css.css"), path.join(out, "app.css"));
for (const file of ["index.html", "_headers"]) fs.copyFileSync(path.join(src, file), path.join(out, file));

const scripts = fs.readdirSync(out).filter((f) => f.endsWith(".js"));
let total = 0;
for (const f of scripts) {
  const bytes = fs.readFileSync(path.join(out, f));
  const gz = zlib.gzipSync(bytes, { level: 9 }).length;
  total += gz;
  console.log(`dashboard/dist/${f}: ${bytes.length} bytes, ${gz} gzip`);
}
if (total > SCRIPT_BUDGET_BYTES) {
  console.error(`dashboard script is ${total} bytes gzip, over the budget of ${SCRIPT_BUDGET_BYTES}`);
  process.exit(1);
}
console.log(`dashboard script: ${total} bytes gzip (budget ${SCRIPT_BUDGET_BYTES})`);
