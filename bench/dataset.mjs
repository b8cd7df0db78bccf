// The benchmark's data set: fixed, seeded-random, inserted straight into D1.
//
// `generate(spec)` is pure and deterministic (same spec, same rows, same keys), so the parent
// process can learn ids and keys without asking the child that holds the database, and the
// minimal worker's database holds exactly the product's rows.
//
// Formats follow the product: ids per src/domain/ids.rs (`ws_` + 16 base62; owned ids
// `post_`/`soc_`/`tgt_` + the workspace's 16 characters + 16 random), keys per
// scripts/keys.mjs, as scripts/seed.mjs makes them (`pb_live_` + 26 random base62 + 6-character
// base62 CRC32, stored as SHA-256 hex), times fixed-width RFC 3339 (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
import crypto from "node:crypto";
import { newToken, randomBase62, sha256 } from "../scripts/keys.mjs";

/** mulberry32: a small, fast, seedable PRNG (not for secrets; these are bench fixtures). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (ms) => new Date(ms).toISOString(); // always YYYY-MM-DDTHH:MM:SS.mmmZ for these years

const PLATFORMS = ["INSTAGRAM", "X", "LINKEDIN_COMPANY"];
// Creation times spread over Q1 2026; scheduled posts in 2027, so they stay in the future.
const T0 = Date.UTC(2026, 0, 1);
const SPREAD_MS = 90 * 24 * 3600 * 1000;
const FUTURE = Date.UTC(2027, 0, 1);
// PBKDF2 of "bench-password-123" with a fixed salt, computed once (the bench never logs in).
let passwordHash;
function benchPasswordHash() {
  if (!passwordHash) {
    const salt = Buffer.alloc(16, 7);
    const hash = crypto.pbkdf2Sync("bench-password-123", salt, 100000, 32, "sha256").toString("hex");
    passwordHash = `pbkdf2_sha256$100000$${salt.toString("hex")}$${hash}`;
  }
  return passwordHash;
}

/**
 * One user with `workspaces` workspaces (3 social accounts each), `posts` posts spread over
 * them at random (1–3 targets each), a full-access key and a key scoped to the first workspace.
 * `tag` keeps e-mails and slugs unique when several users share one database.
 */
export function generate({ seed, tag, workspaces, posts }) {
  const rand = prng(seed);
  // Seeded bytes through the same base62 draw and key format as the worker and scripts/seed.mjs.
  const bytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const b62 = (n) => randomBase62(n, bytes);
  const newKey = () => newToken("pb_live_", bytes);

  const userId = `usr_${b62(16)}`;
  const created = iso(T0 - 1000);
  const user = { id: userId, email: `bench-${tag}@postbridge.dev`, name: `Bench ${tag}`, password_hash: benchPasswordHash(), created_at: created };

  const ws = [];
  const memberships = [];
  const accounts = [];
  for (let i = 0; i < workspaces; i++) {
    const part = b62(16);
    const at = iso(T0 - 1000 + i + 1);
    const w = { id: `ws_${part}`, part, name: `Brand ${tag} ${String(i).padStart(4, "0")}`, slug: `bench-${tag}-${i}`, timezone: "UTC", require_approval: 0, created_by: userId, created_at: at, updated_at: at, accounts: [] };
    ws.push(w);
    memberships.push({ workspace_id: w.id, user_id: userId, role: "OWNER", created_at: at, workspace_created_at: at });
    PLATFORMS.forEach((platform, j) => {
      const a = { id: `soc_${part}${b62(16)}`, workspace_id: w.id, platform, handle: `@brand${i}_${j}`, display_name: `Brand ${i} on ${platform}`, status: "ACTIVE", created_at: at, updated_at: at };
      accounts.push(a);
      w.accounts.push(a.id);
    });
  }

  const postRows = [];
  const targets = [];
  const postsPerWs = new Map();
  for (let i = 0; i < posts; i++) {
    const w = ws[Math.floor(rand() * workspaces)];
    const id = `post_${w.part}${b62(16)}`;
    // Distinct creation times (ms resolution) keep the keyset order total.
    const createdMs = T0 + Math.floor((i / posts) * SPREAD_MS) + (i % 1000);
    const r = rand();
    const status = r < 0.3 ? "DRAFT" : r < 0.7 ? "SCHEDULED" : "PUBLISHED";
    const scheduled = status === "SCHEDULED" ? iso(FUTURE + Math.floor(rand() * SPREAD_MS)) : status === "PUBLISHED" ? iso(createdMs + 3600_000) : null;
    const content = `Bench post ${i} for ${w.name}: fresh roast, new colours, same great team. #brand${tag} #post${i}`;
    postRows.push({ id, workspace_id: w.id, content, status, scheduled_for: scheduled, media_ids: "[]", created_by: userId, created_at: iso(createdMs), updated_at: iso(createdMs) });
    const n = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < n; k++) {
      targets.push({
        id: `tgt_${w.part}${b62(16)}`,
        workspace_id: w.id,
        post_id: id,
        account_id: w.accounts[k],
        position: k,
        status: status === "PUBLISHED" ? "PUBLISHED" : "PENDING",
        published_at: status === "PUBLISHED" ? scheduled : null,
        created_at: iso(createdMs),
      });
    }
    if (!postsPerWs.has(w.id)) postsPerWs.set(w.id, []);
    postsPerWs.get(w.id).push({ id, targets: n });
  }

  const fullKey = newKey();
  const scopedKey = newKey();
  const keys = [
    { id: `key_${b62(16)}`, user_id: userId, name: "bench full", prefix: fullKey.slice(8, 16), key_hash: sha256(fullKey), access: "full", workspace_ids: "[]", created_at: created },
    { id: `key_${b62(16)}`, user_id: userId, name: "bench scoped", prefix: scopedKey.slice(8, 16), key_hash: sha256(scopedKey), access: "scoped", workspace_ids: JSON.stringify([ws[0].id]), created_at: created },
  ];

  const tables = {
    users: [user],
    workspaces: ws.map(({ part, accounts: _a, ...row }) => row),
    memberships,
    social_accounts: accounts,
    posts: postRows,
    post_targets: targets,
    api_keys: keys,
  };
  return { tables, userId, fullKey, scopedKey, workspaces: ws.map((w) => ({ id: w.id, accounts: w.accounts })), postsPerWs };
}

/**
 * The rows as D1 statements: one `INSERT … SELECT … FROM json_each(?1)` per chunk, so a chunk
 * of any size binds one parameter (D1 allows at most 100 per statement).
 */
export function insertStatements(db, tables, chunk = 1000) {
  const stmts = [];
  for (const [table, rows] of Object.entries(tables)) {
    if (rows.length === 0) continue;
    const cols = Object.keys(rows[0]);
    const sql = `INSERT INTO ${table} (${cols.join(", ")}) SELECT ${cols.map((c) => `json_extract(value, '$.${c}')`).join(", ")} FROM json_each(?1)`;
    for (let i = 0; i < rows.length; i += chunk) {
      stmts.push(db.prepare(sql).bind(JSON.stringify(rows.slice(i, i + chunk))));
    }
  }
  return stmts;
}
