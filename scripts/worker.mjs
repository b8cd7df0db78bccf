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

/**
 * Miniflare options: the built worker (first, so every request that is not the probe's reaches
 * it) and the storage probe (scripts/storage_probe_worker.mjs) over the same D1, KV and R2.
 * `bindings` override the test defaults, `worker` adds per-worker options (outboundService),
 * the rest are Miniflare's shared options (host, port, handleRuntimeStdio).
 */
export function miniflareOptions({ bindings = {}, worker = {}, ...shared } = {}) {
  return {
    ...shared,
    workers: [
      { ...apiWorker(bindings), ...worker },
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
 * `bucket.get/head/list`), every call one async request to the storage probe.
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
