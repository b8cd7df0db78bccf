// One worker served over HTTP on 127.0.0.1 by Miniflare (workerd), in its own process, so the
// bench can time its start from process spawn to first served request, and so the parent
// process (which runs the load generator) stays out of the request path.
//
//   node bench/serve.mjs <product|minimal|peer> <port> [bindings-json]
//
// Driven over the IPC channel of child_process.fork: it reports {type:"ready"} once listening,
// then answers {cmd:"migrate"}, {cmd:"seed", spec}, {cmd:"kv-get", key}, {cmd:"kv-put", key,
// value} and {cmd:"stop"}.
import { Miniflare } from "miniflare";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generate, insertStatements } from "./dataset.mjs";
import { migrationStatements } from "../scripts/worker.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [kind, portArg, bindingsArg] = process.argv.slice(2);

function compatibilityDate() {
  const toml = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8");
  return toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1] ?? "2026-04-01";
}


// Durable Object bindings as wrangler.toml declares them ([[durable_objects.bindings]] name and
// class_name), so the bench serves the product with what it is deployed with.
function durableObjects() {
  const out = {};
  let current = null;
  for (const line of fs.readFileSync(path.join(root, "wrangler.toml"), "utf8").split("\n")) {
    const header = line.match(/^\s*\[\[?([^\]]+)\]\]?\s*$/);
    if (header) {
      current = header[1].trim() === "durable_objects.bindings" ? {} : null;
      continue;
    }
    const kv = current && line.match(/^\s*(\w+)\s*=\s*"([^"]*)"/);
    if (kv) {
      current[kv[1]] = kv[2];
      if (current.name && current.class_name) out[current.name] = current.class_name;
    }
  }
  return out;
}

const productRoot = process.env.EXP_ROOT ?? root;
const script = {
  // The product exactly as the black-box suite runs it: worker/entry.mjs around build/.
  // EXP_ROOT / EXP_BARE (bench/run.mjs): another checkout's build, or the build without the shim.
  product: {
    scriptPath: path.join(productRoot, process.env.EXP_BARE ? "build/index.js" : "worker/entry.mjs"),
    modulesRoot: productRoot,
    durableObjects: durableObjects(),
  },
  // The minimal worker straight from its worker-build output.
  minimal: { scriptPath: path.join(root, "bench/minimal/build/index.js"), modulesRoot: path.join(root, "bench/minimal/build") },
  // The Hono peer of issue 17, bundled by bench/peer/build.mjs.
  peer: { scriptPath: path.join(root, "bench/peer/build/index.js"), modulesRoot: path.join(root, "bench/peer/build") },
}[kind];
if (!script) throw new Error(`unknown worker kind ${kind}`);

let errorLines = 0;
let printed = 0;
const mf = new Miniflare({
  ...script,
  modules: true,
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  compatibilityDate: compatibilityDate(),
  host: "127.0.0.1",
  port: Number(portArg),
  d1Databases: { DB: "bench-db" },
  kvNamespaces: ["AUTH_CACHE"],
  r2Buckets: ["MEDIA"],
  bindings: JSON.parse(bindingsArg ?? "{}"),
  // For bench/profile.mjs: workerd's V8 inspector on this port.
  ...(process.env.BENCH_INSPECTOR_PORT ? { inspectorPort: Number(process.env.BENCH_INSPECTOR_PORT) } : {}),
  // The product logs one JSON line per request; drain it here rather than print it (or keep
  // it, timestamped, in $BENCH_SERVER_LOG, to investigate a run).
  // Lines logged at level "error" are counted: the bench holds them against the run.
  handleRuntimeStdio(stdout, stderr) {
    const keep = process.env.BENCH_SERVER_LOG ? fs.createWriteStream(`${process.env.BENCH_SERVER_LOG}.${kind}`, { flags: "a" }) : null;
    for (const [name, stream] of [["stdout", stdout], ["stderr", stderr]]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        keep?.write(`${new Date().toISOString()} ${name} ${chunk}`);
        const errors = chunk.match(/"level":\s*"error"/g)?.length ?? 0;
        errorLines += errors;
        // Print the first few, so a broken run says why.
        if ((errors || (name === "stderr" && /error/i.test(chunk))) && printed++ < 5) process.stderr.write(`[${kind}] ${chunk.trimEnd().slice(0, 400)}\n`);
      });
    }
  },
});

const url = await mf.ready;
process.send({ type: "ready", url: url.href });

process.on("message", async (msg) => {
  try {
    if (msg.cmd === "migrate") {
      const db = await mf.getD1Database("DB");
      await db.batch(migrationStatements().map((s) => db.prepare(s)));
      process.send({ type: "done", id: msg.id });
    } else if (msg.cmd === "seed") {
      const started = Date.now();
      const db = await mf.getD1Database("DB");
      const data = generate(msg.spec);
      const stmts = insertStatements(db, data.tables);
      // A few statements per batch: each batch is one transaction, kept well below D1's limits.
      for (let i = 0; i < stmts.length; i += 10) await db.batch(stmts.slice(i, i + 10));
      const rows = Object.fromEntries(Object.entries(data.tables).map(([t, r]) => [t, r.length]));
      process.send({ type: "done", id: msg.id, rows, ms: Date.now() - started });
    } else if (msg.cmd === "kv-get") {
      const kv = await mf.getKVNamespace("AUTH_CACHE");
      process.send({ type: "done", id: msg.id, value: await kv.get(msg.key) });
    } else if (msg.cmd === "kv-put") {
      const kv = await mf.getKVNamespace("AUTH_CACHE");
      await kv.put(msg.key, msg.value);
      process.send({ type: "done", id: msg.id });
    } else if (msg.cmd === "errors") {
      process.send({ type: "done", id: msg.id, errorLines });
    } else if (msg.cmd === "stop") {
      await mf.dispose();
      process.exit(0);
    }
  } catch (e) {
    process.send({ type: "error", id: msg.id, message: String(e?.stack ?? e) });
  }
});
process.on("disconnect", () => {
  mf.dispose().finally(() => process.exit(0));
});
