// The worker's cryptography checked against an independent implementation (Node's crypto), not
// against the worker's own code: what it stores and hands out must be exactly what the
// documented construction gives when someone else computes it.
//   - social-account credentials: AES-256-GCM, `v2:<key id>:<nonce hex>:<ciphertext+tag hex>`,
//     the key from CREDENTIALS_KEY (set here, so the test knows it), the key id 8 bytes of
//     SHA-256 over a fixed context and the key, the account id as additional data (rotation:
//     tests/key_rotation.test.mjs);
//   - password hashes: `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`, PBKDF2-HMAC-SHA256;
//   - session and API-key hashes at rest (D1 and the KV cache key): SHA-256 of the token;
//   - media capability tokens: HMAC-SHA256 over a fixed context and the payload, minted here by
//     Node and accepted or refused by the worker.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker, assertError, unique } from "./helpers.mjs";

const CREDENTIALS_KEY = crypto.randomBytes(32).toString("hex");
const CAPABILITY_SECRET = `cap-${crypto.randomBytes(24).toString("hex")}`;
const CAPABILITY_CONTEXT = "postbridge media capability v1\n";

let app;
before(async () => {
  app = await startWorker({ bindings: { CREDENTIALS_KEY, MEDIA_CAPABILITY_SECRET: CAPABILITY_SECRET } });
});
after(() => app.dispose());

const sha256 = (s) => crypto.createHash("sha256").update(s, "utf8").digest("hex");
const row = (sql, ...args) => app.db.prepare(sql).bind(...args).first();

/** The id a sealed value gives its key: the first 8 bytes of SHA-256 over a context and the key. */
const keyId = (keyHex) =>
  crypto.createHash("sha256").update(Buffer.concat([Buffer.from("postbridge seal key id v1\n"), Buffer.from(keyHex, "hex")])).digest("hex").slice(0, 16);

/** Opens a sealed value with Node's AES-256-GCM; throws if the tag does not verify. */
function unseal(sealed, additionalData, keyHex = CREDENTIALS_KEY, { checkKeyId = true } = {}) {
  const m = /^v2:([0-9a-f]{16}):([0-9a-f]{24}):([0-9a-f]{34,})$/.exec(sealed);
  assert.ok(m, `not a v2 sealed value: ${sealed}`);
  if (checkKeyId) assert.equal(m[1], keyId(keyHex), "the value names another key");
  const nonce = Buffer.from(m[2], "hex");
  const body = Buffer.from(m[3], "hex");
  const decipher = crypto.createDecipheriv("aes-256-gcm", Buffer.from(keyHex, "hex"), nonce);
  decipher.setAAD(Buffer.from(additionalData, "utf8"));
  decipher.setAuthTag(body.subarray(body.length - 16));
  return { nonce: m[2], plaintext: Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8") };
}

describe("social-account credentials: AES-256-GCM, checked with Node's decipher", () => {
  test("the stored value opens with the test's key and the account id as additional data, to exactly the credentials sent", async () => {
    const p = await app.personas();
    const credentials = { accessToken: `at-${unique()}`, refreshToken: `rt-${unique()}`, scopes: ["publish", "read"], expiresIn: 3600 };
    const res = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "X", handle: unique("@h"), credentials }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    const stored = (await row("SELECT credentials FROM social_accounts WHERE id = ?", res.body.id)).credentials;
    const { plaintext } = unseal(stored, res.body.id);
    assert.deepEqual(JSON.parse(plaintext), credentials);
  });

  test("the seal is bound to its key and its account: another id as additional data, another key, or one flipped bit fails", async () => {
    const p = await app.personas();
    const credentials = { accessToken: `at-${unique()}` };
    const a = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "X", handle: unique("@h"), credentials }, { token: p.session });
    const b = await app.post("/social-accounts", { workspaceId: p.ws1.id, platform: "THREADS", handle: unique("@h"), credentials }, { token: p.session });
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    const stored = (await row("SELECT credentials FROM social_accounts WHERE id = ?", a.body.id)).credentials;
    assert.equal(JSON.parse(unseal(stored, a.body.id).plaintext).accessToken, credentials.accessToken);
    assert.throws(() => unseal(stored, b.body.id), /unable to authenticate|auth/i);
    const other = crypto.randomBytes(32).toString("hex");
    assert.throws(() => unseal(stored, a.body.id, other), /names another key/);
    assert.throws(() => unseal(stored, a.body.id, other, { checkKeyId: false }), /unable to authenticate|auth/i);
    const last = stored.at(-1);
    const flipped = stored.slice(0, -1) + (last === "0" ? "1" : "0");
    assert.throws(() => unseal(flipped, a.body.id), /unable to authenticate|auth/i);
  });

  test("sealing the same credentials again uses a fresh nonce each time", async () => {
    const p = await app.personas();
    const credentials = { accessToken: `same-${unique()}` };
    const nonces = [];
    for (const [ws, platform] of [[p.ws1, "X"], [p.ws1, "THREADS"], [p.ws2, "X"], [p.ws2, "THREADS"], [p.ws1, "LINKEDIN_COMPANY"]]) {
      const res = await app.post("/social-accounts", { workspaceId: ws.id, platform, handle: unique("@h"), credentials }, { token: p.session });
      assert.equal(res.status, 201, res.text);
      const stored = (await row("SELECT credentials FROM social_accounts WHERE id = ?", res.body.id)).credentials;
      const opened = unseal(stored, res.body.id);
      assert.deepEqual(JSON.parse(opened.plaintext), credentials);
      nonces.push(opened.nonce);
    }
    assert.equal(new Set(nonces).size, nonces.length, `a nonce was used twice: ${nonces.join(" ")}`);
  });
});

describe("password hashes: PBKDF2-HMAC-SHA256, recomputed with Node", () => {
  test("the stored hash is PBKDF2 of the password with the stored salt and iteration count; salts differ between users", async () => {
    const password = `pw ${unique()} ünïcödé`;
    const salts = [];
    for (let i = 0; i < 2; i++) {
      const u = await app.signup({ password });
      const stored = (await row("SELECT password_hash FROM users WHERE id = ?", u.user.id)).password_hash;
      const m = /^pbkdf2_sha256\$(\d+)\$([0-9a-f]{32})\$([0-9a-f]{64})$/.exec(stored);
      assert.ok(m, stored);
      assert.equal(Number(m[1]), 100_000);
      const expected = crypto.pbkdf2Sync(Buffer.from(password, "utf8"), Buffer.from(m[2], "hex"), Number(m[1]), 32, "sha256").toString("hex");
      assert.equal(m[3], expected);
      salts.push(m[2]);
    }
    assert.notEqual(salts[0], salts[1]);
  });
});

describe("credential hashes at rest: SHA-256 of the token, computed by Node", () => {
  test("sessions (from signup and from login) are stored as SHA-256 of their token, and cached under it", async () => {
    const u = await app.signup();
    const login = await app.post("/auth/login", { email: u.email, password: u.password });
    assert.equal(login.status, 200, login.text);
    for (const token of [u.token, login.body.token]) {
      const s = await row("SELECT user_id, token_hash FROM sessions WHERE token_hash = ?", sha256(token));
      assert.ok(s, `no session row under SHA-256 of ${token.slice(0, 12)}…`);
      assert.equal(s.user_id, u.user.id);
      // The principal cache is keyed by the same hash (filled on the session's first use).
      assert.equal((await app.get("/me", { token })).status, 200);
      assert.notEqual(await app.kv.get(`principal:${sha256(token)}`), null);
    }
    const hashes = (await app.db.prepare("SELECT token_hash FROM sessions WHERE user_id = ?").bind(u.user.id).all()).results.map((r) => r.token_hash);
    assert.deepEqual(hashes.sort(), [sha256(u.token), sha256(login.body.token)].sort());
  });

  test("API keys are stored as SHA-256 of the key, and their principal cached under it at mint", async () => {
    const u = await app.signup();
    const k = await app.mintKey(u.token, { name: "hashed" });
    const stored = await row("SELECT key_hash, prefix FROM api_keys WHERE id = ?", k.id);
    assert.equal(stored.key_hash, sha256(k.key));
    assert.ok(k.key.startsWith(`pb_live_${stored.prefix}`), stored.prefix);
    const cached = JSON.parse(await app.kv.get(`principal:${sha256(k.key)}`));
    assert.equal(cached.credential_id, k.id);
  });
});

describe("media capability tokens: HMAC-SHA256, minted and checked with Node's HMAC", () => {
  const hex = (s) => Buffer.from(s, "utf8").toString("hex");
  const mac = (payload, secret = CAPABILITY_SECRET) => crypto.createHmac("sha256", secret).update(CAPABILITY_CONTEXT + payload).digest("hex");
  /** A token as the documented construction makes it, by Node alone. */
  const mint = ({ purpose, expires, maxBytes = 0, mediaId, workspaceId, contentType }, secret) => {
    const payload = `v1.${purpose}.${expires}.${maxBytes}.${hex(mediaId)}.${hex(workspaceId)}.${hex(contentType)}`;
    return `${payload}.${mac(payload, secret)}`;
  };
  const png = () => {
    const bytes = crypto.randomBytes(1500);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
    return new Uint8Array(bytes);
  };

  async function readyAsset() {
    const p = await app.personas();
    const pre = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "logo.png", contentType: "image/png" }, { token: p.session });
    assert.equal(pre.status, 201, pre.text);
    const bytes = png();
    const up = await app.request(pre.body.method, pre.body.uploadUrl, { headers: { ...pre.body.headers, "Content-Length": String(bytes.length) }, body: bytes, rawBody: true });
    assert.equal(up.status, 200, up.text);
    const done = await app.post(`/media/${pre.body.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.status, 200, done.text);
    return { p, pre: pre.body, asset: done.body, bytes };
  }

  test("the upload token the worker hands out is exactly Node's HMAC of its claims", async () => {
    const p = await app.personas();
    const issuedFrom = Math.floor(Date.now() / 1000);
    const pre = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "logo.png", contentType: "image/png" }, { token: p.session });
    assert.equal(pre.status, 201, pre.text);
    const token = new URL(pre.body.uploadUrl).searchParams.get("token");
    const [version, purpose, expires, maxBytes, mediaHex, wsHex, typeHex, tag] = token.split(".");
    assert.deepEqual([version, purpose], ["v1", "upload"]);
    assert.equal(Buffer.from(mediaHex, "hex").toString(), pre.body.mediaAsset.id);
    assert.equal(Buffer.from(wsHex, "hex").toString(), p.ws1.id);
    assert.equal(Buffer.from(typeHex, "hex").toString(), "image/png");
    assert.ok(Number(maxBytes) > 0);
    // Valid for 15 minutes from issue (the seconds the request took aside).
    assert.ok(Number(expires) >= issuedFrom + 900 && Number(expires) <= Math.ceil(Date.now() / 1000) + 900, expires);
    assert.equal(tag, mac(token.slice(0, token.lastIndexOf("."))));
  });

  test("a download token minted by Node for a READY asset is honoured; the same with another secret, or expired, is 401", async () => {
    const { p, asset, bytes } = await readyAsset();
    const claims = { purpose: "download", expires: Math.floor(Date.now() / 1000) + 600, mediaId: asset.id, workspaceId: p.ws1.id, contentType: "image/png" };
    const url = (token) => `http://api.test/api/v1/media/${asset.id}/download?token=${token}`;

    const ok = await app.get(url(mint(claims)));
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.bytes, bytes);

    for (const bad of [
      mint(claims, `${CAPABILITY_SECRET}x`),
      mint({ ...claims, expires: Math.floor(Date.now() / 1000) - 1 }),
      mint({ ...claims, purpose: "upload" }),
      mint({ ...claims, mediaId: `${asset.id.slice(0, -1)}${asset.id.endsWith("A") ? "B" : "A"}` }),
    ]) {
      assertError(await app.get(url(bad)), 401, "UNAUTHORIZED");
    }
  });

  test("an upload token minted by Node is honoured with its own size cap", async () => {
    const p = await app.personas();
    const pre = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "logo.png", contentType: "image/png" }, { token: p.session });
    assert.equal(pre.status, 201, pre.text);
    const id = pre.body.mediaAsset.id;
    const bytes = png();
    const token = (maxBytes) => mint({ purpose: "upload", expires: Math.floor(Date.now() / 1000) + 600, maxBytes, mediaId: id, workspaceId: p.ws1.id, contentType: "image/png" });
    const put = (t) => app.request("PUT", `http://api.test/api/v1/media/${id}/upload?token=${t}`, { headers: { "Content-Type": "image/png", "Content-Length": String(bytes.length) }, body: bytes, rawBody: true });
    assertError(await put(token(bytes.length - 1)), 413, "PAYLOAD_TOO_LARGE");
    const up = await put(token(bytes.length));
    assert.equal(up.status, 200, up.text);
  });
});
