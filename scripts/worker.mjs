// How the built worker runs outside wrangler: the Miniflare options (bindings as in
// wrangler.toml) and the migrations, applied in-process. Shared by the black-box suite
// (tests/helpers.mjs) and the fuzz run (scripts/fuzz.mjs), so they test the same thing.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

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

const compatibilityDate = "2026-04-01";

/** The publish queue and its dead-letter queue, as in wrangler.toml. */
export const PUBLISH_QUEUE = "postbridge-publish";
export const PUBLISH_DLQ = "postbridge-publish-dlq";
/** The webhook queue, as in wrangler.toml. */
export const WEBHOOK_QUEUE = "postbridge-webhooks";
export const webhookQueueConsumers = {
  [WEBHOOK_QUEUE]: { maxBatchSize: 6, maxBatchTimeout: 0, maxRetries: 10 },
};
export const publishQueueConsumers = {
  [PUBLISH_QUEUE]: { maxBatchSize: 25, maxBatchTimeout: 0, maxRetries: 8, deadLetterQueue: PUBLISH_DLQ },
  [PUBLISH_DLQ]: { maxBatchSize: 10, maxBatchTimeout: 1 },
};
const PROBE_HOST = "storage-probe.internal";

/** Options of the built worker itself; `bindings` override the test defaults. */
function apiWorker(bindings) {
  return {
    name: "api",
    modules: true,
    scriptPath: path.join(root, "worker/entry.mjs"),
    modulesRoot: root,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate,
    d1Databases: { DB: "test-db" },
    kvNamespaces: ["AUTH_CACHE"],
    r2Buckets: ["MEDIA"],
    durableObjects: { RATE_LIMITER: "RateLimiter", PUBLISH_SCHEDULER: "PublishScheduler" },
    queueProducers: { PUBLISH_QUEUE: PUBLISH_QUEUE, WEBHOOK_QUEUE },
    queueConsumers: { ...publishQueueConsumers, ...webhookQueueConsumers },
    // The dashboard, as wrangler.toml's `[assets]`: files are answered before the worker runs.
    assets: { directory: path.join(root, "dashboard/dist"), routerConfig: { has_user_worker: true } },
    bindings: {
      ENVIRONMENT: "test",
      // Test runs send many requests per key: limits out of the way unless a run sets its own.
      RATE_LIMIT_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_15_MINUTES: "1000000",
      CREDENTIALS_KEY: "0f".repeat(32),
      MEDIA_CAPABILITY_SECRET: "test-capability-secret",
      ...bindings,
    },
  };
}

export const METER_HOST = "storage-meter.internal";
const METER_BINDING_WORKER = "storage-meter-binding";

/**
 * The storage meter (test-only): the built worker behind scripts/harness_entry.mjs, with D1, KV,
 * R2 and the rate limiter replaced by wrapped bindings (scripts/storage_meter_binding.mjs) that
 * report every call to the meter's ledger (scripts/storage_meter_worker.mjs) before forwarding
 * it to the same local storage. Returns the api worker's changed options and the two workers.
 */
function metered(api) {
  // Binding name → [Miniflare option, kind]. Bindings of these options not named here (added
  // later, say) stay on the api worker as they are, unmetered.
  const wrapped = { DB: ["d1Databases", "d1"], AUTH_CACHE: ["kvNamespaces", "kv"], MEDIA: ["r2Buckets", "r2"], RATE_LIMITER: ["durableObjects", "do"] };
  const asRecord = (v) => (Array.isArray(v) ? Object.fromEntries(v.map((n) => [n, n])) : { ...(v ?? {}) });
  const kept = {};
  const inner = {};
  for (const option of new Set(Object.values(wrapped).map(([o]) => o))) {
    kept[option] = asRecord(api[option]);
    inner[option] = {};
  }
  for (const [name, [option]] of Object.entries(wrapped)) {
    if (!(name in kept[option])) throw new Error(`storage meter: the api worker has no ${option} binding ${name}`);
    inner[option][name] = kept[option][name];
    delete kept[option][name];
  }
  // The rate limiter's class lives in the api worker.
  const rl = inner.durableObjects.RATE_LIMITER;
  inner.durableObjects.RATE_LIMITER = { ...(typeof rl === "string" ? { className: rl } : rl), scriptName: api.name };
  return {
    api: {
      ...api,
      ...kept,
      scriptPath: path.join(root, "scripts/harness_entry.mjs"),
      wrappedBindings: {
        ...api.wrappedBindings,
        ...Object.fromEntries(
          Object.entries(wrapped).map(([name, [, kind]]) => [name, { scriptName: METER_BINDING_WORKER, bindings: { KIND: kind, NAME: name } }]),
        ),
      },
    },
    workers: [
      {
        // Its bindings are the wrapped bindings' inner bindings: the real ones, and the ledger.
        name: METER_BINDING_WORKER,
        modules: true,
        scriptPath: path.join(root, "scripts/storage_meter_binding.mjs"),
        ...inner,
        serviceBindings: { METER: "storage-meter" },
      },
      {
        name: "storage-meter",
        modules: true,
        scriptPath: path.join(root, "scripts/storage_meter_worker.mjs"),
        compatibilityDate,
        routes: [`${METER_HOST}/*`],
      },
    ],
  };
}

/**
 * Miniflare options: the built worker (first, so every request that is not the probe's reaches
 * it) and the storage probe (scripts/storage_probe_worker.mjs) over the same D1, KV and R2.
 * `bindings` override the test defaults, `worker` adds per-worker options (outboundService),
 * `meter: true` serves the worker behind the storage meter (see `metered`), `isolates: n` adds
 * n - 1 copies of the worker, each its own isolate, reached at `http://api-<i>.test/` (i = 2…n),
 * over the same storage and the same rate-limiter objects; the rest are Miniflare's shared
 * options (host, port, handleRuntimeStdio).
 */
export function miniflareOptions({ bindings = {}, worker = {}, meter = false, isolates = 1, ...shared } = {}) {
  const api = { ...apiWorker(bindings), ...worker };
  const m = meter ? metered(api) : { api, workers: [] };
  // A copy's Durable Object bindings name the first worker's classes, so their objects are shared.
  const sharedObjects = Object.fromEntries(
    Object.entries(m.api.durableObjects ?? {}).map(([k, v]) => [k, { ...(typeof v === "string" ? { className: v } : v), scriptName: api.name }]),
  );
  // A queue has one consumer: the first worker's (copies may still send to it).
  const { queueConsumers: _consumers, ...copyOf } = m.api;
  const copies = Array.from({ length: isolates - 1 }, (_, i) => ({
    ...copyOf,
    name: `${api.name}-${i + 2}`,
    routes: [`${api.name}-${i + 2}.test/*`],
    durableObjects: sharedObjects,
  }));
  return {
    ...shared,
    workers: [
      m.api,
      ...copies,
      ...m.workers,
      {
        name: "storage-probe",
        modules: true,
        scriptPath: path.join(root, "scripts/storage_probe_worker.mjs"),
        compatibilityDate,
        routes: [`${PROBE_HOST}/*`],
        d1Databases: { DB: "test-db" },
        kvNamespaces: ["AUTH_CACHE"],
        r2Buckets: ["MEDIA"],
        queueProducers: { PUBLISH_QUEUE: PUBLISH_QUEUE },
        serviceBindings: { API: "api" },
      },
    ],
  };
}

/**
 * Direct access to the local storage the worker uses, shaped like the bindings' own API
 * (`db.prepare(sql).bind(...).first()/all()/run()`, `db.batch`, `kv.get/list`,
 * `bucket.get/head/put/list`), every call one async request to the storage probe.
 */
export class Storage {
  constructor(mf) {
    const call = async (route, body) => {
      const res = await mf.dispatchFetch(`http://${PROBE_HOST}/${route}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`storage probe ${route} (${res.status}): ${text}`);
      return JSON.parse(text).result;
    };
    const query = (mode) => (stmt) => call("d1/query", { mode, sql: stmt.sql, params: stmt.params });
    class Statement {
      constructor(sql, params = []) {
        this.sql = sql;
        this.params = params;
      }
      bind(...params) {
        return new Statement(this.sql, params);
      }
      async first(column) {
        const row = await query("first")(this);
        return column === undefined ? row : (row?.[column] ?? null);
      }
      all() { return query("all")(this); }
      run() { return query("run")(this); }
      raw() { return query("raw")(this); }
    }
    this.db = {
      prepare: (sql) => new Statement(sql),
      batch: (stmts) => call("d1/batch", { statements: stmts.map(({ sql, params }) => ({ sql, params })) }),
    };
    this.kv = {
      get: (key) => call("kv/get", { key }),
      list: (options = {}) => call("kv/list", { options }),
    };
    this.queue = {
      /** Sends each body as one message to the publish queue. */
      send: (messages) => call("queue/send", { messages }),
    };
    /** Fires the API worker's cron trigger; resolves when its handler has finished. */
    this.cron = (cron = "* * * * *") => call("cron", { cron });
    this.bucket = {
      async get(key) {
        const obj = await call("r2/get", { key });
        if (obj === null) return null;
        const bytes = Buffer.from(obj.base64, "base64");
        const body = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
        return { ...obj, arrayBuffer: async () => body };
      },
      head: (key) => call("r2/head", { key }),
      put: (key, bytes, httpMetadata = {}) => call("r2/put", { key, base64: Buffer.from(bytes).toString("base64"), httpMetadata }),
      list: (options = {}) => call("r2/list", { options }),
    };
  }
}

/** Applies every migration to the Miniflare instance's D1; returns its `Storage`. */
export async function migrate(mf) {
  const storage = new Storage(mf);
  await storage.db.batch(migrationStatements().map((s) => storage.db.prepare(s)));
  return storage;
}
