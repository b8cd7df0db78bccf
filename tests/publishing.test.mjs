// Publishing (issue 10), black-box: the built worker in Miniflare (real D1, R2, Durable Object
// alarms and Queues) publishing to a real Bluesky PDS and to the Mastodon mock on loopback
// (scripts/platforms/), sometimes through the fault proxy. Assertions are on the platforms' own
// records. Nothing here pokes the scheduler: a due post goes out on its own (the DO's alarm and
// the queue); only the sweep tests fire the cron, as the brief says they must.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker, assertError, unique } from "./helpers.mjs";
import { publishQueueConsumers, PUBLISH_QUEUE } from "../scripts/worker.mjs";
import { startPds } from "../scripts/platforms/pds.mjs";
import { startMastodon } from "../scripts/platforms/mastodon.mjs";
import { until } from "./publishing_helpers.mjs";
import { startFaultProxy, faults } from "../scripts/platforms/fault_proxy.mjs";
import { startFakePlatform } from "../scripts/platforms/fake_platform.mjs";

const POST = "app.bsky.feed.post";
/** A valid 1×1 PNG. */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082",
  "hex",
);
/** Loopback platforms, short retries (1–2 s) and request timeouts, as a test run needs. */
const BINDINGS = {
  OUTBOUND_ALLOW_LOOPBACK: "1",
  PUBLISH_RETRY_BASE_S: "1",
  PUBLISH_RETRY_CAP_S: "2",
  PUBLISH_CALL_TIMEOUT_MS: "4000",
};
/** Three retries, then the dead-letter queue (wrangler.toml has 8). */
const QUEUES = { ...publishQueueConsumers, [PUBLISH_QUEUE]: { ...publishQueueConsumers[PUBLISH_QUEUE], maxRetries: 3 } };

let app;
let pds;
let masto;
before(async () => {
  [app, pds, masto] = await Promise.all([
    startWorker({ bindings: BINDINGS, worker: { queueConsumers: QUEUES } }),
    startPds(),
    startMastodon(),
  ]);
});
after(async () => {
  await Promise.all([app?.dispose(), pds?.close(), masto?.close()]);
});

// --- helpers ---------------------------------------------------------------------------------

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;
const one = (sql, ...args) => app.db.prepare(sql).bind(...args).first();
const exec = (sql, ...args) => app.db.prepare(sql).bind(...args).run();
const inMs = (ms) => new Date(Date.now() + ms).toISOString();

let handles = 0;
/** A PDS handle: `.test`, its first label 3–18 characters. */
const handleName = () => `h${process.pid.toString(36)}${(++handles).toString(36)}${crypto.randomBytes(2).toString("hex")}.test`;

/** A user and a workspace of their own. */
async function brand(extra = {}) {
  const owner = await app.signup();
  const ws = await app.createWorkspace(owner.token, extra);
  return { owner, token: owner.token, ws };
}

/** A PDS account and its BLUESKY social account in `b` (through `service`, e.g. a proxy). */
async function bluesky(b, { service = pds.url, appPassword } = {}) {
  const acct = await pds.createAccount({ handle: handleName(), password: "account-password-123" });
  const res = await app.post(
    "/social-accounts",
    { workspaceId: b.ws.id, platform: "BLUESKY", handle: acct.handle, credentials: { identifier: acct.handle, appPassword: appPassword ?? acct.appPassword, service } },
    { token: b.token },
  );
  assert.equal(res.status, 201, res.text);
  return { ...res.body, pds: acct };
}

/** A mock Mastodon account and its MASTODON social account in `b`. */
async function mastodon(b, { instanceUrl = masto.url, accessToken } = {}) {
  const acct = await masto.createAccount();
  const res = await app.post(
    "/social-accounts",
    { workspaceId: b.ws.id, platform: "MASTODON", handle: `@${acct.username}`, credentials: { instanceUrl, accessToken: accessToken ?? acct.token } },
    { token: b.token },
  );
  assert.equal(res.status, 201, res.text);
  return { ...res.body, mock: acct };
}

/** A READY image of `b`, uploaded through the API (presign, PUT, complete), with alt text. */
async function image(b, { bytes = PNG, contentType = "image/png", alt } = {}) {
  const presign = await app.post("/media/presign", { workspaceId: b.ws.id, filename: "pic.png", contentType }, { token: b.token });
  assert.equal(presign.status, 201, presign.text);
  const id = presign.body.mediaAsset.id;
  const put = await app.request("PUT", presign.body.uploadUrl, { body: bytes, headers: { ...presign.body.headers, "Content-Length": String(bytes.length) } });
  assert.ok(put.status < 300, put.text);
  const done = await app.post(`/media/${id}/complete`, undefined, { token: b.token });
  assert.equal(done.status, 200, done.text);
  if (alt) {
    const res = await app.patch(`/media/${id}`, { altText: alt }, { token: b.token });
    assert.equal(res.status, 200, res.text);
  }
  return id;
}

/** Creates a post (201 asserted). */
async function createPost(b, accounts, extra = {}) {
  const res = await app.post("/posts", { content: unique("Post "), targets: accounts.map((a) => ({ accountId: a.id })), ...extra }, { token: b.token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

const SETTLED = ["PUBLISHED", "PARTIALLY_PUBLISHED", "FAILED"];

/** Waits until the post has settled; returns it. */
async function settled(b, post, timeoutMs) {
  return until(`post ${post.id} to settle`, async () => {
    const res = await app.get(`/posts/${post.id}`, { token: b.token });
    assert.equal(res.status, 200, res.text);
    return SETTLED.includes(res.body.status) && res.body;
  }, timeoutMs);
}

/** Every attempt of the post, oldest first. */
async function attempts(b, post) {
  const res = await app.get(`/posts/${post.id}/attempts?limit=200`, { token: b.token });
  assert.equal(res.status, 200, res.text);
  return res.body.reverse();
}

const records = (account) => pds.listRecords(account.pds.did, POST);
const statusesOf = (account) => masto.statuses({ token: account.mock.token });
/** The workspace's events in the order they were written: rowid (events written by one batch
 * share their created_at, and their ids are random, so (created_at, id) would order them by chance). */
const events = (ws) => all("SELECT type, data FROM events WHERE workspace_id = ? ORDER BY rowid", ws.id);

/** The record key the publisher derives for a target (src/domain/publish/tid.rs). */
function derivedRkey(targetId, createdAt) {
  const h = crypto.createHash("sha256").update(targetId).digest();
  const spread = BigInt(h.readUInt32BE(0) % 1_000_000);
  const clock = BigInt(h.readUInt16BE(4) & 0x3ff);
  const micros = BigInt(Math.floor(Date.parse(createdAt) / 1000)) * 1_000_000n + spread;
  let v = (micros << 10n) | clock;
  const alphabet = "234567abcdefghijklmnopqrstuvwxyz";
  let out = "";
  for (let i = 0; i < 13; i++) {
    out = alphabet[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

// --- on time, on its own ---------------------------------------------------------------------

describe("a due post goes out on its own", () => {
  test("to the real PDS and the Mastodon mock: one post each, text, facets, images with alt text; results, attempts and the event", async () => {
    const b = await brand();
    const [sky, mast] = [await bluesky(b), await mastodon(b)];
    const media = await image(b, { alt: "A single pixel, in close-up" });
    const content = "Café ☕ launch #espresso day: see https://example.com/menu?x=1. 👍🏽";
    const post = await createPost(b, [sky, mast], { content, mediaIds: [media], scheduledFor: inMs(1500) });
    assert.equal(post.status, "SCHEDULED");
    const done = await settled(b, post);
    assert.equal(done.status, "PUBLISHED");

    // Bluesky: exactly one record, on the PDS itself.
    const recs = await records(sky);
    assert.equal(recs.length, 1);
    const rec = recs[0].value;
    assert.equal(rec.text, content);
    const bytes = Buffer.from(content);
    const at = (s) => bytes.indexOf(Buffer.from(s));
    assert.deepEqual(
      rec.facets.map((f) => [f.index.byteStart, f.index.byteEnd, f.features[0].$type, f.features[0].tag ?? f.features[0].uri]),
      [
        [at("#espresso"), at("#espresso") + Buffer.byteLength("#espresso"), "app.bsky.richtext.facet#tag", "espresso"],
        [at("https://"), at("https://") + Buffer.byteLength("https://example.com/menu?x=1"), "app.bsky.richtext.facet#link", "https://example.com/menu?x=1"],
      ],
    );
    assert.equal(rec.embed.$type, "app.bsky.embed.images");
    assert.equal(rec.embed.images.length, 1);
    assert.equal(rec.embed.images[0].alt, "A single pixel, in close-up");
    const blob = await pds.getBlob(sky.pds.did, rec.embed.images[0].image.ref.$link);
    assert.deepEqual(Buffer.from(blob), PNG);

    // Mastodon: exactly one status, with the attachment and its description.
    const sts = await statusesOf(mast);
    assert.equal(sts.length, 1);
    assert.equal(sts[0].text, content);
    assert.equal(sts[0].media_attachments.length, 1);
    assert.equal(sts[0].media_attachments[0].description, "A single pixel, in close-up");

    // Per-target results.
    const [t1, t2] = done.targets;
    assert.equal(t1.status, "PUBLISHED");
    assert.equal(t1.platformPostId, recs[0].uri);
    assert.equal(t1.url, `https://bsky.app/profile/${sky.pds.did}/post/${recs[0].uri.split("/").pop()}`);
    assert.equal(recs[0].uri.split("/").pop(), derivedRkey(t1.id, (await one("SELECT created_at FROM post_targets WHERE id = ?", t1.id)).created_at));
    assert.equal(t2.status, "PUBLISHED");
    assert.equal(t2.platformPostId, sts[0].id);
    assert.equal(t2.url, sts[0].url);
    for (const t of done.targets) {
      assert.equal(t.attempts, 1);
      assert.equal(t.error, null);
      assert.ok(Date.parse(t.publishedAt) >= Date.parse(post.scheduledFor), `${t.publishedAt} before ${post.scheduledFor}`);
    }

    // The attempts: one each, written before the call, finished with the platform's status.
    const tries = await attempts(b, post);
    assert.equal(tries.length, 2);
    for (const a of tries) {
      assert.equal(a.outcome, "PUBLISHED");
      assert.equal(a.httpStatus, 200);
      assert.equal(a.number, 1);
      assert.equal(a.error, null);
      assert.ok(a.durationMs >= 0);
      assert.ok(Date.parse(a.finishedAt) >= Date.parse(a.startedAt));
    }
    assert.deepEqual(tries.map((a) => a.platform).sort(), ["BLUESKY", "MASTODON"]);

    // The outbox: one post.published event with each target's result.
    const evs = await events(b.ws);
    assert.deepEqual(evs.map((e) => e.type), ["post.published"]);
    const data = JSON.parse(evs[0].data);
    assert.equal(data.id, post.id);
    assert.equal(data.status, "PUBLISHED");
    assert.deepEqual(data.targets.map((t) => [t.id, t.status, t.platformPostId, t.url, t.attempts, t.error]), done.targets.map((t) => [t.id, "PUBLISHED", t.platformPostId, t.url, 1, null]));
  });
});

// --- claimed once -----------------------------------------------------------------------------

/** Makes a post due now without telling the scheduler (as if its time had just come). */
async function dueNow(post) {
  // SQL fixture kept: every API write that makes a post due tells the scheduler, so "due, and
  // only the test's own queue messages know" cannot be reached through the API.
  await exec("UPDATE posts SET scheduled_for = ? WHERE id = ?", new Date(Date.now() - 1000).toISOString(), post.id);
}

/** The job of a target, as the scheduler hands it to the queue. */
const jobOf = (b, target, account = target.accountId) => ({ target: target.id, workspace: b.ws.id, account });

/** Waits for the consumer's log line saying it did not claim `target`; returns its reason. */
async function notClaimed(target) {
  const { logLines } = await import("./helpers.mjs");
  const line = await until(`the consumer to pass on ${target.id}`, () =>
    logLines.find((l) => l.includes('"publish.not_claimed"') && l.includes(target.id)),
  );
  return JSON.parse(line).why;
}

describe("claimed once", () => {
  test("publishers racing for one target: one claim, one attempt, one record", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const post = await createPost(b, [sky], { scheduledFor: inMs(3_600_000) });
    await dueNow(post);
    const [target] = post.targets;
    // Eight copies of the job at once. The consumer runs one account's jobs in turn, so each
    // copy names a different group: one batch then runs all eight claims concurrently.
    await app.queue.send(Array.from({ length: 8 }, (_, i) => jobOf(b, target, `${sky.id}/${i}`)));
    const done = await settled(b, post);
    assert.equal(done.status, "PUBLISHED");
    assert.equal(done.targets[0].attempts, 1);
    assert.equal((await records(sky)).length, 1);
    const tries = await attempts(b, post);
    assert.deepEqual(tries.map((a) => a.outcome), ["PUBLISHED"]);
    // The seven others lost the claim (the target was no longer PENDING) and did nothing.
    const { logLines } = await import("./helpers.mjs");
    await until("seven lost claims", () => logLines.filter((l) => l.includes('"publish.not_claimed"') && l.includes(target.id)).length === 7);
  });

  test("a lease that expires is swept by the cron: the target is published again, and the dead attempt's record is found, not posted twice", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const post = await createPost(b, [sky], { scheduledFor: inMs(3_600_000) });
    const [target] = post.targets;
    const created = (await one("SELECT created_at FROM post_targets WHERE id = ?", target.id)).created_at;
    // A consumer claimed the target, made the record and died before writing the result: the
    // record is on the PDS, the target PUBLISHING under a lease that has run out, its attempt
    // IN_FLIGHT.
    const rkey = derivedRkey(target.id, created);
    const made = await fetch(`${pds.url}/xrpc/com.atproto.repo.createRecord`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${sky.pds.accessJwt}` },
      body: JSON.stringify({ repo: sky.pds.did, collection: POST, rkey, record: { $type: POST, text: post.content, createdAt: new Date().toISOString() } }),
    });
    assert.equal(made.status, 200, await made.text());
    const past = new Date(Date.now() - 60_000).toISOString();
    // SQL fixture kept: a consumer that dies mid-attempt (its lease run out, its attempt
    // IN_FLIGHT) cannot be produced from outside; a live consumer always finishes its attempt.
    await app.db.batch([
      app.db.prepare("UPDATE posts SET status = 'PUBLISHING', scheduled_for = ? WHERE id = ?").bind(past, post.id),
      app.db.prepare("UPDATE post_targets SET status = 'PUBLISHING', lease_id = 'dead-consumer', lease_expires_at = ?, attempts = 1 WHERE id = ?").bind(past, target.id),
      app.db.prepare("INSERT INTO publish_attempts (id, workspace_id, post_id, target_id, number, lease_id, started_at, outcome) VALUES (?, ?, ?, ?, 1, 'dead-consumer', ?, 'IN_FLIGHT')")
        .bind(`att_${b.ws.id.slice(3)}DeadConsumer0001`, b.ws.id, post.id, target.id, past),
    ]);
    await app.cron();
    const done = await settled(b, post);
    assert.equal(done.status, "PUBLISHED");
    assert.equal(done.targets[0].attempts, 2);
    assert.equal(done.targets[0].platformPostId, `at://${sky.pds.did}/${POST}/${rkey}`);
    assert.equal((await records(sky)).length, 1);
    const tries = await attempts(b, post);
    assert.deepEqual(tries.map((a) => [a.number, a.outcome, a.error?.code ?? null]), [[1, "UNKNOWN", "PUBLISH_INTERRUPTED"], [2, "ALREADY_PUBLISHED", null]]);
    assert.equal(await app.count("post_targets", "status = 'PUBLISHING' AND lease_expires_at < ?", new Date().toISOString()), 0);
  });
});

// --- up to the claim --------------------------------------------------------------------------

describe("cancel, reschedule, delete and disconnect work up to the claim", () => {
  /** Acts on a post whose job is already on its way, then lets the job arrive. */
  async function raceTheClaim(act) {
    const b = await brand();
    const sky = await bluesky(b);
    const post = await createPost(b, [sky], { scheduledFor: inMs(3_600_000) });
    const [target] = post.targets;
    await act(b, post, sky);
    // The time has come (as far as D1 says), and the scheduler's message is in the queue.
    // SQL fixture kept: as in `dueNow`, a due post the scheduler was not told of is not
    // reachable through the API.
    await exec("UPDATE posts SET scheduled_for = ? WHERE id = ? AND scheduled_for > ?", new Date(Date.now() - 1000).toISOString(), post.id, new Date().toISOString());
    await app.queue.send([jobOf(b, target)]);
    assert.equal(await notClaimed(target), "Nothing");
    assert.equal(await app.count("publish_attempts", "target_id = ?", target.id), 0);
    assert.equal((await records(sky)).length, 0);
    return { b, post, target, sky };
  }

  test("cancel", async () => {
    const { target } = await raceTheClaim(async (b, post) => {
      const res = await app.post(`/posts/${post.id}/cancel`, undefined, { token: b.token });
      assert.equal(res.status, 200, res.text);
    });
    assert.equal((await one("SELECT status FROM post_targets WHERE id = ?", target.id)).status, "CANCELED");
  });

  test("delete", async () => {
    const { post } = await raceTheClaim(async (b, p) => {
      assert.equal((await app.delete(`/posts/${p.id}`, { token: b.token })).status, 204);
    });
    assert.notEqual((await one("SELECT deleted_at FROM posts WHERE id = ?", post.id)).deleted_at, null);
  });

  test("disconnect", async () => {
    const { post, target } = await raceTheClaim(async (b, _p, sky) => {
      assert.equal((await app.delete(`/social-accounts/${sky.id}`, { token: b.token })).status, 204);
    });
    assert.equal((await one("SELECT status FROM post_targets WHERE id = ?", target.id)).status, "CANCELED");
    assert.equal((await one("SELECT status FROM posts WHERE id = ?", post.id)).status, "CANCELED");
  });

  test("reschedule: the post goes out at its new time, not its old one", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const post = await createPost(b, [sky], { scheduledFor: inMs(1_500) });
    const moved = await app.post(`/posts/${post.id}/reschedule`, { scheduledFor: inMs(4_000) }, { token: b.token });
    assert.equal(moved.status, 200, moved.text);
    // A job for the old time (a message already on its way) finds the target not due.
    await app.queue.send([jobOf(b, post.targets[0])]);
    assert.equal(await notClaimed(post.targets[0]), "Nothing");
    const done = await settled(b, post);
    assert.equal(done.status, "PUBLISHED");
    assert.ok(Date.parse(done.targets[0].publishedAt) >= Date.parse(moved.body.scheduledFor), `${done.targets[0].publishedAt} < ${moved.body.scheduledFor}`);
    assert.equal((await records(sky)).length, 1);
  });
});

// --- retries ----------------------------------------------------------------------------------

describe("retries", () => {
  test("429 with Retry-After: the next attempt waits that long, and the post goes out once", async () => {
    const proxy = await startFaultProxy(pds.url);
    try {
      proxy.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", times: 1, action: faults.rateLimit(3) });
      const b = await brand();
      const sky = await bluesky(b, { service: proxy.url });
      const post = await createPost(b, [sky], { scheduledFor: inMs(1_000) });
      const done = await settled(b, post);
      assert.equal(done.status, "PUBLISHED");
      const [first, second] = await attempts(b, post);
      assert.equal(first.outcome, "RETRYING");
      assert.equal(first.httpStatus, 429);
      assert.equal(first.error.code, "PLATFORM_RATE_LIMITED");
      assert.equal(first.error.retryable, true);
      assert.equal(second.outcome, "PUBLISHED");
      const waited = Date.parse(second.startedAt) - Date.parse(first.finishedAt);
      assert.ok(waited >= 2_900, `waited ${waited} ms after a Retry-After of 3 s`);
      assert.equal((await records(sky)).length, 1);
    } finally {
      await proxy.close();
    }
  });

  test("retries that run out reach the dead-letter queue, whose consumer marks the target FAILED", async () => {
    const proxy = await startFaultProxy(pds.url);
    try {
      proxy.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", action: faults.status(500) });
      const b = await brand();
      const sky = await bluesky(b, { service: proxy.url });
      const post = await createPost(b, [sky], { scheduledFor: inMs(1_000) });
      const done = await settled(b, post);
      assert.equal(done.status, "FAILED");
      const [t] = done.targets;
      assert.equal(t.status, "FAILED");
      assert.equal(t.error.code, "PLATFORM_UNAVAILABLE");
      assert.equal(t.error.retryable, true);
      assert.match(t.error.message, /^Gave up after 4 attempt\(s\): /);
      // One attempt and three retries (maxRetries 3), each checking before posting again.
      const tries = await attempts(b, post);
      assert.deepEqual(tries.map((a) => [a.outcome, a.httpStatus]), Array(4).fill(["UNKNOWN", 500]));
      assert.equal(proxy.requests({ path: "/xrpc/com.atproto.repo.createRecord" }).length, 4);
      // The attempts route pages like every list: newest first, `Link: rel="next"`.
      const page1 = await app.get(`/posts/${post.id}/attempts?limit=3`, { token: b.token });
      assert.deepEqual(page1.body.map((a) => a.number), [4, 3, 2]);
      const next = /^<([^>]+)>; rel="next"$/.exec(page1.headers.get("link"))[1];
      const page2 = await app.get(next, { token: b.token });
      assert.deepEqual(page2.body.map((a) => a.number), [1]);
      assert.equal(page2.headers.get("link"), null);
      assert.equal((await records(sky)).length, 0);
      assert.deepEqual((await events(b.ws)).map((e) => e.type), ["post.failed"]);
    } finally {
      await proxy.close();
    }
  });

  test("Mastodon media still processing (202, then 206) is polled until ready, then the status is posted", async () => {
    const proxy = await startFaultProxy(masto.url);
    try {
      proxy.add({ method: "POST", path: "/api/v2/media", action: faults.mediaProcessing({ polls: 2 }) });
      const b = await brand();
      const mast = await mastodon(b, { instanceUrl: proxy.url });
      const media = await image(b, { alt: "Slow to process" });
      const post = await createPost(b, [mast], { mediaIds: [media], scheduledFor: inMs(1_000) });
      const done = await settled(b, post);
      assert.equal(done.status, "PUBLISHED", JSON.stringify(done.targets));
      assert.equal(proxy.requests({ method: "GET" }).filter((r) => r.path.startsWith("/api/v1/media/")).length, 3);
      const [st] = await statusesOf(mast);
      assert.equal(st.media_attachments.length, 1);
      assert.equal(st.media_attachments[0].description, "Slow to process");
    } finally {
      await proxy.close();
    }
  });
});

// --- results ----------------------------------------------------------------------------------

describe("results per target and the post's status", () => {
  test("some targets published: PARTIALLY_PUBLISHED, each target with its own result, and its event", async () => {
    const proxy = await startFaultProxy(masto.url);
    try {
      proxy.add({ method: "POST", path: "/api/v1/statuses", action: faults.status(422, { body: { error: "Validation failed: Text contains a word we do not like" } }) });
      const b = await brand();
      const [sky, mast] = [await bluesky(b), await mastodon(b, { instanceUrl: proxy.url })];
      const post = await createPost(b, [sky, mast], { scheduledFor: inMs(1_000) });
      const done = await settled(b, post);
      assert.equal(done.status, "PARTIALLY_PUBLISHED");
      const [ok, refused] = done.targets;
      assert.equal(ok.status, "PUBLISHED");
      assert.ok(ok.platformPostId.startsWith("at://"));
      assert.equal(refused.status, "FAILED");
      assert.equal(refused.platformPostId, null);
      assert.equal(refused.error.code, "PLATFORM_REJECTED");
      assert.equal(refused.error.retryable, false);
      assert.match(refused.error.message, /Text contains a word we do not like/);
      assert.equal(refused.attempts, 1);
      const evs = await events(b.ws);
      assert.deepEqual(evs.map((e) => e.type), ["post.partially_published"]);
      assert.deepEqual(JSON.parse(evs[0].data).targets.map((t) => [t.status, t.error?.code ?? null]), [["PUBLISHED", null], ["FAILED", "PLATFORM_REJECTED"]]);
    } finally {
      await proxy.close();
    }
  });

  test("no target published: FAILED, and its event", async () => {
    const sky = await startFaultProxy(pds.url);
    const mas = await startFaultProxy(masto.url);
    try {
      sky.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", action: faults.status(400, { body: { error: "InvalidRequest", message: "Invalid app.bsky.feed.post record" } }) });
      mas.add({ method: "POST", path: "/api/v1/statuses", action: faults.status(422) });
      const b = await brand();
      const post = await createPost(b, [await bluesky(b, { service: sky.url }), await mastodon(b, { instanceUrl: mas.url })], { scheduledFor: inMs(1_000) });
      const done = await settled(b, post);
      assert.equal(done.status, "FAILED");
      assert.deepEqual(done.targets.map((t) => [t.status, t.error.code]), [["FAILED", "PLATFORM_REJECTED"], ["FAILED", "PLATFORM_REJECTED"]]);
      assert.deepEqual((await events(b.ws)).map((e) => e.type), ["post.failed"]);
    } finally {
      await Promise.all([sky.close(), mas.close()]);
    }
  });
});

// --- outcome unknown ---------------------------------------------------------------------------

describe("an outcome that cannot be known", () => {
  let short;
  before(async () => {
    // Mastodon remembers an Idempotency-Key for an hour; this worker is told one second, so
    // the repeat after a lost answer comes too late to be safe.
    short = await startWorker({ bindings: { ...BINDINGS, MASTODON_IDEMPOTENCY_WINDOW_S: "1" } });
  });
  after(() => short?.dispose());

  test("a Mastodon answer lost past the idempotency window: FAILED with OUTCOME_UNKNOWN, never posted again by itself; a retry the user asks for goes ahead", async () => {
    const proxy = await startFaultProxy(masto.url);
    try {
      proxy.add({ method: "POST", path: "/api/v1/statuses", times: 1, action: faults.lostAnswer() });
      const owner = await short.signup();
      const ws = await short.createWorkspace(owner.token);
      const acct = await masto.createAccount();
      const reg = await short.post("/social-accounts", { workspaceId: ws.id, platform: "MASTODON", handle: `@${acct.username}`, credentials: { instanceUrl: proxy.url, accessToken: acct.token } }, { token: owner.token });
      assert.equal(reg.status, 201, reg.text);
      const made = await short.post("/posts", { content: "Lost in transit", targets: [{ accountId: reg.body.id }], scheduledFor: inMs(1_000) }, { token: owner.token });
      assert.equal(made.status, 201, made.text);
      const post = made.body;
      const done = await until("the post to fail", async () => {
        const res = await short.get(`/posts/${post.id}`, { token: owner.token });
        return res.body.status === "FAILED" && res.body;
      });
      const [t] = done.targets;
      assert.equal(t.error.code, "OUTCOME_UNKNOWN");
      assert.equal(t.error.retryable, false);
      assert.match(t.error.message, /Check the account on the platform before retrying/);
      // The lost answer did post it; nothing was sent again.
      assert.equal((await masto.statuses({ token: acct.token })).length, 1);
      assert.equal(proxy.requests({ path: "/api/v1/statuses" }).length, 1);
      const tries = (await short.get(`/posts/${post.id}/attempts`, { token: owner.token })).body.reverse();
      assert.deepEqual(tries.map((a) => [a.outcome, a.error?.code ?? null]), [["UNKNOWN", "PLATFORM_UNAVAILABLE"], ["FAILED", "OUTCOME_UNKNOWN"]]);
      assert.equal(tries[1].httpStatus, null);
      // The user checked and retries: the attempt goes ahead, with the same key (which this
      // mock still remembers: it answers the status it made, and nothing is posted twice).
      const retried = await short.post(`/posts/${post.id}/retry`, undefined, { token: owner.token });
      assert.equal(retried.status, 200, retried.text);
      const again = await until("the retry", async () => {
        const res = await short.get(`/posts/${post.id}`, { token: owner.token });
        return SETTLED.includes(res.body.status) && res.body;
      });
      assert.equal(again.status, "PUBLISHED");
      assert.equal((await masto.statuses({ token: acct.token })).length, 1);
    } finally {
      await proxy.close();
    }
  });
});

// --- account health ---------------------------------------------------------------------------

describe("account health", () => {
  test("an auth failure flags the account; later targets fail at once without a call; new credentials make it ACTIVE and a retry publishes", async () => {
    const proxy = await startFaultProxy(pds.url);
    try {
      const b = await brand();
      const sky = await bluesky(b, { service: proxy.url, appPassword: "wrong-app-password" });
      const first = await createPost(b, [sky], { scheduledFor: inMs(1_000) });
      const failed = await settled(b, first);
      assert.equal(failed.status, "FAILED");
      assert.equal(failed.targets[0].error.code, "ACCOUNT_NEEDS_REAUTH");
      assert.equal(failed.targets[0].error.retryable, false);
      const flagged = await app.get(`/social-accounts/${sky.id}`, { token: b.token });
      assert.equal(flagged.body.status, "TOKEN_EXPIRED");
      // Both events come from the batch that settled the attempt: the same created_at, so they
      // are compared as a set, never by an order a tie would decide.
      const evs = await events(b.ws);
      assert.deepEqual(evs.map((e) => e.type).sort(), ["post.failed", "social_account.needs_reauth"]);
      const reauth = evs.find((e) => e.type === "social_account.needs_reauth");
      assert.deepEqual(JSON.parse(reauth.data), { id: sky.id, workspaceId: b.ws.id, platform: "BLUESKY", handle: sky.handle, status: "TOKEN_EXPIRED" });

      const calls = proxy.log.length;
      const second = await createPost(b, [sky], { scheduledFor: inMs(1_000) });
      const fast = await settled(b, second);
      assert.equal(fast.targets[0].error.code, "ACCOUNT_NEEDS_REAUTH");
      assert.equal(proxy.log.length, calls, "the platform was called for an account that needs new credentials");
      const [fastTry] = await attempts(b, second);
      assert.equal(fastTry.outcome, "FAILED");
      assert.equal(fastTry.httpStatus, null);

      const fixed = await app.patch(`/social-accounts/${sky.id}`, { credentials: { identifier: sky.pds.handle, appPassword: sky.pds.appPassword, service: proxy.url } }, { token: b.token });
      assert.equal(fixed.status, 200, fixed.text);
      assert.equal(fixed.body.status, "ACTIVE");
      for (const p of [first, second]) {
        const res = await app.post(`/posts/${p.id}/retry`, undefined, { token: b.token });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.status, "PUBLISHING");
      }
      for (const p of [first, second]) assert.equal((await settled(b, p)).status, "PUBLISHED");
      assert.equal((await records(sky)).length, 2);
      assert.equal((await events(b.ws)).filter((e) => e.type === "social_account.needs_reauth").length, 1);
    } finally {
      await proxy.close();
    }
  });

  test("a Mastodon token the instance refuses: TOKEN_EXPIRED", async () => {
    const b = await brand();
    const mast = await mastodon(b, { accessToken: "not-a-token-it-knows" });
    const post = await createPost(b, [mast], { scheduledFor: inMs(1_000) });
    const done = await settled(b, post);
    assert.equal(done.targets[0].error.code, "ACCOUNT_NEEDS_REAUTH");
    assert.equal((await app.get(`/social-accounts/${mast.id}`, { token: b.token })).body.status, "TOKEN_EXPIRED");
  });

  test("a Bluesky session is kept and refreshed, not created for every post", async () => {
    // The fake platform issues access tokens that expire after 1 s, to make the refresh happen;
    // a pass-through proxy in front of it counts the calls.
    const fake = await startFakePlatform({ accessTtlSeconds: 1 });
    const proxy = await startFaultProxy(fake.url);
    try {
      const b = await brand();
      const acct = fake.addBlueskyAccount({ handle: handleName(), password: "fake-app-password" });
      const reg = await app.post("/social-accounts", { workspaceId: b.ws.id, platform: "BLUESKY", handle: acct.handle, credentials: { identifier: acct.handle, appPassword: acct.password, service: proxy.url } }, { token: b.token });
      assert.equal(reg.status, 201, reg.text);
      const sealed = async () => (await one("SELECT platform_session FROM social_accounts WHERE id = ?", reg.body.id)).platform_session;
      let previous = null;
      for (let i = 0; i < 3; i++) {
        const post = await createPost(b, [reg.body], { scheduledFor: inMs(1_200) });
        assert.equal((await settled(b, post)).status, "PUBLISHED");
        const now = await sealed();
        assert.match(now, /^v2:[0-9a-f]{16}:[0-9a-f]{24}:[0-9a-f]+$/);
        assert.ok(!now.includes(acct.did), "the session is sealed");
        if (i > 0) assert.notEqual(now, previous, "the refreshed session is kept");
        previous = now;
      }
      assert.equal(fake.stats().bluesky, 3);
      assert.equal(proxy.requests({ path: "/xrpc/com.atproto.server.createSession" }).length, 1);
      assert.ok(proxy.requests({ path: "/xrpc/com.atproto.server.refreshSession" }).length >= 2);
    } finally {
      await proxy.close();
      await fake.close();
    }
  });
});

// --- refused when scheduled -------------------------------------------------------------------

describe("refused at schedule time what would fail at publish time", () => {
  /** A READY media row of `b`, written straight to D1 (its size is all the rules read). */
  async function mediaRow(b, { contentType = "image/png", bytes = 68 } = {}) {
    const id = `med_${b.ws.id.slice(3)}${crypto.randomBytes(8).toString("hex")}`;
    const now = new Date().toISOString();
    await exec(
      `INSERT INTO media (id, workspace_id, filename, content_type, bytes, status, object_key, created_by, created_at, updated_at)
       VALUES (?, ?, 'f', ?, ?, 'READY', ?, ?, ?, ?)`,
      id, b.ws.id, contentType, bytes, `${b.ws.id}/${id}/f`, b.owner.user.id, now, now,
    );
    return id;
  }

  /** Row counts a refusal must leave as they were. */
  const counts = async () => ({ posts: await app.count("posts"), targets: await app.count("post_targets") });

  test("a platform without a publisher: 400 PUBLISHING_NOT_SUPPORTED naming the target; drafts are fine", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const x = await app.post("/social-accounts", { workspaceId: b.ws.id, platform: "X", handle: "@brand" }, { token: b.token });
    assert.equal(x.status, 201, x.text);
    const before = await counts();
    const res = await app.post("/posts", { content: "Hello", targets: [{ accountId: sky.id }, { accountId: x.body.id }], scheduledFor: inMs(3_600_000) }, { token: b.token });
    assertError(res, 400, "PUBLISHING_NOT_SUPPORTED");
    assert.deepEqual(res.body.details, [{ field: "targets[1].accountId", problem: "is on X, which has no publisher yet: posts to it can only be drafts" }]);
    assert.deepEqual(await counts(), before);
    const draft = await createPost(b, [sky, x.body]);
    assert.equal(draft.status, "DRAFT");
    const scheduled = await app.post(`/posts/${draft.id}/schedule`, { scheduledFor: inMs(3_600_000) }, { token: b.token });
    assertError(scheduled, 400, "PUBLISHING_NOT_SUPPORTED");
    assert.equal((await one("SELECT status FROM posts WHERE id = ?", draft.id)).status, "DRAFT");
  });

  test("Bluesky: 300 graphemes and 3,000 bytes of text, 4 images of 2,000,000 bytes, images only", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const family = "👨‍👩‍👧‍👦"; // one grapheme, 25 bytes, 11 UTF-16 units
    const png = await mediaRow(b);
    const cases = [
      [{ content: "a".repeat(300) }, null],
      [{ content: family.repeat(120) }, null], // 120 graphemes, 3,000 bytes
      [{ content: "a".repeat(301) }, "the text is 301 graphemes long; BLUESKY takes at most 300"],
      [{ content: family.repeat(121) }, "the text is 3025 bytes of UTF-8; BLUESKY takes at most 3000"],
      [{ mediaIds: [png, await mediaRow(b), await mediaRow(b), await mediaRow(b)] }, null],
      [{ mediaIds: [png, await mediaRow(b), await mediaRow(b), await mediaRow(b), await mediaRow(b)] }, "has 5 media; BLUESKY takes at most 4 images"],
      [{ mediaIds: [await mediaRow(b, { bytes: 2_000_000 })] }, null],
      [{ mediaIds: [await mediaRow(b, { bytes: 2_000_001 })] }, "media 1 is 2000001 bytes; BLUESKY takes images of at most 2000000 bytes"],
      [{ mediaIds: [await mediaRow(b, { contentType: "video/mp4" })] }, "media 1 is video/mp4; BLUESKY takes JPEG, PNG, WebP or GIF images only"],
    ];
    for (const [extra, problem] of cases) {
      const before = await counts();
      const res = await app.post("/posts", { content: "Hi", targets: [{ accountId: sky.id }], scheduledFor: inMs(3_600_000), ...extra }, { token: b.token });
      if (problem === null) {
        assert.equal(res.status, 201, res.text);
        continue;
      }
      // The field that carries the value; the problem names the target.
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details, [{ field: extra.content ? "content" : "mediaIds", problem: `targets[0]: ${problem}` }]);
      assert.deepEqual(await counts(), before);
    }
  });

  test("Mastodon: the instance's limit, 500 characters by default, links counted as 23", async () => {
    const b = await brand();
    const mast = await mastodon(b);
    const link = `https://example.com/${"x".repeat(600)}`;
    for (const [content, ok] of [["a".repeat(500), true], ["a".repeat(501), false], [`${"a".repeat(400)} ${link}`, true]]) {
      const res = await app.post("/posts", { content, targets: [{ accountId: mast.id }], scheduledFor: inMs(3_600_000) }, { token: b.token });
      if (ok) assert.equal(res.status, 201, res.text);
      else {
        assertError(res, 400, "VALIDATION_FAILED");
        assert.equal(res.body.details[0].field, "content");
        assert.match(res.body.details[0].problem, /^targets\[0\]: the text counts 501 characters on MASTODON/);
      }
    }
    // An instance that says it takes 1,000 characters (read when the credentials were given).
    const fake = await startFakePlatform({ maxCharacters: 1_000 });
    try {
      const other = await brand();
      const acct = fake.addMastodonAccount();
      const reg = await app.post("/social-accounts", { workspaceId: other.ws.id, platform: "MASTODON", handle: "@big", credentials: { instanceUrl: fake.url, accessToken: acct.token } }, { token: other.token });
      assert.equal(reg.status, 201, reg.text);
      const long = await app.post("/posts", { content: "a".repeat(1_000), targets: [{ accountId: reg.body.id }], scheduledFor: inMs(3_600_000) }, { token: other.token });
      assert.equal(long.status, 201, long.text);
      const tooLong = await app.post("/posts", { content: "a".repeat(1_001), targets: [{ accountId: reg.body.id }], scheduledFor: inMs(3_600_000) }, { token: other.token });
      assertError(tooLong, 400, "VALIDATION_FAILED");
      assert.match(tooLong.body.details[0].problem, /at most 1000$/);
    } finally {
      await fake.close();
    }
  });

  test("editing a scheduled post is checked too, and a refused edit changes nothing; a draft is checked when it is scheduled", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const post = await createPost(b, [sky], { scheduledFor: inMs(3_600_000) });
    const before = await one("SELECT * FROM posts WHERE id = ?", post.id);
    const res = await app.patch(`/posts/${post.id}`, { content: "a".repeat(301) }, { token: b.token });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.deepEqual(await one("SELECT * FROM posts WHERE id = ?", post.id), before);
    const caption = await app.patch(`/posts/${post.id}`, { targets: [{ accountId: sky.id, captionOverride: "b".repeat(301) }] }, { token: b.token });
    assertError(caption, 400, "VALIDATION_FAILED");
    assert.deepEqual(caption.body.details, [{ field: "targets[0].captionOverride", problem: "targets[0]: the text is 301 graphemes long; BLUESKY takes at most 300" }]);
    const fine = await app.patch(`/posts/${post.id}`, { content: "Short and sweet" }, { token: b.token });
    assert.equal(fine.status, 200, fine.text);

    const draft = await createPost(b, [sky], { content: "c".repeat(400) });
    assert.equal(draft.status, "DRAFT");
    const scheduled = await app.post(`/posts/${draft.id}/schedule`, { scheduledFor: inMs(3_600_000) }, { token: b.token });
    assertError(scheduled, 400, "VALIDATION_FAILED");
    assert.equal((await one("SELECT status FROM posts WHERE id = ?", draft.id)).status, "DRAFT");
  });
});

// --- credentials ------------------------------------------------------------------------------

describe("credentials of the platforms that publish", () => {
  test("are checked at registration: their shape, and their URL against the outbound guard", async () => {
    const b = await brand();
    const before = await app.count("social_accounts");
    const bad = [
      [{ identifier: "a.test" }, ["credentials.appPassword"]],
      [{ identifier: "a.test", appPassword: "p", service: "ftp://pds.example" }, ["credentials.service"]],
      [{ identifier: "a.test", appPassword: "p", extra: 1 }, ["credentials"]],
      ["just a string", ["credentials"]],
    ];
    for (const [credentials, fields] of bad) {
      const res = await app.post("/social-accounts", { workspaceId: b.ws.id, platform: "BLUESKY", handle: "@a", credentials }, { token: b.token });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.deepEqual(res.body.details.map((d) => d.field), fields);
    }
    for (const url of ["http://10.0.0.1", "https://169.254.169.254", "http://127.0.0.2:2583", "http://[::1]:2583"]) {
      const res = await app.post("/social-accounts", { workspaceId: b.ws.id, platform: "MASTODON", handle: "@m", credentials: { instanceUrl: url, accessToken: "t" } }, { token: b.token });
      assertError(res, 400, "URL_NOT_ALLOWED");
    }
    assert.equal(await app.count("social_accounts"), before);
  });

  test("PATCH /social-accounts/{id} replaces them (a new seal, the old session dropped) and makes the account ACTIVE; a disconnected account is 409", async () => {
    const proxy = await startFaultProxy(pds.url);
    const b = await brand();
    let sky;
    let sealedBefore;
    try {
      sky = await bluesky(b, { service: proxy.url });
      // Published once: the sign-in's session is stored with the account; new credentials drop it.
      assert.equal((await settled(b, await createPost(b, [sky], { scheduledFor: inMs(1_000) }))).status, "PUBLISHED");
      const signedIn = await one("SELECT credentials, platform_session FROM social_accounts WHERE id = ?", sky.id);
      assert.ok(signedIn.platform_session, "the sign-in's session is stored");
      const renewed = await app.patch(`/social-accounts/${sky.id}`, { credentials: { identifier: sky.pds.handle, appPassword: sky.pds.appPassword, service: proxy.url } }, { token: b.token });
      assert.equal(renewed.status, 200, renewed.text);
      const renewedRow = await one("SELECT credentials, platform_session FROM social_accounts WHERE id = ?", sky.id);
      assert.notEqual(renewedRow.credentials, signedIn.credentials);
      assert.equal(renewedRow.platform_session, null);
      // Then refused with a 403 (a revoked app password): REVOKED.
      proxy.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", action: faults.status(403, { body: { error: "Forbidden", message: "This app password has been revoked" } }) });
      assert.equal((await settled(b, await createPost(b, [sky], { scheduledFor: inMs(1_000) }))).targets[0].error.code, "ACCOUNT_NEEDS_REAUTH");
      sealedBefore = renewedRow.credentials;
    } finally {
      await proxy.close();
    }
    assert.equal((await app.get(`/social-accounts/${sky.id}`, { token: b.token })).body.status, "REVOKED");
    const res = await app.patch(`/social-accounts/${sky.id}`, { displayName: "Our Bluesky", credentials: { identifier: sky.pds.handle, appPassword: sky.pds.appPassword, service: pds.url } }, { token: b.token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "ACTIVE");
    assert.equal(res.body.displayName, "Our Bluesky");
    assert.equal(res.body.hasCredentials, true);
    const row = await one("SELECT credentials, platform_session FROM social_accounts WHERE id = ?", sky.id);
    assert.notEqual(row.credentials, sealedBefore);
    assert.equal(row.platform_session, null);
    const invalid = await app.patch(`/social-accounts/${sky.id}`, { credentials: { identifier: "x" }, platform: "X" }, { token: b.token });
    assertError(invalid, 400, "VALIDATION_FAILED");
    assert.deepEqual(invalid.body.details.map((d) => d.field).sort(), ["platform"]);
    assert.equal((await app.delete(`/social-accounts/${sky.id}`, { token: b.token })).status, 204);
    const gone = await app.patch(`/social-accounts/${sky.id}`, { handle: "@again" }, { token: b.token });
    assertError(gone, 409, "INVALID_STATE");
    assert.equal(gone.body.currentStatus, "DISCONNECTED");
  });

  test("PATCH /social-accounts/{id} by an EDITOR is 403 ROLE_FORBIDDEN before any storage read", async () => {
    const b = await brand();
    const sky = await bluesky(b);
    const editor = await app.joinAs(b.token, b.ws.id, "EDITOR");
    await app.warm(editor.session, editor.key);
    const before = await one("SELECT * FROM social_accounts WHERE id = ?", sky.id);
    for (const token of [editor.session, editor.key]) {
      const res = await app.patch(`/social-accounts/${sky.id}`, { handle: "@mine" }, { token });
      assertError(res, 403, "ROLE_FORBIDDEN");
      assert.equal(res.timing.d1, undefined);
    }
    assert.deepEqual(await one("SELECT * FROM social_accounts WHERE id = ?", sky.id), before);
  });
});
