import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, assertInvalid, assertUntouched, unique } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

describe("POST /auth/signup", () => {
  test("creates a user and returns a session token once", async () => {
    const email = `${unique("Ada")}@Example.com`;
    const res = await app.post("/auth/signup", { email, name: "  Ada  ", password: "correct horse" });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.token, /^pb_sess_[0-9A-Za-z]{32}$/);
    assert.equal(res.body.user.email, email.toLowerCase());
    assert.equal(res.body.user.name, "Ada");
    assert.match(res.body.user.id, /^usr_/);
    assert.ok(Date.parse(res.body.expiresAt) > Date.now());
    const stored = await app.db.prepare("SELECT password_hash FROM users WHERE id = ?").bind(res.body.user.id).first();
    assert.match(stored.password_hash, /^pbkdf2_sha256\$100000\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    const sessions = await app.db.prepare("SELECT token_hash FROM sessions WHERE user_id = ?").bind(res.body.user.id).all();
    assert.equal(sessions.results.length, 1);
    assert.notEqual(sessions.results[0].token_hash, res.body.token);
    assert.equal(sessions.results[0].token_hash.length, 64);
  });

  test("a taken e-mail is 409 EMAIL_TAKEN, whatever its case", async () => {
    const { email } = await app.signup();
    const users = await app.count("users");
    const res = await app.post("/auth/signup", { email: email.toUpperCase(), name: "B", password: "another password" });
    assertError(res, 409, "EMAIL_TAKEN");
    assert.equal(await app.count("users"), users);
  });

  test("bad input lists every field problem and writes nothing", async () => {
    const users = await app.count("users");
    const res = await app.post("/auth/signup", { email: "nope", name: "", password: "short", admin: true });
    assertError(res, 400, "VALIDATION_FAILED");
    const fields = res.body.details.map((d) => d.field).sort();
    assert.deepEqual(fields, ["admin", "email", "name", "password"]);
    assert.equal(await app.count("users"), users);
  });

  test("malformed JSON and wrong types are 400 with details", async () => {
    let res = await app.post("/auth/signup", "{not json");
    assertInvalid(res, "body");
    res = await app.post("/auth/signup", { email: 5, name: ["x"], password: null });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details.map((d) => [d.field, d.problem]), [
      ["email", "must be a string"],
      ["name", "must be a string"],
      ["password", "is required"],
    ]);
  });

  test("over-long names are refused", async () => {
    const res = await app.post("/auth/signup", { email: `${unique()}@example.com`, name: "x".repeat(101), password: "correct horse" });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(res.body.details, [{ field: "name", problem: "is too long" }]);
  });

  test("a body over 1 MB is 413 and writes nothing", async () => {
    const users = await app.count("users");
    const res = await app.post("/auth/signup", JSON.stringify({ email: "a@b.co", name: "x".repeat(1024 * 1024), password: "correct horse" }));
    assertError(res, 413, "PAYLOAD_TOO_LARGE");
    assert.equal(await app.count("users"), users);
  });
});

describe("POST /auth/login", () => {
  test("the right password opens a new session", async () => {
    const u = await app.signup();
    const res = await app.post("/auth/login", { email: u.email, password: u.password });
    assert.equal(res.status, 200, res.text);
    assert.match(res.body.token, /^pb_sess_/);
    assert.notEqual(res.body.token, u.token);
    assert.equal(res.body.user.id, u.user.id);
    const me = await app.get("/me", { token: res.body.token });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.id, u.user.id);
  });

  test("a wrong password and an unknown e-mail get the same 401", async () => {
    const u = await app.signup();
    const wrong = await app.post("/auth/login", { email: u.email, password: "not the password" });
    const unknown = await app.post("/auth/login", { email: `${unique()}@example.com`, password: "not the password" });
    assertError(wrong, 401, "INVALID_CREDENTIALS");
    assertError(unknown, 401, "INVALID_CREDENTIALS");
    assert.equal(wrong.body.message, unknown.body.message);
  });
});

describe("POST /auth/logout", () => {
  test("ends the session at once", async () => {
    const u = await app.signup();
    assert.equal((await app.get("/me", { token: u.token })).status, 200);
    const res = await app.post("/auth/logout", undefined, { token: u.token });
    assert.equal(res.status, 204, res.text);
    assertError(await app.get("/me", { token: u.token }), 401, "UNAUTHORIZED");
  });

  test("an API key cannot log out: SESSION_REQUIRED", async () => {
    const u = await app.signup();
    const key = (await app.mintKey(u.token)).key;
    assertError(await app.post("/auth/logout", undefined, { token: key }), 403, "SESSION_REQUIRED");
  });

  test("no credential is 401", async () => {
    const res = await app.post("/auth/logout");
    assertError(res, 401, "UNAUTHORIZED");
    assertUntouched(res);
  });
});

describe("session lifetime", () => {
  test("a session lasts 30 days from signup: live a minute before, 401 from its expiresAt on (the worker's clock moved, not waited for)", async () => {
    const before = Date.now();
    const u = await app.signup();
    const res = await app.get("/me", { token: u.token });
    assert.equal(res.status, 200, res.text);
    const expiresAt = Date.parse((await app.db.prepare("SELECT expires_at FROM sessions WHERE user_id = ?").bind(u.user.id).first()).expires_at);
    const THIRTY_DAYS = 30 * 24 * 3600 * 1000;
    assert.ok(expiresAt >= before + THIRTY_DAYS && expiresAt <= Date.now() + THIRTY_DAYS, new Date(expiresAt).toISOString());
    try {
      await app.setClock(expiresAt - Date.now() - 60_000);
      assert.equal((await app.get("/me", { token: u.token })).status, 200);
      await app.setClock(expiresAt - Date.now());
      assertError(await app.get("/me", { token: u.token }), 401, "UNAUTHORIZED");
    } finally {
      await app.setClock(0);
    }
  });
});
