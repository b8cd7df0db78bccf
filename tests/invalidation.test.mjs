// Invalidation that scales (issue 11, item 3): a change to what a user's credentials reach costs
// a constant number of KV writes, whatever the number of their keys and sessions (one auth epoch
// per user, src/auth/cache.rs); expired sessions are purged; keys per user are capped; KV is a
// cache on the authentication path, never a reason to fail a request.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker, assertError, logLines, logsSettled } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

/** KV reads and writes a response's Server-Timing reports. */
function kvOps(res) {
  const desc = res.timing.kv?.desc ?? "";
  const count = (word) => Number(desc.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0);
  return { reads: count("read"), writes: count("write") };
}

const hex = (n) => crypto.randomBytes(n).toString("hex");
const alnum = (n) => {
  const a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return Array.from(crypto.randomBytes(n), (b) => a[b % 62]).join("");
};
const iso = (ms) => new Date(ms).toISOString();

/**
 * Gives `userId` `keys` more live API keys and `sessions` more sessions, written straight into
 * D1 (as a user who minted them before the cap, or logged in from many devices, would have).
 */
async function pile(userId, { keys = 0, sessions = 0, wsId = null } = {}) {
  const now = iso(Date.now());
  const later = iso(Date.now() + 86_400_000);
  const stmts = [];
  for (let i = 0; i < keys; i++) {
    const scoped = wsId && i % 2 === 0;
    stmts.push(
      app.db
        .prepare("INSERT INTO api_keys (id, user_id, name, prefix, key_hash, access, workspace_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(`key_${alnum(16)}`, userId, `piled ${i}`, alnum(8), hex(32), scoped ? "scoped" : "full", scoped ? JSON.stringify([wsId]) : "[]", now),
    );
  }
  for (let i = 0; i < sessions; i++) {
    stmts.push(
      app.db
        .prepare("INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
        .bind(`sess_${alnum(16)}`, userId, hex(32), now, later),
    );
  }
  for (let i = 0; i < stmts.length; i += 100) await app.db.batch(stmts.slice(i, i + 100));
}

/** An owner with a workspace, and a member of it holding real keys (warm) and 300 piled ones. */
async function crowdedMember() {
  const owner = await app.signup();
  const ws = await app.createWorkspace(owner.token);
  const member = await app.signup();
  await app.addMember(owner.token, ws.id, member.email, "EDITOR");
  const full = (await app.mintKey(member.token, { name: "full" })).key;
  const scopedKey = await app.mintKey(member.token, { name: "scoped", access: "scoped", workspaceIds: [ws.id] });
  const scoped = scopedKey.key;
  await pile(member.user.id, { keys: 300, sessions: 50, wsId: ws.id });
  await app.warm(owner.token, member.token, full, scoped);
  for (const token of [member.token, full, scoped]) {
    assert.equal((await app.get(`/workspaces/${ws.id}`, { token })).status, 200);
  }
  return { owner, ws, member, full, scoped, scopedId: scopedKey.id };
}

const credentialCount = async (userId) =>
  (await app.count("api_keys", "user_id = ? AND revoked_at IS NULL", userId)) + (await app.count("sessions", "user_id = ?", userId));

describe("a user with 300 keys and 50 sessions", () => {
  test("removed from a workspace: one KV write, and every credential loses it at once", async () => {
    const { owner, ws, member, full, scoped } = await crowdedMember();
    assert.ok((await credentialCount(member.user.id)) >= 350);
    const res = await app.delete(`/workspaces/${ws.id}/members/${member.user.id}`, { token: owner.token });
    assert.equal(res.status, 204, res.text);
    const { reads, writes } = kvOps(res);
    // The member's new epoch, and at most the owner's own principal if it had to be re-read.
    assert.ok(writes >= 1 && writes <= 2, `Server-Timing: ${res.headers.get("server-timing")}`);
    assert.ok(reads + writes <= 4, `Server-Timing: ${res.headers.get("server-timing")}`);
    for (const token of [member.token, full, scoped]) {
      assertError(await app.get(`/workspaces/${ws.id}`, { token }), 403, "WORKSPACE_FORBIDDEN");
    }
    // The epoch other isolates and locations compare against is in KV, and equals D1's.
    const epoch = await app.db.prepare("SELECT auth_epoch FROM users WHERE id = ?").bind(member.user.id).first("auth_epoch");
    assert.equal(await app.kv.get(`epoch:${member.user.id}`), String(epoch));
  });

  test("deleting their workspace writes one KV entry per member, not per credential", async () => {
    const { owner, ws, member, full } = await crowdedMember();
    const res = await app.delete(`/workspaces/${ws.id}`, { token: owner.token });
    assert.equal(res.status, 204, res.text);
    // Two members: two epochs, plus at most the owner's principal.
    const { writes } = kvOps(res);
    assert.ok(writes >= 2 && writes <= 3, `Server-Timing: ${res.headers.get("server-timing")}`);
    assertError(await app.get(`/workspaces/${ws.id}`, { token: full }), 403, "WORKSPACE_FORBIDDEN");
    assertError(await app.get(`/workspaces/${ws.id}`, { token: owner.token }), 403, "WORKSPACE_FORBIDDEN");
    assert.equal((await app.get("/workspaces", { token: member.token })).body.length, 0);
  });

  test("revoking one of their keys: one KV write; that key is 401 at once, the others still work", async () => {
    const { ws, member, full, scoped, scopedId } = await crowdedMember();
    const res = await app.delete(`/api-keys/${scopedId}`, { token: member.token });
    assert.equal(res.status, 204, res.text);
    assert.ok(kvOps(res).writes <= 2, `Server-Timing: ${res.headers.get("server-timing")}`);
    assertError(await app.get("/me", { token: scoped }), 401, "UNAUTHORIZED");
    assert.equal((await app.get(`/workspaces/${ws.id}`, { token: full })).status, 200);
    assert.equal((await app.get(`/workspaces/${ws.id}`, { token: member.token })).status, 200);
  });

  test("logging out: one KV write; the session is gone and the user's keys still work", async () => {
    const { ws, member, full } = await crowdedMember();
    const res = await app.post("/auth/logout", undefined, { token: member.token });
    assert.equal(res.status, 204, res.text);
    assert.ok(kvOps(res).writes <= 2, `Server-Timing: ${res.headers.get("server-timing")}`);
    assertError(await app.get("/me", { token: member.token }), 401, "UNAUTHORIZED");
    assert.equal((await app.get(`/workspaces/${ws.id}`, { token: full })).status, 200);
  });

  test("a role change reaches every credential at once with one KV write", async () => {
    const { owner, ws, member, full } = await crowdedMember();
    const res = await app.patch(`/workspaces/${ws.id}/members/${member.user.id}`, { role: "CLIENT_REVIEWER" }, { token: owner.token });
    assert.equal(res.status, 200, res.text);
    assert.ok(kvOps(res).writes <= 2, `Server-Timing: ${res.headers.get("server-timing")}`);
    const me = await app.get("/me", { token: full });
    assert.equal(me.body.workspaces.find((w) => w.id === ws.id).role, "CLIENT_REVIEWER");
  });
});

describe("KV is a cache on the authentication path", () => {
  test("with the KV namespace unusable, every credential still authenticates (from D1) and changes still apply", async () => {
    // No KV binding at all, so no storage meter either (it wraps the binding that is not there).
    const broken = await startWorker({ worker: { kvNamespaces: [] }, meter: false });
    try {
      const email = `kvless-${hex(4)}@example.com`;
      const signup = await broken.post("/auth/signup", { email, name: "No KV", password: "correct horse battery" });
      assert.equal(signup.status, 201, signup.text);
      const token = signup.body.token;
      const ws = await broken.post("/workspaces", { name: "Without KV" }, { token });
      assert.equal(ws.status, 201, ws.text);
      const key = await broken.post("/api-keys", { name: "k" }, { token });
      assert.equal(key.status, 201, key.text);
      for (let i = 0; i < 2; i++) {
        const me = await broken.get("/me", { token: key.body.key });
        assert.equal(me.status, 200, me.text);
        assert.deepEqual(me.body.workspaces.map((w) => w.id), [ws.body.id]);
      }
      assert.equal((await broken.delete(`/api-keys/${key.body.id}`, { token })).status, 204);
      assertError(await broken.get("/me", { token: key.body.key }), 401, "UNAUTHORIZED");
      await logsSettled();
      assert.ok(logLines.some((l) => l.includes('"level":"warn"') && l.includes("AUTH_CACHE")), "the KV failure is logged");
    } finally {
      await broken.dispose();
    }
  });
});

describe("expired sessions are purged", () => {
  test("at login, the user's expired sessions are deleted in the same batch", async () => {
    const user = await app.signup();
    const stale = hex(32);
    await app.db
      .prepare("INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
      .bind(`sess_${alnum(16)}`, user.user.id, stale, iso(Date.now() - 40 * 86_400_000), iso(Date.now() - 86_400_000))
      .run();
    assert.equal(await app.count("sessions", "user_id = ?", user.user.id), 2);
    const res = await app.post("/auth/login", { email: user.email, password: user.password });
    assert.equal(res.status, 200, res.text);
    assert.equal(await app.count("sessions", "token_hash = ?", stale), 0);
    assert.equal(await app.count("sessions", "user_id = ?", user.user.id), 2, "the live one and the new one");
  });

  test("the cron sweep deletes every expired session, and no live one", async () => {
    const user = await app.signup();
    const past = iso(Date.now() - 1000);
    const stmts = [];
    for (let i = 0; i < 30; i++) {
      stmts.push(
        app.db
          .prepare("INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
          .bind(`sess_${alnum(16)}`, user.user.id, hex(32), past, past),
      );
    }
    await app.db.batch(stmts);
    const worker = await app.mf.getWorker();
    await worker.scheduled({ cron: "*/5 * * * *" });
    assert.equal(await app.count("sessions", "expires_at < ?", iso(Date.now())), 0);
    assert.equal((await app.get("/me", { token: user.token })).status, 200, "the live session survives");
  });
});

describe("API keys per user are capped", () => {
  test("the 101st live key is 409 KEY_LIMIT_REACHED and writes nothing; revoked or expired keys do not count", async () => {
    const user = await app.signup();
    await pile(user.user.id, { keys: 99 });
    const hundredth = await app.post("/api-keys", { name: "100th" }, { token: user.token });
    assert.equal(hundredth.status, 201, hundredth.text);
    const before = await app.count("api_keys", "user_id = ?", user.user.id);
    for (const [route, body] of [
      ["/api-keys", { name: "101st" }],
      [`/workspaces/${(await app.createWorkspace(user.token)).id}/api-keys`, { name: "101st, shorthand" }],
    ]) {
      const res = await app.post(route, body, { token: user.token });
      assertError(res, 409, "KEY_LIMIT_REACHED");
      assert.match(res.body.message, /100/);
    }
    assert.equal(await app.count("api_keys", "user_id = ?", user.user.id), before);
    // Revoking one frees a place.
    assert.equal((await app.delete(`/api-keys/${hundredth.body.id}`, { token: user.token })).status, 204);
    assert.equal((await app.post("/api-keys", { name: "again" }, { token: user.token })).status, 201);
    // Expired keys do not count.
    await app.db.prepare("UPDATE api_keys SET expires_at = ? WHERE user_id = ? AND name LIKE 'piled %'").bind(iso(Date.now() - 1000), user.user.id).run();
    assert.equal((await app.post("/api-keys", { name: "after expiry" }, { token: user.token })).status, 201);
  });
});
