import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, tick, ghostId } from "./helpers.mjs";

const CREDENTIALS_KEY = "0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff0";

let app;
// The post lifecycle as the API sees it: the publish queue has no consumer here, so a post made
// due (retry) is not published behind the tests' backs. Publishing has its own suite
// (tests/publishing.test.mjs).
before(async () => { app = await startWorker({ bindings: { CREDENTIALS_KEY }, worker: { queueConsumers: {} } }); });
after(() => app.dispose());

const warm = (...tokens) => app.warm(...tokens);
const joinAs = (...args) => app.joinAs(...args);

// --- local helpers ---------------------------------------------------------------------

/** Registers an account and returns it (201 asserted). */
async function connect(token, wsId, platform = "BLUESKY") {
  const res = await app.post("/social-accounts", { workspaceId: wsId, platform, handle: unique("@h") }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** Personas, with accounts: two in ws1 (BLUESKY, MASTODON: the platforms that publish, so
 * posts can be scheduled), one in ws2, one in the stranger's. */
async function world() {
  const p = await app.personas();
  return {
    ...p,
    a1: await connect(p.session, p.ws1.id, "BLUESKY"),
    a1b: await connect(p.session, p.ws1.id, "MASTODON"),
    a2: await connect(p.session, p.ws2.id, "BLUESKY"),
    af: await connect(p.stranger.token, p.foreign.id, "BLUESKY"),
  };
}

/** A post on `accounts` (201 asserted). */
async function createPost(token, accounts, extra = {}) {
  const res = await app.post("/posts", { content: unique("Post "), targets: accounts.map((a) => ({ accountId: a.id ?? a })), ...extra }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const inMinutes = (m) => new Date(Date.now() + m * 60_000).toISOString();
const ago = (m) => new Date(Date.now() - m * 60_000).toISOString();

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;
const one = (sql, ...args) => app.db.prepare(sql).bind(...args).first();
const exec = (sql, ...args) => app.db.prepare(sql).bind(...args).run();

const postRow = (id) => one("SELECT * FROM posts WHERE id = ?", id);
const targetRows = (postId) => all("SELECT * FROM post_targets WHERE post_id = ? ORDER BY position, id", postId);

/** Everything a refusal could have written about a post. */
async function postState(id) {
  return {
    post: await postRow(id),
    targets: await targetRows(id),
    comments: await all("SELECT * FROM comments WHERE post_id = ? ORDER BY id", id),
  };
}

/** Row counts of the tables a post request can write. */
async function counts() {
  return {
    posts: await app.count("posts"),
    targets: await app.count("post_targets"),
    comments: await app.count("comments"),
    idempotency: await app.count("idempotency_keys"),
  };
}

/** `<url>; rel="next"` → url, or null when there is no Link header. */
function nextLink(res) {
  const link = res.headers.get("link");
  if (link === null) return null;
  const m = /^<([^>]+)>; rel="next"$/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1];
}

/** A media row of `wsId`, written straight to D1 as an upload would leave it (READY by
 * default): the media routes have their own suite, posts only need the row. */
async function mediaAsset(wsId, userId, status = "READY") {
  const id = ghostId("med_", wsId);
  const now = new Date().toISOString();
  await exec(
    `INSERT INTO media (id, workspace_id, filename, content_type, bytes, status, object_key, created_by, created_at, updated_at)
     VALUES (?, ?, 'photo.png', 'image/png', 68, ?, ?, ?, ?, ?)`,
    id, wsId, status, `${wsId}/${id}/photo.png`, userId, now, now,
  );
  return id;
}

/** A post on `account` (created by `token`) in the state an action starts from. */
async function postIn(state, token, account) {
  const post = await createPost(token, [account], state === "draft" ? {} : { scheduledFor: inMinutes(60) });
  if (state === "failed") {
    await exec("UPDATE posts SET status = 'FAILED' WHERE id = ?", post.id);
    await exec("UPDATE post_targets SET status = 'FAILED', error = ? WHERE post_id = ?", BOOM, post.id);
  }
  if (state === "awaiting") await exec("UPDATE posts SET status = 'NEEDS_APPROVAL' WHERE id = ?", post.id);
  return post;
}

/** A target's `error` as the publisher writes it. */
const BOOM = JSON.stringify({ code: "PLATFORM_UNAVAILABLE", message: "boom", retryable: true });

const WRITE_DENIED = ["MEMBER", "CLIENT_REVIEWER"];
const REVIEW_DENIED = ["EDITOR", "MEMBER"];

/** Every route on one post: method, path suffix, a body, the state in which the action
 * would succeed, and the roles it refuses. */
const POST_ROUTES = {
  get: { method: "GET", suffix: "", state: "draft", denied: [] },
  patch: { method: "PATCH", suffix: "", body: () => ({ content: "hijacked" }), state: "draft", denied: WRITE_DENIED },
  delete: { method: "DELETE", suffix: "", state: "draft", denied: WRITE_DENIED },
  schedule: { method: "POST", suffix: "/schedule", body: () => ({ scheduledFor: inMinutes(120) }), state: "draft", denied: WRITE_DENIED },
  reschedule: { method: "POST", suffix: "/reschedule", body: () => ({ scheduledFor: inMinutes(120) }), state: "scheduled", denied: WRITE_DENIED },
  cancel: { method: "POST", suffix: "/cancel", state: "scheduled", denied: WRITE_DENIED },
  retry: { method: "POST", suffix: "/retry", state: "failed", denied: WRITE_DENIED },
  approve: { method: "POST", suffix: "/approve", headers: (post) => ({ "If-Match": `"${post.revision}"` }), state: "awaiting", denied: REVIEW_DENIED },
  "request-changes": { method: "POST", suffix: "/request-changes", body: () => ({ comment: "hijacked" }), state: "awaiting", denied: REVIEW_DENIED },
};

/** The `auth` block of one post route: foreign and ghost posts, roles too low, no credential. */
function postAuth(name) {
  const { method, suffix, body, state, denied, headers: headersFor = () => ({}) } = POST_ROUTES[name];
  const route = `${method} /posts/{id}${suffix}`;
  describe("auth", () => {
    test(`${route} on a foreign post is 403 WORKSPACE_FORBIDDEN, no d1, nothing changed, same body as a ghost`, async () => {
      const w = await world();
      const theirs = await postIn(state, w.stranger.token, w.af);
      const mine = await postIn(state, w.session, w.a2);
      await warm(w.session, w.fullKey, w.scopedKey);
      const theirsBefore = await postState(theirs.id);
      const mineBefore = await postState(mine.id);
      const before = await counts();
      for (const [token, id] of [[w.session, theirs.id], [w.fullKey, theirs.id], [w.scopedKey, theirs.id], [w.scopedKey, mine.id]]) {
        const payload = body?.();
        const headers = headersFor(id === theirs.id ? theirs : mine);
        const real = await app.request(method, `/posts/${id}${suffix}`, { token, body: payload, headers });
        const ghost = await app.request(method, `/posts/${ghostId("post_", ghostWorkspaceId())}${suffix}`, { token, body: payload, headers });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
        assert.ok(!real.text.includes(w.foreign.id));
      }
      assert.deepEqual(await postState(theirs.id), theirsBefore);
      assert.deepEqual(await postState(mine.id), mineBefore);
      assert.deepEqual(await counts(), before);
    });

    if (denied.length > 0) {
      test(`${route} by ${denied.join(" or ")} is 403 ROLE_FORBIDDEN, no d1, nothing changed`, async () => {
        const w = await world();
        const post = await postIn(state, w.session, w.a1);
        const before = await postState(post.id);
        const all = await counts();
        for (const role of denied) {
          const m = await joinAs(w.session, w.ws1.id, role);
          await warm(m.session, m.key);
          for (const token of [m.session, m.key]) {
            const res = await app.request(method, `/posts/${post.id}${suffix}`, { token, body: body?.(), headers: headersFor(post) });
            assertError(res, 403, "ROLE_FORBIDDEN");
            assertNoStorage(res);
          }
        }
        assert.deepEqual(await postState(post.id), before);
        assert.deepEqual(await counts(), all);
        // The same request from the owner goes through, so the refusal was the role's.
        const ok = await app.request(method, `/posts/${post.id}${suffix}`, { token: w.session, body: body?.(), headers: headersFor(post) });
        assert.ok(ok.status === 200 || ok.status === 204, `${ok.status} ${ok.text}`);
      });
    }

    test(`${route} without a credential is 401, no d1, nothing changed`, async () => {
      const w = await world();
      const post = await postIn(state, w.session, w.a1);
      const before = await postState(post.id);
      const res = await app.request(method, `/posts/${post.id}${suffix}`, { body: body?.(), headers: headersFor(post) });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.deepEqual(await postState(post.id), before);
    });
  });
}

const POST_KEYS = ["approvedAt", "approvedBy", "content", "createdAt", "createdBy", "id", "mediaIds", "revision", "scheduledFor", "status", "targets", "updatedAt", "workspaceId"];
const TARGET_KEYS = ["accountId", "attempts", "captionOverride", "error", "firstComment", "id", "mediaIds", "platform", "platformOptions", "platformPostId", "publishedAt", "status", "url"];

// --- POST /posts ----------------------------------------------------------------------

describe("POST /posts", () => {
  test("a post with `targets` and no time is a DRAFT in the first account's workspace, per-target fields round-trip", async () => {
    const w = await world();
    const media = await mediaAsset(w.ws1.id, w.owner.user.id);
    const targetMedia = await mediaAsset(w.ws1.id, w.owner.user.id);
    const before = await counts();
    const res = await app.post(
      "/posts",
      {
        content: "Launch day!\nSee you there.",
        mediaIds: [media],
        targets: [
          { accountId: w.a1.id, captionOverride: "Launch day on X", firstComment: "Link in bio", platformOptions: { replySettings: "following", poll: { options: ["a", "b"] } } },
          { accountId: w.a1b.id, mediaIds: [targetMedia] },
        ],
      },
      { token: w.session },
    );
    assert.equal(res.status, 201, res.text);
    const post = res.body;
    assert.match(post.id, new RegExp(`^post_${w.ws1.id.slice(3)}[0-9A-Za-z]{16}$`));
    assert.equal(res.headers.get("location"), `/api/v1/posts/${post.id}`);
    assert.deepEqual(Object.keys(post).sort(), POST_KEYS);
    assert.equal(post.workspaceId, w.ws1.id);
    assert.equal(post.content, "Launch day!\nSee you there.");
    assert.equal(post.status, "DRAFT");
    assert.equal(post.scheduledFor, null);
    assert.deepEqual(post.mediaIds, [media]);
    assert.equal(post.createdBy, w.owner.user.id);
    assert.equal(post.approvedBy, null);
    assert.ok(Date.parse(post.createdAt));
    assert.equal(post.targets.length, 2);
    for (const t of post.targets) {
      assert.deepEqual(Object.keys(t).sort(), TARGET_KEYS);
      assert.match(t.id, new RegExp(`^tgt_${w.ws1.id.slice(3)}[0-9A-Za-z]{16}$`));
      assert.equal(t.status, "PENDING");
      assert.equal(t.error, null);
      assert.equal(t.publishedAt, null);
    }
    const [x, ig] = post.targets;
    assert.equal(x.accountId, w.a1.id);
    assert.equal(x.platform, "BLUESKY");
    assert.equal(x.captionOverride, "Launch day on X");
    assert.equal(x.firstComment, "Link in bio");
    assert.deepEqual(x.platformOptions, { replySettings: "following", poll: { options: ["a", "b"] } });
    assert.equal(x.mediaIds, null);
    assert.equal(ig.accountId, w.a1b.id);
    assert.equal(ig.platform, "MASTODON");
    assert.equal(ig.captionOverride, null);
    assert.equal(ig.firstComment, null);
    assert.equal(ig.platformOptions, null);
    assert.deepEqual(ig.mediaIds, [targetMedia]);

    const after = await counts();
    assert.equal(after.posts, before.posts + 1);
    assert.equal(after.targets, before.targets + 2);
    const row = await postRow(post.id);
    assert.equal(row.workspace_id, w.ws1.id);
    assert.equal(row.deleted_at, null);
    const rows = await targetRows(post.id);
    assert.deepEqual(rows.map((r) => [r.account_id, r.position, r.workspace_id]), [[w.a1.id, 0, w.ws1.id], [w.a1b.id, 1, w.ws1.id]]);

    const got = await app.get(`/posts/${post.id}`, { token: w.session });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body, post);
  });

  test("`platforms` is the other name for the same list", async () => {
    const w = await world();
    const res = await app.post("/posts", { content: "Via platforms", platforms: [{ accountId: w.a2.id, captionOverride: "ws2 only" }] }, { token: w.fullKey });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.workspaceId, w.ws2.id);
    assert.deepEqual(res.body.targets.map((t) => [t.accountId, t.captionOverride]), [[w.a2.id, "ws2 only"]]);
  });

  test("with a future scheduledFor the post is SCHEDULED at that time", async () => {
    const w = await world();
    const at = inMinutes(90);
    const post = await createPost(w.scopedKey, [w.a1, w.a1b], { scheduledFor: at });
    assert.equal(post.status, "SCHEDULED");
    assert.equal(post.scheduledFor, at);
    assert.equal((await postRow(post.id)).scheduled_for, at);
  });

  test("a workspace that requires approval sends a scheduled post to NEEDS_APPROVAL; a draft stays DRAFT", async () => {
    const w = await world();
    const patched = await app.patch(`/workspaces/${w.ws1.id}`, { requireApproval: true }, { token: w.session });
    assert.equal(patched.status, 200, patched.text);
    const scheduled = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    assert.equal(scheduled.status, "NEEDS_APPROVAL");
    const draft = await createPost(w.session, [w.a1]);
    assert.equal(draft.status, "DRAFT");
    // The other workspace is unaffected.
    assert.equal((await createPost(w.session, [w.a2], { scheduledFor: inMinutes(60) })).status, "SCHEDULED");
  });

  test("both `platforms` and `targets`, or neither, is 400 MUST_SPECIFY_EXACTLY_ONE and writes nothing", async () => {
    const w = await world();
    const before = await counts();
    const both = await app.post("/posts", { content: "x", platforms: [{ accountId: w.a1.id }], targets: [{ accountId: w.a1.id }] }, { token: w.session });
    assertError(both, 400, "MUST_SPECIFY_EXACTLY_ONE");
    const neither = await app.post("/posts", { content: "x" }, { token: w.session });
    assertError(neither, 400, "MUST_SPECIFY_EXACTLY_ONE");
    assert.deepEqual(await counts(), before);
  });

  test("accounts spanning two workspaces are 400 ACCOUNTS_SPAN_WORKSPACES and write nothing", async () => {
    const w = await world();
    const before = await counts();
    for (const targets of [[w.a1, w.a2], [w.a2, w.a1], [w.a1, w.af]]) {
      const res = await app.post("/posts", { content: "x", targets: targets.map((a) => ({ accountId: a.id })) }, { token: w.session });
      assertError(res, 400, "ACCOUNTS_SPAN_WORKSPACES");
    }
    assert.deepEqual(await counts(), before);
  });

  test("a disconnected or unknown account of the same workspace is 400 VALIDATION_FAILED naming targets[i].accountId", async () => {
    const w = await world();
    const gone = await connect(w.session, w.ws1.id, "YOUTUBE");
    assert.equal((await app.delete(`/social-accounts/${gone.id}`, { token: w.session })).status, 204);
    const ghost = ghostId("soc_", w.ws1.id);
    const before = await counts();
    const cases = [
      [[w.a1.id, gone.id], ["targets[1].accountId"]],
      [[ghost, w.a1.id], ["targets[0].accountId"]],
      [[gone.id, w.a1b.id, ghost], ["targets[0].accountId", "targets[2].accountId"]],
    ];
    for (const [ids, fields] of cases) {
      for (const list of ["targets", "platforms"]) {
        const res = await app.post("/posts", { content: "x", [list]: ids.map((accountId) => ({ accountId })) }, { token: w.session });
        assertError(res, 400, "VALIDATION_FAILED");
        assert.deepEqual(res.body.details.map((d) => d.field), fields, `${list} ${ids}`);
      }
    }
    assert.deepEqual(await counts(), before);
  });

  test("content over 10000 characters, a past scheduledFor, and other bad fields are 400 naming the field", async () => {
    const w = await world();
    const before = await counts();
    const t = [{ accountId: w.a1.id }];
    const cases = [
      [{ content: "x".repeat(10_001), targets: t }, ["content"]],
      [{ content: "   ", targets: t }, ["content"]],
      [{ targets: t }, ["content"]],
      [{ content: "x", targets: t, scheduledFor: ago(1) }, ["scheduledFor"]],
      [{ content: "x", targets: t, scheduledFor: "tomorrow" }, ["scheduledFor"]],
      [{ content: "x", targets: [] }, ["targets"]],
      [{ content: "x", targets: [{ accountId: "soc_nope" }] }, ["targets[0].accountId"]],
      [{ content: "x", targets: [{}] }, ["targets[0].accountId"]],
      [{ content: "x", targets: [{ accountId: w.a1.id, captionOverride: "c".repeat(10_001) }] }, ["targets[0].captionOverride"]],
      [{ content: "x", targets: [{ accountId: w.a1.id }, { accountId: w.a1.id }] }, ["targets[1].accountId"]],
      [{ content: "x", targets: t, mediaIds: [ghostId("med_", w.ws2.id)] }, ["mediaIds[0]"]],
      [{ content: "x", targets: t, status: "PUBLISHED" }, ["status"]],
    ];
    for (const [body, fields] of cases) {
      const res = await app.post("/posts", body, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field).sort(), fields, JSON.stringify(body).slice(0, 120));
    }
    assert.deepEqual(await counts(), before);
    const ok = await app.post("/posts", { content: "y".repeat(10_000), targets: t }, { token: w.session });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.content.length, 10_000);
  });

  test("media must be READY assets of the post's workspace: pending, unknown or foreign ones are 400 naming the field", async () => {
    const w = await world();
    const ready = await mediaAsset(w.ws1.id, w.owner.user.id);
    const pending = await mediaAsset(w.ws1.id, w.owner.user.id, "PENDING");
    const elsewhere = await mediaAsset(w.ws2.id, w.owner.user.id);
    const unknown = ghostId("med_", w.ws1.id);
    const before = await counts();
    const cases = [
      [{ mediaIds: [ready, pending] }, ["mediaIds[1]"]],
      [{ mediaIds: [unknown] }, ["mediaIds[0]"]],
      [{ mediaIds: [elsewhere] }, ["mediaIds[0]"]],
      [{ targets: [{ accountId: w.a1.id, mediaIds: [pending] }] }, ["targets[0].mediaIds[0]"]],
      [{ mediaIds: [unknown], targets: [{ accountId: w.a1.id, mediaIds: [ready, pending] }] }, ["mediaIds[0]", "targets[0].mediaIds[1]"]],
    ];
    for (const [extra, fields] of cases) {
      const res = await app.post("/posts", { content: "with media", targets: [{ accountId: w.a1.id }], ...extra }, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field).sort(), fields, JSON.stringify(extra));
    }
    assert.deepEqual(await counts(), before);
    const ok = await createPost(w.session, [w.a1], { mediaIds: [ready] });
    assert.deepEqual(ok.mediaIds, [ready]);
  });

  describe("auth", () => {
    test("a scoped key creating a post on an account outside its allow-list is 403 WORKSPACE_FORBIDDEN, no d1, nothing written", async () => {
      const w = await world();
      await warm(w.scopedKey, w.fullKey, w.session);
      const before = await counts();
      for (const [token, account] of [[w.scopedKey, w.a2], [w.scopedKey, w.af], [w.fullKey, w.af], [w.session, w.af]]) {
        const real = await app.post("/posts", { content: "intrusion", targets: [{ accountId: account.id }], scheduledFor: inMinutes(30) }, { token });
        const ghost = await app.post("/posts", { content: "intrusion", targets: [{ accountId: ghostId("soc_", ghostWorkspaceId()) }], scheduledFor: inMinutes(30) }, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.deepEqual(await counts(), before);
      assert.equal(await app.count("posts", "workspace_id IN (?, ?)", w.ws2.id, w.foreign.id), 0);
    });

    test("MEMBER and CLIENT_REVIEWER cannot create: 403 ROLE_FORBIDDEN, no d1, nothing written", async () => {
      const w = await world();
      const before = await counts();
      for (const role of ["MEMBER", "CLIENT_REVIEWER"]) {
        const m = await joinAs(w.session, w.ws1.id, role);
        await warm(m.session, m.key);
        for (const token of [m.session, m.key]) {
          const res = await app.post("/posts", { content: "no", targets: [{ accountId: w.a1.id }] }, { token });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
        }
      }
      assert.deepEqual(await counts(), before);
    });

    test("a body workspaceId that disagrees with the accounts is 400 WORKSPACE_CONFLICT, no d1", async () => {
      const w = await world();
      await warm(w.session);
      const before = await counts();
      const res = await app.post("/posts", { workspaceId: w.ws2.id, content: "x", targets: [{ accountId: w.a1.id }] }, { token: w.session });
      assertError(res, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(res);
      assert.deepEqual(await counts(), before);
    });

    test("no credential is 401, no d1, nothing written", async () => {
      const w = await world();
      const before = await counts();
      const res = await app.post("/posts", { content: "anon", targets: [{ accountId: w.a1.id }] });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.deepEqual(await counts(), before);
    });
  });
});

// --- GET /posts/{id} ------------------------------------------------------------------

describe("GET /posts/{id}", () => {
  test("returns the post with its targets in order", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1b, w.a1], { scheduledFor: inMinutes(20) });
    for (const token of [w.session, w.fullKey, w.scopedKey]) {
      const res = await app.get(`/posts/${post.id}`, { token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, post);
      assert.deepEqual(res.body.targets.map((t) => t.accountId), [w.a1b.id, w.a1.id]);
    }
  });

  test("a malformed id, or an unknown id of one's own workspace, is 404", async () => {
    const w = await world();
    for (const id of ["nope", "post_short", `post_${"a".repeat(33)}`, `soc_${w.ws1.id.slice(3)}${"a".repeat(16)}`, ghostId("post_", w.ws1.id)]) {
      assertError(await app.get(`/posts/${id}`, { token: w.session }), 404, "NOT_FOUND");
    }
  });

  postAuth("get");
});

// --- PATCH /posts/{id} ----------------------------------------------------------------

describe("PATCH /posts/{id}", () => {
  test("edits content and replaces targets and media wholesale", async () => {
    const w = await world();
    const [m1, m2, m3] = [await mediaAsset(w.ws1.id, w.owner.user.id), await mediaAsset(w.ws1.id, w.owner.user.id), await mediaAsset(w.ws1.id, w.owner.user.id)];
    const post = await createPost(w.session, [], {
      targets: [{ accountId: w.a1.id, captionOverride: "old caption" }],
      mediaIds: [m1],
      scheduledFor: inMinutes(60),
    });
    const oldTarget = post.targets[0].id;
    const res = await app.patch(
      `/posts/${post.id}`,
      { content: "New words", mediaIds: [m2, m3], targets: [{ accountId: w.a1b.id, firstComment: "first!", platformOptions: { location: "Paris" } }] },
      { token: w.fullKey },
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.content, "New words");
    assert.deepEqual(res.body.mediaIds, [m2, m3]);
    assert.equal(res.body.status, "SCHEDULED");
    assert.equal(res.body.scheduledFor, post.scheduledFor);
    assert.equal(res.body.targets.length, 1);
    const [t] = res.body.targets;
    assert.equal(t.accountId, w.a1b.id);
    assert.equal(t.platform, "MASTODON");
    assert.equal(t.firstComment, "first!");
    assert.equal(t.captionOverride, null);
    assert.deepEqual(t.platformOptions, { location: "Paris" });
    assert.equal(t.status, "PENDING");
    assert.notEqual(t.id, oldTarget);
    const rows = await targetRows(post.id);
    assert.deepEqual(rows.map((r) => r.account_id), [w.a1b.id]);
    assert.equal(await app.count("post_targets", "id = ?", oldTarget), 0);
    assert.equal((await postRow(post.id)).content, "New words");

    // Content alone leaves targets and media as they are.
    const again = await app.patch(`/posts/${post.id}`, { content: "Newer" }, { token: w.session });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.content, "Newer");
    assert.deepEqual(again.body.mediaIds, [m2, m3]);
    assert.deepEqual(again.body.targets, res.body.targets);

    // Media alone must be READY assets of the workspace.
    const pendingMedia = await mediaAsset(w.ws1.id, w.owner.user.id, "PENDING");
    const stateBefore = await postState(post.id);
    const refused = await app.patch(`/posts/${post.id}`, { mediaIds: [m2, pendingMedia] }, { token: w.session });
    assertError(refused, 400, "VALIDATION_FAILED");
    assert.deepEqual(refused.body.details.map((d) => d.field), ["mediaIds[1]"]);
    assert.deepEqual(await postState(post.id), stateBefore);

    // Media alone, emptied.
    const noMedia = await app.patch(`/posts/${post.id}`, { mediaIds: [] }, { token: w.session });
    assert.equal(noMedia.status, 200, noMedia.text);
    assert.deepEqual(noMedia.body.mediaIds, []);

    const got = await app.get(`/posts/${post.id}`, { token: w.session });
    assert.deepEqual(got.body, noMedia.body);
  });

  test("`platforms` replaces targets too; both at once is 400 MUST_SPECIFY_EXACTLY_ONE", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const res = await app.patch(`/posts/${post.id}`, { platforms: [{ accountId: w.a1b.id }, { accountId: w.a1.id }] }, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.targets.map((t) => t.accountId), [w.a1b.id, w.a1.id]);
    const before = await postState(post.id);
    const both = await app.patch(`/posts/${post.id}`, { platforms: [{ accountId: w.a1.id }], targets: [{ accountId: w.a1.id }] }, { token: w.session });
    assertError(both, 400, "MUST_SPECIFY_EXACTLY_ONE");
    assert.deepEqual(await postState(post.id), before);
  });

  test("targets on another workspace's accounts, or disconnected ones, are refused and change nothing", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const before = await postState(post.id);
    assertError(await app.patch(`/posts/${post.id}`, { targets: [{ accountId: w.a2.id }] }, { token: w.session }), 400, "ACCOUNTS_SPAN_WORKSPACES");
    assertError(await app.patch(`/posts/${post.id}`, { targets: [{ accountId: w.a1.id }, { accountId: w.a2.id }] }, { token: w.session }), 400, "ACCOUNTS_SPAN_WORKSPACES");
    const ghost = await app.patch(`/posts/${post.id}`, { targets: [{ accountId: w.a1.id }, { accountId: ghostId("soc_", w.ws1.id) }] }, { token: w.session });
    assertError(ghost, 400, "VALIDATION_FAILED");
    assert.deepEqual(ghost.body.details.map((d) => d.field), ["targets[1].accountId"]);
    assert.deepEqual(await postState(post.id), before);
  });

  test("once the post is PUBLISHING an edit is 409 INVALID_STATE with currentStatus, and nothing changes", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(5) });
    await exec("UPDATE posts SET status = 'PUBLISHING' WHERE id = ?", post.id);
    const before = await postState(post.id);
    for (const body of [{ content: "too late" }, { targets: [{ accountId: w.a1b.id }] }, { mediaIds: [] }]) {
      const res = await app.patch(`/posts/${post.id}`, body, { token: w.session });
      assertError(res, 409, "INVALID_STATE");
      assert.equal(res.body.currentStatus, "PUBLISHING");
    }
    assert.deepEqual(await postState(post.id), before);
  });

  test("scheduledFor or status in a PATCH is 400 naming the field, and changes nothing", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const before = await postState(post.id);
    const res = await app.patch(`/posts/${post.id}`, { content: "x", scheduledFor: inMinutes(10) }, { token: w.session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field), ["scheduledFor"]);
    const status = await app.patch(`/posts/${post.id}`, { status: "SCHEDULED" }, { token: w.session });
    assertError(status, 400, "VALIDATION_FAILED");
    assert.deepEqual(status.body.details.map((d) => d.field), ["status"]);
    const long = await app.patch(`/posts/${post.id}`, { content: "x".repeat(10_001) }, { token: w.session });
    assertError(long, 400, "VALIDATION_FAILED");
    assert.deepEqual(long.body.details.map((d) => d.field), ["content"]);
    assert.deepEqual(await postState(post.id), before);
  });

  test("a deleted or unknown post is 404", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    assert.equal((await app.delete(`/posts/${post.id}`, { token: w.session })).status, 204);
    assertError(await app.patch(`/posts/${post.id}`, { content: "ghost" }, { token: w.session }), 404, "NOT_FOUND");
    assertError(await app.patch(`/posts/${ghostId("post_", w.ws1.id)}`, { content: "ghost" }, { token: w.session }), 404, "NOT_FOUND");
    assert.notEqual((await postRow(post.id)).content, "ghost");
  });

  postAuth("patch");
});

// --- POST /posts/{id}/schedule --------------------------------------------------------

describe("POST /posts/{id}/schedule", () => {
  test("puts a draft on the schedule at the given time", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const at = inMinutes(45);
    const res = await app.post(`/posts/${post.id}/schedule`, { scheduledFor: at }, { token: w.scopedKey });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "SCHEDULED");
    assert.equal(res.body.scheduledFor, at);
    const row = await postRow(post.id);
    assert.equal(row.status, "SCHEDULED");
    assert.equal(row.scheduled_for, at);
  });

  test("a draft without a time and no body is 400 naming scheduledFor, and stays DRAFT", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const before = await postState(post.id);
    const res = await app.post(`/posts/${post.id}/schedule`, undefined, { token: w.session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field), ["scheduledFor"]);
    const empty = await app.post(`/posts/${post.id}/schedule`, {}, { token: w.session });
    assertError(empty, 400, "VALIDATION_FAILED");
    const past = await app.post(`/posts/${post.id}/schedule`, { scheduledFor: ago(5) }, { token: w.session });
    assertError(past, 400, "VALIDATION_FAILED");
    assert.deepEqual(past.body.details.map((d) => d.field), ["scheduledFor"]);
    assert.deepEqual(await postState(post.id), before);
  });

  test("a canceled post goes back on the schedule with its canceled targets PENDING again, except on a disconnected account", async () => {
    const w = await world();
    const at = inMinutes(120);
    const post = await createPost(w.session, [w.a1, w.a1b], { scheduledFor: at });
    const canceled = await app.post(`/posts/${post.id}/cancel`, undefined, { token: w.session });
    assert.equal(canceled.status, 200, canceled.text);
    assert.deepEqual(canceled.body.targets.map((t) => t.status), ["CANCELED", "CANCELED"]);
    assert.equal((await app.delete(`/social-accounts/${w.a1b.id}`, { token: w.session })).status, 204);

    const res = await app.post(`/posts/${post.id}/schedule`, undefined, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "SCHEDULED");
    assert.equal(res.body.scheduledFor, at);
    assert.deepEqual(res.body.targets.map((t) => [t.accountId, t.status]), [[w.a1.id, "PENDING"], [w.a1b.id, "CANCELED"]]);
    assert.deepEqual((await targetRows(post.id)).map((r) => r.status), ["PENDING", "CANCELED"]);
  });

  test("in a workspace that requires approval, scheduling leads to NEEDS_APPROVAL", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    assert.equal((await app.patch(`/workspaces/${w.ws1.id}`, { requireApproval: true }, { token: w.session })).status, 200);
    const res = await app.post(`/posts/${post.id}/schedule`, { scheduledFor: inMinutes(30) }, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "NEEDS_APPROVAL");
  });

  test("a post already scheduled is 409 INVALID_STATE with currentStatus", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    const before = await postState(post.id);
    const res = await app.post(`/posts/${post.id}/schedule`, { scheduledFor: inMinutes(60) }, { token: w.session });
    assertError(res, 409, "INVALID_STATE");
    assert.equal(res.body.currentStatus, "SCHEDULED");
    assert.deepEqual(await postState(post.id), before);
  });

  postAuth("schedule");
});

// --- POST /posts/{id}/reschedule ------------------------------------------------------

describe("POST /posts/{id}/reschedule", () => {
  test("moves a scheduled post's time and keeps it SCHEDULED", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    const at = inMinutes(300);
    const res = await app.post(`/posts/${post.id}/reschedule`, { scheduledFor: at }, { token: w.fullKey });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "SCHEDULED");
    assert.equal(res.body.scheduledFor, at);
    assert.equal((await postRow(post.id)).scheduled_for, at);
  });

  test("a draft cannot be rescheduled: 409 INVALID_STATE, nothing changes", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1]);
    const before = await postState(post.id);
    const res = await app.post(`/posts/${post.id}/reschedule`, { scheduledFor: inMinutes(30) }, { token: w.session });
    assertError(res, 409, "INVALID_STATE");
    assert.equal(res.body.currentStatus, "DRAFT");
    assert.deepEqual(await postState(post.id), before);
  });

  test("scheduledFor is required and must be in the future", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    const before = await postState(post.id);
    for (const body of [undefined, {}, { scheduledFor: ago(1) }, { scheduledFor: "soon" }]) {
      const res = await app.post(`/posts/${post.id}/reschedule`, body, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["scheduledFor"]);
    }
    assert.deepEqual(await postState(post.id), before);
  });

  test("once publishing has begun a reschedule is 409 INVALID_STATE", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    await exec("UPDATE posts SET status = 'PUBLISHING' WHERE id = ?", post.id);
    const res = await app.post(`/posts/${post.id}/reschedule`, { scheduledFor: inMinutes(60) }, { token: w.session });
    assertError(res, 409, "INVALID_STATE");
    assert.equal(res.body.currentStatus, "PUBLISHING");
    assert.equal((await postRow(post.id)).scheduled_for, post.scheduledFor);
  });

  postAuth("reschedule");
});

// --- POST /posts/{id}/cancel ----------------------------------------------------------

describe("POST /posts/{id}/cancel", () => {
  test("cancels a scheduled post and its pending targets; a second cancel is 409 with currentStatus CANCELED", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1, w.a1b], { scheduledFor: inMinutes(30) });
    const res = await app.post(`/posts/${post.id}/cancel`, undefined, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "CANCELED");
    assert.deepEqual(res.body.targets.map((t) => t.status), ["CANCELED", "CANCELED"]);
    assert.equal((await postRow(post.id)).status, "CANCELED");
    assert.deepEqual((await targetRows(post.id)).map((r) => r.status), ["CANCELED", "CANCELED"]);

    const before = await postState(post.id);
    const again = await app.post(`/posts/${post.id}/cancel`, undefined, { token: w.session });
    assertError(again, 409, "INVALID_STATE");
    assert.equal(again.body.currentStatus, "CANCELED");
    assert.deepEqual(await postState(post.id), before);
  });

  test("two concurrent cancels: exactly one wins with 200, the other is 409 INVALID_STATE", async () => {
    const w = await world();
    for (let round = 0; round < 3; round++) {
      const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
      const results = await Promise.all([
        app.post(`/posts/${post.id}/cancel`, undefined, { token: w.session }),
        app.post(`/posts/${post.id}/cancel`, undefined, { token: w.fullKey }),
      ]);
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 409], results.map((r) => r.text).join("\n"));
      const loser = results.find((r) => r.status === 409);
      assertError(loser, 409, "INVALID_STATE");
      assert.equal(loser.body.currentStatus, "CANCELED");
      assert.equal((await postRow(post.id)).status, "CANCELED");
    }
  });

  test("a published target is left alone when a draft is canceled", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1, w.a1b]);
    await exec("UPDATE post_targets SET status = 'PUBLISHED' WHERE post_id = ? AND account_id = ?", post.id, w.a1b.id);
    const res = await app.post(`/posts/${post.id}/cancel`, undefined, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.targets.map((t) => t.status), ["CANCELED", "PUBLISHED"]);
  });

  postAuth("cancel");
});

// --- POST /posts/{id}/retry -----------------------------------------------------------

describe("POST /posts/{id}/retry", () => {
  test("re-queues the failed targets of a failed post: PUBLISHING, failed targets PENDING without error, the time kept", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1, w.a1b], { scheduledFor: inMinutes(30) });
    await exec("UPDATE posts SET status = 'FAILED' WHERE id = ?", post.id);
    await exec("UPDATE post_targets SET status = 'FAILED', error = ? WHERE post_id = ? AND account_id = ?", BOOM, post.id, w.a1.id);
    await exec("UPDATE post_targets SET status = 'PUBLISHED', published_at = ? WHERE post_id = ? AND account_id = ?", new Date().toISOString(), post.id, w.a1b.id);
    const res = await app.post(`/posts/${post.id}/retry`, undefined, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "PUBLISHING");
    assert.equal(res.body.scheduledFor, post.scheduledFor);
    assert.deepEqual(res.body.targets.map((t) => [t.accountId, t.status, t.error]), [[w.a1.id, "PENDING", null], [w.a1b.id, "PUBLISHED", null]]);
    const rows = await targetRows(post.id);
    assert.deepEqual(rows.map((r) => [r.status, r.error]), [["PENDING", null], ["PUBLISHED", null]]);
  });

  test("a partially published post retries too", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1, w.a1b], { scheduledFor: inMinutes(30) });
    await exec("UPDATE posts SET status = 'PARTIALLY_PUBLISHED' WHERE id = ?", post.id);
    await exec("UPDATE post_targets SET status = 'FAILED', error = ? WHERE post_id = ? AND account_id = ?", BOOM, post.id, w.a1b.id);
    const res = await app.post(`/posts/${post.id}/retry`, undefined, { token: w.fullKey });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "PUBLISHING");
    assert.deepEqual(res.body.targets.map((t) => t.status), ["PENDING", "PENDING"]);
  });

  test("a post with nothing failed is 400 NOTHING_TO_RETRY and nothing changes", async () => {
    const w = await world();
    const draft = await createPost(w.session, [w.a1]);
    const failedButNoFailedTarget = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    await exec("UPDATE posts SET status = 'FAILED' WHERE id = ?", failedButNoFailedTarget.id);
    for (const post of [draft, failedButNoFailedTarget]) {
      const before = await postState(post.id);
      const res = await app.post(`/posts/${post.id}/retry`, undefined, { token: w.session });
      assertError(res, 400, "NOTHING_TO_RETRY");
      assert.deepEqual(await postState(post.id), before);
    }
  });

  postAuth("retry");
});

// --- POST /posts/{id}/approve and /request-changes ------------------------------------

/** `If-Match` naming the revision of `post` as the client last saw it. */
const ifMatch = (post) => ({ "If-Match": `"${post.revision}"` });

describe("POST /posts/{id}/approve", () => {
  /** A workspace requiring approval, a post awaiting it, and members of each role. */
  async function awaiting() {
    const w = await world();
    assert.equal((await app.patch(`/workspaces/${w.ws1.id}`, { requireApproval: true }, { token: w.session })).status, 200);
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    assert.equal(post.status, "NEEDS_APPROVAL");
    return { w, post };
  }

  test("a CLIENT_REVIEWER approves: SCHEDULED, approvedBy and approvedAt set", async () => {
    const { w, post } = await awaiting();
    const reviewer = await joinAs(w.session, w.ws1.id, "CLIENT_REVIEWER");
    const res = await app.post(`/posts/${post.id}/approve`, undefined, { token: reviewer.key, headers: ifMatch(post) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "SCHEDULED");
    assert.equal(res.body.approvedBy, reviewer.id);
    assert.ok(Date.parse(res.body.approvedAt));
    assert.equal(res.body.scheduledFor, post.scheduledFor);
    const row = await postRow(post.id);
    assert.equal(row.approved_by, reviewer.id);
  });

  test("an ADMIN and the OWNER approve too", async () => {
    const { w, post } = await awaiting();
    const admin = await joinAs(w.session, w.ws1.id, "ADMIN");
    const res = await app.post(`/posts/${post.id}/approve`, undefined, { token: admin.session, headers: ifMatch(post) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.approvedBy, admin.id);
    const second = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    const own = await app.post(`/posts/${second.id}/approve`, undefined, { token: w.fullKey, headers: ifMatch(second) });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.approvedBy, w.owner.user.id);
  });

  test("a post not awaiting approval is 409 INVALID_STATE with currentStatus", async () => {
    const w = await world();
    const scheduled = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    const draft = await createPost(w.session, [w.a1]);
    for (const [post, status] of [[scheduled, "SCHEDULED"], [draft, "DRAFT"]]) {
      const before = await postState(post.id);
      const res = await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session, headers: ifMatch(post) });
      assertError(res, 409, "INVALID_STATE");
      assert.equal(res.body.currentStatus, status);
      assert.deepEqual(await postState(post.id), before);
    }
  });

  test("GET /posts/{id} carries the revision as a strong ETag, and every change makes a new one", async () => {
    const { w, post } = await awaiting();
    const read = await app.get(`/posts/${post.id}`, { token: w.session });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.headers.get("etag"), `"${read.body.revision}"`);
    assert.equal(read.body.revision, post.revision);
    const edited = await app.patch(`/posts/${post.id}`, { content: "edited" }, { token: w.session });
    assert.equal(edited.status, 200, edited.text);
    assert.notEqual(edited.body.revision, post.revision);
    assert.equal(edited.headers.get("etag"), `"${edited.body.revision}"`);
  });

  test("approving must name a revision: none, `*` or weak tags only is 428, a malformed If-Match 400; nothing changes", async () => {
    const { w, post } = await awaiting();
    const before = await postState(post.id);
    assertError(await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session }), 428, "PRECONDITION_REQUIRED");
    for (const value of ["*", `W/"${post.revision}"`]) {
      assertError(await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session, headers: { "If-Match": value } }), 428, "PRECONDITION_REQUIRED");
    }
    for (const value of [post.revision, `"${post.revision}`, `"a" "b"`, `"${"x".repeat(1100)}"`]) {
      const res = await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session, headers: { "If-Match": value } });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.equal(res.body.details[0].field, "If-Match");
    }
    assert.deepEqual(await postState(post.id), before);
    // A role too low is told so first, whatever If-Match says.
    const editor = await joinAs(w.session, w.ws1.id, "EDITOR");
    assertError(await app.post(`/posts/${post.id}/approve`, undefined, { token: editor.session }), 403, "ROLE_FORBIDDEN");
  });

  test("a post edited after the reviewer read it is not approved: 409 STALE_REVISION; the new revision approves", async () => {
    const { w, post } = await awaiting();
    const seen = await app.get(`/posts/${post.id}`, { token: w.session });
    const edited = await app.patch(`/posts/${post.id}`, { content: "changed behind the reviewer's back" }, { token: w.session });
    assert.equal(edited.status, 200, edited.text);
    const before = await postState(post.id);
    const stale = await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session, headers: { "If-Match": seen.headers.get("etag") } });
    assertError(stale, 409, "STALE_REVISION");
    assert.deepEqual(await postState(post.id), before);
    assert.equal((await postRow(post.id)).status, "NEEDS_APPROVAL");
    // A list naming the new revision among others approves it.
    const fresh = await app.get(`/posts/${post.id}`, { token: w.session });
    const ok = await app.post(`/posts/${post.id}/approve`, undefined, { token: w.session, headers: { "If-Match": `${seen.headers.get("etag")}, ${fresh.headers.get("etag")}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.content, "changed behind the reviewer's back");
    assert.notEqual(ok.body.revision, fresh.body.revision);
  });

  test("an edit racing an approval never leaves an approval on content the reviewer did not see", async () => {
    const { w } = await awaiting();
    const reviewer = await joinAs(w.session, w.ws1.id, "CLIENT_REVIEWER");
    for (let i = 0; i < 8; i++) {
      const post = await createPost(w.session, [w.a1], { content: `original ${i}`, scheduledFor: inMinutes(60) });
      const [approve, edit] = await Promise.all([
        app.post(`/posts/${post.id}/approve`, undefined, { token: reviewer.key, headers: ifMatch(post) }),
        app.patch(`/posts/${post.id}`, { content: `edited ${i}` }, { token: w.session }),
      ]);
      assert.equal(edit.status, 200, edit.text);
      assert.ok(approve.status === 200 || approve.body?.code === "STALE_REVISION", approve.text);
      const row = await postRow(post.id);
      if (row.approved_by !== null) assert.equal(row.content, `original ${i}`, "approved content is what the reviewer saw");
      if (row.content === `edited ${i}`) assert.equal(row.approved_by, null, "an edited post awaits a new approval");
    }
  });

  postAuth("approve");
});

describe("POST /posts/{id}/request-changes", () => {
  async function awaiting() {
    const w = await world();
    assert.equal((await app.patch(`/workspaces/${w.ws1.id}`, { requireApproval: true }, { token: w.session })).status, 200);
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    assert.equal(post.status, "NEEDS_APPROVAL");
    return { w, post };
  }

  test("a CLIENT_REVIEWER sends the post back to DRAFT, and the comment is stored", async () => {
    const { w, post } = await awaiting();
    const reviewer = await joinAs(w.session, w.ws1.id, "CLIENT_REVIEWER");
    const comment = "Please use the new logo.";
    const res = await app.post(`/posts/${post.id}/request-changes`, { comment }, { token: reviewer.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "DRAFT");
    assert.equal((await postRow(post.id)).status, "DRAFT");
    const rows = await all("SELECT * FROM comments WHERE post_id = ?", post.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].body, comment);
    assert.equal(rows[0].author_id, reviewer.id);
    assert.equal(rows[0].workspace_id, w.ws1.id);
    assert.equal(rows[0].parent_id, null);
    assert.match(rows[0].id, new RegExp(`^cmt_${w.ws1.id.slice(3)}[0-9A-Za-z]{16}$`));
    const listed = await app.get(`/comments?postId=${post.id}`, { token: w.session });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body.map((c) => c.body), [comment]);
  });

  test("without a comment no comment row is written; an ADMIN may do it", async () => {
    const { w, post } = await awaiting();
    const admin = await joinAs(w.session, w.ws1.id, "ADMIN");
    const res = await app.post(`/posts/${post.id}/request-changes`, undefined, { token: admin.key });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "DRAFT");
    assert.equal(await app.count("comments", "post_id = ?", post.id), 0);
  });

  test("a post not awaiting approval is 409 and no comment is written", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    const before = await postState(post.id);
    const res = await app.post(`/posts/${post.id}/request-changes`, { comment: "nope" }, { token: w.session });
    assertError(res, 409, "INVALID_STATE");
    assert.equal(res.body.currentStatus, "SCHEDULED");
    assert.deepEqual(await postState(post.id), before);
  });

  test("a blank or over-long comment is 400 and nothing changes", async () => {
    const { w, post } = await awaiting();
    const before = await postState(post.id);
    for (const comment of ["   ", "c".repeat(5_001), 12]) {
      const res = await app.post(`/posts/${post.id}/request-changes`, { comment }, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["comment"]);
    }
    assert.deepEqual(await postState(post.id), before);
  });

  postAuth("request-changes");
});

// --- DELETE /posts/{id} ---------------------------------------------------------------

describe("DELETE /posts/{id}", () => {
  test("soft-deletes: 204, then GET is 404, the row stays with deleted_at, and lists drop it", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    const res = await app.delete(`/posts/${post.id}`, { token: w.fullKey });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, "");
    assertError(await app.get(`/posts/${post.id}`, { token: w.session }), 404, "NOT_FOUND");
    const row = await postRow(post.id);
    assert.ok(row, "the row is kept");
    assert.ok(Date.parse(row.deleted_at));
    assert.equal((await targetRows(post.id)).length, 1);
    const list = await app.get("/posts", { token: w.session });
    assert.ok(!list.body.some((p) => p.id === post.id));
    assertError(await app.delete(`/posts/${post.id}`, { token: w.fullKey }), 404, "NOT_FOUND");
    assertError(await app.post(`/posts/${post.id}/cancel`, undefined, { token: w.fullKey }), 404, "NOT_FOUND");
  });

  test("a post that is publishing cannot be deleted: 409 INVALID_STATE", async () => {
    const w = await world();
    const post = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(60) });
    await exec("UPDATE posts SET status = 'PUBLISHING' WHERE id = ?", post.id);
    const res = await app.delete(`/posts/${post.id}`, { token: w.session });
    assertError(res, 409, "INVALID_STATE");
    assert.equal(res.body.currentStatus, "PUBLISHING");
    assert.equal((await postRow(post.id)).deleted_at, null);
  });

  test("a malformed or unknown id is 404", async () => {
    const w = await world();
    assertError(await app.delete("/posts/nope", { token: w.session }), 404, "NOT_FOUND");
    assertError(await app.delete(`/posts/${ghostId("post_", w.ws1.id)}`, { token: w.session }), 404, "NOT_FOUND");
  });

  postAuth("delete");
});

// --- the role table -------------------------------------------------------------------

describe("posts: the role table", () => {
  const WRITERS = ["OWNER", "ADMIN", "EDITOR"];
  for (const role of ["OWNER", "ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
    const may = WRITERS.includes(role);
    for (const kind of ["session", "key"]) {
      test(`${role} with a ${kind} ${may ? "may" : "may not"} create, edit, schedule, cancel or delete posts, and may read them`, async () => {
        const w = await world();
        const actor = role === "OWNER" ? { session: w.session, key: w.fullKey } : await joinAs(w.session, w.ws1.id, role);
        const token = actor[kind];
        const draft = await createPost(w.session, [w.a1]);
        const toSchedule = await createPost(w.session, [w.a1]);
        const toCancel = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
        const toDelete = await createPost(w.session, [w.a1]);
        await warm(token);

        // Read: everyone.
        const read = await app.get(`/posts/${draft.id}`, { token });
        assert.equal(read.status, 200, read.text);
        assert.deepEqual(read.body, draft);
        const list = await app.get(`/posts?workspaceId=${w.ws1.id}`, { token });
        assert.equal(list.status, 200, list.text);
        assert.equal(list.body.length, 4);

        const before = await counts();
        const states = {};
        for (const p of [draft, toSchedule, toCancel, toDelete]) states[p.id] = await postState(p.id);
        const attempts = {
          create: await app.post("/posts", { content: `by ${role}`, targets: [{ accountId: w.a1.id }] }, { token }),
          edit: await app.patch(`/posts/${draft.id}`, { content: `edited by ${role}` }, { token }),
          schedule: await app.post(`/posts/${toSchedule.id}/schedule`, { scheduledFor: inMinutes(90) }, { token }),
          cancel: await app.post(`/posts/${toCancel.id}/cancel`, undefined, { token }),
          delete: await app.delete(`/posts/${toDelete.id}`, { token }),
        };
        if (may) {
          assert.equal(attempts.create.status, 201, attempts.create.text);
          assert.equal(attempts.create.body.createdBy, role === "OWNER" ? w.owner.user.id : actor.id);
          assert.equal(attempts.edit.status, 200, attempts.edit.text);
          assert.equal(attempts.edit.body.content, `edited by ${role}`);
          assert.equal(attempts.schedule.status, 200, attempts.schedule.text);
          assert.equal(attempts.schedule.body.status, "SCHEDULED");
          assert.equal(attempts.cancel.status, 200, attempts.cancel.text);
          assert.equal(attempts.cancel.body.status, "CANCELED");
          assert.equal(attempts.delete.status, 204, attempts.delete.text);
          assert.ok((await postRow(toDelete.id)).deleted_at);
        } else {
          for (const [name, res] of Object.entries(attempts)) {
            assertError(res, 403, "ROLE_FORBIDDEN");
            assertNoStorage(res);
            assert.ok(res.body.code === "ROLE_FORBIDDEN", name);
          }
          assert.deepEqual(await counts(), before);
          for (const p of [draft, toSchedule, toCancel, toDelete]) assert.deepEqual(await postState(p.id), states[p.id]);
        }
      });
    }
  }
});

// --- GET /posts -----------------------------------------------------------------------

describe("GET /posts", () => {
  test("without workspaceId merges every workspace in scope, newest first, each row with its workspaceId", async () => {
    const w = await world();
    const made = [];
    for (const a of [w.a1, w.a2, w.a1b, w.a2, w.a1]) {
      made.push(await createPost(w.session, [a]));
      await tick();
    }
    await createPost(w.stranger.token, [w.af]);
    const expected = [...made].reverse();
    for (const token of [w.session, w.fullKey]) {
      const res = await app.get("/posts", { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("link"), null);
      assert.deepEqual(res.body.map((p) => p.id), expected.map((p) => p.id));
      assert.deepEqual(res.body.map((p) => p.workspaceId), expected.map((p) => p.workspaceId));
      assert.deepEqual(res.body, expected);
      assert.ok(!res.text.includes(w.foreign.id));
    }
    const ws2 = await app.get(`/posts?workspaceId=${w.ws2.id}`, { token: w.session });
    assert.deepEqual(ws2.body.map((p) => p.id), expected.filter((p) => p.workspaceId === w.ws2.id).map((p) => p.id));
  });

  test("limit=2 follows Link through every page across two workspaces, no row twice or missing", async () => {
    const w = await world();
    const made = [];
    for (let i = 0; i < 7; i++) {
      made.push((await createPost(w.session, [i % 2 ? w.a2 : w.a1])).id);
      await tick();
    }
    const expected = [...made].reverse();
    const pages = [];
    let url = "/posts?limit=2";
    while (url !== null) {
      assert.ok(pages.length < 20, "pagination does not end");
      const res = await app.get(url, { token: w.fullKey });
      assert.equal(res.status, 200, res.text);
      pages.push(res.body.map((p) => p.id));
      url = nextLink(res);
      if (url) {
        const next = new URL(url);
        assert.equal(next.pathname, "/api/v1/posts");
        assert.equal(next.searchParams.get("limit"), "2");
      }
    }
    assert.deepEqual(pages.map((p) => p.length), [2, 2, 2, 1]);
    const ids = pages.flat();
    assert.deepEqual(ids, expected);
    assert.equal(new Set(ids).size, ids.length);
  });

  test("with more workspaces than a page, every limit pages through all rows in order (the per-workspace floor)", async () => {
    // Unfiltered fan-outs read only posts at or above the page-th newest workspace head
    // (src/store/posts.rs); uneven workspaces, a deleted head and small limits exercise it.
    const owner = await app.signup();
    const spaces = [];
    for (let i = 0; i < 4; i++) {
      const ws = await app.createWorkspace(owner.token, { name: unique(`Floor ${i} `) });
      spaces.push({ ws, account: await connect(owner.token, ws.id, "X") });
    }
    const made = [];
    for (const i of [0, 1, 0, 2, 0, 3, 0, 2, 0, 1, 2]) {
      made.push(await createPost(owner.token, [spaces[i].account]));
      await tick();
    }
    // The newest post of the third workspace is deleted: its head is the one before.
    const gone = made[10];
    assert.equal((await app.delete(`/posts/${gone.id}`, { token: owner.token })).status, 204);
    const expected = made.filter((p) => p.id !== gone.id).reverse().map((p) => p.id);
    for (const limit of [1, 2, 3, 50]) {
      const ids = [];
      let url = `/posts?limit=${limit}`;
      while (url !== null) {
        assert.ok(ids.length <= expected.length, "pagination does not end");
        const res = await app.get(url, { token: owner.token });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.timing.d1?.desc, "1 query");
        ids.push(...res.body.map((p) => p.id));
        url = nextLink(res);
      }
      assert.deepEqual(ids, expected, `limit=${limit}`);
    }
  });

  test("a scoped key's fan-out never shows rows of other workspaces", async () => {
    const w = await world();
    const mine = await createPost(w.session, [w.a1]);
    await createPost(w.session, [w.a2]);
    await createPost(w.stranger.token, [w.af]);
    for (const query of ["", "?limit=1", "?limit=200", "?status=DRAFT"]) {
      const res = await app.get(`/posts${query}`, { token: w.scopedKey });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((p) => p.id), [mine.id], query);
      assert.ok(!res.text.includes(w.ws2.id));
      assert.ok(!res.text.includes(w.foreign.id));
    }
  });

  test("status filters by status; an unknown status is 400 naming it", async () => {
    const w = await world();
    const draft = await createPost(w.session, [w.a1]);
    await tick();
    const scheduled = await createPost(w.session, [w.a2], { scheduledFor: inMinutes(30) });
    await tick();
    const canceled = await createPost(w.session, [w.a1], { scheduledFor: inMinutes(30) });
    assert.equal((await app.post(`/posts/${canceled.id}/cancel`, undefined, { token: w.session })).status, 200);
    const by = async (s) => (await app.get(`/posts?status=${s}`, { token: w.session })).body.map((p) => p.id);
    assert.deepEqual(await by("DRAFT"), [draft.id]);
    assert.deepEqual(await by("SCHEDULED"), [scheduled.id]);
    assert.deepEqual(await by("CANCELED"), [canceled.id]);
    assert.deepEqual(await by("PUBLISHED"), []);
    for (const bad of ["draft", "LIVE"]) {
      const res = await app.get(`/posts?status=${bad}`, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["status"]);
    }
  });

  test("from (inclusive) and to (exclusive) filter on scheduledFor; drafts without a time are left out", async () => {
    const w = await world();
    const base = Date.now() + 24 * 3600_000;
    const at = (h) => new Date(base + h * 3600_000).toISOString();
    const p1 = await createPost(w.session, [w.a1], { scheduledFor: at(1) });
    await tick();
    const p2 = await createPost(w.session, [w.a2], { scheduledFor: at(2) });
    await tick();
    const p3 = await createPost(w.session, [w.a1b], { scheduledFor: at(3) });
    await createPost(w.session, [w.a1]);
    const ids = async (q) => {
      const res = await app.get(`/posts?${q}`, { token: w.session });
      assert.equal(res.status, 200, res.text);
      return res.body.map((p) => p.id);
    };
    assert.deepEqual(await ids(`from=${encodeURIComponent(at(2))}`), [p3.id, p2.id]);
    assert.deepEqual(await ids(`to=${encodeURIComponent(at(2))}`), [p1.id]);
    assert.deepEqual(await ids(`from=${encodeURIComponent(at(1))}&to=${encodeURIComponent(at(3))}`), [p2.id, p1.id]);
    assert.deepEqual(await ids(`from=${encodeURIComponent(at(1.5))}&to=${encodeURIComponent(at(2.5))}&status=SCHEDULED`), [p2.id]);
    assert.deepEqual(await ids(`from=${encodeURIComponent(at(4))}`), []);
    for (const [q, field] of [["from=yesterday", "from"], ["to=2026-13-01T00:00:00Z", "to"]]) {
      const res = await app.get(`/posts?${q}`, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), [field]);
    }
  });

  test("a user with 150 workspaces lists their posts with one d1 query for a warm full key", { timeout: 180_000 }, async () => {
    const owner = await app.signup();
    const workspaces = [];
    for (let i = 0; i < 150; i++) workspaces.push(await app.createWorkspace(owner.token, { name: unique(`Client ${i} `) }));
    const chosen = [0, 99, 100, 149].map((i) => workspaces[i]);
    const posts = [];
    for (const ws of chosen) {
      const account = await connect(owner.token, ws.id, "X");
      posts.push(await createPost(owner.token, [account]));
      await tick();
    }
    const key = (await app.mintKey(owner.token, { name: "full, many workspaces" })).key;
    const me = await app.get("/me", { token: key });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.workspaces.length, 150);

    const res = await app.get("/posts", { token: key });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((p) => p.id), [...posts].reverse().map((p) => p.id));
    assert.deepEqual(res.body.map((p) => p.workspaceId), [...chosen].reverse().map((ws) => ws.id));
    assert.equal(res.timing.d1?.desc, "1 query", res.headers.get("server-timing"));
    assert.match(res.headers.get("server-timing"), /d1;desc="1 query"/);
    // The session, equally warm, fans out the same way.
    const viaSession = await app.get("/posts", { token: owner.token });
    assert.deepEqual(viaSession.body.map((p) => p.id), res.body.map((p) => p.id));
    assert.equal(viaSession.timing.d1?.desc, "1 query", viaSession.headers.get("server-timing"));
  });

  describe("auth", () => {
    test("a foreign workspaceId is 403 WORKSPACE_FORBIDDEN, no d1, same body as a ghost", async () => {
      const w = await world();
      await warm(w.session, w.scopedKey);
      for (const [token, target] of [[w.session, w.foreign.id], [w.scopedKey, w.ws2.id]]) {
        const real = await app.get(`/posts?workspaceId=${target}`, { token });
        const ghost = await app.get(`/posts?workspaceId=${ghostWorkspaceId()}`, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
    });

    test("no credential is 401, no d1", async () => {
      const res = await app.get("/posts");
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});
