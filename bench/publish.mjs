// The publishing benchmark (issue 10), run by `make bench` after bench/run.mjs:
//
// - lateness: 100 posts due one after another across 2 minutes, each published by itself
//   (the scheduler's Durable Object alarm, the queue, the consumer); lateness is the
//   platform's receipt time minus `scheduledFor`. Budget: p50 ≤ 1 s, p99 ≤ 3 s.
// - burst: 2,000 targets over 200 workspaces (a Bluesky and a Mastodon account each, five posts
//   to both) due at one instant. Budget: all published within 60 s, no duplicate. Reports
//   targets per second and the workerd CPU per published target (from /proc).
//
// The worker is the release build in Miniflare (real D1, DO alarms, Queues), as the black-box
// suite runs it; the platform is scripts/platforms/fake_platform.mjs on loopback (the PDS would
// measure itself). Prints the lines and writes the "Publishing" section of BENCH.md.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { miniflareOptions, migrate, publishQueueConsumers, PUBLISH_QUEUE } from "../scripts/worker.mjs";
import { startFakePlatform } from "../scripts/platforms/fake_platform.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BASE = "http://api.test/api/v1";
const LATENESS_POSTS = Number(process.env.BENCH_LATENESS_POSTS ?? 100);
const LATENESS_SPAN_MS = Number(process.env.BENCH_LATENESS_SPAN_MS ?? 120_000);
const BURST_WORKSPACES = Number(process.env.BENCH_BURST_WORKSPACES ?? 200);
const BURST_POSTS = 5; // per workspace, each to both accounts: 2,000 targets for 200 workspaces
// The queue consumer's settings (wrangler.toml's by default), to compare others:
// BENCH_BATCH_SIZE=100 BENCH_BATCH_TIMEOUT=1 node bench/publish.mjs; BENCH_ONLY=burst|lateness.
const consumer = publishQueueConsumers[PUBLISH_QUEUE];
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? consumer.maxBatchSize);
const BATCH_TIMEOUT = Number(process.env.BENCH_BATCH_TIMEOUT ?? consumer.maxBatchTimeout);
const ONLY = process.env.BENCH_ONLY ?? "";

const log = (line) => console.log(`[publish-bench] ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The workerd process Miniflare started (a child of this process). */
function workerdPid() {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === process.pid) return Number(entry);
    } catch {}
  }
  return null;
}

/** User + system CPU seconds of a process. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

const fake = await startFakePlatform({ autoAccounts: true });
const mf = new Miniflare({
  ...miniflareOptions({
    bindings: {
      OUTBOUND_ALLOW_LOOPBACK: "1",
      RATE_LIMIT_PER_MINUTE: "100000000",
      RATE_LIMIT_PER_15_MINUTES: "100000000",
    },
    worker: {
      queueConsumers: { ...publishQueueConsumers, [PUBLISH_QUEUE]: { ...consumer, maxBatchSize: BATCH_SIZE, maxBatchTimeout: BATCH_TIMEOUT } },
    },
  }),
  // The worker's own log lines would drown the report.
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
});
log(`queue consumer: batches of ${BATCH_SIZE}, max_batch_timeout ${BATCH_TIMEOUT} s`);
const storage = await migrate(mf);
const workerd = workerdPid();

async function call(method, route, body, token) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await mf.dispatchFetch(BASE + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const { token } = await call("POST", "/auth/signup", { email: `bench-${Date.now()}@example.com`, name: "Bench", password: "bench-password-123" });
/** A workspace with a Bluesky and a Mastodon account on the fake platform. */
async function brand(i) {
  const ws = await call("POST", "/workspaces", { name: `Publish bench ${i} ${Date.now()}` }, token);
  const sky = await call("POST", "/social-accounts", { workspaceId: ws.id, platform: "BLUESKY", handle: `b${i}.test`, credentials: { identifier: `b${i}-${ws.id}.test`, appPassword: "bench-app-password", service: fake.url } }, token);
  const mast = await call("POST", "/social-accounts", { workspaceId: ws.id, platform: "MASTODON", handle: `@m${i}`, credentials: { instanceUrl: fake.url, accessToken: `tok-${ws.id}` } }, token);
  return { ws, sky, mast };
}

const results = {};

// --- lateness ----------------------------------------------------------------------------------
if (ONLY !== "burst") {
  log(`lateness: ${LATENESS_POSTS} posts due across ${LATENESS_SPAN_MS / 1000} s`);
  const brands = [];
  for (let i = 0; i < 10; i++) brands.push(await brand(`late${i}`));
  const start = Date.now() + 15_000;
  const due = new Map(); // text → scheduledFor (ms)
  for (let i = 0; i < LATENESS_POSTS; i++) {
    const b = brands[i % brands.length];
    const at = start + Math.round((i * LATENESS_SPAN_MS) / LATENESS_POSTS);
    const text = `Lateness ${i} ${Date.now()}`;
    const account = i % 2 === 0 ? b.sky : b.mast;
    await call("POST", "/posts", { content: text, targets: [{ accountId: account.id }], scheduledFor: new Date(at).toISOString() }, token);
    due.set(text, at);
  }
  while (fake.posts.filter((p) => due.has(p.text)).length < LATENESS_POSTS && Date.now() < start + LATENESS_SPAN_MS + 60_000) await sleep(200);
  const late = fake.posts.filter((p) => due.has(p.text)).map((p) => p.receivedAt - due.get(p.text));
  const p50 = quantile(late, 0.5);
  const p99 = quantile(late, 0.99);
  results.lateness = { posts: late.length, p50, p99, max: Math.max(...late), ok: late.length === LATENESS_POSTS && p50 <= 1000 && p99 <= 3000 };
  log(`lateness: ${late.length}/${LATENESS_POSTS} published; p50 ${p50} ms, p99 ${p99} ms, max ${results.lateness.max} ms (budget p50 ≤ 1 s, p99 ≤ 3 s): ${results.lateness.ok ? "ok" : "MISSED"}`);
}

// --- burst -------------------------------------------------------------------------------------
if (ONLY !== "lateness") {
  const targets = BURST_WORKSPACES * BURST_POSTS * 2;
  log(`burst: ${targets} targets over ${BURST_WORKSPACES} workspaces, due at one instant`);
  const brands = [];
  for (let i = 0; i < BURST_WORKSPACES; i++) brands.push(await brand(`burst${i}`));
  const texts = new Set();
  // Creating 1,000 posts takes a while; the instant is set after the last one.
  const posts = [];
  for (const b of brands) {
    for (let j = 0; j < BURST_POSTS; j++) posts.push({ b, text: `Burst ${b.ws.id} ${j}` });
  }
  const at = Date.now() + 15_000 + posts.length * 15;
  for (const p of posts) {
    await call("POST", "/posts", { content: p.text, targets: [{ accountId: p.b.sky.id }, { accountId: p.b.mast.id }], scheduledFor: new Date(at).toISOString() }, token);
    texts.add(p.text);
  }
  if (Date.now() > at) throw new Error("posts were created after their time: raise the margin");
  while (Date.now() < at - 200) await sleep(50);
  const cpu0 = workerd ? cpuSeconds(workerd) : NaN;
  const done = () => fake.posts.filter((p) => texts.has(p.text)).length;
  while (done() < targets && Date.now() < at + 120_000) await sleep(100);
  const cpu = workerd ? cpuSeconds(workerd) - cpu0 : NaN;
  const mine = fake.posts.filter((p) => texts.has(p.text));
  const last = Math.max(...mine.map((p) => p.receivedAt));
  const seen = new Set();
  let duplicates = 0;
  for (const p of mine) {
    const k = `${p.platform} ${p.text}`;
    if (seen.has(k)) duplicates += 1;
    seen.add(k);
  }
  const seconds = (last - at) / 1000;
  results.burst = {
    targets,
    published: mine.length - duplicates,
    duplicates,
    seconds,
    perSecond: (mine.length - duplicates) / seconds,
    cpuMsPerTarget: (cpu * 1000) / Math.max(1, mine.length),
    ok: mine.length - duplicates === targets && duplicates === 0 && seconds <= 60,
  };
  const r = results.burst;
  log(`burst: ${r.published}/${targets} published in ${seconds.toFixed(1)} s (${r.perSecond.toFixed(0)} targets/s), ${duplicates} duplicates, workerd CPU ${r.cpuMsPerTarget.toFixed(2)} ms per target (budget: all within 60 s, none twice): ${r.ok ? "ok" : "MISSED"}`);
}

await mf.dispose();
await fake.close();

// --- BENCH.md ----------------------------------------------------------------------------------
if (ONLY || BATCH_SIZE !== consumer.maxBatchSize || BATCH_TIMEOUT !== consumer.maxBatchTimeout) {
  log("a partial or non-default run: BENCH.md left as it is");
  process.exit(results.lateness?.ok === false || results.burst?.ok === false ? 1 : 0);
}
const l = results.lateness;
const b = results.burst;
const section = `<!-- publishing:begin -->
## Publishing (bench/publish.mjs)

The release worker in Miniflare (real D1, Durable Object alarms, Queues; queue consumer batches
of ${BATCH_SIZE}, \`max_batch_timeout\` ${BATCH_TIMEOUT}, as in wrangler.toml), publishing to
scripts/platforms/fake_platform.mjs on loopback. Miniflare runs one consumer batch at a time;
Cloudflare runs several consumers at once.
Run ${new Date().toISOString()}.

| measure | result | budget | |
|---|---|---|---|
| lateness, ${l.posts} posts due across ${LATENESS_SPAN_MS / 1000} s (platform receipt − \`scheduledFor\`) | p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms | p50 ≤ 1 s, p99 ≤ 3 s | ${l.ok ? "ok" : "**missed**"} |
| burst, ${b.targets} targets over ${BURST_WORKSPACES} workspaces due at one instant | all ${b.published} published in ${b.seconds.toFixed(1)} s; ${b.duplicates} duplicates | within 60 s, none twice | ${b.ok ? "ok" : "**missed**"} |
| burst throughput | ${b.perSecond.toFixed(0)} targets/s | | |
| workerd CPU per published target (burst) | ${b.cpuMsPerTarget.toFixed(2)} ms | | |
<!-- publishing:end -->
`;
const benchPath = path.join(root, "BENCH.md");
const old = fs.existsSync(benchPath) ? fs.readFileSync(benchPath, "utf8") : "";
const marked = /<!-- publishing:begin -->[\s\S]*<!-- publishing:end -->\n?/;
fs.writeFileSync(benchPath, marked.test(old) ? old.replace(marked, section) : `${old.trimEnd()}\n\n${section}`);
log("wrote the Publishing section of BENCH.md");
if (!l.ok || !b.ok) process.exitCode = 1;
