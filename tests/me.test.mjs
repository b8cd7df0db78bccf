// GET /me, and how every credential is read: shape and checksum first (no storage), then the
// caches, then D1. Every unusable credential gets the same 401 body.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, withoutRequestId } from "./helpers.mjs";
import { newToken, checksum, randomBase62 } from "../scripts/keys.mjs";

/** A token of the right shape and checksum that the server never issued. */
function wellFormed(prefix = "pb_live_") {
  return newToken(prefix);
}

/** The same token with one character changed. */
function typo(token, at = 12) {
  const c = token[at] === "a" ? "b" : "a";
  return token.slice(0, at) + c + token.slice(at + 1);
}

/** Right shape, wrong checksum. */
function checksumInvalid() {
  const body = randomBase62(26);
  let check = randomBase62(6);
  if (check === checksum(body)) check = typo(check, 0);
  return "pb_live_" + body + check;
}

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

async function me(token) {
  const res = await app.get("/me", { token });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

describe("GET /me", () => {
  test("a session sees its user, kind session, full access and every workspace with its role", async () => {
    const p = await app.personas();
    await app.addMember(p.stranger.token, p.foreign.id, p.owner.email, "EDITOR");
    const body = await me(p.session);
    assert.deepEqual(body.user, { id: p.owner.user.id, email: p.owner.email, name: "Test User" });
    assert.equal(body.credential.kind, "session");
    assert.equal(body.credential.access, "full");
    assert.deepEqual(body.workspaces, [
      { id: p.ws1.id, role: "OWNER" },
      { id: p.ws2.id, role: "OWNER" },
      { id: p.foreign.id, role: "EDITOR" },
    ]);
    assert.ok(!JSON.stringify(body).includes(p.session), "the token is echoed back");
  });

  test("a full key sees its id, full access, no allow-list and every workspace of its owner", async () => {
    const p = await app.personas();
    await app.addMember(p.stranger.token, p.foreign.id, p.owner.email, "CLIENT_REVIEWER");
    const body = await me(p.fullKey);
    assert.equal(body.user.id, p.owner.user.id);
    assert.equal(body.credential.kind, "api_key");
    assert.match(body.credential.id, /^key_[0-9A-Za-z]{16}$/);
    assert.equal(body.credential.access, "full");
    assert.equal(body.credential.workspaceIds ?? null, null);
    assert.deepEqual(body.workspaces, [
      { id: p.ws1.id, role: "OWNER" },
      { id: p.ws2.id, role: "OWNER" },
      { id: p.foreign.id, role: "CLIENT_REVIEWER" },
    ]);
    const listed = await app.get("/api-keys", { token: p.session });
    assert.equal(listed.body.find((k) => k.id === body.credential.id)?.name, "full");
  });

  test("a scoped key sees its allow-list and only those workspaces, with the owner's role there", async () => {
    const p = await app.personas();
    await app.addMember(p.stranger.token, p.foreign.id, p.owner.email, "MEMBER");
    let body = await me(p.scopedKey);
    assert.equal(body.credential.kind, "api_key");
    assert.equal(body.credential.access, "scoped");
    assert.deepEqual(body.credential.workspaceIds, [p.ws1.id]);
    assert.deepEqual(body.workspaces, [{ id: p.ws1.id, role: "OWNER" }]);

    const k = await app.mintKey(p.session, { name: "two", access: "scoped", workspaceIds: [p.foreign.id, p.ws2.id] });
    body = await me(k.key);
    assert.deepEqual([...body.credential.workspaceIds].sort(), [p.foreign.id, p.ws2.id].sort());
    assert.deepEqual(body.workspaces, [
      { id: p.ws2.id, role: "OWNER" },
      { id: p.foreign.id, role: "MEMBER" },
    ]);
  });

  test("a full key reaches a workspace created after it was minted; a scoped key does not", async () => {
    const p = await app.personas();
    await me(p.fullKey);
    await me(p.scopedKey);
    const ws3 = await app.createWorkspace(p.session);
    assert.deepEqual((await me(p.fullKey)).workspaces.map((w) => w.id), [p.ws1.id, p.ws2.id, ws3.id]);
    assert.deepEqual((await me(p.scopedKey)).workspaces.map((w) => w.id), [p.ws1.id]);
  });

  test("leaving a workspace removes it from every key of that user at once", async () => {
    const p = await app.personas();
    await app.addMember(p.stranger.token, p.foreign.id, p.owner.email, "EDITOR");
    const scoped = await app.mintKey(p.session, { name: "foreign only", access: "scoped", workspaceIds: [p.foreign.id] });
    assert.deepEqual((await me(scoped.key)).workspaces, [{ id: p.foreign.id, role: "EDITOR" }]);
    assert.ok((await me(p.fullKey)).workspaces.some((w) => w.id === p.foreign.id));
    const left = await app.delete(`/workspaces/${p.foreign.id}/members/${p.owner.user.id}`, { token: p.session });
    assert.equal(left.status, 204, left.text);
    const scopedMe = await me(scoped.key);
    // Taken out of the key's allow-list too, so a later re-invitation does not hand it back.
    assert.deepEqual(scopedMe.credential.workspaceIds, []);
    assert.deepEqual(scopedMe.workspaces, []);
    assert.deepEqual((await me(p.fullKey)).workspaces.map((w) => w.id), [p.ws1.id, p.ws2.id]);
    assertError(await app.get(`/workspaces/${p.foreign.id}`, { token: scoped.key }), 403, "WORKSPACE_FORBIDDEN");
  });

  test("a warm key's repeat call does no KV and no D1 work", async () => {
    const { fullKey } = await app.personas();
    const cold = await app.get("/me", { token: fullKey });
    assert.equal(cold.status, 200, cold.text);
    const warm = await app.get("/me", { token: fullKey });
    assert.equal(warm.status, 200, warm.text);
    assert.equal(warm.timing.kv, undefined, `Server-Timing: ${warm.headers.get("server-timing")}`);
    assert.equal(warm.timing.d1, undefined, `Server-Timing: ${warm.headers.get("server-timing")}`);
    assert.deepEqual(warm.body, cold.body);
  });

  test("a warm session's repeat call does no KV and no D1 work", async () => {
    const { session } = await app.personas();
    await me(session);
    const warm = await app.get("/me", { token: session });
    assert.equal(warm.status, 200, warm.text);
    assert.equal(warm.timing.kv, undefined, `Server-Timing: ${warm.headers.get("server-timing")}`);
    assert.equal(warm.timing.d1, undefined, `Server-Timing: ${warm.headers.get("server-timing")}`);
  });
});

describe("auth: unusable credentials", () => {
  test("the test's checksum matches the server's (sanity check of this file)", async () => {
    assert.equal(checksum(""), "000000");
    assert.equal(checksum("123456789"), "3jZRME");
    const { fullKey, session } = await app.personas();
    for (const t of [fullKey, session]) assert.equal(checksum(t.slice(8, 34)), t.slice(34));
  });

  test("malformed, typo'd, checksum-invalid, wrong-scheme and missing credentials: one 401, no storage", async () => {
    const { fullKey, session } = await app.personas();
    const cases = {
      missing: undefined,
      "empty bearer": "Bearer ",
      "bearer alone": "Bearer",
      "not a token": "Bearer not-a-token",
      "short key": "Bearer pb_live_short",
      "other vendor": `Bearer sk_live_${fullKey.slice(8)}`,
      "test-mode prefix": `Bearer pb_test_${fullKey.slice(8)}`,
      "one char too many": `Bearer ${fullKey}0`,
      "non-base62 char": `Bearer ${fullKey.slice(0, 20)}-${fullKey.slice(21)}`,
      "typo'd key": `Bearer ${typo(fullKey)}`,
      "typo in the checksum": `Bearer ${typo(fullKey, 38)}`,
      "typo'd session": `Bearer ${typo(session)}`,
      "checksum-invalid key": `Bearer ${checksumInvalid()}`,
      "checksum-invalid session": `Bearer pb_sess_${checksumInvalid().slice(8)}`,
      "basic auth": `Basic ${Buffer.from("user:correct horse").toString("base64")}`,
      "real key, basic scheme": `Basic ${fullKey}`,
      "real key, token scheme": `Token ${fullKey}`,
      "real key, no scheme": fullKey,
      "two tokens": `Bearer ${fullKey} ${fullKey}`,
    };
    const bodies = new Set();
    for (const [name, value] of Object.entries(cases)) {
      const res = await app.get("/me", { headers: value === undefined ? {} : { Authorization: value } });
      assertError(res, 401, "UNAUTHORIZED");
      assert.equal(res.timing.kv, undefined, `${name}: Server-Timing: ${res.headers.get("server-timing")}`);
      assert.equal(res.timing.d1, undefined, `${name}: Server-Timing: ${res.headers.get("server-timing")}`);
      bodies.add(withoutRequestId(res.text));
    }
    assert.equal(bodies.size, 1, [...bodies].join("\n"));
  });

  test("an unknown but well-formed key or session token gets the same 401", async () => {
    const reference = withoutRequestId((await app.get("/me")).text);
    for (const token of [wellFormed("pb_live_"), wellFormed("pb_sess_")]) {
      for (let i = 0; i < 2; i++) {
        const res = await app.get("/me", { token });
        assertError(res, 401, "UNAUTHORIZED");
        assert.equal(withoutRequestId(res.text), reference);
      }
    }
  });

  test("a revoked key and a logged-out session get the same 401", async () => {
    const { session, fullKey } = await app.personas();
    const reference = withoutRequestId((await app.get("/me")).text);
    const keyId = (await me(fullKey)).credential.id;
    assert.equal((await app.delete(`/api-keys/${keyId}`, { token: session })).status, 204);
    let res = await app.get("/me", { token: fullKey });
    assertError(res, 401, "UNAUTHORIZED");
    assert.equal(withoutRequestId(res.text), reference);
    await me(session);
    assert.equal((await app.post("/auth/logout", undefined, { token: session })).status, 204);
    res = await app.get("/me", { token: session });
    assertError(res, 401, "UNAUTHORIZED");
    assert.equal(withoutRequestId(res.text), reference);
  });
});
