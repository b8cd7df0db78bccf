import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, tick, ghostId } from "./helpers.mjs";

const CREDENTIALS_KEY = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

let app;
before(async () => { app = await startWorker({ bindings: { CREDENTIALS_KEY } }); });
after(() => app.dispose());

const warm = (...tokens) => app.warm(...tokens);
const joinAs = (...args) => app.joinAs(...args);

// --- local helpers ---------------------------------------------------------------------

async function connect(token, wsId, platform = "X") {
  const res = await app.post("/social-accounts", { workspaceId: wsId, platform, handle: unique("@h") }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function createPost(token, account) {
  const res = await app.post("/posts", { content: unique("Post "), targets: [{ accountId: account.id }] }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** Personas with one account and one post in ws1, ws2 and the stranger's workspace. */
async function world() {
  const p = await app.personas();
  const a1 = await connect(p.session, p.ws1.id);
  const a2 = await connect(p.session, p.ws2.id);
  const af = await connect(p.stranger.token, p.foreign.id);
  return {
    ...p,
    a1,
    a2,
    af,
    p1: await createPost(p.session, a1),
    p2: await createPost(p.session, a2),
    pf: await createPost(p.stranger.token, af),
  };
}

/** Posts a comment and returns it (201 asserted). */
async function comment(token, postId, body = unique("Looks good ")) {
  const res = await app.post(`/posts/${postId}/comments`, { body }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;
const one = (sql, ...args) => app.db.prepare(sql).bind(...args).first();
const commentRow = (id) => one("SELECT * FROM comments WHERE id = ?", id);
const commentsOf = (wsId) => all("SELECT * FROM comments WHERE workspace_id = ? ORDER BY id", wsId);

const COMMENT_KEYS = ["authorId", "body", "createdAt", "id", "parentId", "postId", "readAt", "readBy", "workspaceId"];

// --- POST /posts/{id}/comments --------------------------------------------------------

describe("POST /posts/{id}/comments", () => {
  test("comments on a post: 201 and the stored row (no Location: comments have no GET of their own)", async () => {
    const w = await world();
    const before = await app.count("comments");
    const text = "Can we move this to Friday?\nThanks!";
    const res = await app.post(`/posts/${w.p1.id}/comments`, { body: text }, { token: w.session });
    assert.equal(res.status, 201, res.text);
    const c = res.body;
    assert.deepEqual(Object.keys(c).sort(), COMMENT_KEYS);
    assert.match(c.id, new RegExp(`^cmt_${w.ws1.id.slice(3)}[0-9A-Za-z]{16}$`));
    assert.equal(res.headers.get("location"), null);
    assert.equal(c.workspaceId, w.ws1.id);
    assert.equal(c.postId, w.p1.id);
    assert.equal(c.parentId, null);
    assert.equal(c.authorId, w.owner.user.id);
    assert.equal(c.body, text);
    assert.ok(Date.parse(c.createdAt));
    assert.equal(c.readAt, null);
    assert.equal(c.readBy, null);
    assert.equal(await app.count("comments"), before + 1);
    const row = await commentRow(c.id);
    assert.equal(row.workspace_id, w.ws1.id);
    assert.equal(row.post_id, w.p1.id);
    assert.equal(row.body, text);
  });

  test("every role may comment, MEMBER and CLIENT_REVIEWER included, with a session or a key", async () => {
    const w = await world();
    const authors = [[w.session, w.owner.user.id], [w.fullKey, w.owner.user.id], [w.scopedKey, w.owner.user.id]];
    for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      const m = await joinAs(w.session, w.ws1.id, role);
      authors.push([m.session, m.id], [m.key, m.id]);
    }
    for (const [token, author] of authors) {
      const c = await comment(token, w.p1.id);
      assert.equal(c.authorId, author);
      assert.equal(c.workspaceId, w.ws1.id);
    }
    assert.equal(await app.count("comments", "post_id = ?", w.p1.id), authors.length);
  });

  test("a deleted post, or an unknown post of the same workspace, is 404 and nothing is written", async () => {
    const w = await world();
    assert.equal((await app.delete(`/posts/${w.p1.id}`, { token: w.session })).status, 204);
    const before = await app.count("comments");
    assertError(await app.post(`/posts/${w.p1.id}/comments`, { body: "hello?" }, { token: w.session }), 404, "NOT_FOUND");
    assertError(await app.post(`/posts/${ghostId("post_", w.ws1.id)}/comments`, { body: "hello?" }, { token: w.session }), 404, "NOT_FOUND");
    assertError(await app.post("/posts/nope/comments", { body: "hello?" }, { token: w.session }), 404, "NOT_FOUND");
    assert.equal(await app.count("comments"), before);
  });

  test("body is required, not blank and at most 5000 characters", async () => {
    const w = await world();
    const before = await app.count("comments");
    for (const body of [{}, { body: "" }, { body: "   \n " }, { body: "b".repeat(5_001) }, { body: 5 }, { body: "ok", extra: 1 }]) {
      const res = await app.post(`/posts/${w.p1.id}/comments`, body, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      const fields = res.body.details.map((d) => d.field);
      assert.deepEqual(fields, [body.extra ? "extra" : "body"], JSON.stringify(body).slice(0, 80));
    }
    assert.equal(await app.count("comments"), before);
    const ok = await comment(w.session, w.p1.id, "b".repeat(5_000));
    assert.equal(ok.body.length, 5_000);
  });

  describe("auth", () => {
    test("a foreign post is 403 WORKSPACE_FORBIDDEN, no d1, nothing written, same body as a ghost", async () => {
      const w = await world();
      await warm(w.session, w.fullKey, w.scopedKey);
      const before = await app.count("comments");
      for (const [token, post] of [[w.session, w.pf], [w.fullKey, w.pf], [w.scopedKey, w.pf], [w.scopedKey, w.p2]]) {
        const real = await app.post(`/posts/${post.id}/comments`, { body: "psst" }, { token });
        const ghost = await app.post(`/posts/${ghostId("post_", ghostWorkspaceId())}/comments`, { body: "psst" }, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.equal(await app.count("comments"), before);
    });

    test("no credential is 401, no d1, nothing written", async () => {
      const w = await world();
      const before = await app.count("comments");
      const res = await app.post(`/posts/${w.p1.id}/comments`, { body: "anon" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await app.count("comments"), before);
    });
  });
});

// --- POST /comments/{id}/reply --------------------------------------------------------

describe("POST /comments/{id}/reply", () => {
  test("a reply carries parentId and the parent's postId", async () => {
    const w = await world();
    const parent = await comment(w.session, w.p1.id);
    const reviewer = await joinAs(w.session, w.ws1.id, "CLIENT_REVIEWER");
    const res = await app.post(`/comments/${parent.id}/reply`, { body: "Agreed." }, { token: reviewer.key });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), COMMENT_KEYS);
    assert.equal(res.headers.get("location"), null);
    assert.equal(res.body.parentId, parent.id);
    assert.equal(res.body.postId, w.p1.id);
    assert.equal(res.body.workspaceId, w.ws1.id);
    assert.equal(res.body.authorId, reviewer.id);
    assert.equal(res.body.body, "Agreed.");
    const row = await commentRow(res.body.id);
    assert.equal(row.parent_id, parent.id);
    assert.equal(row.post_id, w.p1.id);
    // A reply to a reply stays on the same post.
    const deeper = await app.post(`/comments/${res.body.id}/reply`, { body: "Me too." }, { token: w.session });
    assert.equal(deeper.status, 201, deeper.text);
    assert.equal(deeper.body.parentId, res.body.id);
    assert.equal(deeper.body.postId, w.p1.id);
  });

  test("MEMBER may reply", async () => {
    const w = await world();
    const parent = await comment(w.session, w.p1.id);
    const member = await joinAs(w.session, w.ws1.id, "MEMBER");
    const res = await app.post(`/comments/${parent.id}/reply`, { body: "Noted." }, { token: member.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.authorId, member.id);
  });

  test("an unknown or malformed parent is 404; a parent on a deleted post is 404; nothing is written", async () => {
    const w = await world();
    const parent = await comment(w.session, w.p1.id);
    assert.equal((await app.delete(`/posts/${w.p1.id}`, { token: w.session })).status, 204);
    const before = await app.count("comments");
    for (const id of [ghostId("cmt_", w.ws1.id), "nope", `cmt_${"a".repeat(31)}`, parent.id]) {
      assertError(await app.post(`/comments/${id}/reply`, { body: "hi" }, { token: w.session }), 404, "NOT_FOUND");
    }
    assert.equal(await app.count("comments"), before);
  });

  test("body is required and bounded", async () => {
    const w = await world();
    const parent = await comment(w.session, w.p1.id);
    const before = await app.count("comments");
    for (const body of [{}, { body: " " }, { body: "r".repeat(5_001) }]) {
      const res = await app.post(`/comments/${parent.id}/reply`, body, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["body"]);
    }
    assert.equal(await app.count("comments"), before);
  });

  describe("auth", () => {
    test("a foreign comment is 403 WORKSPACE_FORBIDDEN, no d1, nothing written, same body as a ghost", async () => {
      const w = await world();
      const theirs = await comment(w.stranger.token, w.pf.id);
      const other = await comment(w.session, w.p2.id);
      await warm(w.session, w.fullKey, w.scopedKey);
      const before = await app.count("comments");
      for (const [token, id] of [[w.session, theirs.id], [w.fullKey, theirs.id], [w.scopedKey, theirs.id], [w.scopedKey, other.id]]) {
        const real = await app.post(`/comments/${id}/reply`, { body: "butting in" }, { token });
        const ghost = await app.post(`/comments/${ghostId("cmt_", ghostWorkspaceId())}/reply`, { body: "butting in" }, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.equal(await app.count("comments"), before);
    });

    test("no credential is 401, no d1", async () => {
      const w = await world();
      const parent = await comment(w.session, w.p1.id);
      const res = await app.post(`/comments/${parent.id}/reply`, { body: "anon" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});

// --- POST /comments/{id}/read ---------------------------------------------------------

describe("POST /comments/{id}/read", () => {
  test("marks a comment read once: a second read keeps the first readAt and readBy", async () => {
    const w = await world();
    const c = await comment(w.session, w.p1.id);
    const reviewer = await joinAs(w.session, w.ws1.id, "CLIENT_REVIEWER");
    const first = await app.post(`/comments/${c.id}/read`, undefined, { token: reviewer.session });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.id, c.id);
    assert.ok(Date.parse(first.body.readAt));
    assert.equal(first.body.readBy, reviewer.id);
    assert.equal(first.body.body, c.body);
    await tick();
    await tick();
    const second = await app.post(`/comments/${c.id}/read`, undefined, { token: w.fullKey });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.readAt, first.body.readAt);
    assert.equal(second.body.readBy, reviewer.id);
    const row = await commentRow(c.id);
    assert.equal(row.read_at, first.body.readAt);
    assert.equal(row.read_by, reviewer.id);
  });

  test("MEMBER may mark read", async () => {
    const w = await world();
    const c = await comment(w.session, w.p1.id);
    const member = await joinAs(w.session, w.ws1.id, "MEMBER");
    const res = await app.post(`/comments/${c.id}/read`, undefined, { token: member.key });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.readBy, member.id);
  });

  test("an unknown or malformed comment is 404", async () => {
    const w = await world();
    for (const id of [ghostId("cmt_", w.ws1.id), "nope", `post_${w.ws1.id.slice(3)}${"a".repeat(16)}`]) {
      assertError(await app.post(`/comments/${id}/read`, undefined, { token: w.session }), 404, "NOT_FOUND");
    }
  });

  describe("auth", () => {
    test("a foreign comment is 403 WORKSPACE_FORBIDDEN, no d1, nothing changed, same body as a ghost", async () => {
      const w = await world();
      const theirs = await comment(w.stranger.token, w.pf.id);
      const other = await comment(w.session, w.p2.id);
      await warm(w.session, w.fullKey, w.scopedKey);
      for (const [token, id] of [[w.session, theirs.id], [w.fullKey, theirs.id], [w.scopedKey, theirs.id], [w.scopedKey, other.id]]) {
        const real = await app.post(`/comments/${id}/read`, undefined, { token });
        const ghost = await app.post(`/comments/${ghostId("cmt_", ghostWorkspaceId())}/read`, undefined, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.equal((await commentRow(theirs.id)).read_at, null);
      assert.equal((await commentRow(other.id)).read_at, null);
    });

    test("no credential is 401, no d1, nothing changed", async () => {
      const w = await world();
      const c = await comment(w.session, w.p1.id);
      const res = await app.post(`/comments/${c.id}/read`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await commentRow(c.id)).read_at, null);
    });
  });
});

// --- GET /comments --------------------------------------------------------------------

describe("GET /comments", () => {
  test("without filters merges every workspace in scope, newest first, each row with its workspaceId", async () => {
    const w = await world();
    const made = [];
    for (const post of [w.p1, w.p2, w.p1, w.p2, w.p1]) {
      made.push(await comment(w.session, post.id));
      await tick();
    }
    await comment(w.stranger.token, w.pf.id);
    const expected = [...made].reverse();
    for (const token of [w.session, w.fullKey]) {
      const res = await app.get("/comments", { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("link"), null);
      assert.deepEqual(res.body, expected);
      assert.deepEqual(res.body.map((c) => c.workspaceId), [w.ws1.id, w.ws2.id, w.ws1.id, w.ws2.id, w.ws1.id]);
      assert.ok(!res.text.includes(w.foreign.id));
    }
    const created = expected.map((c) => c.createdAt);
    assert.deepEqual(created, [...created].sort().reverse());
  });

  test("limit=2 follows Link through every page with no row twice or missing", async () => {
    const w = await world();
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push((await comment(w.session, (i % 2 ? w.p2 : w.p1).id)).id);
      await tick();
    }
    const seen = [];
    const sizes = [];
    let url = "/comments?limit=2";
    while (url) {
      const res = await app.get(url, { token: w.session });
      assert.equal(res.status, 200, res.text);
      sizes.push(res.body.length);
      seen.push(...res.body.map((c) => c.id));
      const link = res.headers.get("link");
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)[1] : null;
      assert.ok(sizes.length < 10);
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen, [...made].reverse());
  });

  test("postId narrows to one post's comments and replies", async () => {
    const w = await world();
    const other = await createPost(w.session, w.a1);
    const c1 = await comment(w.session, w.p1.id);
    await tick();
    await comment(w.session, other.id);
    await tick();
    const reply = await app.post(`/comments/${c1.id}/reply`, { body: "reply" }, { token: w.session });
    assert.equal(reply.status, 201, reply.text);
    await comment(w.session, w.p2.id);
    const res = await app.get(`/comments?postId=${w.p1.id}`, { token: w.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((c) => c.id), [reply.body.id, c1.id]);
    // The same workspace named again agrees with the post's.
    const named = await app.get(`/comments?postId=${w.p1.id}&workspaceId=${w.ws1.id}`, { token: w.session });
    assert.deepEqual(named.body.map((c) => c.id), [reply.body.id, c1.id]);
    const conflict = await app.get(`/comments?postId=${w.p1.id}&workspaceId=${w.ws2.id}`, { token: w.session });
    assertError(conflict, 400, "WORKSPACE_CONFLICT");
    assertError(await app.get("/comments?postId=nope", { token: w.session }), 404, "NOT_FOUND");
  });

  test("workspaceId narrows to one workspace", async () => {
    const w = await world();
    await comment(w.session, w.p1.id);
    const c2 = await comment(w.session, w.p2.id);
    const res = await app.get(`/comments?workspaceId=${w.ws2.id}`, { token: w.fullKey });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((c) => c.id), [c2.id]);
  });

  test("unread=true lists only unread comments, unread=false only read ones; another value is 400", async () => {
    const w = await world();
    const read = await comment(w.session, w.p1.id);
    await tick();
    const unread1 = await comment(w.session, w.p1.id);
    await tick();
    const unread2 = await comment(w.session, w.p2.id);
    assert.equal((await app.post(`/comments/${read.id}/read`, undefined, { token: w.session })).status, 200);
    const ids = async (q) => {
      const res = await app.get(`/comments?${q}`, { token: w.session });
      assert.equal(res.status, 200, res.text);
      return res.body.map((c) => c.id);
    };
    assert.deepEqual(await ids("unread=true"), [unread2.id, unread1.id]);
    assert.deepEqual(await ids("unread=false"), [read.id]);
    assert.deepEqual(await ids(`unread=true&postId=${w.p1.id}`), [unread1.id]);
    assert.deepEqual(await ids(""), [unread2.id, unread1.id, read.id]);
    for (const bad of ["yes", "1", "TRUE", ""]) {
      const res = await app.get(`/comments?unread=${bad}`, { token: w.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["unread"], bad);
    }
  });

  test("a scoped key never sees other workspaces' comments", async () => {
    const w = await world();
    const mine = await comment(w.session, w.p1.id);
    await comment(w.session, w.p2.id);
    await comment(w.stranger.token, w.pf.id);
    for (const q of ["", "?limit=1", "?unread=true", "?unread=false"]) {
      const res = await app.get(`/comments${q}`, { token: w.scopedKey });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((c) => c.id), q === "?unread=false" ? [] : [mine.id], q);
      assert.ok(!res.text.includes(w.ws2.id));
      assert.ok(!res.text.includes(w.foreign.id));
    }
  });

  test("every role may read comments", async () => {
    const w = await world();
    const c = await comment(w.session, w.p1.id);
    for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      const m = await joinAs(w.session, w.ws1.id, role);
      const res = await app.get("/comments", { token: m.key });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((x) => x.id), [c.id], role);
    }
  });

  describe("auth", () => {
    test("a postId naming a foreign workspace is 403 WORKSPACE_FORBIDDEN, no d1, same body as a ghost", async () => {
      const w = await world();
      await comment(w.stranger.token, w.pf.id);
      await comment(w.session, w.p2.id);
      await warm(w.session, w.fullKey, w.scopedKey);
      for (const [token, post] of [[w.session, w.pf], [w.fullKey, w.pf], [w.scopedKey, w.pf], [w.scopedKey, w.p2]]) {
        const real = await app.get(`/comments?postId=${post.id}`, { token });
        const ghost = await app.get(`/comments?postId=${ghostId("post_", ghostWorkspaceId())}`, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
    });

    test("a foreign workspaceId is 403 WORKSPACE_FORBIDDEN, no d1", async () => {
      const w = await world();
      await warm(w.session, w.scopedKey);
      for (const [token, ws] of [[w.session, w.foreign.id], [w.scopedKey, w.ws2.id]]) {
        const res = await app.get(`/comments?workspaceId=${ws}`, { token });
        assertError(res, 403, "WORKSPACE_FORBIDDEN");
        assertNoStorage(res);
      }
    });

    test("no credential is 401, no d1", async () => {
      const res = await app.get("/comments");
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});
