import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, logLines, logLinesOf, tick, ghostId } from "./helpers.mjs";

const CREDENTIALS_KEY = "7f3a9c1e5b2d4f60a8c7e9b1d3f5a7c90e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f";

let app;
before(async () => { app = await startWorker({ bindings: { CREDENTIALS_KEY } }); });
after(() => app.dispose());

const warm = (...tokens) => app.warm(...tokens);
const joinAs = (...args) => app.joinAs(...args);

// --- local helpers ---------------------------------------------------------------------

/** Registers an account and returns it (201 asserted). */
async function connect(token, wsId, platform = "X", extra = {}) {
  const res = await app.post("/social-accounts", { workspaceId: wsId, platform, handle: unique("@h"), ...extra }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** A post on `accountIds`, created straight through the API. */
async function createPost(token, accountIds, extra = {}) {
  const res = await app.post("/posts", { content: unique("Post "), targets: accountIds.map((accountId) => ({ accountId })), ...extra }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;
const one = (sql, ...args) => app.db.prepare(sql).bind(...args).first();

/** The account row as stored. */
const accountRow = (id) => one("SELECT * FROM social_accounts WHERE id = ?", id);

/** Every social-account row of a workspace, to prove a refusal changed nothing. */
const accountsOf = (wsId) => all("SELECT * FROM social_accounts WHERE workspace_id = ? ORDER BY id", wsId);

/** A unique secret to seal, and credentials that hold it. */
function secretCredentials() {
  const secret = `sk_secret_${unique("s")}_${ghostId("x_", "ws_0000000000000000").slice(18)}`;
  return { secret, credentials: { accessToken: secret, refreshToken: `r-${secret}`, scopes: ["publish"] } };
}

const ACCOUNT_KEYS = ["createdAt", "displayName", "externalId", "handle", "hasCredentials", "id", "platform", "status", "updatedAt", "workspaceId"];

// --- POST /social-accounts ------------------------------------------------------------

describe("POST /social-accounts", () => {
  test("registers an account named by workspaceId in the body: 201, Location, the stored row", async () => {
    const p = await app.personas();
    const handle = unique("@acme");
    const before = await app.count("social_accounts");
    const res = await app.post(
      "/social-accounts",
      { workspaceId: p.ws1.id, platform: "INSTAGRAM", handle, displayName: "Acme", externalId: "17841400000" },
      { token: p.session },
    );
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.id, new RegExp(`^soc_${p.ws1.id.slice(3)}[0-9A-Za-z]{16}$`));
    assert.equal(res.headers.get("location"), `/api/v1/social-accounts/${res.body.id}`);
    assert.deepEqual(Object.keys(res.body).sort(), ACCOUNT_KEYS);
    assert.equal(res.body.workspaceId, p.ws1.id);
    assert.equal(res.body.platform, "INSTAGRAM");
    assert.equal(res.body.handle, handle);
    assert.equal(res.body.displayName, "Acme");
    assert.equal(res.body.externalId, "17841400000");
    assert.equal(res.body.status, "ACTIVE");
    assert.equal(res.body.hasCredentials, false);
    assert.ok(Date.parse(res.body.createdAt));
    assert.equal(res.body.updatedAt, res.body.createdAt);
    assert.equal(await app.count("social_accounts"), before + 1);
    const row = await accountRow(res.body.id);
    assert.equal(row.workspace_id, p.ws1.id);
    assert.equal(row.credentials, null);
    assert.equal(row.status, "ACTIVE");

    const got = await app.get(`/social-accounts/${res.body.id}`, { token: p.session });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body, res.body);
  });

  test("the workspace may be named in the query or the X-Workspace-Id header instead", async () => {
    const p = await app.personas();
    const viaQuery = await app.post(`/social-accounts?workspaceId=${p.ws1.id}`, { platform: "X", handle: unique("@q") }, { token: p.fullKey });
    assert.equal(viaQuery.status, 201, viaQuery.text);
    assert.equal(viaQuery.body.workspaceId, p.ws1.id);
    const viaHeader = await app.post("/social-accounts", { platform: "X", handle: unique("@h") }, { token: p.fullKey, headers: { "X-Workspace-Id": p.ws2.id } });
    assert.equal(viaHeader.status, 201, viaHeader.text);
    assert.equal(viaHeader.body.workspaceId, p.ws2.id);
    // Named twice, the same way, is fine.
    const twice = await app.post(`/social-accounts?workspaceId=${p.ws1.id}`, { workspaceId: p.ws1.id, platform: "THREADS", handle: unique("@t") }, { token: p.scopedKey, headers: { "X-Workspace-Id": p.ws1.id } });
    assert.equal(twice.status, 201, twice.text);
    assert.equal(twice.body.workspaceId, p.ws1.id);
  });

  test("no workspace named at all is 400 WORKSPACE_REQUIRED and writes nothing", async () => {
    const p = await app.personas();
    await warm(p.session);
    const before = await app.count("social_accounts");
    const res = await app.post("/social-accounts", { platform: "X", handle: unique("@h") }, { token: p.session });
    assertError(res, 400, "WORKSPACE_REQUIRED");
    assertNoStorage(res);
    assert.equal(await app.count("social_accounts"), before);
  });

  test("credentials are sealed at rest, flagged by hasCredentials, and never returned or logged", async () => {
    const p = await app.personas();
    const { secret, credentials } = secretCredentials();
    const res = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "LINKEDIN_COMPANY", handle: unique("@li"), credentials }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.hasCredentials, true);
    assert.ok(!res.text.includes(secret));
    assert.equal(res.body.credentials, undefined);

    const row = await accountRow(res.body.id);
    assert.match(row.credentials, /^v1:[0-9a-f]{24}:[0-9a-f]+$/);
    assert.ok(!row.credentials.includes(secret));
    assert.ok(!row.credentials.includes(JSON.stringify(credentials)));
    assert.ok(!row.credentials.includes(Buffer.from(secret).toString("hex")));
    assert.ok(!row.credentials.includes(Buffer.from(secret).toString("base64")));

    // Two accounts with the same credentials seal differently (fresh nonce, id as AAD).
    const twin = await app.post("/social-accounts", { workspaceId: p.ws2.id, platform: "LINKEDIN_COMPANY", handle: unique("@li"), credentials }, { token: p.session });
    assert.equal(twin.status, 201, twin.text);
    assert.notEqual((await accountRow(twin.body.id)).credentials, row.credentials);

    const responses = [
      await app.get(`/social-accounts/${res.body.id}`, { token: p.session }),
      await app.get(`/social-accounts/${res.body.id}`, { token: p.fullKey }),
      await app.get("/social-accounts", { token: p.session }),
      await app.get(`/social-accounts?workspaceId=${p.ws1.id}`, { token: p.scopedKey }),
      await app.get("/social-accounts?limit=1", { token: p.fullKey }),
    ];
    for (const r of responses) {
      assert.equal(r.status, 200, r.text);
      assert.ok(!r.text.includes(secret), r.text);
      assert.ok(!r.text.includes(row.credentials), r.text);
    }
    assert.equal(responses[0].body.hasCredentials, true);
    assert.ok(responses[2].body.some((a) => a.id === res.body.id && a.hasCredentials === true));
    // The log lines of these requests must have arrived, or the scan below proves nothing.
    await logLinesOf([res, twin, ...responses].map((r) => r.headers.get("x-request-id")));
    for (const line of logLines) assert.ok(!line.includes(secret), `secret in log line: ${line}`);
  });

  test("every platform of the enum is accepted; an unknown one is 400 naming platform", async () => {
    const owner = await app.signup();
    const ws = await app.createWorkspace(owner.token);
    const platforms = ["INSTAGRAM", "FACEBOOK_PAGE", "X", "LINKEDIN_PERSON", "LINKEDIN_COMPANY", "TIKTOK_BUSINESS", "TIKTOK_PERSONAL", "YOUTUBE", "PINTEREST", "THREADS", "BLUESKY", "MASTODON"];
    for (const platform of platforms) {
      const a = await connect(owner.token, ws.id, platform);
      assert.equal(a.platform, platform);
    }
    const before = await app.count("social_accounts");
    for (const platform of ["TWITTER", "instagram", "", 7]) {
      const res = await app.post("/social-accounts", { workspaceId: ws.id, platform, handle: "@x" }, { token: owner.token });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), ["platform"], JSON.stringify(platform));
    }
    assert.equal(await app.count("social_accounts"), before);
  });

  test("handle is required and bounded; other field problems are 400 naming the field; nothing is written", async () => {
    const p = await app.personas();
    const before = await app.count("social_accounts");
    const ws = p.ws1.id;
    const cases = [
      [{ workspaceId: ws, platform: "X" }, ["handle"]],
      [{ workspaceId: ws, platform: "X", handle: "   " }, ["handle"]],
      [{ workspaceId: ws, platform: "X", handle: "h".repeat(101) }, ["handle"]],
      [{ workspaceId: ws, platform: "X", handle: 42 }, ["handle"]],
      [{ workspaceId: ws }, ["handle", "platform"]],
      [{ workspaceId: ws, platform: "X", handle: "@h", displayName: "d".repeat(101) }, ["displayName"]],
      [{ workspaceId: ws, platform: "X", handle: "@h", credentials: { blob: "x".repeat(10_001) } }, ["credentials"]],
      [{ workspaceId: ws, platform: "X", handle: "@h", password: "hunter2" }, ["password"]],
    ];
    for (const [body, fields] of cases) {
      const res = await app.post("/social-accounts", body, { token: p.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field).sort(), fields, JSON.stringify(body).slice(0, 200));
    }
    const ok = await app.post("/social-accounts", { workspaceId: ws, platform: "X", handle: "h".repeat(100) }, { token: p.session });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(await app.count("social_accounts"), before + 1);
  });

  test("a malformed workspace id is 404 NOT_FOUND", async () => {
    const p = await app.personas();
    const before = await app.count("social_accounts");
    for (const wsId of ["ws_nope", "nope", `ws_${"a".repeat(17)}`]) {
      const res = await app.post("/social-accounts", { workspaceId: wsId, platform: "X", handle: "@h" }, { token: p.session });
      assertError(res, 404, "NOT_FOUND");
    }
    assert.equal(await app.count("social_accounts"), before);
  });

  test("one live account per platform per workspace: a second is 409 CHANNEL_ALREADY_CONNECTED", async () => {
    const p = await app.personas();
    const first = await connect(p.session, p.ws1.id, "YOUTUBE");
    const before = await accountsOf(p.ws1.id);
    const again = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "YOUTUBE", handle: unique("@other") }, { token: p.fullKey });
    assertError(again, 409, "CHANNEL_ALREADY_CONNECTED");
    assert.deepEqual(await accountsOf(p.ws1.id), before);
    // Another platform in the same workspace, or the same platform elsewhere, is fine.
    await connect(p.session, p.ws1.id, "PINTEREST");
    await connect(p.session, p.ws2.id, "YOUTUBE");
    await connect(p.stranger.token, p.foreign.id, "YOUTUBE");
    assert.equal((await accountRow(first.id)).status, "ACTIVE");
  });

  test("after a disconnect the same platform can be registered again", async () => {
    const p = await app.personas();
    const first = await connect(p.session, p.ws1.id, "BLUESKY");
    assert.equal((await app.delete(`/social-accounts/${first.id}`, { token: p.session })).status, 204);
    const second = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "BLUESKY", handle: unique("@again") }, { token: p.session });
    assert.equal(second.status, 201, second.text);
    assert.notEqual(second.body.id, first.id);
    assert.equal(second.body.status, "ACTIVE");
    assertError(await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "BLUESKY", handle: "@third" }, { token: p.session }), 409, "CHANNEL_ALREADY_CONNECTED");
    assert.equal(await app.count("social_accounts", "workspace_id = ? AND platform = 'BLUESKY'", p.ws1.id), 2);
  });

  describe("auth", () => {
    test("an ADMIN registers accounts with a session or a key", async () => {
      const p = await app.personas();
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      const a = await connect(admin.session, p.ws1.id, "X");
      const b = await connect(admin.key, p.ws1.id, "THREADS");
      assert.equal(a.workspaceId, p.ws1.id);
      assert.equal(b.workspaceId, p.ws1.id);
    });

    test("EDITOR, MEMBER and CLIENT_REVIEWER are 403 ROLE_FORBIDDEN, no d1, nothing written", async () => {
      const p = await app.personas();
      for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
        const m = await joinAs(p.session, p.ws1.id, role);
        await warm(m.session, m.key);
        for (const token of [m.session, m.key]) {
          const before = await app.count("social_accounts");
          const res = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "X", handle: "@nope", credentials: { t: "x" } }, { token });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
          assert.equal(await app.count("social_accounts"), before);
        }
      }
      assert.deepEqual(await accountsOf(p.ws1.id), []);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN, no d1, nothing written, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session, p.fullKey, p.scopedKey);
      const before = await app.count("social_accounts");
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const body = { platform: "X", handle: "@intruder" };
        const real = await app.post("/social-accounts", { ...body, workspaceId: target }, { token });
        const ghost = await app.post("/social-accounts", { ...body, workspaceId: ghostWorkspaceId() }, { token });
        const viaHeader = await app.post("/social-accounts", body, { token, headers: { "X-Workspace-Id": target } });
        for (const res of [real, ghost, viaHeader]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.equal(await app.count("social_accounts"), before);
    });

    test("a workspace named in body and header that disagree is 400 WORKSPACE_CONFLICT, no d1", async () => {
      const p = await app.personas();
      await warm(p.session);
      const before = await app.count("social_accounts");
      const res = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "X", handle: "@h" }, { token: p.session, headers: { "X-Workspace-Id": p.foreign.id } });
      assertError(res, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(res);
      const q = await app.post(`/social-accounts?workspaceId=${p.ws2.id}`, { workspaceId: p.ws1.id, platform: "X", handle: "@h" }, { token: p.session });
      assertError(q, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(q);
      assert.equal(await app.count("social_accounts"), before);
    });

    test("no credential is 401, no d1, nothing written", async () => {
      const p = await app.personas();
      const before = await app.count("social_accounts");
      const res = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "X", handle: "@anon" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await app.count("social_accounts"), before);
    });
  });
});

// --- GET /social-accounts -------------------------------------------------------------

describe("GET /social-accounts", () => {
  test("without workspaceId lists every workspace in reach, newest first, each row with its workspaceId", async () => {
    const p = await app.personas();
    const made = [];
    for (const [ws, platform] of [[p.ws1, "X"], [p.ws2, "X"], [p.ws1, "INSTAGRAM"], [p.ws2, "YOUTUBE"], [p.ws1, "THREADS"]]) {
      made.push(await connect(p.session, ws.id, platform));
      await tick();
    }
    await connect(p.stranger.token, p.foreign.id, "X");
    const expected = [...made].reverse();
    for (const token of [p.session, p.fullKey]) {
      const res = await app.get("/social-accounts", { token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("link"), null);
      assert.deepEqual(res.body.map((a) => a.id), expected.map((a) => a.id));
      assert.deepEqual(res.body.map((a) => a.workspaceId), expected.map((a) => a.workspaceId));
      for (const a of res.body) assert.deepEqual(Object.keys(a).sort(), ACCOUNT_KEYS);
      assert.ok(!res.text.includes(p.foreign.id));
    }
    const created = (await app.get("/social-accounts", { token: p.session })).body.map((a) => a.createdAt);
    assert.deepEqual(created, [...created].sort().reverse());
  });

  test("workspaceId narrows the list to one workspace", async () => {
    const p = await app.personas();
    const a1 = await connect(p.session, p.ws1.id, "X");
    const a2 = await connect(p.session, p.ws2.id, "X");
    const res = await app.get(`/social-accounts?workspaceId=${p.ws2.id}`, { token: p.fullKey });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((a) => a.id), [a2.id]);
    const h = await app.get("/social-accounts", { token: p.fullKey, headers: { "X-Workspace-Id": p.ws1.id } });
    assert.deepEqual(h.body.map((a) => a.id), [a1.id]);
  });

  test("disconnected accounts are hidden", async () => {
    const p = await app.personas();
    const keep = await connect(p.session, p.ws1.id, "X");
    const gone = await connect(p.session, p.ws1.id, "INSTAGRAM");
    assert.equal((await app.delete(`/social-accounts/${gone.id}`, { token: p.session })).status, 204);
    const res = await app.get("/social-accounts", { token: p.session });
    assert.deepEqual(res.body.map((a) => a.id), [keep.id]);
    const one = await app.get(`/social-accounts?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.deepEqual(one.body.map((a) => a.id), [keep.id]);
  });

  test("a scoped key lists only its allow-list, never its owner's other workspaces", async () => {
    const p = await app.personas();
    const a1 = await connect(p.session, p.ws1.id, "X");
    await tick();
    await connect(p.session, p.ws2.id, "X");
    await connect(p.stranger.token, p.foreign.id, "X");
    const res = await app.get("/social-accounts", { token: p.scopedKey });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((a) => a.id), [a1.id]);
    assert.ok(!res.text.includes(p.ws2.id));
    assert.ok(!res.text.includes(p.foreign.id));
  });

  test("limit=2 pages through every account once, following Link rel=next", async () => {
    const p = await app.personas();
    const made = [];
    for (const [ws, platform] of [[p.ws1, "X"], [p.ws2, "X"], [p.ws1, "YOUTUBE"], [p.ws2, "YOUTUBE"], [p.ws1, "MASTODON"]]) {
      made.push((await connect(p.session, ws.id, platform)).id);
      await tick();
    }
    const seen = [];
    let url = "/social-accounts?limit=2";
    const sizes = [];
    while (url) {
      const res = await app.get(url, { token: p.fullKey });
      assert.equal(res.status, 200, res.text);
      sizes.push(res.body.length);
      seen.push(...res.body.map((a) => a.id));
      const link = res.headers.get("link");
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)[1] : null;
      assert.ok(sizes.length < 10);
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen, [...made].reverse());
  });

  test("every role may read the list", async () => {
    const p = await app.personas();
    const a = await connect(p.session, p.ws1.id, "X");
    for (const role of ["ADMIN", "EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      const m = await joinAs(p.session, p.ws1.id, role);
      for (const token of [m.session, m.key]) {
        const res = await app.get("/social-accounts", { token });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.map((x) => x.id), [a.id], role);
      }
    }
  });

  describe("auth", () => {
    test("a foreign workspaceId is 403 WORKSPACE_FORBIDDEN, no d1, same body as a ghost", async () => {
      const p = await app.personas();
      await warm(p.session, p.scopedKey);
      for (const [token, target] of [[p.session, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const real = await app.get(`/social-accounts?workspaceId=${target}`, { token });
        const ghost = await app.get(`/social-accounts?workspaceId=${ghostWorkspaceId()}`, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
    });

    test("no credential is 401, no d1", async () => {
      const res = await app.get("/social-accounts");
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});

// --- GET /social-accounts/{id} --------------------------------------------------------

describe("GET /social-accounts/{id}", () => {
  test("any member reads an account of their workspace", async () => {
    const p = await app.personas();
    const a = await connect(p.session, p.ws1.id, "FACEBOOK_PAGE", { displayName: "Page" });
    const reviewer = await joinAs(p.session, p.ws1.id, "CLIENT_REVIEWER");
    for (const token of [p.session, p.fullKey, p.scopedKey, reviewer.session, reviewer.key]) {
      const res = await app.get(`/social-accounts/${a.id}`, { token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, a);
    }
  });

  test("a disconnected account still reads, as DISCONNECTED without credentials", async () => {
    const p = await app.personas();
    const { credentials } = secretCredentials();
    const a = await connect(p.session, p.ws1.id, "X", { credentials });
    assert.equal(a.hasCredentials, true);
    assert.equal((await app.delete(`/social-accounts/${a.id}`, { token: p.session })).status, 204);
    const res = await app.get(`/social-accounts/${a.id}`, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "DISCONNECTED");
    assert.equal(res.body.hasCredentials, false);
  });

  test("a malformed id is 404, and a well-formed id of one's own workspace that no row has is 404", async () => {
    const p = await app.personas();
    for (const id of ["nope", "soc_short", `soc_${"a".repeat(31)}`, `soc_${"a".repeat(33)}`, `post_${p.ws1.id.slice(3)}${"a".repeat(16)}`]) {
      assertError(await app.get(`/social-accounts/${id}`, { token: p.session }), 404, "NOT_FOUND");
    }
    assertError(await app.get(`/social-accounts/${ghostId("soc_", p.ws1.id)}`, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("a foreign account is 403 WORKSPACE_FORBIDDEN, no d1, byte-identical to a ghost in a ghost workspace", async () => {
      const p = await app.personas();
      const theirs = await connect(p.stranger.token, p.foreign.id, "X");
      const other = await connect(p.session, p.ws2.id, "X");
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const [token, id] of [[p.session, theirs.id], [p.fullKey, theirs.id], [p.scopedKey, theirs.id], [p.scopedKey, other.id]]) {
        const real = await app.get(`/social-accounts/${id}`, { token });
        const ghost = await app.get(`/social-accounts/${ghostId("soc_", ghostWorkspaceId())}`, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
        assert.ok(!real.text.includes(p.foreign.id));
      }
    });

    test("no credential is 401, no d1", async () => {
      const p = await app.personas();
      const a = await connect(p.session, p.ws1.id, "X");
      const res = await app.get(`/social-accounts/${a.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });
  });
});

// --- DELETE /social-accounts/{id} -----------------------------------------------------

describe("DELETE /social-accounts/{id}", () => {
  test("disconnects: 204, DISCONNECTED, credentials erased, a second delete is 404", async () => {
    const p = await app.personas();
    const { credentials } = secretCredentials();
    const a = await connect(p.session, p.ws1.id, "X", { credentials });
    assert.ok((await accountRow(a.id)).credentials.startsWith("v1:"));
    const res = await app.delete(`/social-accounts/${a.id}`, { token: p.fullKey });
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, "");
    assert.ok(res.headers.get("x-request-id"));
    const row = await accountRow(a.id);
    assert.equal(row.status, "DISCONNECTED");
    assert.equal(row.credentials, null);
    assert.ok(row.updated_at >= row.created_at);
    assertError(await app.delete(`/social-accounts/${a.id}`, { token: p.fullKey }), 404, "NOT_FOUND");
  });

  test("cancels the account's pending targets and the scheduled posts left with nothing to publish; published stays published", async () => {
    const p = await app.personas();
    // The platforms that publish, so posts to them can be scheduled.
    const gone = await connect(p.session, p.ws1.id, "BLUESKY");
    const stays = await connect(p.session, p.ws1.id, "MASTODON");
    const at = inAnHour();
    const only = await createPost(p.session, [gone.id], { scheduledFor: at });
    const both = await createPost(p.session, [gone.id, stays.id], { scheduledFor: at });
    const draft = await createPost(p.session, [gone.id]);
    const published = await createPost(p.session, [gone.id], { scheduledFor: at });
    await app.db.prepare("UPDATE posts SET status = 'PUBLISHED' WHERE id = ?").bind(published.id).run();
    await app.db.prepare("UPDATE post_targets SET status = 'PUBLISHED', published_at = ? WHERE post_id = ?").bind(new Date().toISOString(), published.id).run();
    // A post in another workspace on the same platform is untouched.
    const elsewhereAccount = await connect(p.session, p.ws2.id, "BLUESKY");
    const elsewhere = await createPost(p.session, [elsewhereAccount.id], { scheduledFor: at });
    assert.equal(only.status, "SCHEDULED");

    const res = await app.delete(`/social-accounts/${gone.id}`, { token: p.session });
    assert.equal(res.status, 204, res.text);

    const target = (postId, accountId) => one("SELECT status FROM post_targets WHERE post_id = ? AND account_id = ?", postId, accountId);
    const post = (id) => one("SELECT status FROM posts WHERE id = ?", id);
    assert.equal((await target(only.id, gone.id)).status, "CANCELED");
    assert.equal((await post(only.id)).status, "CANCELED");
    assert.equal((await target(both.id, gone.id)).status, "CANCELED");
    assert.equal((await target(both.id, stays.id)).status, "PENDING");
    assert.equal((await post(both.id)).status, "SCHEDULED");
    assert.equal((await target(draft.id, gone.id)).status, "CANCELED");
    assert.equal((await post(draft.id)).status, "DRAFT");
    assert.equal((await target(published.id, gone.id)).status, "PUBLISHED");
    assert.equal((await post(published.id)).status, "PUBLISHED");
    assert.equal((await target(elsewhere.id, elsewhereAccount.id)).status, "PENDING");
    assert.equal((await post(elsewhere.id)).status, "SCHEDULED");

    const got = await app.get(`/posts/${only.id}`, { token: p.session });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.status, "CANCELED");
    assert.deepEqual(got.body.targets.map((t) => t.status), ["CANCELED"]);
  });

  test("a malformed id is 404 NOT_FOUND, and an unknown id of one's own workspace is 404", async () => {
    const p = await app.personas();
    for (const id of ["nope", "soc_short", `soc_${"a".repeat(33)}`]) {
      assertError(await app.delete(`/social-accounts/${id}`, { token: p.session }), 404, "NOT_FOUND");
    }
    assertError(await app.delete(`/social-accounts/${ghostId("soc_", p.ws1.id)}`, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("an ADMIN disconnects with a key", async () => {
      const p = await app.personas();
      const a = await connect(p.session, p.ws1.id, "X");
      const admin = await joinAs(p.session, p.ws1.id, "ADMIN");
      const res = await app.delete(`/social-accounts/${a.id}`, { token: admin.key });
      assert.equal(res.status, 204, res.text);
      assert.equal((await accountRow(a.id)).status, "DISCONNECTED");
    });

    test("EDITOR, MEMBER and CLIENT_REVIEWER are 403 ROLE_FORBIDDEN, no d1, nothing changed", async () => {
      const p = await app.personas();
      const { secret } = secretCredentials();
      // BLUESKY, so the post can be scheduled; its credentials in the shape it takes.
      const credentials = { identifier: "brand.bsky.social", appPassword: secret, service: "https://pds.example.com" };
      const a = await connect(p.session, p.ws1.id, "BLUESKY", { credentials });
      const post = await createPost(p.session, [a.id], { scheduledFor: inAnHour() });
      const before = await accountRow(a.id);
      const targets = await all("SELECT * FROM post_targets WHERE post_id = ?", post.id);
      for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
        const m = await joinAs(p.session, p.ws1.id, role);
        await warm(m.session, m.key);
        for (const token of [m.session, m.key]) {
          const res = await app.delete(`/social-accounts/${a.id}`, { token });
          assertError(res, 403, "ROLE_FORBIDDEN");
          assertNoStorage(res);
        }
      }
      assert.deepEqual(await accountRow(a.id), before);
      assert.deepEqual(await all("SELECT * FROM post_targets WHERE post_id = ?", post.id), targets);
      assert.equal((await one("SELECT status FROM posts WHERE id = ?", post.id)).status, "SCHEDULED");
    });

    test("a foreign account is 403 WORKSPACE_FORBIDDEN, no d1, nothing changed, byte-identical to a ghost", async () => {
      const p = await app.personas();
      const theirs = await connect(p.stranger.token, p.foreign.id, "X", { credentials: { t: "theirs" } });
      const other = await connect(p.session, p.ws2.id, "X");
      const theirsBefore = await accountRow(theirs.id);
      const otherBefore = await accountRow(other.id);
      await warm(p.session, p.fullKey, p.scopedKey);
      for (const [token, id] of [[p.session, theirs.id], [p.fullKey, theirs.id], [p.scopedKey, theirs.id], [p.scopedKey, other.id]]) {
        const real = await app.delete(`/social-accounts/${id}`, { token });
        const ghost = await app.delete(`/social-accounts/${ghostId("soc_", ghostWorkspaceId())}`, { token });
        for (const res of [real, ghost]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoStorage(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
      }
      assert.deepEqual(await accountRow(theirs.id), theirsBefore);
      assert.deepEqual(await accountRow(other.id), otherBefore);
    });

    test("no credential is 401, no d1, nothing changed", async () => {
      const p = await app.personas();
      const a = await connect(p.session, p.ws1.id, "X");
      const res = await app.delete(`/social-accounts/${a.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await accountRow(a.id)).status, "ACTIVE");
    });
  });
});
