// CREDENTIALS_KEY rotation (issue 15): values sealed under key A (social-account credentials,
// platform sessions, webhook secrets and their previous secrets, and `v1` values from before key
// ids) stay readable once the worker restarts with CREDENTIALS_KEY=B and
// CREDENTIALS_KEY_PREVIOUS=A; the every-5-minutes cron re-seals them under B in bounded runs,
// logging its counts, without overwriting a concurrent write; then the worker runs on B alone.
// Every stored value is opened by Node's own AES-256-GCM with the key the test chose, never by
// the worker's code.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { startWorker, logLines, unique } from "./helpers.mjs";

const KEY_A = crypto.randomBytes(32).toString("hex");
const KEY_B = crypto.randomBytes(32).toString("hex");
const KEY_C = crypto.randomBytes(32).toString("hex");
const LOOPBACK = { OUTBOUND_ALLOW_LOOPBACK: "1" };
/** The sweeps' cron (wrangler.toml): anything but "* * * * *" runs them. */
const SWEEP_CRON = "*/5 * * * *";

/** The key id a value names: 8 bytes of SHA-256 over the fixed context and the key. */
const kid = (keyHex) =>
  crypto
    .createHash("sha256")
    .update(Buffer.concat([Buffer.from("postbridge seal key id v1\n"), Buffer.from(keyHex, "hex")]))
    .digest("hex")
    .slice(0, 16);

/** Seals as the documented construction does, by Node alone (`v1` without the key id). */
function seal(keyHex, plaintext, aad, { v1 = false } = {}) {
  const nonce = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", Buffer.from(keyHex, "hex"), nonce);
  c.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]).toString("hex");
  return v1 ? `v1:${nonce.toString("hex")}:${body}` : `v2:${kid(keyHex)}:${nonce.toString("hex")}:${body}`;
}

/** Opens a `v2` value with `keyHex` alone; fails unless it names that key and its tag verifies. */
function open(sealed, aad, keyHex) {
  const m = /^v2:([0-9a-f]{16}):([0-9a-f]{24}):([0-9a-f]{34,})$/.exec(sealed);
  assert.ok(m, `not a v2 sealed value: ${sealed}`);
  assert.equal(m[1], kid(keyHex), "the value names another key");
  const body = Buffer.from(m[3], "hex");
  const d = crypto.createDecipheriv("aes-256-gcm", Buffer.from(keyHex, "hex"), Buffer.from(m[2], "hex"));
  d.setAAD(Buffer.from(aad, "utf8"));
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString("utf8");
}

const sweepLines = () =>
  logLines
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return null;
      }
    })
    .filter((e) => e?.job === "reseal-sweep");

/** Fires the sweeps' cron once and returns the re-seal sweep's log line of that run. */
async function sweep(app) {
  const seen = sweepLines().length;
  await (await app.mf.getWorker()).scheduled({ cron: SWEEP_CRON });
  const deadline = Date.now() + 10_000;
  while (sweepLines().length === seen) {
    if (Date.now() > deadline) assert.fail("no reseal-sweep log line after the cron");
    await new Promise((r) => setTimeout(r, 20));
  }
  const line = sweepLines().at(-1);
  assert.equal(line.level, "info", JSON.stringify(line));
  return line;
}

/** A webhook receiver on loopback: every request with the secrets' verdicts at arrival. */
function receiver() {
  const got = [];
  let trusted = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const verified = trusted.map((s) => {
        try {
          new Webhook(s).verify(body, req.headers);
          return true;
        } catch {
          return false;
        }
      });
      got.push({ id: req.headers["webhook-id"], verified });
      res.writeHead(200).end("ok");
    });
  });
  return {
    got,
    trust: (...secrets) => (trusted = secrets),
    start: () => new Promise((r) => server.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${server.address().port}/hook`))),
    stop: () => {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(r));
    },
  };
}

describe("a rotation from key A to key B, end to end", () => {
  const hooks = receiver();
  let app;
  let p;
  let url;
  const accounts = [];
  let hook;
  let secrets;
  let session;

  before(async () => {
    url = await hooks.start();
    app = await startWorker({ bindings: { CREDENTIALS_KEY: KEY_A, ...LOOPBACK } });
    p = await app.personas();
  });
  after(async () => {
    await app.dispose();
    await hooks.stop();
  });

  const row = (sql, ...args) => app.db.prepare(sql).bind(...args).first();
  const rows = (sql, ...args) => app.db.prepare(sql).bind(...args).all().then((r) => r.results);

  /** Sends a test event and returns the receiver's verdicts for it (one per trusted secret). */
  async function delivered() {
    const res = await app.post(`/webhooks/${hook.id}/test`, undefined, { token: p.session });
    assert.equal(res.status, 202, res.text);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const hit = hooks.got.find((g) => g.id === res.body.id);
      if (hit) return hit.verified;
      if (Date.now() > deadline) assert.fail("the test delivery never arrived");
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  test("under key A: values are v2 naming A, and SQL sees which key sealed each", async () => {
    for (const [ws, platform] of [[p.ws1, "X"], [p.ws1, "THREADS"], [p.ws2, "X"]]) {
      const credentials = { accessToken: `at-${unique()}`, refreshToken: `rt-${unique()}` };
      const res = await app.post("/social-accounts", { workspaceId: ws.id, platform, handle: unique("@h"), credentials }, { token: p.session });
      assert.equal(res.status, 201, res.text);
      accounts.push({ id: res.body.id, credentials });
    }
    for (const a of accounts) {
      const r = await row("SELECT credentials, credentials_sealed_by FROM social_accounts WHERE id = ?", a.id);
      assert.deepEqual(JSON.parse(open(r.credentials, a.id, KEY_A)), a.credentials);
      assert.equal(r.credentials_sealed_by, kid(KEY_A));
    }
    // A platform session, as the publisher seals it, and credentials from before key ids (v1).
    session = JSON.stringify({ accessJwt: `jwt-${unique()}`, did: "did:plc:rotation" });
    await app.db.prepare("UPDATE social_accounts SET platform_session = ? WHERE id = ?").bind(seal(KEY_A, session, `${accounts[0].id}:session`), accounts[0].id).run();
    const legacy = accounts[2];
    await app.db.prepare("UPDATE social_accounts SET credentials = ? WHERE id = ?").bind(seal(KEY_A, JSON.stringify(legacy.credentials), legacy.id, { v1: true }), legacy.id).run();
    assert.equal((await row("SELECT credentials_sealed_by AS k FROM social_accounts WHERE id = ?", legacy.id)).k, "");
    assert.equal((await row("SELECT session_sealed_by AS k FROM social_accounts WHERE id = ?", accounts[0].id)).k, kid(KEY_A));

    // A webhook whose secret was rotated once: the old secret moved to previous_secret.
    hook = await app.createWebhook(p.session, p.ws1.id, url, ["post.published"]);
    const rotated = await app.post(`/webhooks/${hook.id}/rotate-secret`, undefined, { token: p.session });
    assert.equal(rotated.status, 200, rotated.text);
    secrets = { previous: hook.secret, current: rotated.body.secret };
    const w = await row("SELECT secret, previous_secret, secret_sealed_by, previous_secret_sealed_by FROM webhook_endpoints WHERE id = ?", hook.id);
    assert.equal(open(w.secret, hook.id, KEY_A), secrets.current);
    assert.equal(open(w.previous_secret, hook.id, KEY_A), secrets.previous);
    assert.deepEqual([w.secret_sealed_by, w.previous_secret_sealed_by], [kid(KEY_A), kid(KEY_A)]);
    hooks.trust(secrets.current, secrets.previous);
    assert.deepEqual(await delivered(), [true, true]);
  });

  test("with CREDENTIALS_KEY=B and CREDENTIALS_KEY_PREVIOUS=A: A's values still open, new ones are sealed by B", async () => {
    await app.restart({ CREDENTIALS_KEY: KEY_B, CREDENTIALS_KEY_PREVIOUS: KEY_A, ...LOOPBACK });
    // The consumer opened both secrets, sealed by A, to sign.
    assert.deepEqual(await delivered(), [true, true]);
    const credentials = { accessToken: `new-${unique()}` };
    const res = await app.post("/social-accounts", { workspaceId: p.ws2.id, platform: "THREADS", handle: unique("@h"), credentials }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    const stored = await row("SELECT credentials FROM social_accounts WHERE id = ?", res.body.id);
    assert.deepEqual(JSON.parse(open(stored.credentials, res.body.id, KEY_B)), credentials);
    accounts.push({ id: res.body.id, credentials });
  });

  test("the */5 cron re-seals everything A sealed (and the v1 value) under B, with a log line that says 0 remain", async () => {
    const line = await sweep(app);
    // 3 credentials, 1 session, the secret and the previous secret.
    assert.deepEqual(
      { resealed: line.resealed, raced: line.raced, unreadable: line.unreadable, remaining: line.remaining },
      { resealed: 6, raced: 0, unreadable: 0, remaining: 0 },
    );
    assert.equal(line.currentKeyId, kid(KEY_B));
    assert.equal(line.previousKeyId, kid(KEY_A));
    for (const a of accounts) {
      const r = await row("SELECT credentials, credentials_sealed_by FROM social_accounts WHERE id = ?", a.id);
      assert.deepEqual(JSON.parse(open(r.credentials, a.id, KEY_B)), a.credentials);
      assert.equal(r.credentials_sealed_by, kid(KEY_B));
    }
    const s = await row("SELECT platform_session FROM social_accounts WHERE id = ?", accounts[0].id);
    assert.equal(open(s.platform_session, `${accounts[0].id}:session`, KEY_B), session);
    const w = await row("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = ?", hook.id);
    assert.equal(open(w.secret, hook.id, KEY_B), secrets.current);
    assert.equal(open(w.previous_secret, hook.id, KEY_B), secrets.previous);
    // What an operator counts before deleting the previous key (README): nothing left.
    const current = kid(KEY_B);
    const left = await rows(
      `SELECT id FROM social_accounts WHERE credentials_sealed_by != ?1 OR session_sealed_by != ?1
       UNION ALL SELECT id FROM webhook_endpoints WHERE secret_sealed_by != ?1 OR previous_secret_sealed_by != ?1`,
      current,
    );
    assert.deepEqual(left, []);
    // A second run finds nothing to do.
    const again = await sweep(app);
    assert.deepEqual([again.resealed, again.remaining], [0, 0]);
  });

  test("with B alone (the previous key deleted) everything still works", async () => {
    await app.restart({ CREDENTIALS_KEY: KEY_B, ...LOOPBACK });
    assert.deepEqual(await delivered(), [true, true]);
    const line = await sweep(app);
    assert.deepEqual([line.resealed, line.unreadable, line.remaining, line.previousKeyId], [0, 0, 0, null]);
    // Replacing credentials seals them under B.
    const credentials = { accessToken: `patched-${unique()}` };
    const res = await app.patch(`/social-accounts/${accounts[1].id}`, { credentials }, { token: p.session });
    assert.equal(res.status, 200, res.text);
    const r = await row("SELECT credentials FROM social_accounts WHERE id = ?", accounts[1].id);
    assert.deepEqual(JSON.parse(open(r.credentials, accounts[1].id, KEY_B)), credentials);
  });
});

describe("the sweep: bounded runs, concurrent writes, values no key opens", () => {
  let app;
  let p;
  before(async () => {
    app = await startWorker({ bindings: { CREDENTIALS_KEY: KEY_B, CREDENTIALS_KEY_PREVIOUS: KEY_A } });
    p = await app.personas();
  });
  after(() => app.dispose());

  const row = (sql, ...args) => app.db.prepare(sql).bind(...args).first();

  test("260 secrets sealed by A take two runs: 250 (the per-column bound), then the last 10", async () => {
    const model = await app.createWebhook(p.session, p.ws1.id, "https://hooks.example.com/model");
    // Sealed under B already (the current key): the sweep leaves it alone.
    const stem = model.id.slice(0, -6);
    const made = [];
    const now = new Date().toISOString();
    const stmts = [];
    for (let i = 0; i < 260; i++) {
      const id = `${stem}${String(i).padStart(6, "0")}`;
      const secret = `whsec_${crypto.randomBytes(32).toString("base64")}`;
      made.push({ id, secret });
      stmts.push(
        app.db
          .prepare("INSERT INTO webhook_endpoints (id, workspace_id, url, events, enabled, secret, created_at, updated_at) VALUES (?, ?, ?, '[]', 1, ?, ?, ?)")
          .bind(id, p.ws1.id, "https://hooks.example.com/bulk", seal(KEY_A, secret, id), now, now),
      );
    }
    await app.db.batch(stmts);
    const first = await sweep(app);
    assert.deepEqual([first.resealed, first.remaining, first.unreadable], [250, 10, 0]);
    const second = await sweep(app);
    assert.deepEqual([second.resealed, second.remaining], [10, 0]);
    for (const m of made) {
      assert.equal(open((await row("SELECT secret FROM webhook_endpoints WHERE id = ?", m.id)).secret, m.id, KEY_B), m.secret);
    }
    assert.equal(open((await row("SELECT secret FROM webhook_endpoints WHERE id = ?", model.id)).secret, model.id, KEY_B), model.secret);
  });

  test("a write between the sweep's read and its update wins: the sweep's conditional UPDATE leaves it", async () => {
    const made = [];
    for (const platform of ["X", "THREADS"]) {
      const credentials = { accessToken: `race-${unique()}` };
      const res = await app.post("/social-accounts", { workspaceId: p.ws2.id, platform, handle: unique("@h"), credentials }, { token: p.session });
      assert.equal(res.status, 201, res.text);
      made.push({ id: res.body.id, credentials });
      // As if sealed before the rotation.
      await app.db.prepare("UPDATE social_accounts SET credentials = ? WHERE id = ?").bind(seal(KEY_A, JSON.stringify(credentials), res.body.id), res.body.id).run();
    }
    made.sort((a, b) => (a.id < b.id ? -1 : 1));
    const [first, second] = made;
    // The sweep reads both in one page (id order) and updates them in that order. Updating the
    // first fires this trigger, which stands for a PATCH of the second landing in between: new
    // credentials, sealed by B, that the sweep's stale re-seal must not replace.
    const fresh = { accessToken: `concurrent-${unique()}` };
    const freshSealed = seal(KEY_B, JSON.stringify(fresh), second.id);
    await app.db
      .prepare(`CREATE TRIGGER concurrent_write AFTER UPDATE OF credentials ON social_accounts WHEN NEW.id = '${first.id}' BEGIN UPDATE social_accounts SET credentials = '${freshSealed}' WHERE id = '${second.id}'; END`)
      .run();
    try {
      const line = await sweep(app);
      assert.deepEqual([line.resealed, line.raced, line.remaining], [1, 1, 0]);
    } finally {
      await app.db.prepare("DROP TRIGGER concurrent_write").run();
    }
    const a = (await row("SELECT credentials FROM social_accounts WHERE id = ?", first.id)).credentials;
    assert.deepEqual(JSON.parse(open(a, first.id, KEY_B)), first.credentials);
    const b = (await row("SELECT credentials FROM social_accounts WHERE id = ?", second.id)).credentials;
    assert.equal(b, freshSealed, "the concurrent write was overwritten");
    const after = await sweep(app);
    assert.deepEqual([after.resealed, after.raced, after.remaining], [0, 0, 0]);
  });

  test("values sealed by a key the deployment lacks are left as they are, counted, and never block the rest", async () => {
    const model = await app.createWebhook(p.session, p.ws2.id, "https://hooks.example.com/lost");
    const stem = model.id.slice(0, -6);
    const now = new Date().toISOString();
    const lostV2 = `${stem}lost02`;
    const lostV1 = `${stem}lost01`;
    const good = `${stem}zgood1`;
    const values = {
      [lostV2]: seal(KEY_C, "whsec_lost", lostV2),
      [lostV1]: seal(KEY_C, "whsec_lost", lostV1, { v1: true }),
      [good]: seal(KEY_A, "whsec_good", good),
    };
    for (const [id, secret] of Object.entries(values)) {
      await app.db
        .prepare("INSERT INTO webhook_endpoints (id, workspace_id, url, events, enabled, secret, created_at, updated_at) VALUES (?, ?, ?, '[]', 1, ?, ?, ?)")
        .bind(id, p.ws2.id, "https://hooks.example.com/lost", secret, now, now)
        .run();
    }
    const line = await sweep(app);
    // The v1 value is tried with both keys and fails; the v2 one names a key it lacks, so it is
    // not even read; both stay in `remaining`.
    assert.deepEqual([line.resealed, line.unreadable, line.remaining], [1, 1, 2]);
    for (const id of [lostV1, lostV2]) {
      assert.equal((await row("SELECT secret FROM webhook_endpoints WHERE id = ?", id)).secret, values[id]);
    }
    assert.equal(open((await row("SELECT secret FROM webhook_endpoints WHERE id = ?", good)).secret, good, KEY_B), "whsec_good");
  });
});
