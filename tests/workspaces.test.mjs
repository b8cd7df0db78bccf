import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertInvalid, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, tick } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

const warm = (...tokens) => app.warm(...tokens);

// --- local helpers ---------------------------------------------------------------------

/** The workspace row as stored, to prove a refusal changed nothing. */
function row(id) {
  return app.db.prepare("SELECT * FROM workspaces WHERE id = ?").bind(id).first();
}

/** A fresh user added to `wsId` by `session` with `role`, with a session and a full key. */
async function joinAs(session, wsId, role) {
  const user = await app.signup();
  await app.addMember(session, wsId, user.email, role);
  const key = (await app.mintKey(user.token, { name: `${role} key` })).key;
  return { ...user, session: user.token, key };
}

/** `<url>; rel="next"` → url, or null when there is no Link header. */
function nextLink(res) {
  const link = res.headers.get("link");
  if (link === null) return null;
  const m = /^<([^>]+)>; rel="next"$/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1];
}

/** Every page of GET `route` at `limit` per page, following `Link: rel="next"`. */
async function allPages(route, token) {
  const pages = [];
  let url = route;
  for (let guard = 0; url !== null; guard++) {
    assert.ok(guard < 100, "pagination does not end");
    const res = await app.get(url, { token });
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body));
    pages.push(res.body);
    url = nextLink(res);
  }
  return pages;
}

// --- GET /workspaces ------------------------------------------------------------------

describe("GET /workspaces", () => {
  test("lists the caller's workspaces oldest first, each with the caller's role", async () => {
    const owner = await app.signup();
    const a = await app.createWorkspace(owner.token);
    await tick();
    const b = await app.createWorkspace(owner.token);
    await tick();
    const other = await app.signup();
    const theirs = await app.createWorkspace(other.token);
    await app.addMember(other.token, theirs.id, owner.email, "EDITOR");
    await tick();
    const c = await app.createWorkspace(owner.token);

    const res = await app.get("/workspaces", { token: owner.token });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.equal(res.headers.get("link"), null);
    assert.deepEqual(res.body.map((w) => w.id), [a.id, b.id, theirs.id, c.id]);
    assert.deepEqual(res.body.map((w) => w.membership.role), ["OWNER", "OWNER", "EDITOR", "OWNER"]);
    for (const w of res.body) {
      assert.equal(typeof w.name, "string");
      assert.equal(typeof w.slug, "string");
      assert.equal(typeof w.timezone, "string");
      assert.equal(typeof w.requireApproval, "boolean");
      assert.ok(Date.parse(w.createdAt));
      assert.ok(Date.parse(w.membership.joinedAt));
    }
    const created = res.body.map((w) => w.createdAt);
    assert.deepEqual(created, [...created].sort());
  });

  test("never lists a workspace the caller does not belong to", async () => {
    const p = await app.personas();
    const res = await app.get("/workspaces", { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((w) => w.id), [p.ws1.id, p.ws2.id]);
    const theirs = await app.get("/workspaces", { token: p.strangerKey });
    assert.deepEqual(theirs.body.map((w) => w.id), [p.foreign.id]);
  });

  test("a scoped key lists only its allow-list", async () => {
    const p = await app.personas();
    const res = await app.get("/workspaces", { token: p.scopedKey });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((w) => w.id), [p.ws1.id]);
    assert.equal(res.body[0].membership.role, "OWNER");
    const full = await app.get("/workspaces", { token: p.fullKey });
    assert.deepEqual(full.body.map((w) => w.id), [p.ws1.id, p.ws2.id]);
  });

  test("a full-access key reaches a workspace its owner joins after the key was minted", async () => {
    const p = await app.personas();
    // The key is minted and its principal cached before the owner joins anything else.
    const before = await app.get("/workspaces", { token: p.fullKey });
    assert.deepEqual(before.body.map((w) => w.id), [p.ws1.id, p.ws2.id]);
    assertError(await app.get(`/workspaces/${p.foreign.id}`, { token: p.fullKey }), 403, "WORKSPACE_FORBIDDEN");

    await app.addMember(p.stranger.token, p.foreign.id, p.owner.email, "EDITOR");

    const list = await app.get("/workspaces", { token: p.fullKey });
    assert.deepEqual(list.body.map((w) => w.id), [p.ws1.id, p.ws2.id, p.foreign.id]);
    assert.equal(list.body[2].membership.role, "EDITOR");
    const one = await app.get(`/workspaces/${p.foreign.id}`, { token: p.fullKey });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.membership.role, "EDITOR");
    // The scoped key's allow-list does not grow.
    const scoped = await app.get("/workspaces", { token: p.scopedKey });
    assert.deepEqual(scoped.body.map((w) => w.id), [p.ws1.id]);
    assertError(await app.get(`/workspaces/${p.foreign.id}`, { token: p.scopedKey }), 403, "WORKSPACE_FORBIDDEN");
  });

  test("a workspace joined late is listed by its creation, not by the membership, for every credential", async () => {
    // The list walks the caller's memberships in workspace order (migration 0005).
    const other = await app.signup();
    const old = await app.createWorkspace(other.token);
    await tick();
    const owner = await app.signup();
    const a = await app.createWorkspace(owner.token);
    await tick();
    const b = await app.createWorkspace(owner.token);
    await tick();
    await app.addMember(other.token, old.id, owner.email, "MEMBER");
    const key = (await app.mintKey(owner.token)).key;
    const expected = [old.id, a.id, b.id];
    for (const token of [owner.token, key]) {
      const res = await app.get("/workspaces", { token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((w) => w.id), expected);
      assert.equal(res.body[0].membership.role, "MEMBER");
      assert.deepEqual((await allPages("/workspaces?limit=1", token)).flat().map((w) => w.id), expected);
    }
  });

  test("limit=1 pages through every workspace once, following Link rel=next", async () => {
    const owner = await app.signup();
    const mine = [];
    for (let i = 0; i < 4; i++) {
      mine.push((await app.createWorkspace(owner.token)).id);
      await tick();
    }
    const other = await app.signup();
    const theirs = await app.createWorkspace(other.token);
    await app.addMember(other.token, theirs.id, owner.email, "CLIENT_REVIEWER");
    await tick();
    mine.push((await app.createWorkspace(owner.token)).id);
    const expected = [...mine.slice(0, 4), theirs.id, mine[4]];

    const whole = await app.get("/workspaces", { token: owner.token });
    assert.deepEqual(whole.body.map((w) => w.id), expected);

    const pages = await allPages("/workspaces?limit=1", owner.token);
    assert.equal(pages.length, expected.length);
    for (const page of pages) assert.equal(page.length, 1);
    const ids = pages.flat().map((w) => w.id);
    assert.deepEqual(ids, expected);
    assert.equal(new Set(ids).size, ids.length);

    const pairs = await allPages("/workspaces?limit=4", owner.token);
    assert.deepEqual(pairs.map((p) => p.length), [4, 2]);
    assert.deepEqual(pairs.flat().map((w) => w.id), expected);
  });

  test("the next link keeps the limit and carries an opaque cursor", async () => {
    const p = await app.personas();
    const res = await app.get("/workspaces?limit=1", { token: p.session });
    const next = new URL(nextLink(res));
    assert.equal(next.pathname, "/api/v1/workspaces");
    assert.equal(next.searchParams.get("limit"), "1");
    assert.ok(next.searchParams.get("cursor"));
    const last = await app.get(next.href, { token: p.session });
    assert.equal(last.status, 200, last.text);
    assert.deepEqual(last.body.map((w) => w.id), [p.ws2.id]);
    assert.equal(last.headers.get("link"), null);
  });

  test("bad limit or cursor values are 400 VALIDATION_FAILED naming the parameter", async () => {
    const p = await app.personas();
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=201", "limit"],
      ["limit=-1", "limit"],
      ["limit=ten", "limit"],
      ["cursor=garbage", "cursor"],
      ["cursor=zz", "cursor"],
      [`cursor=${Buffer.from("not a cursor").toString("hex")}`, "cursor"],
    ]) {
      const res = await app.get(`/workspaces?${query}`, { token: p.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), [field], query);
    }
    const ok = await app.get("/workspaces?limit=200", { token: p.session });
    assert.equal(ok.status, 200, ok.text);
  });

  describe("auth", () => {
    test("no credential is 401 and touches no D1", async () => {
      const res = await app.get("/workspaces");
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });

    test("a malformed or unknown token is the same 401", async () => {
      const a = await app.get("/workspaces", { token: "pb_live_nope" });
      const b = await app.get("/workspaces", { token: "pb_live_" + "A".repeat(32) });
      assertError(a, 401, "UNAUTHORIZED");
      assertError(b, 401, "UNAUTHORIZED");
      assertNoStorage(a);
      assertNoStorage(b);
      assert.equal(withoutRequestId(a.text), withoutRequestId(b.text));
    });
  });
});

// --- POST /workspaces -----------------------------------------------------------------

describe("POST /workspaces", () => {
  test("a session creates a workspace: 201, Location, slug from the name, UTC by default", async () => {
    const owner = await app.signup();
    const u = unique("w");
    const before = await app.count("workspaces");
    const res = await app.post("/workspaces", { name: `  Acme & Co ${u}  ` }, { token: owner.token });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.id, /^ws_[0-9A-Za-z]{16}$/);
    assert.equal(res.headers.get("location"), `/api/v1/workspaces/${res.body.id}`);
    assert.equal(res.body.name, `Acme & Co ${u}`);
    assert.equal(res.body.slug, `acme-co-${u}`);
    assert.equal(res.body.timezone, "UTC");
    assert.equal(res.body.requireApproval, false);
    assert.equal(res.body.membership.role, "OWNER");
    assert.ok(Date.parse(res.body.createdAt));
    assert.equal(await app.count("workspaces"), before + 1);
    assert.equal(await app.count("memberships", "workspace_id = ? AND user_id = ? AND role = 'OWNER'", res.body.id, owner.user.id), 1);

    const got = await app.get(`/workspaces/${res.body.id}`, { token: owner.token });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body, res.body);
  });

  test("explicit slug, timezone and requireApproval are kept", async () => {
    const owner = await app.signup();
    const slug = `brand-${unique("s")}`;
    const res = await app.post("/workspaces", { name: "Brand", slug, timezone: "Europe/Paris", requireApproval: true }, { token: owner.token });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.slug, slug);
    assert.equal(res.body.timezone, "Europe/Paris");
    assert.equal(res.body.requireApproval, true);
    const stored = await row(res.body.id);
    assert.equal(stored.slug, slug);
    assert.equal(stored.timezone, "Europe/Paris");
    assert.equal(stored.require_approval, 1);
    assert.equal(stored.created_by, owner.user.id);
  });

  test("a workspace created by a session is reached by the owner's full-access key on its next request", async () => {
    const p = await app.personas();
    await warm(p.fullKey);
    const res = await app.post("/workspaces", { name: unique("Later ") }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get("location"), `/api/v1/workspaces/${res.body.id}`);
    assert.equal(res.body.membership.role, "OWNER");
    const got = await app.get(`/workspaces/${res.body.id}`, { token: p.fullKey });
    assert.equal(got.status, 200, got.text);
    const list = await app.get("/workspaces", { token: p.fullKey });
    assert.deepEqual(list.body.map((w) => w.id), [p.ws1.id, p.ws2.id, res.body.id]);
  });

  test("a taken slug is 409 SLUG_TAKEN, for anyone, and writes nothing", async () => {
    const p = await app.personas();
    const slug = `taken-${unique("s")}`;
    await app.createWorkspace(p.session, { slug });
    const workspaces = await app.count("workspaces");
    const memberships = await app.count("memberships");
    const mine = await app.post("/workspaces", { name: "Again", slug }, { token: p.session });
    assertError(mine, 409, "SLUG_TAKEN");
    const theirs = await app.post("/workspaces", { name: "Again", slug }, { token: p.stranger.token });
    assertError(theirs, 409, "SLUG_TAKEN");
    assert.equal(await app.count("workspaces"), workspaces);
    assert.equal(await app.count("memberships"), memberships);
  });

  test("a slug derived from a name that is already taken is 409 SLUG_TAKEN", async () => {
    const owner = await app.signup();
    const name = unique("Same Name ");
    await app.createWorkspace(owner.token, { name });
    const before = await app.count("workspaces");
    assertError(await app.post("/workspaces", { name }, { token: owner.token }), 409, "SLUG_TAKEN");
    assert.equal(await app.count("workspaces"), before);
  });

  test("invalid timezone, slug or name are 400 with details naming the field, and write nothing", async () => {
    const owner = await app.signup();
    const workspaces = await app.count("workspaces");
    const memberships = await app.count("memberships");
    const cases = [
      [{ name: "Mars base", timezone: "Mars/Olympus" }, ["timezone"]],
      [{ name: "Slugged", slug: "Bad Slug!" }, ["slug"]],
      [{ name: "Slugged", slug: "ab" }, ["slug"]],
      [{ name: "Slugged", slug: "-edge-" }, ["slug"]],
      [{ name: "x".repeat(101) }, ["name"]],
      [{ name: "   " }, ["name"]],
      [{}, ["name"]],
      [{ name: 42 }, ["name"]],
      [{ name: "Flag", requireApproval: "yes" }, ["requireApproval"]],
      [{ name: "!!" }, ["slug"]],
      [{ name: "x".repeat(101), slug: "NO", timezone: "Mars/Olympus" }, ["name", "slug", "timezone"]],
    ];
    for (const [body, fields] of cases) {
      const res = await app.post("/workspaces", body, { token: owner.token });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field).sort(), fields, JSON.stringify(body));
      for (const d of res.body.details) assert.ok(d.problem.length > 0);
    }
    const long = await app.post("/workspaces", { name: "x".repeat(101) }, { token: owner.token });
    assert.deepEqual(long.body.details, [{ field: "name", problem: "is too long" }]);
    // A 100-character name is fine.
    const ok = await app.post("/workspaces", { name: "y".repeat(100), slug: unique("s") }, { token: owner.token });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(await app.count("workspaces"), workspaces + 1);
    assert.equal(await app.count("memberships"), memberships + 1);
  });

  test("an unknown body field is 400 and writes nothing", async () => {
    const owner = await app.signup();
    const before = await app.count("workspaces");
    const res = await app.post("/workspaces", { name: unique("Brand "), color: "red" }, { token: owner.token });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details, [{ field: "color", problem: "is not a field of this endpoint" }]);
    assert.equal(await app.count("workspaces"), before);
  });

  test("malformed JSON is 400 and writes nothing", async () => {
    const owner = await app.signup();
    const before = await app.count("workspaces");
    const res = await app.post("/workspaces", "{name:", { token: owner.token });
    assertInvalid(res, "body");
    assert.equal(await app.count("workspaces"), before);
  });

  describe("auth", () => {
    test("an API key cannot create a workspace, full or scoped: 403 SESSION_REQUIRED before storage, nothing written", async () => {
      const p = await app.personas();
      await warm(p.fullKey, p.scopedKey);
      const workspaces = await app.count("workspaces");
      const memberships = await app.count("memberships");
      for (const token of [p.fullKey, p.scopedKey]) {
        const res = await app.post("/workspaces", { name: unique("Keyed ") }, { token });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
        // Decided before the body is read: an invalid body gets the same answer.
        const invalid = await app.post("/workspaces", { name: "" , color: "red" }, { token });
        assertError(invalid, 403, "SESSION_REQUIRED");
        assertNoStorage(invalid);
      }
      assert.equal(await app.count("workspaces"), workspaces);
      assert.equal(await app.count("memberships"), memberships);
    });

    test("no credential is 401, touches no D1 and writes nothing", async () => {
      const before = await app.count("workspaces");
      const res = await app.post("/workspaces", { name: unique("Anon ") });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await app.count("workspaces"), before);
    });
  });
});

// --- GET /workspaces/{id} -------------------------------------------------------------

describe("GET /workspaces/{id}", () => {
  test("a member reads the workspace with their own role", async () => {
    const p = await app.personas();
    const reviewer = await joinAs(p.session, p.ws1.id, "CLIENT_REVIEWER");
    for (const [token, role] of [[p.session, "OWNER"], [p.fullKey, "OWNER"], [p.scopedKey, "OWNER"], [reviewer.session, "CLIENT_REVIEWER"], [reviewer.key, "CLIENT_REVIEWER"]]) {
      const res = await app.get(`/workspaces/${p.ws1.id}`, { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.id, p.ws1.id);
      assert.equal(res.body.name, p.ws1.name);
      assert.equal(res.body.slug, p.ws1.slug);
      assert.equal(res.body.membership.role, role);
    }
  });

  test("naming the same workspace in path, query and header is fine", async () => {
    const p = await app.personas();
    const res = await app.get(`/workspaces/${p.ws1.id}?workspaceId=${p.ws1.id}`, { token: p.session, headers: { "X-Workspace-Id": p.ws1.id } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, p.ws1.id);
  });

  test("a malformed id is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    for (const id of ["nope", "ws_short", `ws_${"a".repeat(17)}`, `usr_${"a".repeat(16)}`, `ws_${"a".repeat(15)}-`]) {
      assertError(await app.get(`/workspaces/${id}`, { token: p.session }), 404, "NOT_FOUND");
    }
  });

  describe("auth", () => {
    test("a foreign workspace named by path is 403 WORKSPACE_FORBIDDEN before any D1 read", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        const res = await app.get(`/workspaces/${p.foreign.id}`, { token });
        assertError(res, 403, "WORKSPACE_FORBIDDEN");
        assertNoStorage(res);
      }
    });

    test("the same foreign id in path and query or header is 403, not a conflict", async () => {
      const p = await app.personas();
      await warm(p.fullKey);
      const viaHeader = await app.get(`/workspaces/${p.foreign.id}`, { token: p.fullKey, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(viaHeader, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(viaHeader);
      const viaQuery = await app.get(`/workspaces/${p.foreign.id}?workspaceId=${p.foreign.id}`, { token: p.fullKey });
      assertError(viaQuery, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(viaQuery);
    });

    test("a foreign workspace in the query or header beside one's own path is 400 WORKSPACE_CONFLICT before any D1 read", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey);
      for (const token of [p.session, p.fullKey]) {
        const viaQuery = await app.get(`/workspaces/${p.ws1.id}?workspaceId=${p.foreign.id}`, { token });
        assertError(viaQuery, 400, "WORKSPACE_CONFLICT");
        assertNoStorage(viaQuery);
        const viaHeader = await app.get(`/workspaces/${p.ws1.id}`, { token, headers: { "X-Workspace-Id": p.foreign.id } });
        assertError(viaHeader, 400, "WORKSPACE_CONFLICT");
        assertNoStorage(viaHeader);
      }
    });

    test("a scoped key cannot read its owner's workspace outside the allow-list", async () => {
      const p = await app.personas();
      await warm(p.scopedKey);
      const res = await app.get(`/workspaces/${p.ws2.id}`, { token: p.scopedKey });
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
    });

    test("an out-of-scope id that does not exist gets the same answer as one that does", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        const real = await app.get(`/workspaces/${p.foreign.id}`, { token });
        const ghost = await app.get(`/workspaces/${ghostWorkspaceId()}`, { token });
        assert.equal(ghost.status, real.status);
        assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
        assertNoStorage(ghost);
      }
      // Also for an owner's workspace the scoped key may not reach.
      const outside = await app.get(`/workspaces/${p.ws2.id}`, { token: p.scopedKey });
      const ghost = await app.get(`/workspaces/${ghostWorkspaceId()}`, { token: p.scopedKey });
      assert.equal(withoutRequestId(ghost.text), withoutRequestId(outside.text));
    });

    test("no credential is 401 and touches no D1", async () => {
      const p = await app.personas();
      const res = await app.get(`/workspaces/${p.ws1.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});

// --- PATCH /workspaces/{id} -----------------------------------------------------------

describe("PATCH /workspaces/{id}", () => {
  test("name, timezone and requireApproval round trip", async () => {
    const p = await app.personas();
    const name = unique("Renamed ");
    const res = await app.patch(`/workspaces/${p.ws1.id}`, { name, timezone: "America/New_York", requireApproval: true }, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, p.ws1.id);
    assert.equal(res.body.name, name);
    assert.equal(res.body.timezone, "America/New_York");
    assert.equal(res.body.requireApproval, true);
    assert.equal(res.body.slug, p.ws1.slug);
    assert.equal(res.body.createdAt, p.ws1.createdAt);
    assert.ok(res.body.updatedAt >= p.ws1.updatedAt);
    assert.equal(res.body.membership.role, "OWNER");

    const got = await app.get(`/workspaces/${p.ws1.id}`, { token: p.fullKey });
    assert.deepEqual(got.body, res.body);

    // Only the fields named change.
    const back = await app.patch(`/workspaces/${p.ws1.id}`, { requireApproval: false }, { token: p.session });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.body.requireApproval, false);
    assert.equal(back.body.name, name);
    assert.equal(back.body.timezone, "America/New_York");
    const stored = await row(p.ws1.id);
    assert.equal(stored.require_approval, 0);
    assert.equal(stored.timezone, "America/New_York");
    assert.equal(stored.name, name);
  });

  test("a full-access key and a scoped key of an OWNER may edit settings", async () => {
    const p = await app.personas();
    const full = await app.patch(`/workspaces/${p.ws2.id}`, { timezone: "Asia/Tokyo" }, { token: p.fullKey });
    assert.equal(full.status, 200, full.text);
    assert.equal(full.body.timezone, "Asia/Tokyo");
    const scoped = await app.patch(`/workspaces/${p.ws1.id}`, { timezone: "Europe/Berlin" }, { token: p.scopedKey });
    assert.equal(scoped.status, 200, scoped.text);
    assert.equal(scoped.body.timezone, "Europe/Berlin");
  });

  test("an ADMIN may edit settings", async () => {
    const p = await app.personas();
    const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
    const res = await app.patch(`/workspaces/${p.ws1.id}`, { name: "By admin" }, { token: admin.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.name, "By admin");
    assert.equal(res.body.membership.role, "ADMIN");
    const viaKey = await app.patch(`/workspaces/${p.ws1.id}`, { requireApproval: true }, { token: admin.key });
    assert.equal(viaKey.status, 200, viaKey.text);
    assert.equal((await row(p.ws1.id)).require_approval, 1);
  });

  test("a workspaceId body field naming the same workspace is accepted", async () => {
    const p = await app.personas();
    const res = await app.patch(`/workspaces/${p.ws1.id}`, { workspaceId: p.ws1.id, name: "Agreed" }, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.name, "Agreed");
  });

  test("slug cannot be changed: 400 naming slug, nothing changed", async () => {
    const p = await app.personas();
    const before = await row(p.ws1.id);
    const res = await app.patch(`/workspaces/${p.ws1.id}`, { slug: `new-${unique("s")}` }, { token: p.session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => d.field), ["slug"]);
    const withName = await app.patch(`/workspaces/${p.ws1.id}`, { name: "Sneaky", slug: p.ws1.slug }, { token: p.session });
    assertError(withName, 400, "VALIDATION_FAILED");
    assert.deepEqual(withName.body.details.map((d) => d.field), ["slug"]);
    assert.deepEqual(await row(p.ws1.id), before);
  });

  test("invalid values and unknown fields are 400 with details, nothing changed", async () => {
    const p = await app.personas();
    const before = await row(p.ws1.id);
    for (const [body, fields] of [
      [{ timezone: "Mars/Olympus" }, ["timezone"]],
      [{ name: "x".repeat(101) }, ["name"]],
      [{ name: "" }, ["name"]],
      [{ requireApproval: "true" }, ["requireApproval"]],
      [{ color: "red" }, ["color"]],
      [{ name: "Fine", timezone: "Mars/Olympus" }, ["timezone"]],
    ]) {
      const res = await app.patch(`/workspaces/${p.ws1.id}`, body, { token: p.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field).sort(), fields, JSON.stringify(body));
    }
    assert.deepEqual(await row(p.ws1.id), before);
  });

  test("a malformed id is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    assertError(await app.patch("/workspaces/nope", { name: "x" }, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      test(`an ${role} gets 403 ROLE_FORBIDDEN, no D1, nothing changed`, async () => {
        const p = await app.personas();
        const m = await joinAs(p.session, p.ws1.id, role);
        await warm(m.session, m.key);
        const before = await row(p.ws1.id);
        for (const token of [m.session, m.key]) {
          const res = await app.patch(`/workspaces/${p.ws1.id}`, { name: "Takeover", requireApproval: true }, { token });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.deepEqual(await row(p.ws1.id), before);
      });
    }

    test("a foreign workspace named by path is 403 WORKSPACE_FORBIDDEN, no D1, nothing changed", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      const before = await row(p.foreign.id);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        const res = await app.patch(`/workspaces/${p.foreign.id}`, { name: "Hijacked" }, { token });
        assertError(res, 403, "WORKSPACE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.deepEqual(await row(p.foreign.id), before);
    });

    test("the same foreign id in path and header or body is 403, no D1, nothing changed", async () => {
      const p = await app.personas();
      await warm(p.fullKey);
      const before = await row(p.foreign.id);
      const viaHeader = await app.patch(`/workspaces/${p.foreign.id}`, { name: "Hijacked" }, { token: p.fullKey, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(viaHeader, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(viaHeader);
      const viaBody = await app.patch(`/workspaces/${p.foreign.id}`, { workspaceId: p.foreign.id, name: "Hijacked" }, { token: p.fullKey });
      assertError(viaBody, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(viaBody);
      assert.deepEqual(await row(p.foreign.id), before);
    });

    test("a foreign workspace in query, header or body beside one's own path is 400 WORKSPACE_CONFLICT, no D1, nothing changed", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey);
      const mine = await row(p.ws1.id);
      const theirs = await row(p.foreign.id);
      for (const token of [p.session, p.fullKey]) {
        const variants = [
          [`/workspaces/${p.ws1.id}?workspaceId=${p.foreign.id}`, { name: "Hijacked" }, {}],
          [`/workspaces/${p.ws1.id}`, { name: "Hijacked" }, { "X-Workspace-Id": p.foreign.id }],
          [`/workspaces/${p.ws1.id}`, { name: "Hijacked", workspaceId: p.foreign.id }, {}],
        ];
        for (const [route, body, headers] of variants) {
          const res = await app.patch(route, body, { token, headers });
          assertError(res, 400, "WORKSPACE_CONFLICT");
          assertNoStorage(res);
        }
      }
      assert.deepEqual(await row(p.ws1.id), mine);
      assert.deepEqual(await row(p.foreign.id), theirs);
    });

    test("a scoped key cannot edit its owner's workspace outside the allow-list", async () => {
      const p = await app.personas();
      await warm(p.scopedKey);
      const before = await row(p.ws2.id);
      const res = await app.patch(`/workspaces/${p.ws2.id}`, { name: "Out of scope" }, { token: p.scopedKey });
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
      assert.deepEqual(await row(p.ws2.id), before);
    });

    test("an out-of-scope id that does not exist gets the same answer as one that does", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        const real = await app.patch(`/workspaces/${p.foreign.id}`, { name: "Probe" }, { token });
        const ghost = await app.patch(`/workspaces/${ghostWorkspaceId()}`, { name: "Probe" }, { token });
        assert.equal(ghost.status, real.status);
        assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
        assertNoStorage(ghost);
      }
    });

    test("no credential is 401, no D1, nothing changed", async () => {
      const p = await app.personas();
      const before = await row(p.ws1.id);
      const res = await app.patch(`/workspaces/${p.ws1.id}`, { name: "Anon" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.deepEqual(await row(p.ws1.id), before);
    });
  });
});

// --- DELETE /workspaces/{id} ----------------------------------------------------------

describe("DELETE /workspaces/{id}", () => {
  test("the OWNER's session deletes it: 204, then no credential reaches it", async () => {
    const p = await app.personas();
    const editor = await joinAs(p.session, p.ws1.id, "EDITOR");
    // Every credential has the workspace in its cached principal before the delete.
    for (const token of [p.fullKey, p.scopedKey, editor.key]) {
      assert.equal((await app.get(`/workspaces/${p.ws1.id}`, { token })).status, 200);
    }

    const res = await app.delete(`/workspaces/${p.ws1.id}`, { token: p.session });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, "");
    assert.ok(res.headers.get("x-request-id"));
    assert.ok((await row(p.ws1.id)).deleted_at);

    for (const token of [p.session, p.fullKey, p.scopedKey, editor.session, editor.key]) {
      assertError(await app.get(`/workspaces/${p.ws1.id}`, { token }), 403, "WORKSPACE_FORBIDDEN");
    }
    const list = await app.get("/workspaces", { token: p.session });
    assert.deepEqual(list.body.map((w) => w.id), [p.ws2.id]);
    assert.deepEqual((await app.get("/workspaces", { token: p.scopedKey })).body, []);
    assert.deepEqual((await app.get("/workspaces", { token: editor.key })).body, []);
    // A second delete finds nothing in reach.
    assertError(await app.delete(`/workspaces/${p.ws1.id}`, { token: p.session }), 403, "WORKSPACE_FORBIDDEN");
  });

  test("a deleted workspace frees its slug", async () => {
    const owner = await app.signup();
    const slug = `reused-${unique("s")}`;
    const first = await app.createWorkspace(owner.token, { slug });
    assertError(await app.post("/workspaces", { name: "Twin", slug }, { token: owner.token }), 409, "SLUG_TAKEN");
    assert.equal((await app.delete(`/workspaces/${first.id}`, { token: owner.token })).status, 204);
    const second = await app.createWorkspace(owner.token, { slug });
    assert.equal(second.slug, slug);
    assert.notEqual(second.id, first.id);
  });

  test("a malformed id is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    assertError(await app.delete("/workspaces/nope", { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("a full-access key cannot delete: 403 SESSION_REQUIRED, no D1, nothing changed", async () => {
      const p = await app.personas();
      await warm(p.fullKey, p.scopedKey);
      for (const token of [p.fullKey, p.scopedKey]) {
        const res = await app.delete(`/workspaces/${p.ws1.id}`, { token });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.equal((await row(p.ws1.id)).deleted_at, null);
      assert.equal((await app.get(`/workspaces/${p.ws1.id}`, { token: p.fullKey })).status, 200);
    });

    test("an ADMIN's session cannot delete: 403 ROLE_FORBIDDEN, no D1, nothing changed", async () => {
      const p = await app.personas();
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      await warm(admin.session);
      const res = await app.delete(`/workspaces/${p.ws1.id}`, { token: admin.session });
      assertError(res, 403, "ROLE_FORBIDDEN");
      assertNoStorage(res);
      assert.equal((await row(p.ws1.id)).deleted_at, null);
    });

    test("lower roles' sessions cannot delete either", async () => {
      const p = await app.personas();
      for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
        const m = await joinAs(p.session, p.ws1.id, role);
        await warm(m.session);
        const res = await app.delete(`/workspaces/${p.ws1.id}`, { token: m.session });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal((await row(p.ws1.id)).deleted_at, null);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN, no D1, nothing changed, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session);
      const real = await app.delete(`/workspaces/${p.foreign.id}`, { token: p.session });
      assertError(real, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(real);
      const ghost = await app.delete(`/workspaces/${ghostWorkspaceId()}`, { token: p.session });
      assert.equal(ghost.status, real.status);
      assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
      assertNoStorage(ghost);
      const conflict = await app.delete(`/workspaces/${p.ws1.id}`, { token: p.session, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(conflict, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(conflict);
      assert.equal((await row(p.foreign.id)).deleted_at, null);
      assert.equal((await row(p.ws1.id)).deleted_at, null);
    });

    test("no credential is 401, no D1, nothing changed", async () => {
      const p = await app.personas();
      const res = await app.delete(`/workspaces/${p.ws1.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await row(p.ws1.id)).deleted_at, null);
    });
  });
});
