// Black-box harness: one Miniflare (workerd with real local D1, KV and R2) per test file,
// running the built worker, migrations applied in-process. Personas are minted through the
// API itself, with fresh e-mails and names per call, so tests never depend on each other.
import { Miniflare } from "miniflare";
import { miniflareOptions, migrate } from "../scripts/worker.mjs";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after } from "node:test";
import { checkResponse, formatViolations } from "./contract.mjs";
import { SecretLedger } from "./hygiene.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BASE = "http://api.test/api/v1";

/** Every log line the worker printed, for the secret-hygiene checks. */
export const logLines = [];

// --- per-file checks: the contract (issue 6, item 3) and secret hygiene (item 5) -------------
// Every response that passes through `App.request` is checked against src/openapi.json and
// recorded for the secret scan; nothing throws inside a request (that would mask the test's own
// assertion). This module registers, at import time, a root-level `after` hook in the importing
// test file (node runs each file in its own process, so it runs once per file) that fails with
// the full list. Requests sent straight through `app.mf.dispatchFetch` are not seen.

/** Every contract violation seen in this file: { operation, method, path, status, problems }. */
export const contractViolations = [];
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

export async function startWorker(extra = {}) {
  const mf = new Miniflare({
    ...miniflareOptions({ bindings: extra.bindings ?? {}, worker: extra.worker ?? {} }),
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

export function parseTiming(header) {
  const out = {};
  for (const part of (header ?? "").split(",")) {
    const [name, ...params] = part.trim().split(";");
    if (!name) continue;
    const entry = {};
    for (const p of params) {
      const [k, v] = p.split("=");
      entry[k] = v?.replace(/^"|"$/g, "");
    }
    out[name] = entry;
  }
  return out;
}

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

  /** Sends a request; `body` objects are JSON-encoded, strings sent as they are. */
  async request(method, route, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let payload;
    if (body !== undefined) {
      payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      h["Content-Type"] ??= "application/json";
    }
    const url = route.startsWith("http") ? route : BASE + route;
    const res = await this.mf.dispatchFetch(url, { method, headers: h, body: payload });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    const out = { status: res.status, headers: res.headers, text, body: json, timing: parseTiming(res.headers.get("server-timing")) };
    this.observe(method, url, payload, out);
    return out;
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

/** A refusal at the edge: no D1 statement ran. */
export function assertNoD1(res) {
  assert.equal(res.timing.d1, undefined, `expected no d1 work, Server-Timing: ${res.headers.get("server-timing")}`);
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

/** Lets the clock move on, so rows created one after another get distinct timestamps. */
export const tick = () => new Promise((r) => setTimeout(r, 3));

/** A well-formed id of a workspace-owned resource in `wsId` that no row has. */
export function ghostId(prefix, wsId) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let s = `${prefix}${wsId.slice(3)}`;
  for (let i = 0; i < 16; i++) s += alphabet[Math.floor(Math.random() * 62)];
  return s;
}
