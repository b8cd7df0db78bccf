import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoD1, withoutRequestId, ghostWorkspaceId, unique, logLines, assertInvalid, assertNoStorage } from "./helpers.mjs";

const CREDENTIALS_KEY = "5e5e5e5e1d1d1d1d5e5e5e5e1d1d1d1d5e5e5e5e1d1d1d1d5e5e5e5e1d1d1d1d";

let app;
before(async () => { app = await startWorker({ bindings: { CREDENTIALS_KEY } }); });
after(() => app.dispose());

// --- local helpers ---------------------------------------------------------------------

/** Resolves each credential once, so the next request is answered from the principal cache
 * and a refusal at the edge shows no `d1` in Server-Timing. */
async function warm(...tokens) {
  for (const token of tokens) {
    const res = await app.get("/me", { token });
    assert.equal(res.status, 200, res.text);
  }
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const random62 = (n) => Array.from({ length: n }, () => BASE62[Math.floor(Math.random() * 62)]).join("");
const ghostId = (prefix, wsId) => `${prefix}${wsId.slice(3)}${random62(16)}`;

/** A fresh Idempotency-Key value. */
const idemKey = () => `idem-${unique("k")}-${random62(8)}`;
const withKey = (key, token, headers = {}) => ({ token, headers: { "Idempotency-Key": key, ...headers } });

async function connect(token, wsId, platform = "X") {
  const res = await app.post("/social-accounts", { workspaceId: wsId, platform, handle: unique("@h") }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** Personas with one account in ws1, one in ws2 and one in the stranger's workspace. */
async function world() {
  const p = await app.personas();
  return { ...p, a1: await connect(p.session, p.ws1.id), a2: await connect(p.session, p.ws2.id), af: await connect(p.stranger.token, p.foreign.id) };
}

const postBody = (account, content = unique("Idempotent ")) => ({ content, targets: [{ accountId: account.id, captionOverride: "cap" }] });

async function counts() {
  return {
    posts: await app.count("posts"),
    targets: await app.count("post_targets"),
    workspaces: await app.count("workspaces"),
    memberships: await app.count("memberships"),
    idempotency: await app.count("idempotency_keys"),
    apiKeys: await app.count("api_keys"),
    users: await app.count("users"),
    sessions: await app.count("sessions"),
  };
}

// --- POST /posts ----------------------------------------------------------------------

describe("Idempotency-Key on POST /posts", () => {
  test("the same key and body replays the first status and body exactly, with Idempotent-Replayed, and creates one post", async () => {
    const w = await world();
    const key = idemKey();
    const body = postBody(w.a1);
    const before = await counts();
    const first = await app.post("/posts", body, withKey(key, w.fullKey));
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get("idempotent-replayed"), null);
    const after = await counts();
    assert.equal(after.posts, before.posts + 1);
    assert.equal(after.targets, before.targets + 1);
    assert.equal(after.idempotency, before.idempotency + 1);

    for (let i = 0; i < 2; i++) {
      const again = await app.post("/posts", body, withKey(key, w.fullKey));
      assert.equal(again.status, 201, again.text);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(again.text, first.text);
      assert.equal(again.headers.get("location"), first.headers.get("location"));
      assert.equal(again.headers.get("location"), `/api/v1/posts/${first.body.id}`);
      assert.match(again.headers.get("content-type"), /^application\/json/);
      assert.notEqual(again.headers.get("x-request-id"), first.headers.get("x-request-id"));
    }
    assert.deepEqual(await counts(), after);
    assert.equal(await app.count("posts", "content = ?", body.content), 1);
    const stored = await app.db.prepare("SELECT status, body, location FROM idempotency_keys WHERE idem_key = ?").bind(key).first();
    assert.equal(stored.status, 201);
    assert.equal(stored.body, first.text);
  });

  test("the same key with a different body is 409 IDEMPOTENCY_KEY_REUSED and creates nothing", async () => {
    const w = await world();
    const key = idemKey();
    const first = await app.post("/posts", postBody(w.a1, "first"), withKey(key, w.session));
    assert.equal(first.status, 201, first.text);
    const before = await counts();
    for (const body of [postBody(w.a1, "second"), { ...postBody(w.a1, "first"), scheduledFor: new Date(Date.now() + 3600_000).toISOString() }]) {
      const res = await app.post("/posts", body, withKey(key, w.session));
      assertError(res, 409, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(res.headers.get("idempotent-replayed"), null);
    }
    assert.deepEqual(await counts(), before);
    // The original is still replayable.
    const replay = await app.post("/posts", postBody(w.a1, "first"), withKey(key, w.session));
    assert.equal(replay.status, 201);
    assert.equal(replay.text, first.text);
  });

  test("the same key and bytes on another path is a different request: 409 IDEMPOTENCY_KEY_REUSED", async () => {
    const w = await world();
    const postA = (await app.post("/posts", postBody(w.a1), { token: w.session })).body;
    const postB = (await app.post("/posts", postBody(w.a1), { token: w.session })).body;
    const key = idemKey();
    const body = { body: "Same words, other post" };
    const first = await app.post(`/posts/${postA.id}/comments`, body, withKey(key, w.session));
    assert.equal(first.status, 201, first.text);
    const before = await counts();
    const comments = await app.count("comments");
    const other = await app.post(`/posts/${postB.id}/comments`, body, withKey(key, w.session));
    assertError(other, 409, "IDEMPOTENCY_KEY_REUSED");
    assert.equal(await app.count("comments"), comments);
    assert.equal(await app.count("comments", "post_id = ?", postB.id), 0);
    assert.deepEqual(await counts(), before);
    const replay = await app.post(`/posts/${postA.id}/comments`, body, withKey(key, w.session));
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.text, first.text);
  });

  test("the same key and body naming another workspace in the query or header is a different request: 409, not a replay", async () => {
    const w = await world();
    const body = { platform: "PINTEREST", handle: "@same" };
    for (const name of ["query", "header"]) {
      const key = idemKey();
      const to = (ws) => (name === "query"
        ? [`/social-accounts?workspaceId=${ws.id}`, withKey(key, w.session)]
        : ["/social-accounts", withKey(key, w.session, { "X-Workspace-Id": ws.id })]);
      const [r1, o1] = to(w.ws1);
      const first = await app.post(r1, body, o1);
      assert.equal(first.status, 201, first.text);
      assert.equal(first.body.workspaceId, w.ws1.id);
      const [r2, o2] = to(w.ws2);
      const second = await app.post(r2, body, o2);
      assert.notEqual(second.headers.get("idempotent-replayed"), "true",
        `${name}: a request for ${w.ws2.id} was answered with the stored response for ${w.ws1.id}: ${second.text}`);
      assertError(second, 409, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(await app.count("social_accounts", "workspace_id = ? AND platform = 'PINTEREST'", w.ws2.id), 0);
      // Clean up for the next round: free the platform in ws1.
      assert.equal((await app.delete(`/social-accounts/${first.body.id}`, { token: w.session })).status, 204);
    }
  });

  test("a replay never hands back a workspace the credential no longer reaches", async () => {
    const p = await app.personas();
    const coOwner = await app.signup();
    await app.addMember(p.session, p.ws1.id, coOwner.email, "OWNER");
    const key = idemKey();
    const body = { platform: "YOUTUBE", handle: "@channel" };
    const first = await app.post("/social-accounts", body, withKey(key, p.fullKey, { "X-Workspace-Id": p.ws1.id }));
    assert.equal(first.status, 201, first.text);
    // The owner leaves ws1: no credential of theirs reaches it any more.
    assert.equal((await app.delete(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { token: p.session })).status, 204);
    assertError(await app.get(`/social-accounts/${first.body.id}`, { token: p.fullKey }), 403, "WORKSPACE_FORBIDDEN");

    const res = await app.post("/social-accounts", body, withKey(key, p.fullKey, { "X-Workspace-Id": p.ws2.id }));
    assert.ok(!res.text.includes(p.ws1.id), `ws1's account was replayed to a credential that no longer reaches ws1: ${res.status} ${res.text}`);
    assertError(res, 409, "IDEMPOTENCY_KEY_REUSED");
  });

  test("two concurrent requests with the same key create one post: the other replays it or is 409 IDEMPOTENCY_KEY_IN_USE", async () => {
    const w = await world();
    for (let round = 0; round < 3; round++) {
      const key = idemKey();
      const body = postBody(w.a1);
      const results = await Promise.all([1, 2, 3].map(() => app.post("/posts", body, withKey(key, w.fullKey))));
      const fresh = results.filter((r) => r.status === 201 && r.headers.get("idempotent-replayed") === null);
      assert.equal(fresh.length, 1, results.map((r) => `${r.status} ${r.text}`).join("\n"));
      for (const r of results) {
        if (r === fresh[0]) continue;
        if (r.status === 201) {
          assert.equal(r.headers.get("idempotent-replayed"), "true");
          assert.equal(r.text, fresh[0].text);
        } else {
          assertError(r, 409, "IDEMPOTENCY_KEY_IN_USE");
        }
      }
      assert.equal(await app.count("posts", "content = ?", body.content), 1);
    }
  });

  test("a request that fails validation is not stored, so the same key with a corrected body succeeds", async () => {
    const w = await world();
    const key = idemKey();
    const before = await counts();
    // Refused while reading the body.
    const bad = await app.post("/posts", { content: "x".repeat(10_001), targets: [{ accountId: w.a1.id }] }, withKey(key, w.session));
    assertInvalid(bad, "content");
    // Refused after the key was claimed: the account is not a live one of the workspace.
    const ghost = await app.post("/posts", { content: "ghost account", targets: [{ accountId: ghostId("soc_", w.ws1.id) }] }, withKey(key, w.session));
    assertError(ghost, 400, "VALIDATION_FAILED");
    assert.deepEqual(ghost.body.details.map((d) => d.field), ["targets[0].accountId"]);
    assert.deepEqual(await counts(), before);
    assert.equal(await app.count("idempotency_keys", "idem_key = ?", key), 0);

    const good = await app.post("/posts", postBody(w.a1), withKey(key, w.session));
    assert.equal(good.status, 201, good.text);
    assert.equal(good.headers.get("idempotent-replayed"), null);
    assert.equal((await counts()).posts, before.posts + 1);
    // Now it is stored, and the bad body is a reuse.
    const reuse = await app.post("/posts", { content: "ghost account", targets: [{ accountId: ghostId("soc_", w.ws1.id) }] }, withKey(key, w.session));
    assertError(reuse, 409, "IDEMPOTENCY_KEY_REUSED");
  });

  test("keys are per credential: another credential of the same user with the same key creates a new post", async () => {
    const w = await world();
    const key = idemKey();
    const body = postBody(w.a1);
    const results = [];
    for (const token of [w.session, w.fullKey, w.scopedKey]) {
      const res = await app.post("/posts", body, withKey(key, token));
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.get("idempotent-replayed"), null);
      results.push(res.body.id);
    }
    assert.equal(new Set(results).size, 3);
    assert.equal(await app.count("posts", "content = ?", body.content), 3);
    assert.equal(await app.count("idempotency_keys", "idem_key = ?", key), 3);
    // Each credential replays its own.
    const replay = await app.post("/posts", body, withKey(key, w.fullKey));
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.body.id, results[1]);
    // Another user with the same key is another namespace too.
    const stranger = await app.post("/posts", postBody(w.af, body.content), withKey(key, w.strangerKey));
    assert.equal(stranger.status, 201, stranger.text);
    assert.equal(stranger.body.workspaceId, w.foreign.id);
  });

  test("a key of 255 visible characters is fine; 256 characters or a space is 400 and writes nothing", async () => {
    const w = await world();
    const before = await counts();
    for (const key of ["k".repeat(256), "has space", "tab\tkey"]) {
      const res = await app.post("/posts", postBody(w.a1), withKey(key, w.session));
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["Idempotency-Key"]);
    }
    assert.deepEqual(await counts(), before);
    const long = `${random62(10)}${"k".repeat(245)}`;
    const ok = await app.post("/posts", postBody(w.a1), withKey(long, w.session));
    assert.equal(ok.status, 201, ok.text);
  });

  describe("auth", () => {
    test("a foreign-workspace request with an Idempotency-Key is 403 with no d1, and stores no key", async () => {
      const w = await world();
      await warm(w.session, w.fullKey, w.scopedKey);
      const before = await counts();
      for (const [token, account] of [[w.session, w.af], [w.fullKey, w.af], [w.scopedKey, w.af], [w.scopedKey, w.a2]]) {
        const key = idemKey();
        const real = await app.post("/posts", postBody(account), withKey(key, token));
        const ghost = await app.post("/posts", postBody({ id: ghostId("soc_", ghostWorkspaceId()) }), withKey(key, token));
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
        assert.equal(await app.count("idempotency_keys", "idem_key = ?", key), 0);
      }
      // A malformed key on a refused request is still the refusal, decided first.
      const malformed = await app.post("/posts", postBody(w.af), withKey("k".repeat(256), w.session));
      assertError(malformed, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(malformed);
      assert.deepEqual(await counts(), before);
    });

    test("a role refusal with an Idempotency-Key is 403 ROLE_FORBIDDEN with no d1 and stores no key", async () => {
      const w = await world();
      const member = await app.signup();
      await app.addMember(w.session, w.ws1.id, member.email, "MEMBER");
      await warm(member.token);
      const key = idemKey();
      const before = await counts();
      const res = await app.post("/posts", postBody(w.a1), withKey(key, member.token));
      assertError(res, 403, "ROLE_FORBIDDEN");
      assertNoStorage(res);
      assert.deepEqual(await counts(), before);
    });
  });
});

// --- POST /workspaces -----------------------------------------------------------------

describe("Idempotency-Key on POST /workspaces", () => {
  test("the same key and body replays the workspace exactly and creates one workspace and one membership", async () => {
    const owner = await app.signup();
    const key = idemKey();
    const body = { name: unique("Replayed "), timezone: "Europe/Paris" };
    const before = await counts();
    const first = await app.post("/workspaces", body, withKey(key, owner.token));
    assert.equal(first.status, 201, first.text);
    const again = await app.post("/workspaces", body, withKey(key, owner.token));
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.equal(again.text, first.text);
    assert.equal(again.headers.get("location"), `/api/v1/workspaces/${first.body.id}`);
    const after = await counts();
    assert.equal(after.workspaces, before.workspaces + 1);
    assert.equal(after.memberships, before.memberships + 1);
    const list = await app.get("/workspaces", { token: owner.token });
    assert.deepEqual(list.body.map((ws) => ws.id), [first.body.id]);
  });

  test("the same key with a different body is 409 IDEMPOTENCY_KEY_REUSED and creates nothing", async () => {
    const owner = await app.signup();
    const key = idemKey();
    assert.equal((await app.post("/workspaces", { name: unique("One ") }, withKey(key, owner.token))).status, 201);
    const before = await counts();
    const res = await app.post("/workspaces", { name: unique("Two ") }, withKey(key, owner.token));
    assertError(res, 409, "IDEMPOTENCY_KEY_REUSED");
    assert.deepEqual(await counts(), before);
  });

  test("a failed request (400, 409 SLUG_TAKEN) is not stored, so a corrected body with the same key succeeds", async () => {
    const owner = await app.signup();
    const taken = `taken-${unique("s")}`;
    await app.createWorkspace(owner.token, { slug: taken });
    const key = idemKey();
    const before = await counts();
    assertInvalid(await app.post("/workspaces", { name: "x".repeat(101) }, withKey(key, owner.token)), "name");
    assertError(await app.post("/workspaces", { name: "Clash", slug: taken }, withKey(key, owner.token)), 409, "SLUG_TAKEN");
    assert.deepEqual(await counts(), before);
    const ok = await app.post("/workspaces", { name: unique("Fixed ") }, withKey(key, owner.token));
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.headers.get("idempotent-replayed"), null);
  });

  test("a session and a full key of the same user with the same key create two folders", async () => {
    const p = await app.personas();
    const key = idemKey();
    const body = { workspaceId: p.ws1.id, name: unique("Twice ") };
    const a = await app.post("/media/folders", body, withKey(key, p.session));
    const b = await app.post("/media/folders", body, withKey(key, p.fullKey));
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    assert.notEqual(a.body.id, b.body.id);
  });

  describe("auth", () => {
    test("an API key with an Idempotency-Key is 403 SESSION_REQUIRED with no d1 and nothing stored", async () => {
      const p = await app.personas();
      await warm(p.fullKey, p.scopedKey);
      const before = await counts();
      for (const token of [p.fullKey, p.scopedKey]) {
        const res = await app.post("/workspaces", { name: unique("Keyed ") }, withKey(idemKey(), token));
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.deepEqual(await counts(), before);
    });

    test("no credential with an Idempotency-Key is 401 with no d1 and nothing stored", async () => {
      const before = await counts();
      const res = await app.post("/workspaces", { name: unique("Anon ") }, { headers: { "Idempotency-Key": idemKey() } });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.deepEqual(await counts(), before);
    });
  });
});

// --- endpoints whose responses hold a secret -----------------------------------------

describe("Idempotency-Key where the response holds a secret", () => {
  test("POST /api-keys with an Idempotency-Key is 400 VALIDATION_FAILED and mints nothing", async () => {
    const owner = await app.signup();
    const before = await counts();
    const res = await app.post("/api-keys", { name: "replayable?" }, withKey(idemKey(), owner.token));
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field), ["Idempotency-Key"]);
    assert.ok(!res.text.includes("pb_live_"));
    assert.deepEqual(await counts(), before);
    const ws = await app.createWorkspace(owner.token);
    const shorthand = await app.post(`/workspaces/${ws.id}/api-keys`, { name: "replayable?" }, withKey(idemKey(), owner.token));
    assertInvalid(shorthand, "Idempotency-Key");
    assert.equal(await app.count("api_keys"), before.apiKeys);
  });

  test("POST /auth/signup with an Idempotency-Key is 400 VALIDATION_FAILED and creates no user or session", async () => {
    const before = await counts();
    const email = `${unique("idem")}@example.com`;
    const res = await app.post("/auth/signup", { email, name: "Replay", password: "correct horse battery" }, { headers: { "Idempotency-Key": idemKey() } });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field), ["Idempotency-Key"]);
    assert.ok(!res.text.includes("pb_sess_"));
    assert.deepEqual(await counts(), before);
    assert.equal(await app.count("users", "email = ?", email), 0);
  });

  test("POST /auth/login with an Idempotency-Key is 400 and opens no session", async () => {
    const user = await app.signup();
    const before = await counts();
    const res = await app.post("/auth/login", { email: user.email, password: user.password }, { headers: { "Idempotency-Key": idemKey() } });
    assertInvalid(res, "Idempotency-Key");
    assert.ok(!res.text.includes("pb_sess_"));
    assert.deepEqual(await counts(), before);
  });
});

// --- bearer URLs are never stored (issue 11, item 7) --------------------------------------

/** The stored copy of a response, as D1 holds it. */
const storedBody = async (key) => (await app.db.prepare("SELECT body FROM idempotency_keys WHERE idem_key = ?").bind(key).first())?.body;

/** 64 bytes that sniff as PNG. */
const PNG = new Uint8Array(64);
PNG.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);

describe("Idempotency-Key on POST /media/presign: the upload URL is never stored", () => {
  const presignBody = (wsId) => ({ workspaceId: wsId, filename: "logo.png", contentType: "image/png", bytes: PNG.length });

  test("the stored copy holds the asset and no URL; a replay signs a fresh URL that works, until the upload is complete", async () => {
    const p = await app.personas();
    const key = idemKey();
    const first = await app.post("/media/presign", presignBody(p.ws1.id), withKey(key, p.session));
    assert.equal(first.status, 201, first.text);
    const token = new URL(first.body.uploadUrl).searchParams.get("token");
    const kept = await storedBody(key);
    assert.ok(kept, "the response is stored for replay");
    assert.ok(!kept.includes(token) && !kept.includes("token=") && !kept.includes("uploadUrl"), kept);
    assert.equal(JSON.parse(kept).mediaAsset.id, first.body.mediaAsset.id);

    const media = await app.count("media");
    const again = await app.post("/media/presign", presignBody(p.ws1.id), withKey(key, p.session));
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.equal(again.headers.get("location"), first.headers.get("location"));
    assert.equal(again.body.mediaAsset.id, first.body.mediaAsset.id);
    assert.equal(await app.count("media"), media, "a replay creates nothing");
    assert.ok(Date.parse(again.body.expiresAt) >= Date.parse(first.body.expiresAt));
    assert.equal(await storedBody(key), kept, "a replay stores nothing new");
    // The fresh URL is a working upload URL for the same asset.
    const up = await app.request("PUT", again.body.uploadUrl, { headers: { "Content-Type": "image/png", "Content-Length": String(PNG.length) }, body: PNG });
    assert.equal(up.status, 200, up.text);
    const done = await app.post(`/media/${first.body.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.body.status, "READY", done.text);

    // Bytes final: no new upload URL.
    const late = await app.post("/media/presign", presignBody(p.ws1.id), withKey(key, p.session));
    assertError(late, 409, "INVALID_STATE");
    assert.equal(late.body.currentStatus, "READY");
    assert.ok(!late.text.includes("token="));
    // Gone: 404.
    assert.equal((await app.delete(`/media/${first.body.mediaAsset.id}`, { token: p.session })).status, 204);
    assertError(await app.post("/media/presign", presignBody(p.ws1.id), withKey(key, p.session)), 404, "NOT_FOUND");
  });

  test("in R2 mode neither is the presigned URL stored; a replay is signed afresh", async () => {
    const r2 = await startWorker({
      bindings: { R2_ACCOUNT_ID: "acct0123", R2_BUCKET: "postbridge-media", R2_ACCESS_KEY_ID: "AKIDEXAMPLE0123", R2_SECRET_ACCESS_KEY: "s3cr3t".repeat(8) },
    });
    try {
      const owner = await r2.signup();
      const ws = await r2.createWorkspace(owner.token);
      const key = idemKey();
      const first = await r2.post("/media/presign", presignBody(ws.id), withKey(key, owner.token));
      assert.equal(first.status, 201, first.text);
      assert.match(first.body.uploadUrl, /^https:\/\/acct0123\.r2\.cloudflarestorage\.com\/.*X-Amz-Signature=[0-9a-f]{64}$/);
      const kept = (await r2.db.prepare("SELECT body FROM idempotency_keys WHERE idem_key = ?").bind(key).first()).body;
      assert.ok(!kept.includes("X-Amz-") && !kept.includes("r2.cloudflarestorage.com"), kept);
      const again = await r2.post("/media/presign", presignBody(ws.id), withKey(key, owner.token));
      assert.equal(again.status, 201, again.text);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(again.body.mediaAsset.id, first.body.mediaAsset.id);
      assert.match(again.body.uploadUrl, /X-Amz-Signature=[0-9a-f]{64}$/);
    } finally {
      await r2.dispose();
    }
  });
});

// --- expiry: the scheduled sweep (issue 11, item 7) ---------------------------------------

describe("expired idempotency records are purged by the scheduled sweep", () => {
  test("records first used over 24 hours ago are deleted in batches, younger ones kept, and an expired key works again", async () => {
    const p = await app.personas();
    const [expired, fresh] = [idemKey(), idemKey()];
    const folder = (name) => ({ workspaceId: p.ws1.id, name });
    for (const k of [expired, fresh]) {
      assert.equal((await app.post("/media/folders", folder(k), withKey(k, p.session))).status, 201);
    }
    const ago = (ms) => new Date(Date.now() - ms).toISOString();
    const HOUR = 3600 * 1000;
    await app.db.prepare("UPDATE idempotency_keys SET created_at = ? WHERE idem_key = ?").bind(ago(24 * HOUR + 60_000), expired).run();
    await app.db.prepare("UPDATE idempotency_keys SET created_at = ? WHERE idem_key = ?").bind(ago(23 * HOUR), fresh).run();
    // A backlog larger than one delete statement (500 rows) of some other credential.
    const backlog = 1234;
    await app.db
      .prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO idempotency_keys (credential_id, idem_key, fingerprint, status, body, created_at)
                SELECT 'key_sweepbacklog000', 'k' || i, 'f', 201, '{}', ? FROM n`)
      .bind(backlog, ago(48 * HOUR))
      .run();

    const worker = await app.mf.getWorker("api");
    const outcome = await worker.scheduled({ cron: "17 * * * *" });
    assert.equal(outcome.outcome, "ok");
    // Its log line says what it did (printed before the handler returned; read once flushed).
    let line;
    for (let i = 0; i < 200 && !line; i++) {
      line = logLines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.job === "idempotency-sweep");
      if (!line) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(line?.level, "info", JSON.stringify(line));
    assert.ok(line.deleted >= backlog + 1, JSON.stringify(line));

    assert.equal(await app.count("idempotency_keys", "credential_id = 'key_sweepbacklog000'"), 0);
    assert.equal(await app.count("idempotency_keys", "idem_key = ?", expired), 0);
    assert.equal(await app.count("idempotency_keys", "idem_key = ?", fresh), 1);
    const older = await app.count("idempotency_keys", "created_at < ?", ago(24 * HOUR));
    assert.equal(older, 0, "nothing older than the window is left");
    // The expired key is free: another body with it is a new request, not a reuse.
    const reused = await app.post("/media/folders", folder(unique("Other ")), withKey(expired, p.session));
    assert.equal(reused.status, 201, reused.text);
    assert.equal(reused.headers.get("idempotent-replayed"), null);
    // The fresh key still replays.
    const replay = await app.post("/media/folders", folder(fresh), withKey(fresh, p.session));
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
  });
});
