// Fuzzes the running API with Schemathesis, a client nobody here wrote, driven only by the
// OpenAPI document: it serves the built worker on a loopback port in Miniflare, signs up a user
// with two workspaces and a full-access key, and runs `st run` with the four conformance checks.
// Exits non-zero on any finding.
//
// The worker's outbound fetch (URL ingest) is answered here with a small PNG, as in the
// black-box suite: a fuzz run touches no network, and a 502 means the worker's bug, not the
// sandbox's. Worker log lines go to .schemathesis/worker.log. Miniflare is driven from this
// process (it drains workerd's output and answers the outbound stub), so `st` runs as an
// asynchronous child: a blocking spawnSync stalls the worker once its log pipe fills.
//
// Work in progress (issue 6): needs `python3 -m venv .venv && .venv/bin/pip install schemathesis`.
// Not yet wired into `make test` or a `make fuzz` target.
//
//   node scripts/fuzz.mjs [max-examples per operation]
import { Miniflare } from "miniflare";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { workerOptions, migrate, root } from "./worker.mjs";

const maxExamples = process.argv[2] ?? "10";
const outDir = path.join(root, ".schemathesis");
fs.mkdirSync(outDir, { recursive: true });
const logFd = fs.openSync(path.join(outDir, "worker.log"), "w");

// 8 bytes of PNG signature and an IHDR chunk header: enough for the type sniffer.
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, ...new Array(240).fill(0)]);

const mf = new Miniflare({
  ...workerOptions({ host: "127.0.0.1", port: 0 }),
  outboundService: () => new Response(PNG, { headers: { "Content-Type": "image/png" } }),
  handleRuntimeStdio(stdout, stderr) {
    for (const stream of [stdout, stderr]) stream.on("data", (chunk) => fs.writeSync(logFd, chunk));
  },
});
await migrate(mf);
const base = new URL("/api/v1", await mf.ready).href;

async function call(method, route, body, token) {
  const res = await fetch(base + route, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body && JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res.json();
}

let status = 1;
try {
  const { token } = await call("POST", "/auth/signup", { email: "fuzz@example.com", name: "Fuzz", password: "fuzz-password-123" });
  await call("POST", "/workspaces", { name: "Fuzz One" }, token);
  await call("POST", "/workspaces", { name: "Fuzz Two" }, token);
  const { key } = await call("POST", "/api-keys", { name: "fuzz" }, token);
  const st = spawn(
    path.join(root, ".venv/bin/st"),
    [
      "run",
      `${base}/openapi.json`,
      "--url",
      base,
      "--header",
      `Authorization: Bearer ${key}`,
      "--checks",
      "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
      "--max-examples",
      maxExamples,
      "--generation-deterministic",
      "--no-color",
    ],
    { stdio: "inherit" },
  );
  status = await new Promise((resolve) => {
    st.on("error", (e) => (console.error(e.message), resolve(1)));
    st.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
} finally {
  await mf.dispose();
}
process.exit(status);
