import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertInvalid, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, tick } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

const warm = (...tokens) => app.warm(...tokens);
const joinAs = (...args) => app.joinAs(...args);

// --- local helpers ---------------------------------------------------------------------

/** The stored role of `userId` in `wsId`, or null when not a member. */
async function roleOf(wsId, userId) {
  const r = await app.db.prepare("SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?").bind(wsId, userId).first();
  return r?.role ?? null;
}

/** Every membership of a workspace as `userId:role`, to prove a refusal changed nothing. */
async function memberships(wsId) {
  const { results } = await app.db.prepare("SELECT user_id, role FROM memberships WHERE workspace_id = ? ORDER BY user_id").bind(wsId).all();
  return results.map((r) => `${r.user_id}:${r.role}`);
}

/** The caller's role in `wsId` as GET /me reports it for `token`, or null. */
async function meRole(token, wsId) {
  const me = await app.get("/me", { token });
  assert.equal(me.status, 200, me.text);
  return me.body.workspaces.find((w) => w.id === wsId)?.role ?? null;
}

const malformedUserIds = ["nope", "usr_short", `usr_${"a".repeat(17)}`, `ws_${"a".repeat(16)}`, `usr_${"a".repeat(15)}-`];

// --- GET /workspaces/{id}/members -----------------------------------------------------

describe("GET /workspaces/{id}/members", () => {
  test("lists members oldest first with e-mail, name and role", async () => {
    const p = await app.personas();
    await tick();
    const editor = await joinAs(p.session, p.ws1.id, "EDITOR");
    await tick();
    const reviewer = await joinAs(p.session, p.ws1.id, "CLIENT_REVIEWER");

    const res = await app.get(`/workspaces/${p.ws1.id}/members`, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("link"), null);
    assert.deepEqual(
      res.body.map((m) => [m.userId, m.email, m.name, m.role]),
      [
        [p.owner.user.id, p.owner.email, p.owner.user.name, "OWNER"],
        [editor.id, editor.email, editor.user.name, "EDITOR"],
        [reviewer.id, reviewer.email, reviewer.user.name, "CLIENT_REVIEWER"],
      ],
    );
    for (const m of res.body) {
      assert.ok(Date.parse(m.joinedAt));
      assert.deepEqual(Object.keys(m).sort(), ["email", "joinedAt", "name", "role", "userId"]);
    }
    const joined = res.body.map((m) => m.joinedAt);
    assert.deepEqual(joined, [...joined].sort());
  });

  test("every role may list, with a session or a key", async () => {
    const p = await app.personas();
    const members = [];
    for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) members.push(await joinAs(p.session, p.ws1.id, role));
    const tokens = [p.session, p.fullKey, p.scopedKey, ...members.flatMap((m) => [m.session, m.key])];
    for (const token of tokens) {
      const res = await app.get(`/workspaces/${p.ws1.id}/members`, { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.length, 5);
    }
  });

  test("limit=1 pages through every member once", async () => {
    const p = await app.personas();
    const ids = [p.owner.user.id];
    for (const role of ["MEMBER", "EDITOR", "ADMIN"]) {
      await tick();
      ids.push((await joinAs(p.session, p.ws1.id, role)).id);
    }
    const seen = [];
    let url = `/workspaces/${p.ws1.id}/members?limit=1`;
    for (let guard = 0; url; guard++) {
      assert.ok(guard < 20, "pagination does not end");
      const res = await app.get(url, { token: p.fullKey });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.length, 1);
      seen.push(res.body[0].userId);
      const link = res.headers.get("link");
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)[1] : null;
    }
    assert.deepEqual(seen, ids);
  });

  test("bad limit or cursor is 400 VALIDATION_FAILED", async () => {
    const p = await app.personas();
    for (const q of ["limit=0", "limit=201", "cursor=garbage"]) {
      assertInvalid(await app.get(`/workspaces/${p.ws1.id}/members?${q}`, { token: p.session }), q.split("=")[0]);
    }
  });

  test("a malformed workspace id is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    assertError(await app.get("/workspaces/nope/members", { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN before any D1 read, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        const real = await app.get(`/workspaces/${p.foreign.id}/members`, { token });
        assertError(real, 403, "WORKSPACE_FORBIDDEN");
        assertNoStorage(real);
        const ghost = await app.get(`/workspaces/${ghostWorkspaceId()}/members`, { token });
        assert.equal(ghost.status, real.status);
        assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
        assertNoStorage(ghost);
      }
    });

    test("a scoped key cannot list members outside its allow-list", async () => {
      const p = await app.personas();
      await warm(p.scopedKey);
      const res = await app.get(`/workspaces/${p.ws2.id}/members`, { token: p.scopedKey });
      assertError(res, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(res);
    });

    test("a foreign workspace in query or header beside one's own path is 400 WORKSPACE_CONFLICT, no D1", async () => {
      const p = await app.personas();
      await warm(p.fullKey);
      const viaQuery = await app.get(`/workspaces/${p.ws1.id}/members?workspaceId=${p.foreign.id}`, { token: p.fullKey });
      assertError(viaQuery, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(viaQuery);
      const viaHeader = await app.get(`/workspaces/${p.ws1.id}/members`, { token: p.fullKey, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(viaHeader, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(viaHeader);
    });

    test("no credential is 401 and touches no D1", async () => {
      const p = await app.personas();
      const res = await app.get(`/workspaces/${p.ws1.id}/members`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});

// --- POST /workspaces/{id}/members ----------------------------------------------------

describe("POST /workspaces/{id}/members", () => {
  test("adds an existing user by e-mail as MEMBER by default: 201", async () => {
    const p = await app.personas();
    const newcomer = await app.signup();
    const before = await app.count("memberships", "workspace_id = ?", p.ws1.id);
    const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: newcomer.email.toUpperCase() }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.userId, newcomer.user.id);
    assert.equal(res.body.email, newcomer.email.toLowerCase());
    assert.equal(res.body.name, newcomer.user.name);
    assert.equal(res.body.role, "MEMBER");
    assert.ok(Date.parse(res.body.joinedAt));
    // A membership has no GET of its own, so no Location header.
    assert.equal(res.headers.get("location"), null);
    assert.equal(await app.count("memberships", "workspace_id = ?", p.ws1.id), before + 1);
    assert.equal(await roleOf(p.ws1.id, newcomer.user.id), "MEMBER");

    const list = await app.get(`/workspaces/${p.ws1.id}/members`, { token: p.session });
    assert.deepEqual(list.body.at(-1), res.body);
  });

  test("adds with an explicit role, and the newcomer's existing key reaches the workspace at once", async () => {
    const p = await app.personas();
    const newcomer = await app.signup();
    const key = (await app.mintKey(newcomer.token)).key;
    assertError(await app.get(`/workspaces/${p.ws1.id}`, { token: key }), 403, "WORKSPACE_FORBIDDEN");
    const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: newcomer.email, role: "EDITOR" }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.role, "EDITOR");
    const got = await app.get(`/workspaces/${p.ws1.id}`, { token: key });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.membership.role, "EDITOR");
    assert.equal(await meRole(key, p.ws1.id), "EDITOR");
  });

  test("an ADMIN may add members up to ADMIN", async () => {
    const p = await app.personas();
    const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
    for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      const u = await app.signup();
      const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email, role }, { token: admin.session });
      assert.equal(res.status, 201, res.text);
      assert.equal(await roleOf(p.ws1.id, u.user.id), role);
    }
  });

  test("an OWNER may add another OWNER", async () => {
    const p = await app.personas();
    const u = await app.signup();
    const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email, role: "OWNER" }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(await roleOf(p.ws1.id, u.user.id), "OWNER");
  });

  test("an unknown e-mail is 404 USER_NOT_FOUND and writes nothing", async () => {
    const p = await app.personas();
    const before = await app.count("memberships");
    const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: `${unique("ghost")}@example.com` }, { token: p.session });
    assertError(res, 404, "USER_NOT_FOUND");
    assert.equal(await app.count("memberships"), before);
  });

  test("an existing member is 409 ALREADY_MEMBER and keeps their role", async () => {
    const p = await app.personas();
    const m = await joinAs(p.session, p.ws1.id, "MEMBER");
    const before = await memberships(p.ws1.id);
    const again = await app.post(`/workspaces/${p.ws1.id}/members`, { email: m.email, role: "ADMIN" }, { token: p.session });
    assertError(again, 409, "ALREADY_MEMBER");
    const self = await app.post(`/workspaces/${p.ws1.id}/members`, { email: p.owner.email, role: "MEMBER" }, { token: p.session });
    assertError(self, 409, "ALREADY_MEMBER");
    assert.deepEqual(await memberships(p.ws1.id), before);
    assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
    assert.equal(await roleOf(p.ws1.id, p.owner.user.id), "OWNER");
  });

  test("a bad role, a bad e-mail or an unknown field is 400 VALIDATION_FAILED and writes nothing", async () => {
    const p = await app.personas();
    const u = await app.signup();
    const before = await app.count("memberships");
    for (const [body, fields] of [
      [{ email: u.email, role: "SUPERUSER" }, ["role"]],
      [{ email: u.email, role: "owner" }, ["role"]],
      [{ email: u.email, role: 3 }, ["role"]],
      [{ email: "not-an-email" }, ["email"]],
      [{}, ["email"]],
      [{ email: u.email, admin: true }, ["admin"]],
    ]) {
      const res = await app.post(`/workspaces/${p.ws1.id}/members`, body, { token: p.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), fields, JSON.stringify(body));
    }
    assert.equal(await app.count("memberships"), before);
  });

  describe("auth", () => {
    test("an API key cannot add members: 403 SESSION_REQUIRED, no D1, nothing written", async () => {
      const p = await app.personas();
      const u = await app.signup();
      await warm(p.fullKey, p.scopedKey);
      const before = await app.count("memberships");
      for (const token of [p.fullKey, p.scopedKey]) {
        const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email }, { token });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.equal(await app.count("memberships"), before);
    });

    for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      test(`an ${role} session cannot add members: 403 ROLE_FORBIDDEN, no D1, nothing written`, async () => {
        const p = await app.personas();
        const m = await joinAs(p.session, p.ws1.id, role);
        const u = await app.signup();
        await warm(m.session);
        const before = await app.count("memberships");
        const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email, role: "MEMBER" }, { token: m.session });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
        assert.equal(await app.count("memberships"), before);
      });
    }

    test("an ADMIN cannot grant OWNER: 403 ROLE_FORBIDDEN, no D1, nothing written", async () => {
      const p = await app.personas();
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      const u = await app.signup();
      await warm(admin.session);
      const before = await app.count("memberships");
      const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email, role: "OWNER" }, { token: admin.session });
      assertError(res, 403, "ROLE_FORBIDDEN");
      assertNoStorage(res);
      assert.equal(await app.count("memberships"), before);
      assert.equal(await roleOf(p.ws1.id, u.user.id), null);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN, no D1, nothing written, same body as a ghost", async () => {
      const p = await app.personas();
      const u = await app.signup();
      await warm(p.session);
      const before = await app.count("memberships");
      const real = await app.post(`/workspaces/${p.foreign.id}/members`, { email: u.email, role: "OWNER" }, { token: p.session });
      assertError(real, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(real);
      const ghost = await app.post(`/workspaces/${ghostWorkspaceId()}/members`, { email: u.email, role: "OWNER" }, { token: p.session });
      assert.equal(ghost.status, real.status);
      assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
      assertNoStorage(ghost);
      // Naming the foreign workspace in the body beside one's own path is a conflict.
      const viaBody = await app.post(`/workspaces/${p.ws1.id}/members`, { workspaceId: p.foreign.id, email: u.email }, { token: p.session });
      assertError(viaBody, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(viaBody);
      assert.equal(await app.count("memberships"), before);
    });

    test("no credential is 401, no D1, nothing written", async () => {
      const p = await app.personas();
      const u = await app.signup();
      const before = await app.count("memberships");
      const res = await app.post(`/workspaces/${p.ws1.id}/members`, { email: u.email });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await app.count("memberships"), before);
    });
  });
});

// --- PATCH /workspaces/{id}/members/{userId} ------------------------------------------

describe("PATCH /workspaces/{id}/members/{userId}", () => {
  test("re-roles a member, and their existing key sees the new role at once", async () => {
    const p = await app.personas();
    const m = await joinAs(p.session, p.ws1.id, "MEMBER");
    // The key's principal is cached with MEMBER before the change.
    assert.equal(await meRole(m.key, p.ws1.id), "MEMBER");
    assert.equal(await meRole(m.session, p.ws1.id), "MEMBER");

    const res = await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "EDITOR" }, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.userId, m.id);
    assert.equal(res.body.email, m.email);
    assert.equal(res.body.role, "EDITOR");
    assert.equal(await roleOf(p.ws1.id, m.id), "EDITOR");
    assert.equal(await meRole(m.key, p.ws1.id), "EDITOR");
    assert.equal(await meRole(m.session, p.ws1.id), "EDITOR");
  });

  test("a promotion or demotion changes what the member's key may do at once", async () => {
    const p = await app.personas();
    const m = await joinAs(p.session, p.ws1.id, "MEMBER");
    assertError(await app.patch(`/workspaces/${p.ws1.id}`, { name: "By member" }, { token: m.key }), 403, "ROLE_FORBIDDEN");

    assert.equal((await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "ADMIN" }, { token: p.session })).status, 200);
    const promoted = await app.patch(`/workspaces/${p.ws1.id}`, { name: "By admin" }, { token: m.key });
    assert.equal(promoted.status, 200, promoted.text);
    assert.equal(promoted.body.membership.role, "ADMIN");

    assert.equal((await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "CLIENT_REVIEWER" }, { token: p.session })).status, 200);
    assertError(await app.patch(`/workspaces/${p.ws1.id}`, { name: "By reviewer" }, { token: m.key }), 403, "ROLE_FORBIDDEN");
    const ws = await app.get(`/workspaces/${p.ws1.id}`, { token: m.key });
    assert.equal(ws.body.name, "By admin");
    assert.equal(ws.body.membership.role, "CLIENT_REVIEWER");
  });

  test("an ADMIN may re-role non-owners", async () => {
    const p = await app.personas();
    const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
    const editor = await joinAs(p.session, p.ws1.id, "EDITOR");
    const res = await app.patch(`/workspaces/${p.ws1.id}/members/${editor.id}`, { role: "MEMBER" }, { token: admin.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.role, "MEMBER");
    assert.equal(await roleOf(p.ws1.id, editor.id), "MEMBER");
  });

  test("demoting the last OWNER is 409 LAST_OWNER and changes nothing", async () => {
    const p = await app.personas();
    const before = await memberships(p.ws1.id);
    for (const role of ["ADMIN", "MEMBER"]) {
      const res = await app.patch(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { role }, { token: p.session });
      assertError(res, 409, "LAST_OWNER");
    }
    assert.deepEqual(await memberships(p.ws1.id), before);
    assert.equal(await roleOf(p.ws1.id, p.owner.user.id), "OWNER");
  });

  test("with two OWNERs one may be demoted, then the other is the last", async () => {
    const p = await app.personas();
    const co = await joinAs(p.session, p.ws1.id, "MEMBER");
    const promote = await app.patch(`/workspaces/${p.ws1.id}/members/${co.id}`, { role: "OWNER" }, { token: p.session });
    assert.equal(promote.status, 200, promote.text);
    assert.equal(promote.body.role, "OWNER");

    const demoteSelf = await app.patch(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { role: "ADMIN" }, { token: p.session });
    assert.equal(demoteSelf.status, 200, demoteSelf.text);
    assert.equal(demoteSelf.body.role, "ADMIN");
    assert.equal(await meRole(p.fullKey, p.ws1.id), "ADMIN");

    assertError(await app.patch(`/workspaces/${p.ws1.id}/members/${co.id}`, { role: "ADMIN" }, { token: co.session }), 409, "LAST_OWNER");
    assert.equal(await roleOf(p.ws1.id, co.id), "OWNER");
  });

  test("two OWNERs stepping down at once: exactly one wins, an OWNER remains", async () => {
    const p = await app.personas();
    const co = await joinAs(p.session, p.ws1.id, "OWNER");
    const [a, b] = await Promise.all([
      app.patch(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { role: "ADMIN" }, { token: p.session }),
      app.patch(`/workspaces/${p.ws1.id}/members/${co.id}`, { role: "ADMIN" }, { token: co.session }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409], `${a.text} ${b.text}`);
    assertError([a, b].find((r) => r.status === 409), 409, "LAST_OWNER");
    assert.equal(await app.count("memberships", "workspace_id = ? AND role = 'OWNER'", p.ws1.id), 1);
  });

  test("a well-formed id of a non-member is 404 NOT_FOUND and writes nothing", async () => {
    const p = await app.personas();
    const outsider = await app.signup();
    const before = await memberships(p.ws1.id);
    const res = await app.patch(`/workspaces/${p.ws1.id}/members/${outsider.user.id}`, { role: "EDITOR" }, { token: p.session });
    assertError(res, 404, "NOT_FOUND");
    // A member of another workspace is not a member here either.
    const theirs = await app.patch(`/workspaces/${p.ws1.id}/members/${p.stranger.user.id}`, { role: "EDITOR" }, { token: p.session });
    assertError(theirs, 404, "NOT_FOUND");
    assert.deepEqual(await memberships(p.ws1.id), before);
    assert.equal(await roleOf(p.foreign.id, p.stranger.user.id), "OWNER");
  });

  test("a malformed userId is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    const before = await memberships(p.ws1.id);
    for (const id of malformedUserIds) {
      assertError(await app.patch(`/workspaces/${p.ws1.id}/members/${id}`, { role: "EDITOR" }, { token: p.session }), 404, "NOT_FOUND");
    }
    assert.deepEqual(await memberships(p.ws1.id), before);
  });

  test("a bad role value is 400 VALIDATION_FAILED and changes nothing", async () => {
    const p = await app.personas();
    const m = await joinAs(p.session, p.ws1.id, "MEMBER");
    for (const [body, fields] of [
      [{ role: "GOD" }, ["role"]],
      [{ role: "editor" }, ["role"]],
      [{ role: null }, ["role"]],
      [{}, ["role"]],
      [{ role: 1 }, ["role"]],
      [{ role: "EDITOR", email: "x@y.co" }, ["email"]],
    ]) {
      assertInvalid(await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, body, { token: p.session }), ...fields);
    }
    const bad = await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "GOD" }, { token: p.session });
    assert.deepEqual(bad.body.details.map((d) => d.field), ["role"]);
    assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
  });

  describe("auth", () => {
    test("an API key cannot re-role: 403 SESSION_REQUIRED, no D1, nothing changed", async () => {
      const p = await app.personas();
      const m = await joinAs(p.session, p.ws1.id, "MEMBER");
      await warm(p.fullKey, p.scopedKey);
      for (const token of [p.fullKey, p.scopedKey]) {
        const res = await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "ADMIN" }, { token });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
    });

    for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      test(`an ${role} session cannot re-role, not even themselves: 403 ROLE_FORBIDDEN, no D1`, async () => {
        const p = await app.personas();
        const actor = await joinAs(p.session, p.ws1.id, role);
        const m = await joinAs(p.session, p.ws1.id, "MEMBER");
        await warm(actor.session);
        for (const [target, to] of [[m.id, "ADMIN"], [actor.id, "ADMIN"], [p.owner.user.id, "MEMBER"]]) {
          const res = await app.patch(`/workspaces/${p.ws1.id}/members/${target}`, { role: to }, { token: actor.session });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
        assert.equal(await roleOf(p.ws1.id, actor.id), role);
        assert.equal(await roleOf(p.ws1.id, p.owner.user.id), "OWNER");
      });
    }

    test("an ADMIN cannot promote to OWNER or change an OWNER: 403 ROLE_FORBIDDEN, nothing changed", async () => {
      const p = await app.personas();
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      const m = await joinAs(p.session, p.ws1.id, "MEMBER");
      // A second owner, so a refusal cannot be LAST_OWNER in disguise.
      const co = await joinAs(p.session, p.ws1.id, "OWNER");
      const before = await memberships(p.ws1.id);
      for (const [target, to] of [[m.id, "OWNER"], [admin.id, "OWNER"], [p.owner.user.id, "MEMBER"], [co.id, "ADMIN"]]) {
        const res = await app.patch(`/workspaces/${p.ws1.id}/members/${target}`, { role: to }, { token: admin.session });
        assertError(res, 403, "ROLE_FORBIDDEN");
      }
      assert.deepEqual(await memberships(p.ws1.id), before);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN, no D1, nothing changed, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session);
      const before = await memberships(p.foreign.id);
      const real = await app.patch(`/workspaces/${p.foreign.id}/members/${p.stranger.user.id}`, { role: "MEMBER" }, { token: p.session });
      assertError(real, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(real);
      const ghost = await app.patch(`/workspaces/${ghostWorkspaceId()}/members/${p.stranger.user.id}`, { role: "MEMBER" }, { token: p.session });
      assert.equal(ghost.status, real.status);
      assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
      assertNoStorage(ghost);
      // Promoting oneself inside a foreign workspace is refused just the same.
      const self = await app.patch(`/workspaces/${p.foreign.id}/members/${p.owner.user.id}`, { role: "OWNER" }, { token: p.session });
      assertError(self, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(self);
      const viaBody = await app.patch(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { workspaceId: p.foreign.id, role: "OWNER" }, { token: p.session });
      assertError(viaBody, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(viaBody);
      assert.deepEqual(await memberships(p.foreign.id), before);
    });

    test("no credential is 401, no D1, nothing changed", async () => {
      const p = await app.personas();
      const m = await joinAs(p.session, p.ws1.id, "MEMBER");
      const res = await app.patch(`/workspaces/${p.ws1.id}/members/${m.id}`, { role: "OWNER" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
    });
  });
});

// --- DELETE /workspaces/{id}/members/{userId} -----------------------------------------

describe("DELETE /workspaces/{id}/members/{userId}", () => {
  test("removing a member cuts their keys off that workspace at once, and only that one", async () => {
    const p = await app.personas();
    const m = await joinAs(p.session, p.ws1.id, "EDITOR");
    const own = await app.createWorkspace(m.session);
    const scoped = (await app.mintKey(m.session, { name: "both", access: "scoped", workspaceIds: [p.ws1.id, own.id] })).key;
    // Both keys have the workspace in their cached principal before the removal.
    for (const token of [m.key, scoped, m.session]) {
      assert.equal((await app.get(`/workspaces/${p.ws1.id}`, { token })).status, 200);
      assert.equal((await app.get(`/workspaces/${own.id}`, { token })).status, 200);
    }

    const res = await app.delete(`/workspaces/${p.ws1.id}/members/${m.id}`, { token: p.session });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, "");
    assert.equal(await roleOf(p.ws1.id, m.id), null);

    for (const token of [m.key, scoped, m.session]) {
      assertError(await app.get(`/workspaces/${p.ws1.id}`, { token }), 403, "WORKSPACE_FORBIDDEN");
      assertError(await app.get(`/workspaces/${p.ws1.id}/members`, { token }), 403, "WORKSPACE_FORBIDDEN");
      const still = await app.get(`/workspaces/${own.id}`, { token });
      assert.equal(still.status, 200, still.text);
      const list = await app.get("/workspaces", { token });
      assert.deepEqual(list.body.map((w) => w.id), [own.id]);
    }
    assert.equal(await meRole(m.key, p.ws1.id), null);
    const members = await app.get(`/workspaces/${p.ws1.id}/members`, { token: p.session });
    assert.ok(!members.body.some((x) => x.userId === m.id));
  });

  test("an ADMIN may remove non-owners", async () => {
    const p = await app.personas();
    const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
    const editor = await joinAs(p.session, p.ws1.id, "EDITOR");
    const other = await joinAs(p.session, p.ws1.id, "ADMIN");
    assert.equal((await app.delete(`/workspaces/${p.ws1.id}/members/${editor.id}`, { token: admin.session })).status, 204);
    assert.equal((await app.delete(`/workspaces/${p.ws1.id}/members/${other.id}`, { token: admin.session })).status, 204);
    assert.equal(await roleOf(p.ws1.id, editor.id), null);
    assert.equal(await roleOf(p.ws1.id, other.id), null);
  });

  for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
    test(`an ${role} may leave with their session`, async () => {
      const p = await app.personas();
      const m = await joinAs(p.session, p.ws1.id, role);
      const res = await app.delete(`/workspaces/${p.ws1.id}/members/${m.id}`, { token: m.session });
      assert.equal(res.status, 204, res.text);
      assert.equal(await roleOf(p.ws1.id, m.id), null);
      assertError(await app.get(`/workspaces/${p.ws1.id}`, { token: m.session }), 403, "WORKSPACE_FORBIDDEN");
      assertError(await app.get(`/workspaces/${p.ws1.id}`, { token: m.key }), 403, "WORKSPACE_FORBIDDEN");
    });
  }

  test("the sole OWNER may not leave: 409 LAST_OWNER, nothing changed", async () => {
    const p = await app.personas();
    // An ADMIN in the workspace does not count as an OWNER.
    await joinAs(p.session, p.ws1.id, "ADMIN");
    const before = await memberships(p.ws1.id);
    const res = await app.delete(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { token: p.session });
    assertError(res, 409, "LAST_OWNER");
    assert.deepEqual(await memberships(p.ws1.id), before);
    assert.equal((await app.get(`/workspaces/${p.ws1.id}`, { token: p.fullKey })).status, 200);
  });

  test("with two OWNERs one may leave or be removed, but not the last", async () => {
    const p = await app.personas();
    const co = await joinAs(p.session, p.ws1.id, "OWNER");
    const third = await joinAs(p.session, p.ws1.id, "OWNER");
    // An owner removes another owner.
    assert.equal((await app.delete(`/workspaces/${p.ws1.id}/members/${third.id}`, { token: co.session })).status, 204);
    assert.equal(await roleOf(p.ws1.id, third.id), null);
    // An owner leaves while another remains.
    assert.equal((await app.delete(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { token: p.session })).status, 204);
    assert.equal(await roleOf(p.ws1.id, p.owner.user.id), null);
    assertError(await app.get(`/workspaces/${p.ws1.id}`, { token: p.fullKey }), 403, "WORKSPACE_FORBIDDEN");
    // Now co is the last one.
    assertError(await app.delete(`/workspaces/${p.ws1.id}/members/${co.id}`, { token: co.session }), 409, "LAST_OWNER");
    assert.equal(await roleOf(p.ws1.id, co.id), "OWNER");
  });

  test("two OWNERs leaving at once: exactly one leaves, an OWNER remains", async () => {
    const p = await app.personas();
    const co = await joinAs(p.session, p.ws1.id, "OWNER");
    const [a, b] = await Promise.all([
      app.delete(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { token: p.session }),
      app.delete(`/workspaces/${p.ws1.id}/members/${co.id}`, { token: co.session }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [204, 409], `${a.text} ${b.text}`);
    assertError([a, b].find((r) => r.status === 409), 409, "LAST_OWNER");
    assert.equal(await app.count("memberships", "workspace_id = ? AND role = 'OWNER'", p.ws1.id), 1);
  });

  test("a well-formed id of a non-member is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    const outsider = await app.signup();
    const before = await memberships(p.ws1.id);
    assertError(await app.delete(`/workspaces/${p.ws1.id}/members/${outsider.user.id}`, { token: p.session }), 404, "NOT_FOUND");
    assertError(await app.delete(`/workspaces/${p.ws1.id}/members/${p.stranger.user.id}`, { token: p.session }), 404, "NOT_FOUND");
    assert.deepEqual(await memberships(p.ws1.id), before);
    assert.equal(await roleOf(p.foreign.id, p.stranger.user.id), "OWNER");
  });

  test("a malformed userId is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    const before = await memberships(p.ws1.id);
    for (const id of malformedUserIds) {
      assertError(await app.delete(`/workspaces/${p.ws1.id}/members/${id}`, { token: p.session }), 404, "NOT_FOUND");
    }
    assert.deepEqual(await memberships(p.ws1.id), before);
  });

  describe("auth", () => {
    test("an API key cannot remove anyone, not even its owner: 403 SESSION_REQUIRED, no D1", async () => {
      const p = await app.personas();
      const m = await joinAs(p.session, p.ws1.id, "MEMBER");
      // A second owner, so the owner's own removal would otherwise be allowed.
      await joinAs(p.session, p.ws1.id, "OWNER");
      await warm(p.fullKey, p.scopedKey, m.key);
      const before = await memberships(p.ws1.id);
      for (const [token, target] of [[p.fullKey, m.id], [p.scopedKey, m.id], [p.fullKey, p.owner.user.id], [m.key, m.id]]) {
        const res = await app.delete(`/workspaces/${p.ws1.id}/members/${target}`, { token });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoStorage(res);
      }
      assert.deepEqual(await memberships(p.ws1.id), before);
    });

    for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      test(`an ${role} session cannot remove someone else: 403 ROLE_FORBIDDEN, no D1`, async () => {
        const p = await app.personas();
        const actor = await joinAs(p.session, p.ws1.id, role);
        const m = await joinAs(p.session, p.ws1.id, "MEMBER");
        await warm(actor.session);
        const before = await memberships(p.ws1.id);
        for (const target of [m.id, p.owner.user.id]) {
          const res = await app.delete(`/workspaces/${p.ws1.id}/members/${target}`, { token: actor.session });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.deepEqual(await memberships(p.ws1.id), before);
      });
    }

    test("an ADMIN cannot remove an OWNER: 403 ROLE_FORBIDDEN, nothing changed", async () => {
      const p = await app.personas();
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      // Two owners, so the refusal is about the role, not the last owner.
      const co = await joinAs(p.session, p.ws1.id, "OWNER");
      const before = await memberships(p.ws1.id);
      for (const target of [p.owner.user.id, co.id]) {
        const res = await app.delete(`/workspaces/${p.ws1.id}/members/${target}`, { token: admin.session });
        assertError(res, 403, "ROLE_FORBIDDEN");
      }
      assert.deepEqual(await memberships(p.ws1.id), before);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN, no D1, nothing changed, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session);
      const before = await memberships(p.foreign.id);
      const real = await app.delete(`/workspaces/${p.foreign.id}/members/${p.stranger.user.id}`, { token: p.session });
      assertError(real, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(real);
      const ghost = await app.delete(`/workspaces/${ghostWorkspaceId()}/members/${p.stranger.user.id}`, { token: p.session });
      assert.equal(ghost.status, real.status);
      assert.equal(withoutRequestId(ghost.text), withoutRequestId(real.text));
      assertNoStorage(ghost);
      // "Leaving" a workspace one is not in is refused the same way.
      const leave = await app.delete(`/workspaces/${p.foreign.id}/members/${p.owner.user.id}`, { token: p.session });
      assertError(leave, 403, "WORKSPACE_FORBIDDEN");
      assertNoStorage(leave);
      const conflict = await app.delete(`/workspaces/${p.ws1.id}/members/${p.owner.user.id}`, { token: p.session, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(conflict, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(conflict);
      assert.deepEqual(await memberships(p.foreign.id), before);
      assert.equal(await roleOf(p.ws1.id, p.owner.user.id), "OWNER");
    });

    test("no credential is 401, no D1, nothing changed", async () => {
      const p = await app.personas();
      const m = await joinAs(p.session, p.ws1.id, "MEMBER");
      const res = await app.delete(`/workspaces/${p.ws1.id}/members/${m.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await roleOf(p.ws1.id, m.id), "MEMBER");
    });
  });
});
