// Times in range (issue 11, item 2): every time a request gives is normalised to UTC and must
// lie from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z after its offset, and a time to act
// at (`scheduledFor`, `expiresAt`) at most 1826 days ahead, so whatever is stored is written in
// the fixed form the API reads back. The defect: `9999-12-31T23:59:59-23:59` was accepted and
// stored as `10000-01-01T23:58:59.000Z`, which the API then could not read — a key with that
// expiry turned every one of its requests into a 500 once out of the caches.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startWorker, assertError, unique } from "./helpers.mjs";
import { newToken, sha256 } from "../scripts/keys.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

const DAY = 24 * 3600 * 1000;
const HORIZON_DAYS = 1826;
const iso = (ms) => new Date(ms).toISOString();

function assertField(res, field) {
  assertError(res, 400, "VALIDATION_FAILED");
  assert.deepEqual(res.body.details.map((d) => d.field), [field], res.text);
}

/** A key row written straight into D1 (never cached), as an earlier version could have left it. */
async function storedKey(userId, expiresAt) {
  const token = newToken();
  const id = `key_${unique("t").replace(/[^0-9A-Za-z]/g, "").padEnd(16, "0").slice(0, 16)}`;
  await app.db
    .prepare("INSERT INTO api_keys (id, user_id, name, prefix, key_hash, access, workspace_ids, created_at, expires_at) VALUES (?, ?, 'legacy', ?, ?, 'full', '[]', ?, ?)")
    .bind(id, userId, token.slice(8, 16), sha256(token), iso(Date.now()), expiresAt)
    .run();
  return { id, token };
}

describe("expiresAt", () => {
  test("a time past year 9999 once its offset is applied is 400 naming expiresAt, and mints nothing", async () => {
    const owner = await app.signup();
    const ws = await app.createWorkspace(owner.token);
    const before = await app.count("api_keys");
    for (const expiresAt of ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999-00:01", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59Z"]) {
      assertField(await app.post("/api-keys", { name: "k", expiresAt }, { token: owner.token }), "expiresAt");
      assertField(await app.post(`/workspaces/${ws.id}/api-keys`, { name: "k", expiresAt }, { token: owner.token }), "expiresAt");
    }
    assert.equal(await app.count("api_keys"), before);
  });

  test("at most 1826 days ahead: just inside is minted and reads back, just outside is 400", async () => {
    const owner = await app.signup();
    const inside = iso(Date.now() + HORIZON_DAYS * DAY - 60_000);
    const outside = iso(Date.now() + HORIZON_DAYS * DAY + 60_000);
    assertField(await app.post("/api-keys", { name: "k", expiresAt: outside }, { token: owner.token }), "expiresAt");
    const res = await app.post("/api-keys", { name: "k", expiresAt: inside.replace("Z", "+00:00") }, { token: owner.token });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.expiresAt, inside);
    assert.equal((await app.get("/me", { token: res.body.key })).status, 200);
    const listed = await app.get("/api-keys", { token: owner.token });
    assert.equal(listed.body.find((k) => k.id === res.body.id).expiresAt, inside);
  });

  test("the latest time the API writes reads back from D1 on an uncached request", async () => {
    const owner = await app.signup();
    const { token } = await storedKey(owner.user.id, "9999-12-31T23:59:59.999Z");
    const me = await app.get("/me", { token });
    assert.equal(me.status, 200, me.text);
  });

  test("migration 0009 repairs a five-digit year an earlier version stored: the key works again", async () => {
    const owner = await app.signup();
    // What `9999-12-31T23:59:59-23:59` was stored as.
    const { id, token } = await storedKey(owner.user.id, "10000-01-01T23:58:59.000Z");
    const broken = await app.get("/me", { token });
    assertError(broken, 500, "INTERNAL");
    const migration = fs.readFileSync(new URL("../migrations/0009_timestamps_in_range.sql", import.meta.url), "utf8");
    const statements = migration.replace(/--[^\n]*/g, "").split(";").map((s) => s.trim()).filter(Boolean);
    await app.db.batch(statements.map((s) => app.db.prepare(s)));
    const row = await app.db.prepare("SELECT expires_at FROM api_keys WHERE id = ?").bind(id).first();
    assert.equal(row.expires_at, "9999-12-31T23:59:59.999Z");
    const me = await app.get("/me", { token });
    assert.equal(me.status, 200, me.text);
  });
});

describe("scheduledFor", () => {
  async function world() {
    const owner = await app.signup();
    const ws = await app.createWorkspace(owner.token);
    // BLUESKY: a platform that publishes, so posts to it can be scheduled.
    const account = (await app.post("/social-accounts", { workspaceId: ws.id, platform: "BLUESKY", handle: "@t" }, { token: owner.token })).body;
    const draft = async () => (await app.post("/posts", { content: "c", targets: [{ accountId: account.id }] }, { token: owner.token })).body;
    return { token: owner.token, account, draft };
  }

  test("past year 9999 after the offset, or beyond 1826 days, is 400 naming scheduledFor on create, schedule and reschedule", async () => {
    const w = await world();
    const post = await w.draft();
    const scheduled = (await app.post("/posts", { content: "s", targets: [{ accountId: w.account.id }], scheduledFor: iso(Date.now() + DAY) }, { token: w.token })).body;
    const posts = await app.count("posts");
    for (const scheduledFor of ["9999-12-31T23:59:59-23:59", iso(Date.now() + HORIZON_DAYS * DAY + 60_000)]) {
      assertField(await app.post("/posts", { content: "c", targets: [{ accountId: w.account.id }], scheduledFor }, { token: w.token }), "scheduledFor");
      assertField(await app.post(`/posts/${post.id}/schedule`, { scheduledFor }, { token: w.token }), "scheduledFor");
      assertField(await app.post(`/posts/${scheduled.id}/reschedule`, { scheduledFor }, { token: w.token }), "scheduledFor");
    }
    assert.equal(await app.count("posts"), posts);
    assert.equal((await app.get(`/posts/${post.id}`, { token: w.token })).body.status, "DRAFT");
  });

  test("just inside the horizon, in any offset, is stored in UTC and read back", async () => {
    const w = await world();
    const inside = Date.now() + HORIZON_DAYS * DAY - 3_600_000;
    // The same instant written two hours west of UTC.
    const local = iso(inside - 2 * 3_600_000).replace("Z", "-02:00");
    const res = await app.post("/posts", { content: "c", targets: [{ accountId: w.account.id }], scheduledFor: local }, { token: w.token });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.scheduledFor, iso(inside));
    const listed = await app.get(`/posts?from=${encodeURIComponent(local)}`, { token: w.token });
    assert.deepEqual(listed.body.map((p) => p.id), [res.body.id]);
  });
});

describe("from and to", () => {
  test("out of range, malformed or non-ASCII is 400 naming the parameter", async () => {
    const owner = await app.signup();
    for (const name of ["from", "to"]) {
      for (const value of ["9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59.999Z", "2026-01-01T00:00:0é.000Z", "2026-01-01T00:00:00é1:00", "x".repeat(100)]) {
        assertField(await app.get(`/posts?${name}=${encodeURIComponent(value)}`, { token: owner.token }), name);
      }
    }
    // The bounds themselves are accepted.
    const ok = await app.get(`/posts?from=${encodeURIComponent("1970-01-01T00:00:00Z")}&to=${encodeURIComponent("9999-12-31T23:59:59.999Z")}`, { token: owner.token });
    assert.equal(ok.status, 200, ok.text);
  });

  test("a cursor holding a non-ASCII or out-of-range time is 400 naming cursor", async () => {
    const owner = await app.signup();
    const hex = (s) => Buffer.from(s, "utf8").toString("hex");
    for (const inner of ["2026-01-01T00:00:0é.000Z|post_x", "10000-01-01T00:00:00.000Z|post_x", "2026-01-01T00:00:00Z|post_x"]) {
      for (const route of ["/posts", "/workspaces", "/comments", "/social-accounts", "/api-keys"]) {
        assertField(await app.get(`${route}?cursor=${hex(inner)}`, { token: owner.token }), "cursor");
      }
    }
  });
});
