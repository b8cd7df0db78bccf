// API keys: POST/GET /api-keys, DELETE /api-keys/{keyId}, and the workspace shorthand
// POST /workspaces/{id}/api-keys, DELETE /workspaces/{id}/api-keys/{keyId}.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker, assertError, assertInvalid, assertNoStorage, assertUntouched, withoutRequestId, ghostWorkspaceId, tick } from "./helpers.mjs";

const KEY_SHAPE = /^pb_live_[0-9A-Za-z]{32}$/;
const sha256 = (s) => crypto.createHash("sha256").update(s).digest("hex");

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

/**
 * Every row that a refusal could have written or changed, `last_used_at` included: only a
 * successful request counts as a use of a key.
 */
async function snapshot() {
  const all = async (sql) => (await app.db.prepare(sql).all()).results;
  return {
    users: await all("SELECT * FROM users ORDER BY id"),
    sessions: await all("SELECT * FROM sessions ORDER BY id"),
    workspaces: await all("SELECT * FROM workspaces ORDER BY id"),
    memberships: await all("SELECT * FROM memberships ORDER BY workspace_id, user_id"),
    apiKeys: await all("SELECT * FROM api_keys ORDER BY id"),
  };
}

/** Uses a credential once, so its principal is cached and later refusals can show no d1. */
async function warm(token) {
  const res = await app.get("/me", { token });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function keyRow(id) {
  return app.db.prepare("SELECT * FROM api_keys WHERE id = ?").bind(id).first();
}

/** The 401 every unusable credential gets, for comparing bodies. */
async function plain401() {
  const res = await app.get("/me");
  assertError(res, 401, "UNAUTHORIZED");
  return withoutRequestId(res.text);
}

describe("POST /api-keys", () => {
  test("mints a full-access key by default and shows its plaintext once", async () => {
    const { token, user } = await app.signup();
    const ws = await app.createWorkspace(token);
    const res = await app.post("/api-keys", { name: "CI deploys" }, { token });
    assert.equal(res.status, 201, res.text);
    const k = res.body;
    assert.match(k.key, KEY_SHAPE);
    assert.equal(k.prefix, k.key.slice(8, 16));
    assert.match(k.id, /^key_[0-9A-Za-z]{16}$/);
    assert.equal(k.name, "CI deploys");
    assert.equal(k.access, "full");
    assert.deepEqual(k.workspaceIds, []);
    assert.equal(k.expiresAt, null);
    assert.equal(k.lastUsedAt, null);
    assert.ok(Date.parse(k.createdAt) <= Date.now());
    // A key has no GET of its own (it is listed under GET /api-keys), so no Location header.
    assert.equal(res.headers.get("location"), null);

    const me = await app.get("/me", { token: k.key });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.user.id, user.id);
    assert.equal(me.body.credential.kind, "api_key");
    assert.equal(me.body.credential.access, "full");
    assert.deepEqual(me.body.workspaces, [{ id: ws.id, role: "OWNER" }]);
  });

  test("D1 keeps only the SHA-256 of the key, and the plaintext is in no column anywhere", async () => {
    const { token } = await app.signup();
    const k = await app.mintKey(token, { name: "hashed" });
    // Use it once so every cache layer has seen it too.
    await warm(k.key);
    const row = await keyRow(k.id);
    assert.equal(row.key_hash, sha256(k.key));
    assert.equal(row.prefix, k.key.slice(8, 16));
    const secret = k.key.slice(8);
    for (const [column, value] of Object.entries(row)) {
      assert.ok(!String(value).includes(secret), `api_keys.${column} holds the key`);
    }
    const tables = (await app.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all()).results;
    assert.ok(tables.length > 0);
    for (const { name } of tables) {
      const rows = (await app.db.prepare(`SELECT * FROM "${name}"`).all()).results;
      assert.ok(!JSON.stringify(rows).includes(secret), `table ${name} holds the key`);
    }
    const cached = await app.kv.list();
    for (const { name } of cached.keys) {
      assert.ok(!name.includes(secret), `KV key ${name} holds the key`);
      assert.ok(!String(await app.kv.get(name)).includes(secret), `KV value of ${name} holds the key`);
    }
  });

  test("mints a scoped key that reaches exactly its listed workspaces", async () => {
    const { session, ws1, ws2, owner } = await app.personas();
    const res = await app.post("/api-keys", { name: "client A", access: "scoped", workspaceIds: [ws1.id] }, { token: session });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.key, KEY_SHAPE);
    assert.equal(res.body.prefix, res.body.key.slice(8, 16));
    assert.equal(res.body.access, "scoped");
    assert.deepEqual(res.body.workspaceIds, [ws1.id]);
    const row = await keyRow(res.body.id);
    assert.equal(row.key_hash, sha256(res.body.key));
    assert.equal(row.access, "scoped");
    assert.deepEqual(JSON.parse(row.workspace_ids), [ws1.id]);
    assert.equal(row.user_id, owner.user.id);

    const key = res.body.key;
    assert.equal((await app.get(`/workspaces/${ws1.id}`, { token: key })).status, 200);
    assertError(await app.get(`/workspaces/${ws2.id}`, { token: key }), 403, "WORKSPACE_FORBIDDEN");
  });

  test("a workspace the user is not in is 403 WORKSPACE_FORBIDDEN and writes nothing", async () => {
    const { session, ws1, foreign } = await app.personas();
    await warm(session);
    for (const workspaceIds of [[foreign.id], [ws1.id, foreign.id], [ghostWorkspaceId()]]) {
      const before = await snapshot();
      const res = await app.post("/api-keys", { name: "sneaky", access: "scoped", workspaceIds }, { token: session });
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
      assert.deepEqual(await snapshot(), before);
    }
  });

  test("a scoped key needs at least one workspace id: 400 and nothing written", async () => {
    const { session } = await app.personas();
    for (const body of [
      { name: "no ids", access: "scoped" },
      { name: "empty ids", access: "scoped", workspaceIds: [] },
      { name: "null ids", access: "scoped", workspaceIds: null },
    ]) {
      const before = await snapshot();
      const res = await app.post("/api-keys", body, { token: session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["workspaceIds"], res.text);
      assert.deepEqual(await snapshot(), before);
    }
  });

  test("workspaceIds with full access is 400 and nothing written", async () => {
    const { session, ws1 } = await app.personas();
    for (const body of [
      { name: "full with ids", access: "full", workspaceIds: [ws1.id] },
      { name: "default with ids", workspaceIds: [ws1.id] },
    ]) {
      const before = await snapshot();
      const res = await app.post("/api-keys", body, { token: session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["workspaceIds"], res.text);
      assert.deepEqual(await snapshot(), before);
    }
  });

  test("an unknown access mode, a missing name and unknown fields are 400 with details", async () => {
    const { session } = await app.personas();
    const before = await snapshot();
    const res = await app.post("/api-keys", { access: "admin", owner: "me" }, { token: session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field).sort(), ["access", "name", "owner"]);
    assert.deepEqual(await snapshot(), before);
  });

  test("an expiresAt in the past, or not a date, is 400 and nothing written", async () => {
    const { token } = await app.signup();
    for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), "2001-01-01T00:00:00Z", "tomorrow"]) {
      const before = await snapshot();
      const res = await app.post("/api-keys", { name: "old", expiresAt }, { token });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["expiresAt"], res.text);
      assert.deepEqual(await snapshot(), before);
    }
  });

  test("an expiresAt with an offset is stored and returned in UTC", async () => {
    const { token } = await app.signup();
    // Two years on: inside the 1826-day horizon whatever today is.
    const year = new Date().getUTCFullYear() + 2;
    const k = await app.mintKey(token, { name: "offset", expiresAt: `${year}-06-30T23:30:00+02:00` });
    assert.equal(k.expiresAt, `${year}-06-30T21:30:00.000Z`);
    assert.equal((await keyRow(k.id)).expires_at, `${year}-06-30T21:30:00.000Z`);
  });

  test("a key with an expiry works until then, and is 401 UNAUTHORIZED from that millisecond on", async () => {
    const { token } = await app.signup();
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const k = await app.mintKey(token, { name: "short-lived", expiresAt });
    assert.equal(k.expiresAt, expiresAt);
    assert.equal((await keyRow(k.id)).expires_at, expiresAt);
    assert.equal((await app.get("/me", { token: k.key })).status, 200);
    // The worker's clock, not the wall clock, is moved: to just before the expiry, then onto it.
    try {
      await app.setClock(Date.parse(expiresAt) - Date.now() - 60_000);
      assert.equal((await app.get("/me", { token: k.key })).status, 200);
      await app.setClock(Date.parse(expiresAt) - Date.now());
      const res = await app.get("/me", { token: k.key });
      assertError(res, 401, "UNAUTHORIZED");
      assert.equal(withoutRequestId(res.text), await plain401());
    } finally {
      await app.setClock(0);
    }
    assert.equal((await app.get("/me", { token: k.key })).status, 200, "the key is live again on the wall clock");
  });
});

describe("GET /api-keys", () => {
  test("lists the user's own live keys newest first, with prefixes and never a key", async () => {
    const { token } = await app.signup();
    const other = await app.signup();
    const theirs = await app.mintKey(other.token, { name: "not yours" });
    const minted = [];
    for (const name of ["first", "second", "third"]) {
      minted.push(await app.mintKey(token, { name }));
      await tick();
    }
    const revoked = await app.mintKey(token, { name: "revoked" });
    assert.equal((await app.delete(`/api-keys/${revoked.id}`, { token })).status, 204);

    const res = await app.get("/api-keys", { token });
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body));
    assert.deepEqual(res.body.map((k) => k.id), minted.map((k) => k.id).reverse());
    for (const [i, k] of res.body.entries()) {
      const m = minted[minted.length - 1 - i];
      assert.equal(k.key, undefined);
      assert.equal(k.prefix, m.key.slice(8, 16));
      assert.equal(k.name, m.name);
      assert.equal(k.access, "full");
    }
    for (const k of [...minted, revoked, theirs]) assert.ok(!res.text.includes(k.key.slice(8)), "a plaintext key leaked");
    assert.ok(!res.text.includes(theirs.id));
    assert.ok(!res.text.includes(revoked.id));
  });

  test("paginates with a Link header and an opaque cursor", async () => {
    const { token } = await app.signup();
    const minted = [];
    for (let i = 0; i < 3; i++) {
      minted.push(await app.mintKey(token, { name: `page ${i}` }));
      await tick();
    }
    const newestFirst = minted.map((k) => k.id).reverse();
    const first = await app.get("/api-keys?limit=2", { token });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.map((k) => k.id), newestFirst.slice(0, 2));
    const link = first.headers.get("link");
    const m = /^<([^>]+)>; rel="next"$/.exec(link ?? "");
    assert.ok(m, `Link: ${link}`);
    assert.match(m[1], /[?&]limit=2(&|$)/);
    assert.match(m[1], /[?&]cursor=[^&]+/);
    const second = await app.get(m[1], { token });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body.map((k) => k.id), newestFirst.slice(2));
    assert.equal(second.headers.get("link"), null);
    const all = await app.get("/api-keys", { token });
    assert.equal(all.headers.get("link"), null);
    assert.deepEqual(all.body.map((k) => k.id), newestFirst);
  });

  test("a bad limit or cursor is 400", async () => {
    const { token } = await app.signup();
    assertInvalid(await app.get("/api-keys?limit=0", { token }), "limit");
    assertInvalid(await app.get("/api-keys?limit=201", { token }), "limit");
    assertInvalid(await app.get("/api-keys?cursor=nonsense", { token }), "cursor");
  });
});

describe("DELETE /api-keys/{keyId}", () => {
  test("revokes at once: 204, and the very next request with that key is 401", async () => {
    const { token } = await app.signup();
    const k = await app.mintKey(token, { name: "to revoke" });
    // Warm every cache layer, so the revoke has something to invalidate.
    await warm(k.key);
    await warm(k.key);
    const res = await app.delete(`/api-keys/${k.id}`, { token });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, "");
    const after = await app.get("/me", { token: k.key });
    assertError(after, 401, "UNAUTHORIZED");
    assert.equal(withoutRequestId(after.text), await plain401());
    assert.ok((await keyRow(k.id)).revoked_at);
    const list = await app.get("/api-keys", { token });
    assert.ok(!list.body.some((x) => x.id === k.id));
  });

  test("a key revoked before its first use is refused at once", async () => {
    const { token } = await app.signup();
    const k = await app.mintKey(token, { name: "never used" });
    assert.equal((await app.delete(`/api-keys/${k.id}`, { token })).status, 204);
    assertError(await app.get("/me", { token: k.key }), 401, "UNAUTHORIZED");
  });

  test("revoking twice is 404 the second time", async () => {
    const { token } = await app.signup();
    const k = await app.mintKey(token);
    assert.equal((await app.delete(`/api-keys/${k.id}`, { token })).status, 204);
    const revokedAt = (await keyRow(k.id)).revoked_at;
    assertError(await app.delete(`/api-keys/${k.id}`, { token }), 404, "NOT_FOUND");
    assert.equal((await keyRow(k.id)).revoked_at, revokedAt);
  });

  test("someone else's key id is 404 and the key stays live", async () => {
    const { session, fullKey, stranger } = await app.personas();
    const id = (await warm(fullKey)).credential.id;
    const before = await snapshot();
    const res = await app.delete(`/api-keys/${id}`, { token: stranger.token });
    assertError(res, 404, "NOT_FOUND");
    assert.deepEqual(await snapshot(), before);
    assert.equal((await app.get("/me", { token: fullKey })).status, 200);
    // The owner's own session still sees it.
    assert.ok((await app.get("/api-keys", { token: session })).body.some((k) => k.id === id));
  });

  test("a malformed or unknown key id is 404 and changes nothing", async () => {
    const { session } = await app.personas();
    const before = await snapshot();
    for (const id of ["nope", "key_short", "key_0123456789abcdef0", "usr_0123456789abcdef", "key_0123456789abcdef"]) {
      const res = await app.delete(`/api-keys/${id}`, { token: session });
      assertError(res, 404, "NOT_FOUND");
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe("auth: API keys cannot manage API keys", () => {
  for (const kind of ["fullKey", "scopedKey"]) {
    test(`a ${kind === "fullKey" ? "full" : "scoped"} key cannot mint, list or revoke keys: 403 SESSION_REQUIRED, nothing changed`, async () => {
      const p = await app.personas();
      const token = p[kind];
      const ownId = (await warm(token)).credential.id;
      const otherId = (await warm(kind === "fullKey" ? p.scopedKey : p.fullKey)).credential.id;
      const before = await snapshot();
      const attempts = [
        () => app.post("/api-keys", { name: "escalate" }, { token }),
        () => app.post("/api-keys", { name: "escalate", access: "scoped", workspaceIds: [p.ws1.id] }, { token }),
        () => app.get("/api-keys", { token }),
        () => app.delete(`/api-keys/${ownId}`, { token }),
        () => app.delete(`/api-keys/${otherId}`, { token }),
        () => app.post(`/workspaces/${p.ws1.id}/api-keys`, { name: "escalate" }, { token }),
        () => app.delete(`/workspaces/${p.ws1.id}/api-keys/${ownId}`, { token }),
      ];
      for (const attempt of attempts) {
        const res = await attempt();
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.deepEqual(await snapshot(), before);
      // Both keys still work.
      assert.equal((await app.get("/me", { token: p.fullKey })).status, 200);
      assert.equal((await app.get("/me", { token: p.scopedKey })).status, 200);
    });
  }

  test("no credential is 401 on every key route, with no storage work and nothing changed", async () => {
    const p = await app.personas();
    const id = (await warm(p.fullKey)).credential.id;
    const before = await snapshot();
    for (const res of [
      await app.post("/api-keys", { name: "anon" }),
      await app.get("/api-keys"),
      await app.delete(`/api-keys/${id}`),
      await app.post(`/workspaces/${p.ws1.id}/api-keys`, { name: "anon" }),
      await app.delete(`/workspaces/${p.ws1.id}/api-keys/${id}`),
    ]) {
      assertError(res, 401, "UNAUTHORIZED");
      assertUntouched(res);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe("POST /workspaces/{id}/api-keys", () => {
  test("mints a key scoped to exactly that workspace", async () => {
    const { session, ws1, ws2 } = await app.personas();
    const res = await app.post(`/workspaces/${ws2.id}/api-keys`, { name: "client B" }, { token: session });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.key, KEY_SHAPE);
    assert.equal(res.body.prefix, res.body.key.slice(8, 16));
    assert.equal(res.body.access, "scoped");
    assert.deepEqual(res.body.workspaceIds, [ws2.id]);
    assert.equal((await keyRow(res.body.id)).key_hash, sha256(res.body.key));

    const me = await app.get("/me", { token: res.body.key });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.credential.kind, "api_key");
    assert.equal(me.body.credential.access, "scoped");
    assert.deepEqual(me.body.credential.workspaceIds, [ws2.id]);
    assert.deepEqual(me.body.workspaces, [{ id: ws2.id, role: "OWNER" }]);
    assertError(await app.get(`/workspaces/${ws1.id}`, { token: res.body.key }), 403, "WORKSPACE_FORBIDDEN");
  });

  test("takes an expiry but not an access mode or a list", async () => {
    const { session, ws1, ws2 } = await app.personas();
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const ok = await app.post(`/workspaces/${ws1.id}/api-keys`, { name: "expiring", expiresAt }, { token: session });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.expiresAt, expiresAt);
    const before = await snapshot();
    const res = await app.post(`/workspaces/${ws1.id}/api-keys`, { name: "wider", access: "full", workspaceIds: [ws2.id] }, { token: session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field).sort(), ["access", "workspaceIds"]);
    assert.deepEqual(await snapshot(), before);
  });

  test("a foreign or ghost workspace is 403 WORKSPACE_FORBIDDEN, same body, no d1, nothing written", async () => {
    const { session, foreign } = await app.personas();
    await warm(session);
    const before = await snapshot();
    const real = await app.post(`/workspaces/${foreign.id}/api-keys`, { name: "sneaky" }, { token: session });
    const ghost = await app.post(`/workspaces/${ghostWorkspaceId()}/api-keys`, { name: "sneaky" }, { token: session });
    for (const res of [real, ghost]) {
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
    }
    assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
    assert.deepEqual(await snapshot(), before);
  });

  test("a body workspaceId that disagrees with the path is 400 WORKSPACE_CONFLICT", async () => {
    const { session, ws1, ws2 } = await app.personas();
    const before = await snapshot();
    const res = await app.post(`/workspaces/${ws1.id}/api-keys`, { name: "confused", workspaceId: ws2.id }, { token: session });
    assertError(res, 400, "WORKSPACE_CONFLICT");
    assert.deepEqual(await snapshot(), before);
  });
});

describe("DELETE /workspaces/{id}/api-keys/{keyId}", () => {
  test("revokes a key scoped to that workspace, at once", async () => {
    const { session, ws1 } = await app.personas();
    const k = (await app.post(`/workspaces/${ws1.id}/api-keys`, { name: "short" }, { token: session })).body;
    await warm(k.key);
    const res = await app.delete(`/workspaces/${ws1.id}/api-keys/${k.id}`, { token: session });
    assert.equal(res.status, 204, res.text);
    assertError(await app.get("/me", { token: k.key }), 401, "UNAUTHORIZED");
    assert.ok((await keyRow(k.id)).revoked_at);
  });

  test("revokes a scoped key minted through POST /api-keys too", async () => {
    const { session, ws1, scopedKey } = await app.personas();
    const id = (await warm(scopedKey)).credential.id;
    const res = await app.delete(`/workspaces/${ws1.id}/api-keys/${id}`, { token: session });
    assert.equal(res.status, 204, res.text);
    assertError(await app.get("/me", { token: scopedKey }), 401, "UNAUTHORIZED");
  });

  test("a full key's id is 404 and the key stays live", async () => {
    const { session, ws1, fullKey } = await app.personas();
    const id = (await warm(fullKey)).credential.id;
    const before = await snapshot();
    assertError(await app.delete(`/workspaces/${ws1.id}/api-keys/${id}`, { token: session }), 404, "NOT_FOUND");
    assert.deepEqual(await snapshot(), before);
    assert.equal((await app.get("/me", { token: fullKey })).status, 200);
  });

  test("a key scoped to another workspace is 404 and stays live", async () => {
    const { session, ws1, ws2 } = await app.personas();
    const k = (await app.post(`/workspaces/${ws2.id}/api-keys`, { name: "ws2 only" }, { token: session })).body;
    const before = await snapshot();
    assertError(await app.delete(`/workspaces/${ws1.id}/api-keys/${k.id}`, { token: session }), 404, "NOT_FOUND");
    assert.deepEqual(await snapshot(), before);
    assert.equal((await app.get("/me", { token: k.key })).status, 200);
  });

  test("a foreign or ghost workspace is 403 WORKSPACE_FORBIDDEN, same body, no d1, nothing changed", async () => {
    const { session, stranger, foreign } = await app.personas();
    const theirs = (await app.post(`/workspaces/${foreign.id}/api-keys`, { name: "theirs" }, { token: stranger.token })).body;
    await warm(session);
    const before = await snapshot();
    const real = await app.delete(`/workspaces/${foreign.id}/api-keys/${theirs.id}`, { token: session });
    const ghost = await app.delete(`/workspaces/${ghostWorkspaceId()}/api-keys/${theirs.id}`, { token: session });
    for (const res of [real, ghost]) {
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
    }
    assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
    assert.deepEqual(await snapshot(), before);
    assert.equal((await app.get("/me", { token: theirs.key })).status, 200);
  });
});

describe("lastUsedAt", () => {
  // The write runs after the response (waitUntil); the harness returns once the request's
  // waitUntil work has settled, and the storage meter counts it at the D1 binding.
  const lastUpdate = /^UPDATE api_keys SET last_used_at/;

  test("is set after the key's first successful request, by one statement after the response, announced as d1-after", async () => {
    const { token } = await app.signup();
    const k = await app.mintKey(token, { name: "used" });
    const listed = async () => (await app.get("/api-keys", { token })).body.find((x) => x.id === k.id);
    assert.equal((await listed()).lastUsedAt, null);
    const usedFrom = Date.now();
    const res = await app.get("/me", { token: k.key });
    assert.equal(res.status, 200, res.text);
    const after = res.storage.ops.filter((o) => o.kind === "d1");
    assert.deepEqual(after.map((o) => o.sql[0].match(lastUpdate)?.[0]), ["UPDATE api_keys SET last_used_at"], res.storage.describe());
    assert.equal(res.storage.waitUntil, 1);
    assert.equal(res.timing["d1-after"]?.desc, "1 query");
    const seen = (await listed()).lastUsedAt;
    assert.match(seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(seen) >= usedFrom - 1000 && Date.parse(seen) <= Date.now() + 1000, seen);
    // At most once a minute per key: the next use writes nothing.
    const again = await app.get("/me", { token: k.key });
    assert.equal(again.status, 200);
    assert.equal(again.storage.d1, 0, again.storage.describe());
    assert.equal(again.timing["d1-after"], undefined);
  });

  test("a refused request is no use: no D1 statement at all, and lastUsedAt stays null", async () => {
    const p = await app.personas();
    const k = await app.mintKey(p.session, { name: "refused first", access: "scoped", workspaceIds: [p.ws1.id] });
    const refusals = [
      [await app.get(`/workspaces/${p.foreign.id}`, { token: k.key }), 403, "WORKSPACE_FORBIDDEN"],
      [await app.get(`/workspaces/${p.ws2.id}/members`, { token: k.key }), 403, "WORKSPACE_FORBIDDEN"],
      [await app.get("/api-keys", { token: k.key }), 403, "SESSION_REQUIRED"],
      [await app.patch(`/workspaces/${p.ws1.id}`, { name: "" }, { token: k.key }), 400, "VALIDATION_FAILED"],
    ];
    for (const [res, status, code] of refusals) {
      assertError(res, status, code);
      assertNoStorage(res);
    }
    assertInvalid(refusals[3][0], "name");
    assert.equal((await keyRow(k.id)).last_used_at, null);
    const ok = await app.get(`/workspaces/${p.ws1.id}`, { token: k.key });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.storage.sql.filter((q) => lastUpdate.test(q)).length, 1, ok.storage.describe());
    assert.notEqual((await keyRow(k.id)).last_used_at, null);
  });
});
