// What every response looks like from outside: the error envelope, X-Request-Id,
// Server-Timing, the service routes, a forced panic, and the log line of each request.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertUntouched, logLines, logsSettled, logLinesOf, unique, ghostWorkspaceId } from "./helpers.mjs";

const REQUEST_ID = /^req_[0-9A-Za-z]{16}$/;
const JSON_TYPE = /^application\/json; charset=utf-8$/i;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

/** Every secret this file produced or sent, for the log hygiene check at the end. */
const secrets = new Set();

async function signup(target = app) {
  const password = `pw-${unique("secret")}`;
  const u = await target.signup({ password });
  secrets.add(u.token);
  secrets.add(password);
  return u;
}

async function mintKey(session, body = {}, target = app) {
  const k = await target.mintKey(session, body);
  secrets.add(k.key);
  return k;
}

/** X-Request-Id, Server-Timing and, for errors, the envelope's requestId. */
function assertCommonHeaders(res, label = "") {
  const id = res.headers.get("x-request-id");
  assert.match(id ?? "", REQUEST_ID, `${label}: X-Request-Id ${id}`);
  const timing = res.headers.get("server-timing");
  assert.ok(timing, `${label}: no Server-Timing header`);
  assert.ok("total" in res.timing, `${label}: Server-Timing without total: ${timing}`);
  if (res.status >= 400) {
    assert.equal(res.body?.requestId, id, `${label}: ${res.text}`);
    assert.equal(res.body.statusCode, res.status);
    assert.equal(typeof res.body.code, "string");
    assert.equal(typeof res.body.message, "string");
  }
}

describe("unknown routes and wrong methods", () => {
  test("an unknown route is 404 NOT_FOUND in the envelope", async () => {
    const u = await signup();
    for (const [method, route, token] of [
      ["GET", "/nope"],
      ["GET", "/nope", u.token],
      ["POST", "/workspaces/ws_0123456789abcdef/nope"],
      ["GET", "/workspaces//members"],
      // `/` itself is the dashboard's page, a static asset (tests/dashboard.test.mjs).
      ["GET", "http://api.test/no-such-page"],
      ["GET", "http://api.test/api/v2/workspaces"],
      ["GET", "/__test/panic"],
    ]) {
      const res = await app.request(method, route, { token });
      assertError(res, 404, "NOT_FOUND");
      assert.match(res.headers.get("content-type"), JSON_TYPE);
      assertCommonHeaders(res, `${method} ${route}`);
      assertUntouched(res);
    }
  });

  test("a known path with a wrong method is 405 METHOD_NOT_ALLOWED with an Allow header", async () => {
    const allowOf = (res) => res.headers.get("allow")?.split(",").map((m) => m.trim()).sort();
    let res = await app.request("PUT", "/workspaces");
    assertError(res, 405, "METHOD_NOT_ALLOWED");
    assert.deepEqual(allowOf(res), ["GET", "POST"]);
    assertCommonHeaders(res, "PUT /workspaces");
    assertUntouched(res);

    res = await app.request("PUT", `/workspaces/${ghostWorkspaceId()}`);
    assertError(res, 405, "METHOD_NOT_ALLOWED");
    assert.deepEqual(allowOf(res), ["DELETE", "GET", "PATCH"]);

    res = await app.request("DELETE", "/health");
    assertError(res, 405, "METHOD_NOT_ALLOWED");
    assert.deepEqual(allowOf(res), ["GET"]);

    res = await app.request("GET", "/auth/login");
    assertError(res, 405, "METHOD_NOT_ALLOWED");
    assert.deepEqual(allowOf(res), ["POST"]);
  });

  test("a method the API does not know is 405, never served as another method", async () => {
    const owner = await signup();
    await app.createWorkspace(owner.token);
    for (const method of ["PROPFIND", "PURGE"]) {
      const res = await app.request(method, "/workspaces", { token: owner.token });
      assertError(res, 405, "METHOD_NOT_ALLOWED");
      assert.deepEqual(res.headers.get("allow")?.split(",").map((m) => m.trim()).sort(), ["GET", "POST"]);
      assertUntouched(res);
    }
  });
});

describe("every response carries X-Request-Id and Server-Timing", () => {
  test("successes and errors alike, each with its own request id", async () => {
    const owner = await signup();
    const ws = await app.createWorkspace(owner.token);
    const key = await mintKey(owner.token, { name: "headers" });
    const stranger = await signup();
    const responses = {
      "health 200": await app.get("/health"),
      "openapi 200": await app.get("/openapi.json"),
      "signup 201": await app.post("/auth/signup", { email: `${unique("h")}@example.com`, name: "H", password: "pw-headers-check" }),
      "login 200": await app.post("/auth/login", { email: owner.email, password: owner.password }),
      "me 200": await app.get("/me", { token: key.key }),
      "workspaces 200": await app.get("/workspaces", { token: owner.token }),
      "workspace 201": await app.post("/workspaces", { name: unique("Head ") }, { token: owner.token }),
      "validation 400": await app.post("/workspaces", { name: "" }, { token: owner.token }),
      "unauthorized 401": await app.get("/me"),
      "forbidden 403": await app.get(`/workspaces/${ws.id}`, { token: stranger.token }),
      "session required 403": await app.get("/api-keys", { token: key.key }),
      "not found 404": await app.get("/nope"),
      "method 405": await app.request("PUT", "/me"),
      "email taken 409": await app.post("/auth/signup", { email: owner.email, name: "Again", password: "pw-headers-check" }),
      "too large 413": await app.post("/auth/signup", JSON.stringify({ name: "x".repeat(1024 * 1024 + 1) })),
      "logout 204": await app.post("/auth/logout", undefined, { token: stranger.token }),
    };
    for (const label of ["signup 201", "login 200"]) if (responses[label].body?.token) secrets.add(responses[label].body.token);
    secrets.add("pw-headers-check");
    const ids = new Set();
    for (const [label, res] of Object.entries(responses)) {
      assertCommonHeaders(res, label);
      ids.add(res.headers.get("x-request-id"));
    }
    assert.equal(ids.size, Object.keys(responses).length, "request ids repeat");
    for (const [label, res] of Object.entries(responses)) {
      assert.equal(res.status, Number(label.split(" ").pop()), `${label}: ${res.text}`);
    }
  });
});

describe("401 names the scheme (RFC 9110 §15.5.2)", () => {
  test("a bearer route's 401 carries WWW-Authenticate: Bearer; a capability URL's 401 names none", async () => {
    for (const headers of [{}, { Authorization: "Bearer pb_live_not-a-key" }, { Authorization: "Basic dXNlcjpwYXNz" }]) {
      const res = await app.get("/me", { headers });
      assertError(res, 401, "UNAUTHORIZED");
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="postbridge"');
    }
    const capability = await app.get("/media/med_x/download?token=nope");
    assertError(capability, 401, "UNAUTHORIZED");
    assert.equal(capability.headers.get("www-authenticate"), null);
    // A wrong password is not a missing credential: no challenge.
    const login = await app.post("/auth/login", { email: "nobody@example.com", password: `no such password ${unique("p")}` });
    assertError(login, 401, "INVALID_CREDENTIALS");
    assert.equal(login.headers.get("www-authenticate"), null);
  });
});

describe("service routes", () => {
  test("GET /health needs no credential and answers JSON without touching storage", async () => {
    for (const headers of [{}, { Authorization: "Bearer not-a-token" }]) {
      const res = await app.get("/health", { headers });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type"), JSON_TYPE);
      assert.equal(res.body.status, "ok");
      assertCommonHeaders(res, "health");
      assertUntouched(res);
    }
  });

  test("GET /openapi.json needs no credential and is an OpenAPI JSON document", async () => {
    for (const headers of [{}, { Authorization: "Bearer not-a-token" }]) {
      const res = await app.get("/openapi.json", { headers });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type"), JSON_TYPE);
      assert.ok(res.body && typeof res.body === "object" && !Array.isArray(res.body), "not a JSON object");
      assert.equal(typeof res.body.openapi, "string");
      assert.match(res.body.openapi, /^3\./);
      assertCommonHeaders(res, "openapi");
      assertUntouched(res);
    }
  });
});

describe("a forced panic", () => {
  let panicking;
  before(async () => { panicking = await startWorker({ bindings: { ENABLE_PANIC_ROUTE: "1" } }); });
  after(() => panicking.dispose());

  test("is a 500 INTERNAL envelope with no stack trace or panic text", async () => {
    const res = await panicking.get("/__test/panic");
    assert.equal(res.status, 500);
    for (const leak of [/panicked/i, /forced panic/i, /\bat [\w.<>$]+ \(/, /\.rs\b/, /wasm/i, /RuntimeError/, /unreachable/i, /file:\/\//, /stack/i]) {
      assert.doesNotMatch(res.text, leak, `the 500 body leaks internals: ${res.text}`);
    }
    assertError(res, 500, "INTERNAL");
    assert.match(res.headers.get("content-type") ?? "", JSON_TYPE);
    assert.deepEqual(Object.keys(res.body).sort(), ["code", "message", "requestId", "statusCode"]);
  });

  test("carries X-Request-Id and Server-Timing like every other response", async () => {
    const res = await panicking.get("/__test/panic");
    assert.equal(res.status, 500);
    assertCommonHeaders(res, "panic");
  });

  test("the worker keeps serving afterwards, storage included", async () => {
    assert.equal((await panicking.get("/__test/panic")).status, 500);
    const health = await panicking.get("/health");
    assert.equal(health.status, 200, health.text);
    assertCommonHeaders(health, "health after panic");
    const u = await signup(panicking);
    const ws = await panicking.createWorkspace(u.token);
    const me = await panicking.get("/me", { token: u.token });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.body.workspaces, [{ id: ws.id, role: "OWNER" }]);
    assert.equal((await panicking.get("/__test/panic")).status, 500);
    assert.equal((await panicking.get("/health")).status, 200);
  });

  test("without ENABLE_PANIC_ROUTE the route does not exist: 404", async () => {
    for (const method of ["GET", "POST"]) {
      const res = await app.request(method, "/__test/panic");
      assertError(res, 404, "NOT_FOUND");
    }
    assert.equal((await app.get("/health")).status, 200);
  });
});

describe("log lines", () => {
  /** The JSON log lines of the worker, by request id. */
  async function linesById(ids = []) {
    // Log lines travel through workerd's pipe: wait for those expected (a loaded machine can
    // take longer than any fixed pause), then for the worker to go quiet, so a duplicate shows.
    for (let waited = 0; waited < 10_000 && !ids.every((id) => logLines.some((l) => l.includes(id))); waited += 50) await sleep(50);
    await logsSettled();
    const out = new Map();
    for (const line of logLines) {
      let entry;
      try { entry = JSON.parse(line); } catch { continue; }
      if (!entry || typeof entry.requestId !== "string") continue;
      out.set(entry.requestId, [...(out.get(entry.requestId) ?? []), entry]);
    }
    return out;
  }

  test("one JSON line per request, with method, route, status and request id", async () => {
    const u = await signup();
    const ws = await app.createWorkspace(u.token);
    const sent = [
      ["GET", "/health", 200, "/health", {}],
      ["GET", "/me", 200, "/me", { token: u.token }],
      ["GET", `/workspaces/${ws.id}`, 200, "/workspaces/{workspaceId}", { token: u.token }],
      ["GET", `/workspaces/${ghostWorkspaceId()}/members`, 403, "/workspaces/{workspaceId}/members", { token: u.token }],
      ["GET", "/me", 401, "/me", {}],
      ["PUT", "/workspaces", 405, null, {}],
      ["GET", "/nope", 404, null, {}],
    ];
    const seen = [];
    for (const [method, route, status, template, opts] of sent) {
      const res = await app.request(method, route, opts);
      assert.equal(res.status, status, res.text);
      seen.push({ id: res.headers.get("x-request-id"), method, status, template });
    }
    const byId = await linesById(seen.map((s) => s.id));
    for (const { id, method, status, template } of seen) {
      const lines = byId.get(id) ?? [];
      assert.equal(lines.length, 1, `log lines for ${method} ${template ?? "?"} (${id}): ${JSON.stringify(lines)}`);
      const [line] = lines;
      assert.equal(line.method, method);
      assert.equal(line.status, status);
      assert.equal(typeof line.route, "string");
      if (template) assert.equal(line.route, template);
      assert.equal(typeof line.durationMs, "number");
    }
  });

  test("no session token, API key or password from this file appears in any log line", async () => {
    // A few more requests that carry secrets in the places most likely to be logged; the log
    // line of each of them must have arrived before the scan, so a missing line fails the test.
    const ids = [];
    const sent = async (res) => {
      ids.push(res.headers.get("x-request-id"));
      return res;
    };
    const u = await signup();
    const k = await mintKey(u.token, { name: "for the logs" });
    await sent(await app.get("/me", { token: k.key }));
    await sent(await app.get(`/me?token=${k.key}`, { token: k.key }));
    const login = await sent(await app.post("/auth/login", { email: u.email, password: u.password }));
    assert.equal(login.status, 200, login.text);
    secrets.add(login.body.token);
    const wrong = `pw-${unique("wrong")}`;
    secrets.add(wrong);
    await sent(await app.post("/auth/login", { email: u.email, password: wrong }));
    await sent(await app.post("/auth/signup", `{"email":"x@example.com","password":"${wrong}",`));
    await sent(await app.request("GET", "/nope", { headers: { Authorization: `Bearer ${k.key}` } }));
    await sent(await app.request("PUT", "/workspaces", { headers: { Authorization: `Basic ${k.key}` } }));
    const revoked = await mintKey(u.token, { name: "revoked for the logs" });
    const revokedId = (await sent(await app.get("/me", { token: revoked.key }))).body.credential.id;
    await sent(await app.delete(`/api-keys/${revokedId}`, { token: u.token }));
    await sent(await app.get("/me", { token: revoked.key }));
    const byId = await logLinesOf(ids);
    for (const [id, lines] of byId) assert.equal(lines.length, 1, `log lines of ${id}: ${JSON.stringify(lines)}`);

    assert.ok(secrets.size >= 10, `only ${secrets.size} secrets collected`);
    for (const secret of secrets) {
      // Keys and tokens are checked by their secret part too, so a log of `key.slice(8)` is caught.
      const needles = /^pb_(live|sess)_/.test(secret) ? [secret, secret.slice(8)] : [secret];
      for (const needle of needles) {
        const hit = logLines.find((line) => line.includes(needle));
        assert.equal(hit, undefined, `a log line holds a secret: ${hit}`);
      }
    }
  });
});
