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

/** Miniflare options for the built worker; `bindings` override the test defaults. */
export function workerOptions({ bindings = {}, ...miniflare } = {}) {
  return {
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
    durableObjects: { RATE_LIMITER: "RateLimiter" },
    bindings: {
      ENVIRONMENT: "test",
      // Test runs send many requests per key: limits out of the way unless a run sets its own.
      RATE_LIMIT_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_15_MINUTES: "1000000",
      CREDENTIALS_KEY: "0f".repeat(32),
      MEDIA_CAPABILITY_SECRET: "test-capability-secret",
      ...bindings,
    },
    ...miniflare,
  };
}

/** Applies every migration to the Miniflare instance's D1. */
export async function migrate(mf) {
  const db = await mf.getD1Database("DB");
  await db.batch(migrationStatements().map((s) => db.prepare(s)));
  return db;
}
