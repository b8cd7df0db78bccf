// Smoke tests of the test platforms (scripts/platforms/): the real PDS, the Mastodon mock, the
// fault proxy and the benchmark's fake, each driven over HTTP as the publisher drives them. They
// also pin what the real servers answer where the publisher depends on it (the repeat-rkey
// answer, Idempotency-Key), and check that the fake answers the same.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { once } from "node:events";
import { startPds } from "../scripts/platforms/pds.mjs";
import { startMastodon } from "../scripts/platforms/mastodon.mjs";
import { startFaultProxy, faults } from "../scripts/platforms/fault_proxy.mjs";
import { startFakePlatform } from "../scripts/platforms/fake_platform.mjs";

const POST = "app.bsky.feed.post";
// A valid 1×1 PNG.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082",
  "hex",
);
const NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!";

let pds;
let masto;
let alice; // a PDS account
let aliceSession; // logged in with her app password, as the publisher logs in
before(async () => {
  [pds, masto] = await Promise.all([startPds(), startMastodon()]);
  alice = await pds.createAccount({ handle: "alice.test", password: "alice-account-password" });
  aliceSession = await login(pds.url, alice.handle, alice.appPassword);
});
after(async () => {
  await Promise.all([pds?.close(), masto?.close()]);
});

// --- clients, as the publisher talks -----------------------------------------------------------

/** One XRPC call: { status, body, headers }. Never throws on HTTP errors. */
async function xrpc(base, method, nsid, { token, json, raw, type, query } = {}) {
  const u = new URL(`/xrpc/${nsid}`, base);
  for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body;
  if (raw !== undefined) {
    body = raw;
    headers["content-type"] = type ?? "application/octet-stream";
  } else if (json !== undefined) {
    body = JSON.stringify(json);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(u, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** One Mastodon call: form (URLSearchParams / FormData) or JSON body. */
async function mastodon(base, method, path, { token, form, json, key, signal } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers["idempotency-key"] = key;
  let body = form;
  if (json !== undefined) {
    body = JSON.stringify(json);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(new URL(path, base), { method, headers, body, signal });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The error code a failed fetch carries (ECONNRESET, UND_ERR_SOCKET, …). */
async function fetchError(promise) {
  try {
    const res = await promise;
    return `answered ${res.status}`;
  } catch (e) {
    return e.cause?.code ?? e.name;
  }
}

function post(text, extra = {}) {
  return { $type: POST, text, createdAt: new Date().toISOString(), ...extra };
}

/** A fresh TID record key (13 chars, as the publisher derives one per target). */
let tidCounter = 0;
function tidKey() {
  const S32 = "234567abcdefghijklmnopqrstuvwxyz";
  let v = ((BigInt(Date.now()) * 1000n + BigInt(tidCounter++ % 1000)) << 10n) | BigInt(crypto.randomInt(1024));
  let s = "";
  for (let i = 0; i < 13; i++) {
    s = S32[Number(v & 31n)] + s;
    v >>= 5n;
  }
  return s;
}

async function login(base, identifier, password) {
  const r = await xrpc(base, "POST", "com.atproto.server.createSession", { json: { identifier, password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

function mediaForm(bytes, description, type = "image/png") {
  const form = new FormData();
  form.set("file", new Blob([bytes], { type }), "image.png");
  if (description !== undefined) form.set("description", description);
  return form;
}

// --- the real PDS --------------------------------------------------------------------------------

describe("Bluesky PDS (real @atproto/pds)", () => {
  test("a user logs in with the handle and an app password; a wrong password is 401 AuthenticationRequired", async () => {
    const session = await login(pds.url, alice.handle, alice.appPassword);
    assert.equal(session.did, alice.did);
    assert.equal(session.handle, "alice.test");
    assert.match(session.accessJwt, /^ey/);
    assert.match(session.refreshJwt, /^ey/);
    const wrong = await xrpc(pds.url, "POST", "com.atproto.server.createSession", { json: { identifier: alice.handle, password: "not-it" } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, { error: "AuthenticationRequired", message: "Invalid identifier or password" });
  });

  test("uploadBlob, then createRecord with a chosen TID rkey: the PDS holds that one record, text and image", async () => {
    const { accessJwt, did } = aliceSession;
    const up = await xrpc(pds.url, "POST", "com.atproto.repo.uploadBlob", { token: accessJwt, raw: PNG, type: "image/png" });
    assert.equal(up.status, 200);
    assert.equal(up.body.blob.mimeType, "image/png");
    assert.equal(up.body.blob.size, PNG.length);
    const rkey = tidKey();
    const record = post("hello #PostBridge", { embed: { $type: "app.bsky.embed.images", images: [{ alt: "one pixel", image: up.body.blob }] } });
    const made = await xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { token: accessJwt, json: { repo: did, collection: POST, rkey, record } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.equal(made.body.uri, `at://${did}/${POST}/${rkey}`);
    assert.equal(made.body.validationStatus, "valid");

    const got = await pds.getRecord(did, POST, rkey);
    assert.equal(got.value.text, "hello #PostBridge");
    assert.equal(got.value.embed.images[0].alt, "one pixel");
    const cid = got.value.embed.images[0].image.ref.$link;
    assert.ok((await pds.getBlob(did, cid)).equals(PNG), "the PDS serves the image bytes back");
    const mine = (await pds.listRecords(did, POST)).filter((r) => r.uri === made.body.uri);
    assert.equal(mine.length, 1);
  });

  test("a repeat createRecord with the same rkey is 500 InternalServerError and leaves the one record", async () => {
    const { accessJwt, did } = aliceSession;
    const rkey = tidKey();
    const first = await xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { token: accessJwt, json: { repo: did, collection: POST, rkey, record: post("once") } });
    assert.equal(first.status, 200);
    const before = (await pds.listRecords(did, POST)).length;
    for (const text of ["once", "a different text"]) {
      const again = await xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { token: accessJwt, json: { repo: did, collection: POST, rkey, record: post(text) } });
      assert.equal(again.status, 500);
      assert.deepEqual(again.body, { error: "InternalServerError", message: "Internal Server Error" });
    }
    assert.equal((await pds.listRecords(did, POST)).length, before);
    assert.equal((await pds.getRecord(did, POST, rkey)).value.text, "once");
    assert.equal(await pds.getRecord(did, POST, tidKey()), null, "an unused rkey is RecordNotFound");
  });

  test("putRecord with swapRecord null creates once: the same record again is a no-op 200, another is 400 InvalidSwap", async () => {
    const { accessJwt, did } = aliceSession;
    const rkey = tidKey();
    const record = post("put once");
    const put = (r) => xrpc(pds.url, "POST", "com.atproto.repo.putRecord", { token: accessJwt, json: { repo: did, collection: POST, rkey, record: r, swapRecord: null } });
    const first = await put(record);
    assert.equal(first.status, 200);
    assert.ok(first.body.commit, "created: a commit");
    const same = await put(record);
    assert.equal(same.status, 200);
    assert.equal(same.body.cid, first.body.cid);
    assert.equal(same.body.commit, undefined, "no-op: no commit");
    const other = await put(post("something else"));
    assert.equal(other.status, 400);
    assert.equal(other.body.error, "InvalidSwap");
    assert.equal((await pds.getRecord(did, POST, rkey)).value.text, "put once");
  });

  test("refreshSession takes the refresh token and gives a new pair; an access token there is 400 InvalidToken", async () => {
    const session = aliceSession;
    const fresh = await xrpc(pds.url, "POST", "com.atproto.server.refreshSession", { token: session.refreshJwt });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.did, alice.did);
    assert.notEqual(fresh.body.refreshJwt, session.refreshJwt);
    const works = await xrpc(pds.url, "GET", "com.atproto.server.getSession", { token: fresh.body.accessJwt });
    assert.equal(works.status, 200);
    const wrongKind = await xrpc(pds.url, "POST", "com.atproto.server.refreshSession", { token: session.accessJwt });
    assert.equal(wrongKind.status, 400);
    assert.deepEqual(wrongKind.body, { error: "InvalidToken", message: "Invalid token type" });
    const garbage = await xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { token: "garbage", json: {} });
    assert.deepEqual([garbage.status, garbage.body.error], [400, "InvalidToken"]);
    const none = await xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { json: {} });
    assert.deepEqual([none.status, none.body.error], [401, "AuthMissing"]);
  });

  test("the PDS refuses over 300 graphemes, a non-TID rkey for a post, and an image over 1,000,000 bytes", async () => {
    const { accessJwt, did } = aliceSession;
    const create = (json) => xrpc(pds.url, "POST", "com.atproto.repo.createRecord", { token: accessJwt, json: { repo: did, collection: POST, ...json } });
    const long = await create({ record: post("é".repeat(301)) });
    assert.equal(long.status, 400);
    assert.match(long.body.message, /grapheme too big \(maximum 300, got 301\)/);
    assert.equal((await create({ record: post("👩‍👩‍👧‍👦".repeat(100)) })).status, 200, "100 graphemes of 25 bytes: fine");
    const badKey = await create({ rkey: "not-a-tid", record: post("x") });
    assert.deepEqual([badKey.status, badKey.body.error], [400, "InvalidRequest"]);
    const big = Buffer.concat([PNG, Buffer.alloc(1_000_001 - PNG.length)]);
    const up = await xrpc(pds.url, "POST", "com.atproto.repo.uploadBlob", { token: accessJwt, raw: big, type: "image/png" });
    assert.equal(up.status, 200, "the upload itself is accepted (limit 5 MB)");
    const withBig = await create({ record: post("big", { embed: { $type: "app.bsky.embed.images", images: [{ alt: "", image: up.body.blob }] } }) });
    assert.equal(withBig.status, 400);
    assert.match(withBig.body.message, /blob too big \(maximum 1000000, got 1000001\)/);
  });
});

// --- the Mastodon mock ---------------------------------------------------------------------------

describe("Mastodon mock (mastodon-mock 0.6.1)", () => {
  test("a status sent twice with one Idempotency-Key is created once; another key or account posts anew", async () => {
    const account = await masto.createAccount();
    const send = (key, status, token = account.token) => mastodon(masto.url, "POST", "/api/v1/statuses", { token, key, form: new URLSearchParams({ status }) });
    const first = await send("target-1", "hello fediverse");
    assert.equal(first.status, 200);
    const again = await send("target-1", "hello fediverse, changed");
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id, "the original status");
    const other = await send("target-2", "second");
    assert.notEqual(other.body.id, first.body.id);
    const bob = await masto.createAccount();
    const bobs = await send("target-1", "bob's", bob.token);
    assert.notEqual(bobs.body.id, first.body.id, "keys are per account");
    const statuses = await masto.statuses({ token: account.token });
    assert.deepEqual(statuses.map((s) => s.text), ["hello fediverse", "second"]);
    assert.equal(statuses[0].id, first.body.id);
  });

  test("media upload with a description, then a status with media_ids[]: the status carries the image", async () => {
    const media = await mastodon(masto.url, "POST", "/api/v2/media", { token: masto.token, form: mediaForm(PNG, "a red dot") });
    assert.equal(media.status, 200, "the mock answers 200 at once (never 202)");
    assert.equal(media.body.type, "image");
    assert.equal(media.body.description, "a red dot");
    assert.ok(media.body.url);
    const polled = await mastodon(masto.url, "GET", `/api/v1/media/${media.body.id}`, { token: masto.token });
    assert.equal(polled.status, 200);
    const status = await mastodon(masto.url, "POST", "/api/v1/statuses", { token: masto.token, key: crypto.randomUUID(), form: new URLSearchParams([["status", "with a picture"], ["media_ids[]", media.body.id]]) });
    assert.equal(status.status, 200);
    assert.deepEqual(status.body.media_attachments.map((m) => [m.id, m.description]), [[media.body.id, "a red dot"]]);
    const served = await fetch(media.body.url);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(PNG));
    const mine = (await masto.statuses()).find((s) => s.id === status.body.id);
    assert.equal(mine.text, "with a picture");
  });

  test("instance limits: 500 characters advertised and enforced (422), no token is 401", async () => {
    const inst = await mastodon(masto.url, "GET", "/api/v2/instance");
    assert.equal(inst.body.configuration.statuses.max_characters, 500);
    assert.equal(inst.body.configuration.statuses.max_media_attachments, 4);
    const long = await mastodon(masto.url, "POST", "/api/v1/statuses", { token: masto.token, form: new URLSearchParams({ status: "a".repeat(501) }) });
    assert.equal(long.status, 422);
    assert.match(long.body.error, /Text is too long/);
    const ok = await mastodon(masto.url, "POST", "/api/v1/statuses", { token: masto.token, form: new URLSearchParams({ status: "é".repeat(500) }) });
    assert.equal(ok.status, 200);
    const anon = await mastodon(masto.url, "POST", "/api/v1/statuses", { form: new URLSearchParams({ status: "x" }) });
    assert.deepEqual([anon.status, anon.body], [401, { error: "This method requires an authenticated user" }]);
    const unknown = await mastodon(masto.url, "POST", "/api/v1/statuses", { token: "revoked", form: new URLSearchParams({ status: "x" }) });
    assert.equal(unknown.status, 401);
  });
});

// --- the fault proxy -----------------------------------------------------------------------------

describe("fault proxy", () => {
  let fake;
  let token;
  before(async () => {
    fake = await startFakePlatform();
    token = fake.addMastodonAccount({ token: "proxy-test" }).token;
  });
  after(() => fake.close());

  const status = (base, key, text, signal) => mastodon(base, "POST", "/api/v1/statuses", { token, key, signal, form: new URLSearchParams({ status: text }) });

  test("500 on the first two matches (after skipping one), then passed through; the platform saw only what passed", async (t) => {
    const proxy = await startFaultProxy(fake.url);
    t.after(() => proxy.close());
    proxy.add({ method: "POST", path: "/api/v1/statuses", skip: 1, times: 2, action: faults.status(500) });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await status(proxy.url, `k500-${i}`, `five hundred ${i}`)).status);
    assert.deepEqual(codes, [200, 500, 500, 200]);
    assert.deepEqual(proxy.requests({ path: "/api/v1/statuses" }).map((e) => [e.action, e.forwarded]), [["pass", true], ["status", false], ["status", false], ["pass", true]]);
    assert.deepEqual(fake.posts.filter((p) => p.text.startsWith("five hundred")).map((p) => p.text), ["five hundred 0", "five hundred 3"]);
    const xrpc500 = await startFaultProxy(fake.url);
    t.after(() => xrpc500.close());
    xrpc500.add({ action: faults.status(500) });
    const r = await xrpc(xrpc500.url, "POST", "com.atproto.server.createSession", { json: {} });
    assert.deepEqual([r.status, r.body], [500, { error: "InternalServerError", message: "Internal Server Error" }]);
  });

  test("429 carries Retry-After (seconds) and the platform's own rate-limit headers; nothing reaches the platform", async (t) => {
    const proxy = await startFaultProxy(fake.url);
    t.after(() => proxy.close());
    proxy.add({ path: /^\/(api|xrpc)\//, times: 2, action: faults.rateLimit(7) });
    const before = fake.stats().requests;
    const m = await status(proxy.url, "k429", "rate limited");
    assert.equal(m.status, 429);
    assert.equal(m.headers.get("retry-after"), "7");
    assert.ok(Date.parse(m.headers.get("x-ratelimit-reset")) > Date.now());
    const b = await xrpc(proxy.url, "POST", "com.atproto.repo.createRecord", { json: {} });
    assert.equal(b.status, 429);
    assert.equal(b.body.error, "RateLimitExceeded");
    assert.equal(b.headers.get("retry-after"), "7");
    assert.ok(Number(b.headers.get("ratelimit-reset")) >= Math.floor(Date.now() / 1000) + 6);
    assert.equal(fake.stats().requests, before, "the platform saw neither");
    assert.equal((await status(proxy.url, "k429", "rate limited")).status, 200, "the rule is spent");
    assert.ok(proxy.log.every((e) => e.receivedAt > 0), "receipt times recorded (to check a retry came after Retry-After)");
  });

  test("reset: the client's connection is reset and the platform never sees the request", async (t) => {
    const proxy = await startFaultProxy(fake.url);
    t.after(() => proxy.close());
    proxy.add({ method: "POST", times: 1, action: faults.reset() });
    const before = fake.stats().requests;
    assert.equal(await fetchError(fetch(`${proxy.url}/api/v1/statuses`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: new URLSearchParams({ status: "never" }) })), "ECONNRESET");
    assert.equal(fake.stats().requests, before);
    const [entry] = proxy.requests({ action: "reset" });
    assert.deepEqual([entry.forwarded, entry.status, entry.resetByProxy], [false, null, true]);
    assert.equal(entry.body.toString(), "status=never", "the request was read whole before the reset");
  });

  test("delay: a client that gives up first sees a timeout while the platform did the work; a patient one gets the answer", async (t) => {
    const proxy = await startFaultProxy(fake.url);
    t.after(() => proxy.close());
    proxy.add({ path: "/api/v1/statuses", times: 2, action: faults.delay(400) });
    // The client gives up once the proxy has the request (not after a fixed time, which a
    // loaded machine could spend before the request even arrives).
    const giveUp = new AbortController();
    const pending = fetchError(status(proxy.url, "slow-1", "slow one", giveUp.signal));
    await proxy.waitFor(() => proxy.requests({ action: "delay" }).length === 1);
    giveUp.abort();
    assert.equal(await pending, "AbortError");
    await proxy.waitFor(() => proxy.requests({ action: "delay" })[0]?.done);
    const [abandoned] = proxy.requests({ action: "delay" });
    assert.deepEqual([abandoned.forwarded, abandoned.upstreamStatus, abandoned.clientClosed, abandoned.status], [true, 200, true, null]);
    assert.ok(fake.posts.some((p) => p.key === "slow-1"), "the platform made the post");
    const started = Date.now();
    const patient = await status(proxy.url, "slow-2", "slow two");
    assert.equal(patient.status, 200);
    assert.ok(Date.now() - started >= 399, "held until the delay had passed");
  });

  test("done but the answer lost (PDS): the record exists, the client sees a reset, the retry with the same rkey is 500", async (t) => {
    const proxy = await startFaultProxy(pds.url);
    t.after(() => proxy.close());
    const { accessJwt, did } = aliceSession;
    proxy.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", times: 1, action: faults.lostAnswer() });
    const rkey = tidKey();
    const body = JSON.stringify({ repo: did, collection: POST, rkey, record: post("answer lost") });
    const send = () => fetch(`${proxy.url}/xrpc/com.atproto.repo.createRecord`, { method: "POST", headers: { authorization: `Bearer ${accessJwt}`, "content-type": "application/json" }, body });
    assert.equal(await fetchError(send()), "ECONNRESET");
    const [lost] = proxy.requests({ action: "lostAnswer" });
    assert.deepEqual([lost.forwarded, lost.upstreamStatus, lost.status], [true, 200, null]);
    assert.equal((await pds.getRecord(did, POST, rkey)).value.text, "answer lost");
    const retry = await send();
    assert.equal(retry.status, 500);
    assert.equal((await pds.listRecords(did, POST)).filter((r) => r.uri.endsWith(`/${rkey}`)).length, 1);
  });

  test("done but the answer lost (Mastodon mock): the retry with the same Idempotency-Key returns the one status", async (t) => {
    const proxy = await startFaultProxy(masto.url);
    t.after(() => proxy.close());
    const account = await masto.createAccount();
    proxy.add({ method: "POST", path: "/api/v1/statuses", times: 1, action: faults.lostAnswer() });
    const send = () => mastodon(proxy.url, "POST", "/api/v1/statuses", { token: account.token, key: "target-lost", form: new URLSearchParams({ status: "lost then found" }) });
    assert.equal(await fetchError(send()), "ECONNRESET");
    const retry = await send();
    assert.equal(retry.status, 200);
    const statuses = await masto.statuses({ token: account.token });
    assert.deepEqual(statuses.map((s) => [s.id, s.text]), [[retry.body.id, "lost then found"]]);
  });

  test("media processing (Mastodon mock): 202 with url null, 206 twice, then 200; a status meanwhile is 422 not ready", async (t) => {
    const proxy = await startFaultProxy(masto.url);
    t.after(() => proxy.close());
    proxy.add({ method: "POST", path: "/api/v2/media", action: faults.mediaProcessing({ polls: 2 }) });
    const up = await mastodon(proxy.url, "POST", "/api/v2/media", { token: masto.token, form: mediaForm(PNG, "processing") });
    assert.equal(up.status, 202);
    assert.equal(up.body.url, null);
    const early = await mastodon(proxy.url, "POST", "/api/v1/statuses", { token: masto.token, key: crypto.randomUUID(), form: new URLSearchParams([["status", "too early"], ["media_ids[]", up.body.id]]) });
    assert.deepEqual([early.status, early.body], [422, { error: NOT_READY }]);
    const polls = [];
    for (let i = 0; i < 3; i++) {
      const r = await mastodon(proxy.url, "GET", `/api/v1/media/${up.body.id}`, { token: masto.token });
      polls.push([r.status, r.body.url === null]);
    }
    assert.deepEqual(polls, [[206, true], [206, true], [200, false]]);
    const ready = await mastodon(proxy.url, "POST", "/api/v1/statuses", { token: masto.token, key: crypto.randomUUID(), form: new URLSearchParams([["status", "in time"], ["media_ids[]", up.body.id]]) });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.media_attachments[0].description, "processing");
    assert.deepEqual(proxy.log.map((e) => e.action), ["mediaProcessing", "mediaNotReady", "mediaPending", "mediaPending", "mediaPending", "pass"]);
  });

  test("probability draws come from the seed: the same seed and requests give the same faults", async (t) => {
    const run = async (seed) => {
      const proxy = await startFaultProxy(fake.url, { seed });
      t.after(() => proxy.close());
      proxy.add({ path: "/api/v1/instance", probability: 0.5, action: faults.status(503) });
      const codes = [];
      for (let i = 0; i < 24; i++) codes.push((await fetch(`${proxy.url}/api/v1/instance`).then(async (r) => (await r.arrayBuffer(), r))).status);
      return codes;
    };
    const a = await run(42);
    assert.deepEqual(await run(42), a);
    assert.ok(a.includes(503) && a.includes(200), `both outcomes in 24 draws: ${a}`);
    assert.notDeepEqual(await run(43), a);
  });

  test("multipart and JSON bodies reach the platform byte for byte, and answers come back byte for byte", async (t) => {
    const seen = [];
    const echo = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      seen.push({ type: req.headers["content-type"], host: req.headers.host, sha: crypto.createHash("sha256").update(body).digest("hex") });
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(body);
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    t.after(() => echo.close());
    const proxy = await startFaultProxy(`http://127.0.0.1:${echo.address().port}`);
    t.after(() => proxy.close());
    const binary = crypto.randomBytes(200_000);
    const bodies = [
      new Request("http://x", { method: "POST", body: mediaForm(binary, "ält ✓") }),
      new Request("http://x", { method: "POST", body: JSON.stringify({ text: "héllo 👋", n: [1, 2] }), headers: { "content-type": "application/json" } }),
    ];
    for (const r of bodies) {
      const bytes = Buffer.from(await r.arrayBuffer());
      const type = r.headers.get("content-type");
      const res = await fetch(`${proxy.url}/upload`, { method: "POST", body: bytes, headers: { "content-type": type } });
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), "the answer comes back unchanged");
      const last = seen[seen.length - 1];
      assert.equal(last.sha, crypto.createHash("sha256").update(bytes).digest("hex"));
      assert.equal(last.type, type);
      assert.equal(last.host, `127.0.0.1:${echo.address().port}`);
      assert.ok(proxy.log[proxy.log.length - 1].body.equals(bytes), "recorded as sent");
    }
  });
});

// --- the benchmark's fake, against the real ones -------------------------------------------------

describe("fake platform", () => {
  let fake;
  before(async () => {
    fake = await startFakePlatform();
  });
  after(() => fake.close());

  /** The publisher's Bluesky calls, in order; returns [status, error code or sorted keys] per call. */
  async function blueskyScript(base, identifier, password) {
    const out = [];
    const shape = (r) => [r.status, r.status < 300 ? Object.keys(r.body).sort().join(",") : r.body.error];
    const note = (r) => (out.push(shape(r)), r);
    note(await xrpc(base, "POST", "com.atproto.server.createSession", { json: { identifier, password: "wrong" } }));
    const s = note(await xrpc(base, "POST", "com.atproto.server.createSession", { json: { identifier, password } })).body;
    const refreshed = note(await xrpc(base, "POST", "com.atproto.server.refreshSession", { token: s.refreshJwt })).body;
    note(await xrpc(base, "POST", "com.atproto.server.refreshSession", { token: s.accessJwt }));
    const token = refreshed.accessJwt;
    const blob = note(await xrpc(base, "POST", "com.atproto.repo.uploadBlob", { token, raw: PNG, type: "image/png" })).body.blob;
    out.push(Object.keys(blob).sort().join(","), blob.mimeType, blob.size, blob.ref.$link);
    const rkey = tidKey();
    const record = post("same on both", { embed: { $type: "app.bsky.embed.images", images: [{ alt: "dot", image: blob }] } });
    const create = (json, t = token) => xrpc(base, "POST", "com.atproto.repo.createRecord", { token: t, json: { repo: s.did, collection: POST, ...json } });
    note(await create({ rkey, record }));
    note(await create({ rkey, record }));
    note(await create({ rkey: "not-a-tid", record }));
    note(await create({ record: post("x".repeat(301)) }));
    note(await create({ record: post("x") }, null));
    note(await create({ record: post("x") }, "garbage"));
    note(await xrpc(base, "GET", "com.atproto.repo.getRecord", { query: { repo: s.did, collection: POST, rkey } }));
    note(await xrpc(base, "GET", "com.atproto.repo.getRecord", { query: { repo: s.did, collection: POST, rkey: tidKey() } }));
    return out;
  }

  test("speaks as the PDS does for the publisher's Bluesky calls", async () => {
    const real = await blueskyScript(pds.url, alice.handle, alice.appPassword);
    fake.addBlueskyAccount({ handle: alice.handle, password: "fake-app-password" });
    const ours = await blueskyScript(fake.url, alice.handle, "fake-app-password");
    assert.deepEqual(ours, real);
  });

  /** The publisher's Mastodon calls; returns [status, error or sorted keys] per call. */
  async function mastodonScript(base, token) {
    const out = [];
    const keys = (o) => Object.keys(o).sort().join(",");
    const note = (r, pick = (b) => keys(b)) => (out.push([r.status, r.status < 300 ? pick(r.body) : r.body.error]), r);
    note(await mastodon(base, "GET", "/api/v1/instance"), (b) => b.configuration.statuses.max_characters);
    note(await mastodon(base, "GET", "/api/v2/instance"), (b) => JSON.stringify(b.configuration.media_attachments.supported_mime_types));
    const media = note(await mastodon(base, "POST", "/api/v2/media", { token, form: mediaForm(PNG, "alt") })).body;
    out.push([media.type, media.description, typeof media.id]);
    note(await mastodon(base, "GET", `/api/v1/media/${media.id}`, { token }));
    note(await mastodon(base, "POST", "/api/v2/media", { token, form: new FormData() }), () => "");
    const form = () => new URLSearchParams([["status", "shape <b>&</b>"], ["media_ids[]", media.id], ["visibility", "public"]]);
    const pick = (b) => ["id", "url", "uri", "created_at", "content", "media_attachments", "visibility"].map((k) => typeof b[k]).join(",");
    const first = note(await mastodon(base, "POST", "/api/v1/statuses", { token, key: "shape-1", form: form() }), pick).body;
    const again = note(await mastodon(base, "POST", "/api/v1/statuses", { token, key: "shape-1", form: form() }), pick).body;
    out.push(first.id === again.id, first.content, first.media_attachments.length);
    const json = note(await mastodon(base, "POST", "/api/v1/statuses", { token, key: "shape-2", json: { status: "as json", media_ids: [] } }), pick).body;
    out.push(json.content);
    note(await mastodon(base, "POST", "/api/v1/statuses", { token, form: new URLSearchParams({ status: " " }) }));
    note(await mastodon(base, "POST", "/api/v1/statuses", { token, form: new URLSearchParams({ status: "a".repeat(501) }) }));
    note(await mastodon(base, "POST", "/api/v1/statuses", { token, form: new URLSearchParams([["status", "x"], ...Array(5).fill(["media_ids[]", media.id])]) }));
    note(await mastodon(base, "POST", "/api/v1/statuses", { form: new URLSearchParams({ status: "x" }) }));
    const unknown = await mastodon(base, "POST", "/api/v1/statuses", { token: "nobody", form: new URLSearchParams({ status: "x" }) });
    out.push(unknown.status);
    return out;
  }

  test("speaks as the Mastodon mock does for the publisher's Mastodon calls", async () => {
    const account = await masto.createAccount();
    const real = await mastodonScript(masto.url, account.token);
    const ours = await mastodonScript(fake.url, fake.addMastodonAccount({ token: "shape-token" }).token);
    assert.deepEqual(ours, real);
  });

  test("records the receipt time of each post and counts repeats per rkey and Idempotency-Key", async () => {
    const own = await startFakePlatform({ autoAccounts: true });
    try {
      const start = Date.now();
      const s = await login(own.url, "auto.test", "any-password");
      const rkey = tidKey();
      for (let i = 0; i < 3; i++) {
        await xrpc(own.url, "POST", "com.atproto.repo.createRecord", { token: s.accessJwt, json: { repo: s.did, collection: POST, rkey, record: post("one post") } });
      }
      await xrpc(own.url, "POST", "com.atproto.repo.createRecord", { token: s.accessJwt, json: { repo: s.did, collection: POST, record: post("no key") } });
      for (let i = 0; i < 2; i++) await mastodon(own.url, "POST", "/api/v1/statuses", { token: "auto-token", key: "k", form: new URLSearchParams({ status: "toot" }) });
      await mastodon(own.url, "POST", "/api/v1/statuses", { token: "auto-token", form: new URLSearchParams({ status: "toot" }) });
      const stats = own.stats();
      assert.deepEqual(
        { bluesky: stats.bluesky, mastodon: stats.mastodon, repeats: stats.repeats, withoutKey: stats.withoutKey, duplicateTexts: stats.duplicateTexts },
        { bluesky: 2, mastodon: 2, repeats: 3, withoutKey: 2, duplicateTexts: 1 },
      );
      assert.deepEqual([...stats.repeatedKeys.entries()], [[`bluesky ${s.did} ${rkey}`, 2], ["mastodon " + own.posts[2].account + " k", 1]]);
      assert.ok(own.posts.every((p) => p.receivedAt >= start && p.receivedAt <= Date.now()));
      const other = await xrpc(own.url, "POST", "com.atproto.server.createSession", { json: { identifier: "auto.test", password: "other-password" } });
      assert.equal(other.status, 401, "the first password sticks");
    } finally {
      await own.close();
    }
  });

  test("short-lived access tokens expire (400 ExpiredToken) and refresh; media can be made to process", async () => {
    const own = await startFakePlatform({ accessTtlSeconds: 0, mediaProcessingPolls: 1 });
    try {
      own.addBlueskyAccount({ handle: "short.test", password: "pw" });
      const s = await login(own.url, "short.test", "pw");
      const expired = await xrpc(own.url, "POST", "com.atproto.repo.uploadBlob", { token: s.accessJwt, raw: PNG });
      assert.deepEqual([expired.status, expired.body], [400, { error: "ExpiredToken", message: "Token has expired" }]);
      const refreshed = await xrpc(own.url, "POST", "com.atproto.server.refreshSession", { token: s.refreshJwt });
      assert.equal(refreshed.status, 200);
      const { token } = own.addMastodonAccount();
      const up = await mastodon(own.url, "POST", "/api/v2/media", { token, form: mediaForm(PNG) });
      assert.deepEqual([up.status, up.body.url], [202, null]);
      const early = await mastodon(own.url, "POST", "/api/v1/statuses", { token, form: new URLSearchParams([["status", "x"], ["media_ids[]", up.body.id]]) });
      assert.deepEqual([early.status, early.body.error], [422, NOT_READY]);
      assert.equal((await mastodon(own.url, "GET", `/api/v1/media/${up.body.id}`, { token })).status, 206);
      assert.equal((await mastodon(own.url, "GET", `/api/v1/media/${up.body.id}`, { token })).status, 200);
    } finally {
      await own.close();
    }
  });
});
