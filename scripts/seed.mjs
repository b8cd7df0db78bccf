// Seeds the local D1 database (the one `wrangler dev` uses) with demo data, idempotently:
// one user, two workspaces, a full-access key and a key scoped to the first workspace.
//
// Key plaintexts are generated once and kept in .wrangler/demo-credentials.json (git-ignored,
// beside the local database), so every `make dev` prints the same working keys. Rows use
// fixed ids and INSERT OR IGNORE / OR REPLACE, so running this twice changes nothing.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { newToken, sha256 } from "./keys.mjs";

const CREDS = ".wrangler/demo-credentials.json";
const newKey = () => newToken("pb_live_");
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

const demo = {
  email: "demo@postbridge.dev",
  password: "demo-password-123",
  userId: "usr_demo000000000000",
  workspaces: [
    { id: "ws_demoAcme00000000", name: "Acme Coffee", slug: "acme-coffee" },
    { id: "ws_demoGlobex000000", name: "Globex Shoes", slug: "globex-shoes" },
  ],
  keys: { full: "key_demoFull00000000", scoped: "key_demoScoped000000" },
};

fs.mkdirSync(".wrangler", { recursive: true });
const creds = fs.existsSync(CREDS) ? JSON.parse(fs.readFileSync(CREDS, "utf8")) : { full: newKey(), scoped: newKey() };
fs.writeFileSync(CREDS, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });

const started = Date.now();
const now = new Date(started).toISOString();
// Distinct creation times keep "oldest first" well defined for the two workspaces.
const at = (i) => new Date(started + i).toISOString();
const salt = crypto.randomBytes(16);
const hash = crypto.pbkdf2Sync(demo.password, salt, 100000, 32, "sha256").toString("hex");
const passwordHash = `pbkdf2_sha256$100000$${salt.toString("hex")}$${hash}`;

const sql = [
  `INSERT OR IGNORE INTO users (id, email, name, password_hash, created_at) VALUES (${q(demo.userId)}, ${q(demo.email)}, 'Demo User', ${q(passwordHash)}, ${q(now)});`,
  ...demo.workspaces.flatMap((w, i) => [
    `INSERT OR IGNORE INTO workspaces (id, name, slug, timezone, require_approval, created_by, created_at, updated_at) VALUES (${q(w.id)}, ${q(w.name)}, ${q(w.slug)}, 'Europe/Paris', 0, ${q(demo.userId)}, ${q(at(i))}, ${q(at(i))});`,
    `INSERT OR IGNORE INTO memberships (workspace_id, user_id, role, created_at, workspace_created_at) VALUES (${q(w.id)}, ${q(demo.userId)}, 'OWNER', ${q(at(i))}, ${q(at(i))});`,
  ]),
  `INSERT OR REPLACE INTO api_keys (id, user_id, name, prefix, key_hash, access, workspace_ids, created_at) VALUES (${q(demo.keys.full)}, ${q(demo.userId)}, 'Demo full-access key', ${q(creds.full.slice(8, 16))}, ${q(sha256(creds.full))}, 'full', '[]', ${q(now)});`,
  `INSERT OR REPLACE INTO api_keys (id, user_id, name, prefix, key_hash, access, workspace_ids, created_at) VALUES (${q(demo.keys.scoped)}, ${q(demo.userId)}, 'Demo key scoped to Acme Coffee', ${q(creds.scoped.slice(8, 16))}, ${q(sha256(creds.scoped))}, 'scoped', ${q(JSON.stringify([demo.workspaces[0].id]))}, ${q(now)});`,
].join("\n");

const file = path.join(os.tmpdir(), `postbridge-seed-${process.pid}.sql`);
fs.writeFileSync(file, sql);
try {
  execFileSync("npx", ["wrangler", "d1", "execute", "postbridge", "--local", "--file", file], { stdio: ["ignore", "ignore", "inherit"] });
} finally {
  fs.unlinkSync(file);
}

const [acme, globex] = demo.workspaces;
console.log(`
Demo data is in the local database.
  user:            ${demo.email} / ${demo.password}
  workspaces:      ${acme.name} (${acme.id}), ${globex.name} (${globex.id})
  full-access key: ${creds.full}
  scoped key:      ${creds.scoped}   (reaches ${acme.name} only)

Dashboard: http://127.0.0.1:8787/ (sign in as the user above)

Try:
  curl -s http://127.0.0.1:8787/api/v1/workspaces -H "Authorization: Bearer ${creds.full}"
  curl -s http://127.0.0.1:8787/api/v1/workspaces/${globex.id} -H "Authorization: Bearer ${creds.scoped}"   # 403
`);
