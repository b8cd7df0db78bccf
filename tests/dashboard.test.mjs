// The dashboard from outside, without a browser: its pages are static assets with the headers
// issue 14 asks for; its session is a cookie with the right flags that script never sees; the
// cookie authenticates sessions only, and writes made with it need the API's own Origin.
// (tests/browser/ drives the pages themselves in Chromium.)
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertNoD1, unique, DASHBOARD_ORIGIN } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

const SECURE_COOKIE = /^__Host-pb_session=(pb_sess_[0-9A-Za-z]{32}); Path=\/; Max-Age=2592000; HttpOnly; SameSite=Strict; Secure$/;
const LOCAL_COOKIE = /^pb_session=(pb_sess_[0-9A-Za-z]{32}); Path=\/; Max-Age=2592000; HttpOnly; SameSite=Strict$/;

/** A page or file as a browser would fetch it (straight to Miniflare: outside the API contract). */
async function fetchPage(path) {
  const res = await app.mf.dispatchFetch(`${DASHBOARD_ORIGIN}${path}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function signupBody() {
  return { email: `${unique("d")}@example.com`, name: "Dash Board", password: "correct horse battery" };
}

/** Signs up through the dashboard; the cookie (as a `Cookie` header value) and the response. */
async function dashboardSignup(origin = DASHBOARD_ORIGIN) {
  const body = signupBody();
  const res = await app.post(`${origin}/api/v1/dashboard/signup`, body, { headers: { Origin: origin } });
  assert.equal(res.status, 201, res.text);
  return { cookie: res.headers.get("set-cookie").split(";")[0], res, ...body };
}

describe("dashboard pages", () => {
  test("every page and file carries a CSP with no inline script or eval, frame-ancestors 'none', nosniff and a Referrer-Policy", async () => {
    for (const path of ["/", "/index.html", "/app.js", "/app.css"]) {
      const res = await fetchPage(path);
      assert.equal(res.status, 200, path);
      const csp = res.headers.get("content-security-policy");
      assert.ok(csp, `${path}: no CSP`);
      const directives = Object.fromEntries(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
      assert.deepEqual(directives["script-src"], ["'self'"], csp);
      assert.deepEqual(directives["default-src"], ["'none'"], csp);
      assert.deepEqual(directives["frame-ancestors"], ["'none'"], csp);
      assert.deepEqual(directives["connect-src"], ["'self'"], csp);
      assert.ok(!/unsafe-inline|unsafe-eval|wasm-unsafe-eval|\*/.test(csp), csp);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(res.headers.get("referrer-policy"), "no-referrer", path);
      assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    }
  });

  test("the page loads its script and style from files only, and the script weighs within budget", async () => {
    const page = await fetchPage("/");
    assert.match(page.headers.get("content-type"), /^text\/html/);
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1, page.text);
    for (const [, attrs, inline] of scripts) {
      assert.match(attrs, /src="\/app\.js"/);
      assert.equal(inline.trim(), "", "no inline script");
    }
    assert.ok(!/\son[a-z]+=/i.test(page.text), "no inline event handlers");
    assert.ok(!/<style|\sstyle=/i.test(page.text), "no inline style");
    const js = await fetchPage("/app.js");
    assert.match(js.headers.get("content-type"), /javascript/);
    const { gzipSync } = await import("node:zlib");
    assert.ok(gzipSync(js.text).length <= 100_000, "script over 100 KB gzip");
    assert.ok(!/\beval\(|new Function\(/.test(js.text), "the bundle calls neither eval nor new Function");
  });

  test("the headers file is not served, and paths outside the dashboard reach the API", async () => {
    const headersFile = await fetchPage("/_headers");
    assert.equal(headersFile.status, 404);
    assert.equal(JSON.parse(headersFile.text).code, "NOT_FOUND");
    const health = await app.get("/health");
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("content-security-policy"), null, "API answers come from the worker");
  });
});

describe("dashboard sessions are cookies", () => {
  test("signup sets an HttpOnly, SameSite=Strict, Secure __Host- cookie and the body holds no token", async () => {
    const { res } = await dashboardSignup();
    const setCookie = res.headers.get("set-cookie");
    assert.match(setCookie, SECURE_COOKIE);
    assert.deepEqual(Object.keys(res.body).sort(), ["expiresAt", "user"]);
    assert.ok(!/pb_sess_/.test(res.text), "no token in the body");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });

  test("on plain-HTTP 127.0.0.1 and localhost the cookie is pb_session, not Secure, and works there", async () => {
    for (const origin of ["http://127.0.0.1:8787", "http://localhost:8787"]) {
      const { res, cookie, email, password } = await dashboardSignup(origin);
      assert.match(res.headers.get("set-cookie"), LOCAL_COOKIE, origin);
      const me = await app.get(`${origin}/api/v1/me`, { headers: { Cookie: cookie } });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.user.email, email);
      // The loopback cookie means nothing to the same API over HTTPS.
      const elsewhere = await app.get("/me", { headers: { Cookie: cookie } });
      assertError(elsewhere, 401, "UNAUTHORIZED");
      const login = await app.post(`${origin}/api/v1/dashboard/login`, { email, password }, { headers: { Origin: origin } });
      assert.equal(login.status, 200, login.text);
      assert.match(login.headers.get("set-cookie"), LOCAL_COOKIE);
    }
  });

  test("login sets a fresh cookie whose session is the caller's; a wrong password sets none", async () => {
    const { email, password, cookie: first } = await dashboardSignup();
    const res = await app.post("/dashboard/login", { email, password }, { headers: { Origin: DASHBOARD_ORIGIN } });
    assert.equal(res.status, 200, res.text);
    const [, token] = res.headers.get("set-cookie").match(SECURE_COOKIE);
    assert.notEqual(`__Host-pb_session=${token}`, first);
    assert.ok(!res.text.includes(token));
    const me = await app.get("/me", { headers: { Cookie: `__Host-pb_session=${token}` } });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.body.credential, { kind: "session", access: "full" });
    assert.equal(me.body.user.email, email);

    const wrong = await app.post("/dashboard/login", { email, password: "not the password" }, { headers: { Origin: DASHBOARD_ORIGIN } });
    assertError(wrong, 401, "INVALID_CREDENTIALS");
    assert.equal(wrong.headers.get("set-cookie"), null);
  });

  test("the session routes refuse another origin or none, before any storage read, and set no cookie", async () => {
    const users = await app.count("users");
    const sessions = await app.count("sessions");
    const { email, password } = await app.signup();
    const afterSignup = { users: await app.count("users"), sessions: await app.count("sessions") };
    assert.deepEqual(afterSignup, { users: users + 1, sessions: sessions + 1 });
    for (const headers of [{}, { Origin: "https://evil.example" }, { Origin: "null" }, { Origin: `${DASHBOARD_ORIGIN}.evil.example` }, { Origin: "https://api.test" }]) {
      for (const [path, body] of [["/dashboard/signup", signupBody()], ["/dashboard/login", { email, password }], ["/dashboard/logout", undefined]]) {
        const res = await app.post(path, body, { headers });
        assertError(res, 403, "ORIGIN_FORBIDDEN");
        assertNoD1(res);
        assert.equal(res.headers.get("set-cookie"), null, `${path} ${JSON.stringify(headers)}`);
      }
    }
    assert.deepEqual({ users: await app.count("users"), sessions: await app.count("sessions") }, afterSignup);
  });

  test("the cookie's sessions read from anywhere, but change state only with the API's own Origin", async () => {
    const { cookie } = await dashboardSignup();
    await app.get("/me", { headers: { Cookie: cookie } }); // warm: refusals below are decided at the edge
    const list = await app.get("/workspaces", { headers: { Cookie: cookie } });
    assert.equal(list.status, 200, list.text);
    const before = await app.count("workspaces");
    for (const origin of [undefined, "https://evil.example", "null", "http://api.test:8080"]) {
      const headers = { Cookie: cookie, ...(origin ? { Origin: origin } : {}) };
      const res = await app.post("/workspaces", { name: unique("Stolen ") }, { headers });
      assertError(res, 403, "ORIGIN_FORBIDDEN");
      assertNoD1(res);
    }
    assert.equal(await app.count("workspaces"), before);
    const made = await app.post("/workspaces", { name: unique("Mine ") }, { headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
    assert.equal(made.status, 201, made.text);
    const rename = await app.patch(`/workspaces/${made.body.id}`, { name: "Renamed" }, { headers: { Cookie: cookie } });
    assertError(rename, 403, "ORIGIN_FORBIDDEN");
    const del = await app.delete(`/workspaces/${made.body.id}`, { headers: { Cookie: cookie, Origin: "https://evil.example" } });
    assertError(del, 403, "ORIGIN_FORBIDDEN");
    assert.equal((await app.get(`/workspaces/${made.body.id}`, { headers: { Cookie: cookie } })).body.name, made.body.name);
    // A session minting a key through the cookie works from the dashboard's own origin.
    const key = await app.post("/api-keys", { name: "from the dashboard" }, { headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
    assert.equal(key.status, 201, key.text);
  });

  test("an API key is never accepted from the cookie", async () => {
    const { token } = await app.signup();
    const key = (await app.mintKey(token)).key;
    for (const cookie of [`__Host-pb_session=${key}`, `pb_session=${key}`]) {
      const me = await app.get("/me", { headers: { Cookie: cookie } });
      assertError(me, 401, "UNAUTHORIZED");
      assertNoD1(me);
      const write = await app.post("/workspaces", { name: "Via key cookie" }, { headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
      assertError(write, 401, "UNAUTHORIZED");
    }
    assert.equal((await app.get("/me", { token: key })).status, 200, "the key itself still works as a bearer");
  });

  test("a bearer header wins over the cookie, exactly as before: a key does not gain the cookie's session", async () => {
    const { cookie } = await dashboardSignup();
    const { token } = await app.signup();
    const key = (await app.mintKey(token)).key;
    const me = await app.get("/me", { token: key, headers: { Cookie: cookie } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.credential.kind, "api_key");
    const mint = await app.post("/api-keys", { name: "escalate" }, { token: key, headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
    assertError(mint, 403, "SESSION_REQUIRED");
    // A bearer write needs no Origin at all (the key renames its owner's workspace).
    const own = await app.createWorkspace(token);
    const ws = await app.patch(`/workspaces/${own.id}`, { name: unique("Bearer ") }, { token: key, headers: { Cookie: cookie } });
    assert.equal(ws.status, 200, ws.text);
    // A malformed bearer header is 401 even beside a good cookie.
    const bad = await app.get("/me", { headers: { Authorization: "Bearer pb_live_nope", Cookie: cookie } });
    assertError(bad, 401, "UNAUTHORIZED");
  });

  test("a session cookie set twice (one planted) is refused", async () => {
    const a = await dashboardSignup();
    const b = await dashboardSignup();
    const res = await app.get("/me", { headers: { Cookie: `${a.cookie}; ${b.cookie}` } });
    assertError(res, 401, "UNAUTHORIZED");
    assertNoD1(res);
  });

  test("logout ends the cookie's session and clears the cookie; the old cookie is refused after", async () => {
    const { cookie } = await dashboardSignup();
    assert.equal((await app.get("/me", { headers: { Cookie: cookie } })).status, 200);
    const out = await app.post("/dashboard/logout", undefined, { headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
    assert.equal(out.status, 204, out.text);
    assert.equal(out.headers.get("set-cookie"), "__Host-pb_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
    assertError(await app.get("/me", { headers: { Cookie: cookie } }), 401, "UNAUTHORIZED");
    // Signing out again, or with no session at all, still answers and clears the cookie.
    for (const headers of [{ Cookie: cookie }, {}]) {
      const again = await app.post("/dashboard/logout", undefined, { headers: { ...headers, Origin: DASHBOARD_ORIGIN } });
      assert.equal(again.status, 204, again.text);
      assert.match(again.headers.get("set-cookie"), /Max-Age=0/);
    }
  });

  test("dashboard logout never ends a bearer session sent to it", async () => {
    const { token } = await app.signup();
    const out = await app.post("/dashboard/logout", undefined, { token, headers: { Origin: DASHBOARD_ORIGIN } });
    assert.equal(out.status, 204, out.text);
    assert.equal((await app.get("/me", { token })).status, 200);
  });

  test("POST /auth/logout with the cookie ends the cookie's session (the same session, another way in)", async () => {
    const { cookie } = await dashboardSignup();
    const refused = await app.post("/auth/logout", undefined, { headers: { Cookie: cookie } });
    assertError(refused, 403, "ORIGIN_FORBIDDEN");
    assert.equal((await app.get("/me", { headers: { Cookie: cookie } })).status, 200);
    const out = await app.post("/auth/logout", undefined, { headers: { Cookie: cookie, Origin: DASHBOARD_ORIGIN } });
    assert.equal(out.status, 204, out.text);
    assertError(await app.get("/me", { headers: { Cookie: cookie } }), 401, "UNAUTHORIZED");
  });
});
