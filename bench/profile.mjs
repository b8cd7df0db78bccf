// A V8 CPU profile of one bench request under load, for finding where a request's time goes
// (bench/NOTES.md). Not part of `make bench`: a tool for the investigation.
//
//   node bench/profile.mjs <product|peer> <health|get-post|refusal|list-one> [seconds=10] [out.cpuprofile]
//
// Serves the worker as `make bench` does (bench/serve.mjs, the bench's data set; the peer's KV
// filled as bench/run.mjs fills it), then samples the worker's own isolate through workerd's
// inspector while wrk drives the request, and prints self and total time per function, per
// request. Only the worker's isolate is sampled: Miniflare's entry worker, the local D1 and KV
// (other isolates of the same workerd) and workerd's own C++ outside V8 are not in it.
import { fork, execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { generate } from "./dataset.mjs";
import { sha256 } from "../scripts/keys.mjs";
import { buildPeer } from "./peer/build.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [kind = "product", scenario = "health", secondsArg = "10", out] = process.argv.slice(2);
const seconds = Number(secondsArg);

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function serve(which, inspector) {
  const port = await freePort();
  const bindings = { ENVIRONMENT: "bench", CREDENTIALS_KEY: "0f".repeat(32), MEDIA_CAPABILITY_SECRET: "bench-capability-secret", RATE_LIMIT_PER_MINUTE: "1000000", RATE_LIMIT_PER_15_MINUTES: "1000000" };
  const child = fork(path.join(root, "bench/serve.mjs"), [which, String(port), JSON.stringify(bindings)], {
    env: { ...process.env, ...(inspector ? { BENCH_INSPECTOR_PORT: String(inspector) } : {}) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let next = 0;
  const pending = new Map();
  const ready = new Promise((resolve) =>
    child.on("message", (m) => {
      if (m.type === "ready") return resolve();
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }),
  );
  await ready;
  const send = (cmd, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, (m) => (m.type === "error" ? reject(new Error(m.message)) : resolve(m)));
      child.send({ cmd, id, ...extra });
    });
  return { url: `http://127.0.0.1:${port}`, send, stop: () => child.kill() };
}

const data = generate({ seed: 5, tag: "main", workspaces: 200, posts: 10_000 });
const ws0 = data.workspaces[0].id;
const target = data.postsPerWs.get(ws0).find((p) => p.targets === 3);
const foreign = data.postsPerWs.get(data.workspaces[1].id)[0];
const plan = {
  health: { path: "/api/v1/health" },
  "get-post": { path: `/api/v1/posts/${target.id}`, token: data.fullKey },
  refusal: { path: `/api/v1/posts/${foreign.id}`, token: data.scopedKey },
  "list-one": { path: `/api/v1/posts?workspaceId=${ws0}&limit=50`, token: data.fullKey },
}[scenario];
if (!plan) throw new Error(`unknown scenario ${scenario}`);
const headers = plan.token ? { Authorization: `Bearer ${plan.token}` } : {};

if (kind === "peer") await buildPeer();
const inspectorPort = await freePort();
const w = await serve(kind, inspectorPort);
const helpers = [];
try {
  await w.send("migrate");
  await w.send("seed", { spec: { seed: 5, tag: "main", workspaces: 200, posts: 10_000 } });
  if (kind === "peer") {
    // The principals as the product caches them, from a product served for the purpose.
    const p = await serve("product");
    helpers.push(p);
    await p.send("migrate");
    await p.send("seed", { spec: { seed: 5, tag: "main", workspaces: 200, posts: 10_000 } });
    for (const k of [data.fullKey, data.scopedKey]) {
      await fetch(`${p.url}/api/v1/me`, { headers: { Authorization: `Bearer ${k}` } }).then((r) => r.arrayBuffer());
      const key = `principal:${sha256(k)}`;
      await w.send("kv-put", { key, value: (await p.send("kv-get", { key })).value });
    }
  }
  const sample = await fetch(w.url + plan.path, { headers });
  console.log(`sample: ${sample.status} ${(await sample.text()).slice(0, 100)}`);

  const wrk = (s) =>
    new Promise((resolve, reject) => {
      const args = ["-t", "2", "-c", "16", "-d", `${s}s`, ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]), w.url + plan.path];
      execFile("wrk", args, (err, stdout) => (err ? reject(err) : resolve(Number(stdout.match(/(\d+) requests in/)[1]))));
    });
  await wrk(2); // warm-up

  const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const ws = new WebSocket(list.find((t) => t.id === "core:user:").webSocketDebuggerUrl);
  await new Promise((r) => ws.once("open", r));
  let n = 0;
  const waiting = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const id = ++n;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  const requests = await wrk(seconds);
  const { result } = await call("Profiler.stop");
  ws.close();
  const profile = result.profile;
  if (out) fs.writeFileSync(out, JSON.stringify(profile));

  // Self time per node from the samples, then per function name (and total, over the tree).
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const name = (x) => `${x.callFrame.functionName || "(anonymous)"} ${x.callFrame.url ? path.basename(x.callFrame.url) : ""}`.trim();
  const self = new Map();
  const total = new Map();
  const walk = (id, onStack) => {
    const x = byId.get(id);
    const k = name(x);
    const mine = dt.get(id) ?? 0;
    self.set(k, (self.get(k) ?? 0) + mine);
    let sum = mine;
    const next = new Set(onStack).add(k);
    for (const c of x.children ?? []) sum += walk(c, next);
    if (!onStack.has(k)) total.set(k, (total.get(k) ?? 0) + sum);
    return sum;
  };
  walk(profile.nodes[0].id, new Set());
  const all = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = self.get("(idle)") ?? 0;
  const per = (us) => `${(us / requests).toFixed(1).padStart(7)} µs`;
  console.log(`\n${kind} ${scenario}: ${requests} requests in ${seconds} s; sampled ${(all / 1e6).toFixed(2)} s, busy ${per(all - idle)}/req (isolate only)`);
  console.log("\nself time per request (top 40):");
  for (const [k, v] of [...self].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${per(v)}  ${k}`);
  console.log("\ntotal time per request (top 60):");
  for (const [k, v] of [...total].filter(([k]) => k !== "(idle)" && k !== "(root)").sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${per(v)}  ${k}`);
} finally {
  w.stop();
  for (const h of helpers) h.stop();
}
process.exit(0);
