// Black-box harness: one Miniflare (workerd with real local D1, KV and R2) per test file,
// running the built worker, migrations applied in-process. Personas are minted through the
// API itself, with fresh e-mails and names per call, so tests never depend on each other.
import { Miniflare } from "miniflare";
import { miniflareOptions, migrate, METER_HOST } from "../scripts/worker.mjs";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after } from "node:test";
import { checkResponse, formatViolations } from "./contract.mjs";
import { SecretLedger } from "./hygiene.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BASE = "http://api.test/api/v1";
/** The origin of `BASE`: the dashboard's own, which cookie-authenticated writes must send. */
export const DASHBOARD_ORIGIN = new URL(BASE).origin;
/** The API base of the i-th isolate of a worker started with `isolates` (1 is `BASE`). */
export const isolateBase = (i) => (i === 1 ? BASE : `http://api-${i}.test/api/v1`);

/** Every log line the worker printed, for the secret-hygiene checks. */
export const logLines = [];

// --- per-file checks: the contract (issue 6, item 3), secret hygiene (item 5), storage work ---
// Every response that passes through `App.request` is checked against src/openapi.json,
// recorded for the secret scan, and (with the storage meter, the default) its `Server-Timing`
// compared with the storage work the meter counted for its request (issue 16, item 1); nothing
// throws inside a request (that would mask the test's own assertion). This module registers, at
// import time, a root-level `after` hook in the importing test file (node runs each file in its
// own process, so it runs once per file) that fails with the full list. Requests sent straight
// through `app.mf.dispatchFetch` are not seen: send raw bytes with `app.request(..., { rawBody })`
// and hand a response read another way to `app.observe`.

/** Every contract violation seen in this file: { operation, method, path, status, problems }. */
export const contractViolations = [];
/**
 * Every response whose `Server-Timing` disagrees with the storage meter's count of the work its
 * request did (scripts/storage_meter_worker.mjs), or whose request never finished: the same
 * shape, `operation` included.
 */
export const storageViolations = [];
/** Every secret this file learned, and every response it saw. */
export const secretLedger = new SecretLedger();
const liveApps = new Set();
let lastLogAt = 0;

/** Resolves once no worker has printed for `quietMs` (at most `maxMs`). */
export async function logsSettled(quietMs = 250, maxMs = 3000) {
  const start = Date.now();
  while (Date.now() - Math.max(lastLogAt, start) < quietMs && Date.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The JSON log lines of these requests (by request id), once every one of them has arrived:
 * waits for them (up to `maxMs`; the pipe from workerd can lag on a loaded machine), then fails
 * naming any request whose line never came, so a check of log lines cannot pass on lines that
 * are missing. Returns request id → its parsed lines.
 */
export async function logLinesOf(ids, maxMs = 10_000) {
  const start = Date.now();
  const has = (id) => logLines.some((l) => l.includes(id));
  while (!ids.every(has) && Date.now() - start < maxMs) await new Promise((r) => setTimeout(r, 25));
  await logsSettled();
  const missing = ids.filter((id) => !has(id));
  assert.deepEqual(missing, [], `no log line arrived for ${missing.length} request(s)`);
  const out = new Map(ids.map((id) => [id, []]));
  for (const line of logLines) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry && out.has(entry.requestId)) out.get(entry.requestId).push(entry);
  }
  return out;
}

after(async () => {
  // Root `after` hooks run in registration order, so this one runs before the file's own
  // `after(() => app.dispose())`. Stop every worker still running first, so that its last log
  // lines are flushed into `logLines` before they are scanned (a second dispose is a no-op).
  await Promise.all([...liveApps].map((a) => a.dispose()));
  await logsSettled();
  const sections = [];
  if (contractViolations.length) {
    sections.push(`${contractViolations.length} response(s) break the contract in src/openapi.json, by operation:\n${formatViolations(contractViolations)}`);
  }
  if (storageViolations.length) {
    sections.push(`${storageViolations.length} response(s) whose Server-Timing disagrees with the storage meter, by operation:\n${formatViolations(storageViolations)}`);
  }
  const leaks = secretLedger.check(logLines);
  if (leaks.length) sections.push(`${leaks.length} secret leak(s):\n${[...new Set(leaks)].map((l) => `    ${l}`).join("\n")}`);
  // CONTRACT_REPORT_DIR=dir also writes this file's findings and coverage as JSON (for reports).
  if (process.env.CONTRACT_REPORT_DIR) {
    fs.mkdirSync(process.env.CONTRACT_REPORT_DIR, { recursive: true });
    const file = path.join(process.env.CONTRACT_REPORT_DIR, `${path.basename(process.argv[1] ?? "unknown")}.json`);
    fs.writeFileSync(file, JSON.stringify({ contractViolations, leaks, secrets: secretLedger.secrets.size, secretKinds: Object.fromEntries([...secretLedger.secrets.values()].reduce((m, { kind }) => m.set(kind, (m.get(kind) ?? 0) + 1), new Map())), responses: secretLedger.responses.length, logLines: logLines.length, coverage: [...new Set(secretLedger.responses.map((r) => `${r.operation} ${r.status}`))].sort() }, null, 1));
  }
  if (sections.length) throw new Error(sections.join("\n\n"));
});

export { migrationStatements } from "../scripts/worker.mjs";

/**
/**
 * A Miniflare running the built worker. `extra.bindings` override the test vars, `extra.worker`
 * adds api-worker options; `extra.meter` (default true) serves the worker behind the storage
 * meter, so every response carries `res.storage` (see `StorageUse`); `extra.isolates: n` adds
 * copies of the worker in isolates of their own, reached at `isolateBase(i)` (i = 2…n).
 * `extra.serve` also serves the worker over HTTP for clients that speak it: `true` listens on a
 * loopback port, an object gives Miniflare's `{ host, port }`. Its URL is `app.url`, its origin
 * `app.origin`.
 */
export async function startWorker(extra = {}) {
  const meter = extra.meter ?? true;
  const listen = extra.serve === true ? { host: "127.0.0.1", port: 0 } : (extra.serve ?? {});
  const mf = new Miniflare({
    ...miniflareOptions({ bindings: extra.bindings ?? {}, worker: extra.worker ?? {}, meter, isolates: extra.isolates ?? 1, ...listen }),
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          lastLogAt = Date.now();
          logLines.push(...String(chunk).split("\n").filter(Boolean));
        });
      }
    },
  });
  const app = new App(mf, await migrate(mf));
  app.metered = meter;
  if (extra.serve) {
    app.url = await mf.ready;
    app.origin = new URL(app.url).origin;
  }
  // A test-only route outside the contract: its only answer is the generic 500.
  if (extra.bindings?.ENABLE_PANIC_ROUTE) app.extraRoutes = { "GET /__test/panic": { 500: "#/components/responses/Internal" } };
  liveApps.add(app);
  return app;
}

let counter = 0;
export function unique(prefix = "x") {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${process.pid.toString(36)}${counter}`;
}

/** `Server-Timing` as `{ name: { desc, dur } }`; a quoted `desc` may hold commas and semicolons. */
export function parseTiming(header) {
  const out = {};
  // Entries and parameters split outside quoted strings only.
  const split = (text, sep) => text.match(new RegExp(`(?:[^${sep}"]|"(?:[^"\\\\]|\\\\.)*")+`, "g")) ?? [];
  for (const part of split(header ?? "", ",")) {
    const [name, ...params] = split(part, ";").map((x) => x.trim());
    if (!name) continue;
    const entry = {};
    for (const p of params) {
      const i = p.indexOf("=");
      const [k, v] = i < 0 ? [p, undefined] : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
      entry[k] = v?.replace(/^"(.*)"$/, "$1").replace(/\\(.)/g, "$1");
    }
    out[name] = entry;
  }
  return out;
}

/**
 * The storage work one request did, as the storage meter counted it at the bindings (outside the
 * worker), including its `waitUntil` work after the response:
 * - `d1`: D1 statements (each statement of a batch counts one); `sql`: their text, in order;
 * - `kv`: `{ reads, writes }` (get/getWithMetadata/list; put/delete);
 * - `r2`: R2 calls; `rl`: calls to the rate limiter's Durable Object;
 * - `ops`: every call, in order: `{ binding, kind, op, phase: "before"|"after", sql?, key? }`
 *   (`phase`: whether it started before the product's entry had returned the response; a
 *   `waitUntil` task can start before that, so `phase` does not say what `Server-Timing`
 *   counted: `d1-after` does);
 * - `settled`: the request finished (response returned, every `waitUntil` settled) within the
 *   wait; `requestId`: the `X-Request-Id` of its response.
 */
export class StorageUse {
  constructor({ trace, done, ops }) {
    this.trace = trace;
    this.settled = done !== null;
    this.requestId = done?.requestId ?? null;
    this.waitUntil = done?.waitUntil ?? null;
    this.ops = ops;
    const of = (kind, names) => ops.filter((o) => o.kind === kind && (!names || names.includes(o.op)));
    this.d1 = of("d1").reduce((n, o) => n + o.statements, 0);
    this.sql = of("d1").flatMap((o) => o.sql);
    this.kv = { reads: of("kv", ["get", "getWithMetadata", "list"]).length, writes: of("kv", ["put", "delete"]).length };
    this.r2 = of("r2").length;
    this.rl = of("do").length;
  }

  /** One line per call, for assertion messages. */
  describe() {
    if (!this.ops.length) return "(no storage work)";
    return this.ops.map((o) => `${o.phase} ${o.binding}.${o.op} ${o.sql ? o.sql.join(" ; ").slice(0, 120) : o.key ?? ""}`).join("\n");
  }
}

/**
 * Counts out of a `Server-Timing` header: `{ d1, d1After, kvReads, kvWrites, rlCalls, rlLocal }`
 * (the worker's own account of its storage work, compared with the meter's).
 */
export function timingCounts(header) {
  const t = parseTiming(header);
  const count = (name, word) => {
    const m = (t[name]?.desc ?? "").match(new RegExp(`(\\d+) ${word}`));
    return m ? Number(m[1]) : 0;
  };
  return {
    d1: count("d1", "quer"),
    d1After: count("d1-after", "quer"),
    kvReads: count("kv", "read"),
    kvWrites: count("kv", "write"),
    rlCalls: count("rl", "call"),
    rlLocal: count("rl", "local"),
  };
}

/** Where `Server-Timing` and the meter disagree about one response (empty when they agree). */
export function storageDisagreements(res) {
  const s = res.storage;
  if (!s) return [];
  if (!s.settled) return [`the request did not finish (response returned, every waitUntil settled) within the wait; calls so far:\n${s.describe()}`];
  const problems = [];
  if (res.headers.get("x-request-id") !== s.requestId) problems.push(`the meter's trace is of request ${s.requestId}, the response says ${res.headers.get("x-request-id")}`);
  const t = timingCounts(res.headers.get("server-timing"));
  const pairs = [
    ["D1 statements (d1 + d1-after)", t.d1 + t.d1After, s.d1],
    ["KV reads", t.kvReads, s.kv.reads],
    ["KV writes", t.kvWrites, s.kv.writes],
    ["rate-limiter calls", t.rlCalls, s.rl],
  ];
  for (const [what, said, counted] of pairs) {
    if (said !== counted) problems.push(`${what}: Server-Timing says ${said}, the meter counted ${counted}`);
  }
  if (problems.length) problems.push(`Server-Timing: ${res.headers.get("server-timing")}\n      calls:\n${s.describe().replace(/^/gm, "        ")}`);
  return problems;
}

let traces = 0;

export class App {
  /** `storage` reads and writes the worker's D1, KV and R2 directly (scripts/worker.mjs). */
  constructor(mf, storage) {
    this.mf = mf;
    this.db = storage.db;
    this.kv = storage.kv;
    this.bucket = storage.bucket;
    this.queue = storage.queue;
    this.cron = storage.cron;
    this.extraRoutes = {};
  }

  /** Idempotent: the per-file check disposes every live worker before the file's own hook. */
  dispose() {
    liveApps.delete(this);
    this.disposed ??= this.mf.dispose();
    return this.disposed;
  }

  /**
   * Sends a request; `body` objects are JSON-encoded, strings sent as they are. The answer:
   * `{ status, headers, text, body (parsed JSON or null), bytes, timing (Server-Timing),
   * storage (a StorageUse, when metered) }`. With `rawBody: true` the body is not JSON-encoded
   * nor given a Content-Type (for uploads of raw bytes).
   */
  async request(method, route, { token, body, headers = {}, rawBody = false } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let payload;
    if (body !== undefined) {
      payload = rawBody || typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      if (!rawBody) h["Content-Type"] ??= "application/json";
    }
    const url = route.startsWith("http") ? route : BASE + route;
    const trace = this.metered ? `t${process.pid.toString(36)}-${++traces}` : null;
    if (trace) h["X-Storage-Trace"] = trace;
    const res = await this.mf.dispatchFetch(url, { method, headers: h, body: payload });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const text = new TextDecoder().decode(bytes);
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    const answered = await this.ledgerOf(res.headers, trace);
    const out = { status: res.status, headers: answered.headers, text, bytes, body: json, timing: parseTiming(answered.headers.get("server-timing")), storage: answered.storage };
    this.observe(method, url, payload, out);
    return out;
  }

  /**
   * The test clock (scripts/harness_entry.mjs): from now on the worker's `Date.now()` runs
   * `offsetMs` ahead of the wall clock (0 puts it back). Every later request of this worker sees
   * it, so a test that moves the clock puts it back (`try … finally`). D1, KV and R2 keep the
   * wall clock.
   */
  async setClock(offsetMs) {
    assert.ok(this.metered, "the test clock needs the harness entry (startWorker's default)");
    const res = await this.mf.dispatchFetch("http://test-clock.internal/__clock", { method: "POST", body: JSON.stringify({ offsetMs }) });
    assert.equal(res.status, 200, await res.text());
    await res.arrayBuffer().catch(() => {});
    this.clockOffset = offsetMs;
  }

  /** The worker's clock, as `Date.now()` reads there. */
  now() {
    return Date.now() + (this.clockOffset ?? 0);
  }

  /** Headers that tag a request sent some other way (a raw socket, say) for the storage meter. */
  traceHeaders() {
    return this.metered ? { "X-Storage-Trace": `t${process.pid.toString(36)}-${++traces}` } : {};
  }

  /**
   * A response read some other way (a raw socket, say), put through the same per-file checks as
   * `request`'s; `sentHeaders` are the request's (with `traceHeaders()` in them, its storage is
   * read too). Returns the same shape as `request`.
   */
  async seen(method, url, sentBody, { status, headers, text }, sentHeaders = {}) {
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    const { headers: h, storage } = await this.ledgerOf(new Headers(headers), sentHeaders["X-Storage-Trace"]);
    const out = { status, headers: h, text, bytes: new TextEncoder().encode(text), body: json, timing: parseTiming(h.get("server-timing")), storage };
    this.observe(method, url, sentBody, out);
    return out;
  }

  /**
   * A response's headers without the harness entry's `X-Storage-Ledger`, and the storage use of
   * its request: from that header when the request was finished with its response, else asked
   * of the meter (`storageOf`). Null storage for an untraced request.
   */
  async ledgerOf(received, trace) {
    const headers = new Headers(received);
    const carried = headers.get("x-storage-ledger");
    headers.delete("x-storage-ledger");
    if (!trace) return { headers, storage: null };
    if (carried && carried !== "ask") {
      const ledger = JSON.parse(Buffer.from(carried, "base64").toString("utf8"));
      assert.equal(ledger.trace, trace, "the ledger that came back is of another request");
      return { headers, storage: new StorageUse(ledger) };
    }
    return { headers, storage: await this.storageOf(trace) };
  }

  /**
   * The storage meter's ledger of one request (by the trace id the harness sent), once the
   * request has finished: its response returned and every `waitUntil` promise settled.
   */
  async storageOf(trace, timeoutMs = 10_000) {
    const res = await this.mf.dispatchFetch(`http://${METER_HOST}/settle`, {
      method: "POST",
      body: JSON.stringify({ trace, timeoutMs, forget: true }),
    });
    if (res.status !== 200) throw new Error(`storage meter (${res.status}): ${await res.text()}`);
    return new StorageUse(await res.json());
  }

  /** Records a response for the per-file checks; never throws. */
  observe(method, url, sentBody, res) {
    let operation = "?";
    try {
      const checked = checkResponse(method, url, res, { extraRoutes: this.extraRoutes });
      operation = checked.operation;
      if (checked.problems.length) {
        const u = new URL(url);
        contractViolations.push({ operation, method, path: u.pathname + u.search, status: res.status, problems: checked.problems });
      }
    } catch (e) {
      contractViolations.push({ operation: "(checker error)", method, path: url, status: res.status, problems: [String(e?.stack ?? e)] });
    }
    try {
      const problems = storageDisagreements(res);
      if (problems.length) {
        const u = new URL(url);
        storageViolations.push({ operation, method, path: u.pathname + u.search, status: res.status, problems });
      }
    } catch (e) {
      storageViolations.push({ operation: "(storage check error)", method, path: url, status: res.status, problems: [String(e?.stack ?? e)] });
    }
    try {
      secretLedger.observe({ method, url, operation, sentBody, res });
    } catch (e) {
      contractViolations.push({ operation: "(secret ledger error)", method, path: url, status: res.status, problems: [String(e?.stack ?? e)] });
    }
  }

  get(route, opts) { return this.request("GET", route, opts); }
  post(route, body, opts = {}) { return this.request("POST", route, { ...opts, body }); }
  patch(route, body, opts = {}) { return this.request("PATCH", route, { ...opts, body }); }
  delete(route, opts) { return this.request("DELETE", route, opts); }

  // --- one method per endpoint -------------------------------------------------------
  async signup(overrides = {}) {
    const email = overrides.email ?? `${unique("u")}@example.com`;
    const password = overrides.password ?? "correct horse battery";
    const res = await this.post("/auth/signup", { email, name: overrides.name ?? "Test User", password });
    assert.equal(res.status, 201, res.text);
    return { token: res.body.token, user: res.body.user, email, password };
  }

  /**
   * Signs in through the dashboard's route: the `Cookie` header value its `Set-Cookie` gives
   * (the API's origin is `BASE`'s, so the cookie is the `Secure` `__Host-` one).
   */
  async dashboardLogin(email, password) {
    const res = await this.post("/dashboard/login", { email, password }, { headers: { Origin: DASHBOARD_ORIGIN } });
    assert.equal(res.status, 200, res.text);
    return res.headers.get("set-cookie").split(";")[0];
  }

  async createWorkspace(token, overrides = {}) {
    const res = await this.post("/workspaces", { name: overrides.name ?? unique("Brand "), ...overrides }, { token });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  async mintKey(session, body = {}) {
    const res = await this.post("/api-keys", { name: "test key", ...body }, { token: session });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  async addMember(session, wsId, email, role = "MEMBER") {
    const res = await this.post(`/workspaces/${wsId}/members`, { email, role }, { token: session });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  /**
   * An agency owner with two workspaces, a full-access key and a key scoped to the first;
   * and a stranger with a workspace of their own.
   */
  async personas() {
    const owner = await this.signup();
    const ws1 = await this.createWorkspace(owner.token);
    // ws1 is older than ws2, always: lists of workspaces are oldest first.
    await tick();
    const ws2 = await this.createWorkspace(owner.token);
    const fullKey = (await this.mintKey(owner.token, { name: "full" })).key;
    const scopedKey = (await this.mintKey(owner.token, { name: "scoped", access: "scoped", workspaceIds: [ws1.id] })).key;
    const stranger = await this.signup();
    const foreign = await this.createWorkspace(stranger.token);
    const strangerKey = (await this.mintKey(stranger.token, { name: "stranger" })).key;
    return { owner, session: owner.token, ws1, ws2, fullKey, scopedKey, stranger, foreign, strangerKey };
  }

  /** Resolves each credential once, so the next request is answered from the principal cache
   * and a refusal at the edge shows no `d1` in Server-Timing. */
  async warm(...tokens) {
    for (const token of tokens) {
      const res = await this.get("/me", { token });
      assert.equal(res.status, 200, res.text);
    }
  }

  /** A fresh user added to `wsId` by `session` with `role`, with a session and a full key. */
  async joinAs(session, wsId, role) {
    const user = await this.signup();
    await this.addMember(session, wsId, user.email, role);
    const key = (await this.mintKey(user.token, { name: `${role} key` })).key;
    return { ...user, id: user.user.id, session: user.token, key };
  }

  /** A webhook endpoint registered by `session` in `wsId`; the body holds its secret. */
  async createWebhook(session, wsId, url, events = ["post.published"], extra = {}) {
    const res = await this.post("/webhooks", { workspaceId: wsId, url, events, ...extra }, { token: session });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  /** Fires the cron trigger, as the platform does every minute (Miniflare never does by itself). */
  async cron() {
    const worker = await this.mf.getWorker();
    await worker.scheduled({ cron: "* * * * *" });
  }

  /** Row count of a table, read straight from D1, to prove a refusal wrote nothing. */
  async count(table, where = "1=1", ...args) {
    const row = await this.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`).bind(...args).first();
    return row.n;
  }
}

/** Asserts the error envelope of API.md §5. */
export function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(res.body?.code, code, res.text);
  assert.equal(res.body.statusCode, status);
  assert.equal(typeof res.body.message, "string");
  assert.match(res.body.requestId, /^req_[0-9A-Za-z]{16}$/);
  assert.equal(res.headers.get("x-request-id"), res.body.requestId);
}

/**
 * A bad-input refusal: 400 `VALIDATION_FAILED` (the envelope of API.md §5) whose `details` name
 * exactly `fields` (any order), each with a problem stated.
 */
export function assertInvalid(res, ...fields) {
  assertError(res, 400, "VALIDATION_FAILED");
  assert.ok(Array.isArray(res.body.details), `no details: ${res.text}`);
  assert.deepEqual(res.body.details.map((d) => d.field).sort(), [...fields].sort(), res.text);
  for (const d of res.body.details) assert.ok(typeof d.problem === "string" && d.problem.trim().length > 0, res.text);
}

/**
 * A refusal at the edge: no D1 statement ran, neither before the response nor after it — by the
 * worker's own account (`Server-Timing`) and by the storage meter's count at the binding.
 */
export function assertNoD1(res) {
  assert.equal(res.timing.d1, undefined, `expected no d1 work, Server-Timing: ${res.headers.get("server-timing")}`);
  assert.equal(res.timing["d1-after"], undefined, `expected no d1 work after the response, Server-Timing: ${res.headers.get("server-timing")}`);
  if (res.storage) {
    assert.ok(res.storage.settled, `the request did not finish:\n${res.storage.describe()}`);
    assert.equal(res.storage.d1, 0, `the storage meter counted D1 statements:\n${res.storage.describe()}`);
  }
}

/** Answered with no call of any kind: no storage, and not even the rate limiter. */
export function assertUntouched(res) {
  assertNoD1(res);
  assert.ok(res.storage, "assertUntouched needs a metered worker (startWorker's default)");
  assert.deepEqual(res.storage.ops, [], `the storage meter counted calls:\n${res.storage.describe()}`);
  assert.equal(res.timing.kv, undefined);
  assert.equal(res.timing.rl, undefined);
}

/**
 * A refusal with a warm credential: no storage work at all — no D1, no KV, no R2, as the storage
 * meter counted it (the rate limiter, which is not storage, may be asked; `Server-Timing` must
 * say so, which the per-file check verifies). Requires a metered worker.
 */
export function assertNoStorage(res) {
  assertNoD1(res);
  assert.ok(res.storage, "assertNoStorage needs a metered worker (startWorker's default)");
  assert.deepEqual({ kv: res.storage.kv, r2: res.storage.r2 }, { kv: { reads: 0, writes: 0 }, r2: 0 }, `the storage meter counted KV or R2 calls:\n${res.storage.describe()}`);
  assert.equal(res.timing.kv, undefined, `expected no kv work, Server-Timing: ${res.headers.get("server-timing")}`);
}

/** The body with its request id blanked, for byte-for-byte comparisons. */
export function withoutRequestId(text) {
  return text.replace(/req_[0-9A-Za-z]{16}/g, "req_");
}

/** A syntactically valid workspace id that no one has. */
export function ghostWorkspaceId() {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let s = "ws_";
  for (let i = 0; i < 16; i++) s += alphabet[Math.floor(Math.random() * 62)];
  return s;
}

/**
 * Lets the clock move on, so rows created one after another get distinct timestamps: waits until
 * the wall clock reads at least 2 ms past the moment of the call, polling the clock itself (a
 * timer alone can fire early when the event loop was busy). The worker reads the same clock when
 * the next request arrives, so a row created after `tick()` has a later millisecond than any row
 * whose response came back before it, by construction.
 */
export async function tick() {
  const from = Date.now();
  while (Date.now() < from + 2) await new Promise((r) => setTimeout(r, 1));
}

/** A well-formed id of a workspace-owned resource in `wsId` that no row has. */
export function ghostId(prefix, wsId) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let s = `${prefix}${wsId.slice(3)}`;
  for (let i = 0; i < 16; i++) s += alphabet[Math.floor(Math.random() * 62)];
  return s;
}
