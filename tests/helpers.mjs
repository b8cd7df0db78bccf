// Black-box harness: one Miniflare (workerd with real local D1, KV and R2) per test file,
// running the built worker, migrations applied in-process. Personas are minted through the
// API itself, with fresh e-mails and names per call, so tests never depend on each other.
import { Miniflare } from "miniflare";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BASE = "http://api.test/api/v1";

/** Every log line the worker printed, for the secret-hygiene checks. */
export const logLines = [];

export function migrationStatements() {
  const dir = path.join(root, "migrations");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), "utf8")
        .replace(/--[^\n]*/g, "")
        .split(";")
        .map((s) => s.replace(/\s+/g, " ").trim())
        .filter(Boolean),
    );
}

export async function startWorker(extra = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(root, "worker/entry.mjs"),
    modulesRoot: root,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    d1Databases: { DB: "test-db" },
    kvNamespaces: ["AUTH_CACHE"],
    r2Buckets: ["MEDIA"],
    bindings: {
      ENVIRONMENT: "test",
      CREDENTIALS_KEY: "0f".repeat(32),
      MEDIA_CAPABILITY_SECRET: "test-capability-secret",
      ...(extra.bindings ?? {}),
    },
    // e.g. outboundService, to answer the worker's own fetches without a network.
    ...(extra.miniflare ?? {}),
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => logLines.push(...String(chunk).split("\n").filter(Boolean)));
      }
    },
  });
  const db = await mf.getD1Database("DB");
  await db.batch(migrationStatements().map((s) => db.prepare(s)));
  const kv = await mf.getKVNamespace("AUTH_CACHE");
  return new App(mf, db, kv);
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
  constructor(mf, db, kv) {
    this.mf = mf;
    this.db = db;
    this.kv = kv;
  }

  dispose() {
    return this.mf.dispose();
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
    const res = await this.mf.dispatchFetch(route.startsWith("http") ? route : BASE + route, { method, headers: h, body: payload });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, headers: res.headers, text, body: json, timing: parseTiming(res.headers.get("server-timing")) };
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
