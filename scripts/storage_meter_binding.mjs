// Test-only wrapped binding (Miniflare `wrappedBindings`): what the worker under test gets as
// DB, AUTH_CACHE, MEDIA and RATE_LIMITER when the harness meters storage. Each object speaks the
// binding's own API and forwards to the real local binding (an inner binding of this module),
// after reporting the call to the storage meter (scripts/storage_meter_worker.mjs), a separate
// worker whose ledger the tests read. The worker's env holds only these wrappers, so no D1
// statement, KV operation, R2 call or rate-limiter call can reach storage uncounted.
//
// Attribution: `traced(trace, state)` returns a view whose reports carry the request's trace id;
// scripts/harness_entry.mjs hands each request an env of such views. A report is awaited before
// the call goes through, so the ledger holds it even if the call then fails or hangs.
//
// Class names matter: the worker crate checks `constructor.name` for D1Database, R2Bucket and
// DurableObjectNamespace. A single module with no imports, as wrapped bindings must be.

const UNTRACED = "(untraced)";

class Reporter {
  constructor(meter, binding, trace, state) {
    this.meter = meter;
    this.binding = binding;
    this.trace = trace;
    this.state = state;
  }
  report(op) {
    const phase = this.state?.responded ? "after" : "before";
    // Statements are kept to their first 200 characters: enough to tell them apart.
    if (op.sql) op.sql = op.sql.map((q) => (q.length > 200 ? `${q.slice(0, 200)}…` : q));
    return this.meter.record(this.trace, { binding: this.binding, phase, ...op });
  }
}

const INNER = Symbol("inner");

// --- D1 --------------------------------------------------------------------------------------
class D1PreparedStatement {
  constructor(inner, sql, reporter) {
    this[INNER] = inner;
    this.sql = sql;
    this.reporter = reporter;
  }
  bind(...values) {
    return new D1PreparedStatement(this[INNER].bind(...values), this.sql, this.reporter);
  }
  async first(column) {
    await this.reporter.report({ kind: "d1", op: "first", statements: 1, sql: [this.sql] });
    return column === undefined ? this[INNER].first() : this[INNER].first(column);
  }
  async all() {
    await this.reporter.report({ kind: "d1", op: "all", statements: 1, sql: [this.sql] });
    return this[INNER].all();
  }
  async run() {
    await this.reporter.report({ kind: "d1", op: "run", statements: 1, sql: [this.sql] });
    return this[INNER].run();
  }
  async raw(options) {
    await this.reporter.report({ kind: "d1", op: "raw", statements: 1, sql: [this.sql] });
    return this[INNER].raw(options);
  }
}

class D1Database {
  constructor(inner, reporter) {
    this[INNER] = inner;
    this.reporter = reporter;
  }
  prepare(sql) {
    return new D1PreparedStatement(this[INNER].prepare(sql), sql, this.reporter);
  }
  async batch(statements) {
    await this.reporter.report({ kind: "d1", op: "batch", statements: statements.length, sql: statements.map((s) => s.sql) });
    return this[INNER].batch(statements.map((s) => s[INNER]));
  }
  async exec(sql) {
    // `exec` runs every statement of the text; counted as one per `;`-separated statement.
    const n = sql.split(";").filter((s) => s.trim()).length;
    await this.reporter.report({ kind: "d1", op: "exec", statements: n, sql: [sql] });
    return this[INNER].exec(sql);
  }
  async dump() {
    await this.reporter.report({ kind: "d1", op: "dump", statements: 1, sql: [] });
    return this[INNER].dump();
  }
  withSession() {
    throw new Error("storage meter: D1 sessions are not metered; add them to scripts/storage_meter_binding.mjs");
  }
}

// --- KV --------------------------------------------------------------------------------------
class KvNamespace {
  constructor(inner, reporter) {
    this[INNER] = inner;
    this.reporter = reporter;
  }
  async get(key, options) {
    await this.reporter.report({ kind: "kv", op: "get", key: String(key) });
    return this[INNER].get(key, options);
  }
  async getWithMetadata(key, options) {
    await this.reporter.report({ kind: "kv", op: "getWithMetadata", key: String(key) });
    return this[INNER].getWithMetadata(key, options);
  }
  async put(key, value, options) {
    await this.reporter.report({ kind: "kv", op: "put", key: String(key) });
    return this[INNER].put(key, value, options);
  }
  async delete(key) {
    await this.reporter.report({ kind: "kv", op: "delete", key: String(key) });
    return this[INNER].delete(key);
  }
  async list(options) {
    await this.reporter.report({ kind: "kv", op: "list", key: options?.prefix ?? "" });
    return this[INNER].list(options);
  }
}

// --- R2 --------------------------------------------------------------------------------------
class R2Bucket {
  constructor(inner, reporter) {
    this[INNER] = inner;
    this.reporter = reporter;
  }
  async head(key) {
    await this.reporter.report({ kind: "r2", op: "head", key: String(key) });
    return this[INNER].head(key);
  }
  async get(key, options) {
    await this.reporter.report({ kind: "r2", op: "get", key: String(key) });
    return this[INNER].get(key, options);
  }
  async put(key, value, options) {
    await this.reporter.report({ kind: "r2", op: "put", key: String(key) });
    return this[INNER].put(key, value, options);
  }
  async delete(keys) {
    await this.reporter.report({ kind: "r2", op: "delete", key: Array.isArray(keys) ? keys.join(",") : String(keys) });
    return this[INNER].delete(keys);
  }
  async list(options) {
    await this.reporter.report({ kind: "r2", op: "list", key: options?.prefix ?? "" });
    return this[INNER].list(options);
  }
  async createMultipartUpload(key, options) {
    await this.reporter.report({ kind: "r2", op: "createMultipartUpload", key: String(key) });
    return this[INNER].createMultipartUpload(key, options);
  }
  resumeMultipartUpload() {
    throw new Error("storage meter: R2 multipart uploads are not metered; add them to scripts/storage_meter_binding.mjs");
  }
}

// --- Durable Objects (the rate limiter) ------------------------------------------------------
// Ids and stubs cost no I/O; each `fetch` on a stub is one call to the object.
class DurableObjectStub {
  constructor(inner, name, reporter) {
    this[INNER] = inner;
    this.name = name;
    this.reporter = reporter;
  }
  async fetch(input, init) {
    await this.reporter.report({ kind: "do", op: "fetch", key: this.name ?? "" });
    return this[INNER].fetch(input, init);
  }
}

class DurableObjectNamespace {
  constructor(inner, reporter) {
    this[INNER] = inner;
    this.reporter = reporter;
    this.names = new WeakMap();
  }
  idFromName(name) {
    const id = this[INNER].idFromName(name);
    this.names.set(id, name);
    return id;
  }
  idFromString(hex) {
    return this[INNER].idFromString(hex);
  }
  newUniqueId(options) {
    return this[INNER].newUniqueId(options);
  }
  get(id, options) {
    return new DurableObjectStub(this[INNER].get(id, options), this.names.get(id), this.reporter);
  }
  getByName(name, options) {
    return new DurableObjectStub(this[INNER].getByName(name, options), name, this.reporter);
  }
}

const CLASSES = { d1: D1Database, kv: KvNamespace, r2: R2Bucket, do: DurableObjectNamespace };

/**
 * The binding object. `env.KIND` and `env.NAME` (JSON inner bindings set by scripts/worker.mjs)
 * say which kind of binding and which of this module's inner bindings it wraps.
 */
export default function (env) {
  const Class = CLASSES[env.KIND];
  if (!Class) throw new Error(`storage meter: unknown binding kind ${env.KIND}`);
  const inner = env[env.NAME];
  const make = (trace, state) => {
    const view = new Class(inner, new Reporter(env.METER, env.NAME, trace, state));
    // Non-enumerable, so the worker sees only the binding's API. `finish` is for the metered
    // entry: the request of this trace is finished.
    Object.defineProperty(view, "traced", { value: make, enumerable: false });
    Object.defineProperty(view, "finish", { value: (info) => env.METER.done(trace, info), enumerable: false });
    Object.defineProperty(view, "take", { value: (info, maxBytes) => env.METER.take(trace, info, maxBytes), enumerable: false });
    return view;
  };
  return make(UNTRACED, null);
}
