// Cross-workspace isolation: every path-scoped route × every credential × a real foreign
// workspace and a ghost one. Each refusal is 403 at the edge, says the same thing whether or
// not the workspace exists, and changes nothing. "At the edge" is counted twice: by the worker's
// own Server-Timing, and by the storage meter at the D1, KV and R2 bindings (outside the worker,
// work after the response included), which must count no call at all.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoD1, withoutRequestId, ghostWorkspaceId, ghostId, DASHBOARD_ORIGIN, assertNoStorage } from "./helpers.mjs";

const SESSION_ONLY = true;

/**
 * One line per route: [method, path, body, sessionOnly]. In the path, `{ws}` is the target
 * workspace, `{member}` a member of the real target, `{me}` the caller's own user and `{key}`
 * a live key scoped to the real target. `body` may be a function of the personas.
 */
const ROUTES = [
  ["GET", "/workspaces/{ws}"],
  ["PATCH", "/workspaces/{ws}", { name: "Taken over", requireApproval: true }],
  ["DELETE", "/workspaces/{ws}", undefined, SESSION_ONLY],
  ["GET", "/workspaces/{ws}/members"],
  ["POST", "/workspaces/{ws}/members", (p) => ({ email: p.owner.email, role: "OWNER" }), SESSION_ONLY],
  ["PATCH", "/workspaces/{ws}/members/{member}", { role: "MEMBER" }, SESSION_ONLY],
  ["DELETE", "/workspaces/{ws}/members/{member}", undefined, SESSION_ONLY],
  ["DELETE", "/workspaces/{ws}/members/{me}", undefined, SESSION_ONLY],
  ["POST", "/workspaces/{ws}/api-keys", { name: "back door" }, SESSION_ONLY],
  ["DELETE", "/workspaces/{ws}/api-keys/{key}", undefined, SESSION_ONLY],
];

/** Who knocks, with what, at which real workspace (`foreign` is the stranger's). */
const CALLERS = [
  { name: "the owner's session", credential: "session", isKey: false, target: "foreign" },
  { name: "a full key", credential: "fullKey", isKey: true, target: "foreign" },
  { name: "a scoped key", credential: "scopedKey", isKey: true, target: "foreign" },
  { name: "a scoped key, at its owner's other workspace", credential: "scopedKey", isKey: true, target: "ws2" },
  // The dashboard's cookie reaches the same scope check as the session's bearer token.
  { name: "the owner's dashboard cookie", credential: "cookie", isKey: false, target: "foreign" },
];

/** How a caller presents its credential: a bearer token, or the dashboard's cookie (from its own origin). */
function presenting(p, caller) {
  return caller.credential === "cookie"
    ? { headers: { Cookie: p.cookie, Origin: DASHBOARD_ORIGIN } }
    : { token: p[caller.credential] };
}

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;

/** Every row a refusal could have touched, `last_used_at` included: a refusal is no use. */
async function snapshot() {
  return {
    users: await all("SELECT * FROM users ORDER BY id"),
    sessions: await all("SELECT * FROM sessions ORDER BY id"),
    workspaces: await all("SELECT * FROM workspaces ORDER BY id"),
    memberships: await all("SELECT * FROM memberships ORDER BY workspace_id, user_id"),
    apiKeys: await all("SELECT * FROM api_keys ORDER BY id"),
  };
}

async function counts() {
  return { workspaces: await app.count("workspaces"), memberships: await app.count("memberships"), apiKeys: await app.count("api_keys") };
}

/** Personas, plus for each possible target a member and a live key scoped to it. */
async function world() {
  const p = await app.personas();
  p.cookie = await app.dashboardLogin(p.owner.email, p.owner.password);
  const mintFor = async (token, ws) => {
    const res = await app.post(`/workspaces/${ws.id}/api-keys`, { name: "scoped to target" }, { token });
    assert.equal(res.status, 201, res.text);
    return res.body;
  };
  const targets = {
    foreign: { ws: p.foreign, member: p.stranger.user.id, key: await mintFor(p.stranger.token, p.foreign) },
    ws2: { ws: p.ws2, member: p.owner.user.id, key: await mintFor(p.session, p.ws2) },
  };
  return { p, targets };
}

function fill(path, values) {
  return path.replace(/\{(\w+)\}/g, (_, name) => {
    assert.ok(values[name], `no value for {${name}}`);
    return values[name];
  });
}

describe("isolation: path-scoped routes refuse foreign and ghost workspaces alike", () => {
  for (const [method, path, body, sessionOnly = false] of ROUTES) {
    describe(`${method} ${path}`, () => {
      for (const caller of CALLERS) {
        const code = caller.isKey && sessionOnly ? "SESSION_REQUIRED" : "WORKSPACE_FORBIDDEN";
        test(`${caller.name} gets 403 ${code} with no storage work, the same body for a ghost, and nothing changes`, async () => {
          const { p, targets } = await world();
          const auth = presenting(p, caller);
          const target = targets[caller.target];
          // Resolve the credential once, so what follows is served from the principal cache.
          const me = await app.get("/me", auth);
          assert.equal(me.status, 200, me.text);
          const values = { member: target.member, me: p.owner.user.id, key: target.key.id };
          const payload = typeof body === "function" ? body(p) : body;

          const beforeRows = await snapshot();
          const beforeCounts = await counts();
          const targetRow = await all("SELECT * FROM workspaces WHERE id = ?", target.ws.id);

          const real = await app.request(method, fill(path, { ...values, ws: target.ws.id }), { ...auth, body: payload });
          const ghost = await app.request(method, fill(path, { ...values, ws: ghostWorkspaceId() }), { ...auth, body: payload });
          for (const res of [real, ghost]) {
            assertError(res, 403, code);
            assertNoStorage(res);
          }
          assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
          assert.equal(real.headers.get("content-type"), ghost.headers.get("content-type"));

          assert.deepEqual(await counts(), beforeCounts);
          assert.deepEqual(await all("SELECT * FROM workspaces WHERE id = ?", target.ws.id), targetRow);
          assert.deepEqual(await snapshot(), beforeRows);
          // The key scoped to the target is still live.
          assert.equal((await app.get("/me", { token: target.key.key })).status, 200);
        });
      }
    });
  }
});

describe("isolation: lists show only what the credential reaches", () => {
  test("GET /workspaces with a scoped key lists only its allow-list, never ws2 or the foreign workspace", async () => {
    const p = await app.personas();
    const res = await app.get("/workspaces", { token: p.scopedKey });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((w) => w.id), [p.ws1.id]);
    assert.ok(!res.text.includes(p.ws2.id));
    assert.ok(!res.text.includes(p.foreign.id));
    for (const query of ["?limit=1", "?limit=200"]) {
      const page = await app.get(`/workspaces${query}`, { token: p.scopedKey });
      assert.equal(page.status, 200, page.text);
      assert.deepEqual(page.body.map((w) => w.id), [p.ws1.id]);
      assert.equal(page.headers.get("link"), null);
    }
  });

  test("GET /workspaces with a full key or the session lists the owner's workspaces, oldest first, never the foreign one", async () => {
    const p = await app.personas();
    for (const token of [p.fullKey, p.session]) {
      const res = await app.get("/workspaces", { token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((w) => w.id), [p.ws1.id, p.ws2.id]);
      assert.ok(!res.text.includes(p.foreign.id));
    }
  });

  test("the stranger's workspaces never show their rows to the owner's credentials", async () => {
    const p = await app.personas();
    for (const token of [p.session, p.fullKey, p.scopedKey]) {
      const res = await app.get(`/workspaces/${p.ws1.id}/members`, { token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.map((m) => m.userId), [p.owner.user.id]);
      assert.ok(!res.text.includes(p.stranger.user.id));
      assert.ok(!res.text.includes(p.stranger.email));
    }
  });
});

describe("isolation: a workspace named twice must agree", () => {
  test("a path in scope with a foreign workspace in the query, header or body is 400 WORKSPACE_CONFLICT, no storage work, nothing changed", async () => {
    const p = await app.personas();
    await app.get("/me", { token: p.fullKey });
    const before = await snapshot();
    const path = `/workspaces/${p.ws1.id}`;
    for (const res of [
      await app.get(`${path}?workspaceId=${p.foreign.id}`, { token: p.fullKey }),
      await app.get(path, { token: p.fullKey, headers: { "X-Workspace-Id": p.foreign.id } }),
      await app.patch(path, { name: "Renamed", workspaceId: p.foreign.id }, { token: p.fullKey }),
    ]) {
      assertError(res, 400, "WORKSPACE_CONFLICT");
      assertNoStorage(res);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe("isolation: MCP tools refuse foreign and ghost workspaces alike (POST /mcp)", () => {
  // Every tool that names a workspace, by id or by `workspaceId`; `ids(ws)` are well-formed ids
  // inside workspace `ws`, none of which exists, so the real and the ghost workspace differ only
  // in whether the workspace exists.
  const future = new Date(Date.now() + 3600e3).toISOString();
  const TOOLS = [
    ["workspaces.get", (t) => ({ workspaceId: t.ws })],
    ["workspaces.list", (t) => ({ workspaceId: t.ws })],
    ["socialAccounts.list", (t) => ({ workspaceId: t.ws })],
    ["socialAccounts.get", (t) => ({ accountId: t.soc })],
    ["socialAccounts.disconnect", (t) => ({ accountId: t.soc })],
    ["posts.list", (t) => ({ workspaceId: t.ws })],
    ["posts.get", (t) => ({ postId: t.post })],
    ["posts.create", (t) => ({ content: "x", platforms: [{ accountId: t.soc }] })],
    ["posts.update", (t) => ({ postId: t.post, content: "x" })],
    ["posts.schedule", (t) => ({ postId: t.post, scheduledFor: future })],
    ["posts.cancel", (t) => ({ postId: t.post })],
    ["posts.retry", (t) => ({ postId: t.post })],
    ["posts.delete", (t) => ({ postId: t.post })],
    ["comments.list", (t) => ({ workspaceId: t.ws })],
    ["comments.create", (t) => ({ postId: t.post, body: "x" })],
    ["media.list", (t) => ({ workspaceId: t.ws })],
    ["media.get", (t) => ({ mediaId: t.med })],
    ["media.presign", (t) => ({ workspaceId: t.ws, filename: "x.png", contentType: "image/png" })],
    ["media.ingestFromUrl", (t) => ({ workspaceId: t.ws, url: "https://cdn.example.com/x.png" })],
    ["media.move", (t) => ({ mediaId: t.med })],
  ];
  const ids = (ws) => ({ ws, soc: ghostId("soc_", ws), post: ghostId("post_", ws), med: ghostId("med_", ws) });
  const call = (token, name, args) =>
    app.request("POST", "http://api.test/mcp", {
      token,
      body: { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } },
      headers: { Accept: "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25" },
    });

  // MCP takes bearer credentials only; the dashboard's cookie is not one of its callers.
  for (const caller of CALLERS.filter((c) => c.credential !== "cookie")) {
    test(`${caller.name}: every tool is refused WORKSPACE_FORBIDDEN with no d1, the same result for a ghost, and nothing changes`, async () => {
      const { p, targets } = await world();
      const token = p[caller.credential];
      assert.equal((await app.get("/me", { token })).status, 200);
      const before = await snapshot();
      for (const [name, args] of TOOLS) {
        const results = [];
        for (const ws of [targets[caller.target].ws.id, ghostWorkspaceId()]) {
          const res = await call(token, name, args(ids(ws)));
          assert.equal(res.status, 200, res.text);
          assertNoD1(res);
          const r = res.body.result;
          assert.equal(r.isError, true, `${name}: ${res.text}`);
          assert.equal(r.structuredContent.code, "WORKSPACE_FORBIDDEN", `${name}: ${res.text}`);
          assert.equal(r.structuredContent.requestId, res.headers.get("x-request-id"));
          results.push(withoutRequestId(JSON.stringify(r)));
        }
        assert.equal(results[0], results[1], `${name}: a foreign and a ghost workspace look the same`);
      }
      assert.deepEqual(await snapshot(), before);
    });
  }

  test("the RFC 9728 metadata document is the same for everyone and names no workspace", async () => {
    const p = await app.personas();
    const texts = [];
    for (const token of [undefined, p.session, p.fullKey, p.scopedKey, p.strangerKey]) {
      const res = await app.request("GET", "http://api.test/.well-known/oauth-protected-resource", { token });
      assert.equal(res.status, 200, res.text);
      assertNoD1(res);
      texts.push(res.text);
    }
    assert.equal(new Set(texts).size, 1);
    for (const ws of [p.ws1, p.ws2, p.foreign]) assert.ok(!texts[0].includes(ws.id));
  });
});

describe("isolation: the dashboard's cookie", () => {
  test("lists only its user's workspaces, like the session's bearer token, never the stranger's", async () => {
    const p = await app.personas();
    const cookie = await app.dashboardLogin(p.owner.email, p.owner.password);
    const res = await app.get("/workspaces", { headers: { Cookie: cookie } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((w) => w.id), [p.ws1.id, p.ws2.id]);
    assert.ok(!res.text.includes(p.foreign.id));
    const foreign = await app.get(`/workspaces/${p.foreign.id}`, { headers: { Cookie: cookie } });
    assertError(foreign, 403, "WORKSPACE_FORBIDDEN");
    assertNoD1(foreign);
  });

  test("a cross-origin write at a foreign or a ghost workspace is refused for its origin first, the same body for both, nothing changed", async () => {
    const { p, targets } = await world();
    await app.get("/me", { headers: { Cookie: p.cookie } });
    const before = await snapshot();
    for (const [method, path, body] of ROUTES.filter(([m]) => m !== "GET")) {
      const values = { member: targets.foreign.member, me: p.owner.user.id, key: targets.foreign.key.id };
      const payload = typeof body === "function" ? body(p) : body;
      const headers = { Cookie: p.cookie, Origin: "https://evil.example" };
      const real = await app.request(method, fill(path, { ...values, ws: p.foreign.id }), { headers, body: payload });
      const ghost = await app.request(method, fill(path, { ...values, ws: ghostWorkspaceId() }), { headers, body: payload });
      for (const res of [real, ghost]) {
        assertError(res, 403, "ORIGIN_FORBIDDEN");
        assertNoD1(res);
      }
      assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text), `${method} ${path}`);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe("isolation: publishing's routes on another workspace's post or account", () => {
  /** The stranger's post (with an attempt row) and account, and rows a refusal must not touch. */
  async function theirs(p) {
    const account = await app.post("/social-accounts", { workspaceId: p.foreign.id, platform: "BLUESKY", handle: "@theirs" }, { token: p.stranger.token });
    assert.equal(account.status, 201, account.text);
    const post = await app.post("/posts", { content: "Theirs", targets: [{ accountId: account.body.id }] }, { token: p.stranger.token });
    assert.equal(post.status, 201, post.text);
    const t = post.body.targets[0];
    await app.db.prepare(
      "INSERT INTO publish_attempts (id, workspace_id, post_id, target_id, number, lease_id, started_at, finished_at, outcome, http_status, duration_ms) VALUES (?, ?, ?, ?, 1, 'l', ?, ?, 'PUBLISHED', 200, 5)",
    ).bind(`att_${p.foreign.id.slice(3)}0123456789abcdef`, p.foreign.id, post.body.id, t.id, new Date().toISOString(), new Date().toISOString()).run();
    return { account: account.body, post: post.body };
  }
  const rows = async (them) => ({
    accounts: await all("SELECT * FROM social_accounts WHERE id = ?", them.account.id),
    attempts: await all("SELECT * FROM publish_attempts WHERE post_id = ?", them.post.id),
  });
  const ghost = (prefix, ws) => `${prefix}${ws.slice(3)}${"Z".repeat(16)}`;

  for (const [method, path, body] of [
    ["GET", (them) => `/posts/${them.post.id}/attempts`, undefined, (ws) => `/posts/${ghost("post_", ws)}/attempts`],
    ["PATCH", (them) => `/social-accounts/${them.account.id}`, { handle: "@mine now", credentials: { identifier: "me.test", appPassword: "pw" } }, (ws) => `/social-accounts/${ghost("soc_", ws)}`],
  ].map(([m, real, b, g]) => [m, { real, ghostOf: g }, b])) {
    test(`${method} ${method === "GET" ? "/posts/{postId}/attempts" : "/social-accounts/{accountId}"}: 403 WORKSPACE_FORBIDDEN at the edge for every credential, the same as a ghost, nothing read or changed`, async () => {
      const p = await app.personas();
      const them = await theirs(p);
      const before = await rows(them);
      for (const token of [p.session, p.fullKey, p.scopedKey]) {
        await app.get("/me", { token });
        const real = await app.request(method, path.real(them), { token, body });
        const gone = await app.request(method, path.ghostOf(ghostWorkspaceId()), { token, body });
        for (const res of [real, gone]) {
          assertError(res, 403, "WORKSPACE_FORBIDDEN");
          assertNoD1(res);
        }
        assert.equal(withoutRequestId(real.text), withoutRequestId(gone.text));
        assert.ok(!real.text.includes(them.post.id) && !real.text.includes(them.account.id));
      }
      assert.deepEqual(await rows(them), before);
      // The stranger reads their own attempts.
      const own = await app.get(`/posts/${them.post.id}/attempts`, { token: p.stranger.token });
      assert.equal(own.status, 200, own.text);
      assert.equal(own.body.length, 1);
    });
  }
});

describe("isolation: webhooks of another user or another workspace are invisible", () => {
  // `{ws}` is the target workspace, `{hook}` a webhook endpoint in it, `{msg}` a delivery id in it.
  const WEBHOOK_ROUTES = [
    ["GET", "/webhooks?workspaceId={ws}"],
    ["POST", "/webhooks", { workspaceId: "{ws}", url: "https://hooks.example.com/taken-over", events: ["post.published"] }],
    ["GET", "/webhooks/{hook}"],
    ["PATCH", "/webhooks/{hook}", { url: "https://hooks.example.com/taken-over", enabled: true }],
    ["DELETE", "/webhooks/{hook}"],
    ["POST", "/webhooks/{hook}/rotate-secret"],
    ["POST", "/webhooks/{hook}/test"],
    ["GET", "/webhooks/{hook}/deliveries"],
    ["POST", "/webhooks/{hook}/deliveries/{msg}/redeliver"],
  ];
  let p;
  const hooks = {};
  before(async () => {
    p = await app.personas();
    p.cookie = await app.dashboardLogin(p.owner.email, p.owner.password);
    // The stranger's endpoint, and one of the owner's in the workspace the scoped key may not reach.
    hooks.foreign = await app.createWebhook(p.stranger.token, p.foreign.id, "https://hooks.example.com/stranger");
    hooks.ws2 = await app.createWebhook(p.session, p.ws2.id, "https://hooks.example.com/owner-ws2");
  });

  const webhookRows = async () => ({
    endpoints: await all("SELECT * FROM webhook_endpoints ORDER BY id"),
    deliveries: await all("SELECT * FROM webhook_deliveries ORDER BY id"),
    attempts: await all("SELECT * FROM webhook_attempts ORDER BY delivery_id, attempt"),
  });
  const fillAll = (value, values) =>
    typeof value === "string" ? fill(value, values) : value && JSON.parse(fill(JSON.stringify(value), values));

  for (const caller of CALLERS) {
    const code = caller.isKey ? "SESSION_REQUIRED" : "WORKSPACE_FORBIDDEN";
    test(`${caller.name}: every webhook route is 403 ${code} with no storage work, the same for a ghost, and nothing changes`, async () => {
      const auth = presenting(p, caller);
      // Resolve the credential once, so what follows is served from the principal cache.
      const me = await app.get("/me", auth);
      assert.equal(me.status, 200, me.text);
      const target = caller.target === "foreign" ? p.foreign : p.ws2;
      const real = { ws: target.id, hook: hooks[caller.target].id, msg: ghostId("msg_", target.id) };
      const ghostWs = ghostWorkspaceId();
      const ghost = { ws: ghostWs, hook: ghostId("wh_", ghostWs), msg: ghostId("msg_", ghostWs) };
      const before = await webhookRows();
      for (const [method, path, body] of WEBHOOK_ROUTES) {
        const answers = [];
        for (const values of [real, ghost]) {
          const res = await app.request(method, fill(path, values), { ...auth, body: fillAll(body, values) });
          assertError(res, 403, code);
          assertNoStorage(res);
          answers.push(withoutRequestId(res.text));
        }
        assert.equal(answers[0], answers[1], `${method} ${path}`);
      }
      assert.deepEqual(await webhookRows(), before);
    });
  }

  test("a forged id (my workspace, another endpoint's random part) is 404; lists never show another workspace's endpoints", async () => {
    const forged = `wh_${p.ws1.id.slice(3)}${hooks.foreign.id.slice(19)}`;
    const res = await app.get(`/webhooks/${forged}`, { token: p.session });
    assertError(res, 404, "NOT_FOUND");
    for (const path of [`/webhooks/${forged}/deliveries`, `/webhooks/${forged}/rotate-secret`, `/webhooks/${forged}/test`]) {
      const r = await app.request(path.endsWith("deliveries") ? "GET" : "POST", path, { token: p.session });
      assertError(r, 404, "NOT_FOUND");
    }
    const mine = await app.get(`/webhooks?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.equal(mine.status, 200, mine.text);
    assert.ok(!mine.text.includes(hooks.foreign.id));
    const theirs = await app.get(`/webhooks?workspaceId=${p.foreign.id}`, { token: p.stranger.token });
    assert.deepEqual(theirs.body.map((w) => w.id), [hooks.foreign.id]);
    // A delivery id of another workspace under my endpoint: 404 before any read.
    const myHook = await app.createWebhook(p.session, p.ws1.id, "https://hooks.example.com/mine");
    const cross = await app.post(`/webhooks/${myHook.id}/deliveries/${ghostId("msg_", p.foreign.id)}/redeliver`, undefined, { token: p.session });
    assertError(cross, 404, "NOT_FOUND");
    assertNoD1(cross);
  });
});
