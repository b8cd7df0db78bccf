// The fault run (issue 10): 300 targets over both platforms — a real Bluesky PDS and the
// Mastodon mock — each behind the fault proxy, which injects 500s, 429 with Retry-After,
// connection resets, answers slower than the publisher's timeout, and "done, answer lost".
// However the faults fall (seeded: the same run every time), it must end with no duplicate on
// either platform, every target PUBLISHED or FAILED with a code (and a FAILED target nowhere
// on its platform), and none left PUBLISHING after the cron's sweep.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startWorker } from "./helpers.mjs";
import { startPds } from "../scripts/platforms/pds.mjs";
import { startMastodon } from "../scripts/platforms/mastodon.mjs";
import { startFaultProxy, faults } from "../scripts/platforms/fault_proxy.mjs";

const WORKSPACES = 30;
const POSTS_PER_WORKSPACE = 5; // × 2 targets = 300 targets
const POST = "app.bsky.feed.post";

let app;
let pds;
let masto;
let skyProxy;
let mastoProxy;
before(async () => {
  [app, pds, masto] = await Promise.all([
    startWorker({
      bindings: {
        OUTBOUND_ALLOW_LOOPBACK: "1",
        PUBLISH_RETRY_BASE_S: "1",
        PUBLISH_RETRY_CAP_S: "2",
        // Answers held 2.5 s by the proxy come after this: the publisher gives up on them.
        PUBLISH_CALL_TIMEOUT_MS: "1500",
      },
    }),
    startPds(),
    startMastodon(),
  ]);
  [skyProxy, mastoProxy] = await Promise.all([startFaultProxy(pds.url, { seed: 10 }), startFaultProxy(masto.url, { seed: 11 })]);
  // The request that creates the post gets every fault; the others (sign-in, uploads, reads)
  // the ones that leave nothing behind. Each draw is independent, from the proxy's seed.
  const creating = (proxy, path) => {
    proxy.add({ method: "POST", path, probability: 0.06, action: faults.lostAnswer(), name: "lost answer" });
    proxy.add({ method: "POST", path, probability: 0.05, action: faults.status(500), name: "500" });
    proxy.add({ method: "POST", path, probability: 0.04, action: faults.rateLimit(1), name: "429" });
    proxy.add({ method: "POST", path, probability: 0.03, action: faults.reset(), name: "reset" });
    proxy.add({ method: "POST", path, probability: 0.03, action: faults.delay(2_500), name: "slow" });
  };
  creating(skyProxy, "/xrpc/com.atproto.repo.createRecord");
  creating(mastoProxy, "/api/v1/statuses");
  for (const proxy of [skyProxy, mastoProxy]) {
    proxy.add({ probability: 0.03, action: faults.status(500), name: "500 elsewhere" });
    proxy.add({ probability: 0.02, action: faults.reset(), name: "reset elsewhere" });
    proxy.add({ probability: 0.02, action: faults.rateLimit(1), name: "429 elsewhere" });
  }
});
after(async () => {
  await Promise.all([app?.dispose(), pds?.close(), masto?.close(), skyProxy?.close(), mastoProxy?.close()]);
});

const all = async (sql, ...args) => (await app.db.prepare(sql).bind(...args).all()).results;

test("300 targets through injected faults: no duplicate, every target PUBLISHED or FAILED with a code, none left PUBLISHING", { timeout: 240_000 }, async () => {
  const started = Date.now();
  const owner = await app.signup();
  const token = owner.token;
  const brands = [];
  for (let w = 0; w < WORKSPACES; w++) {
    const ws = await app.createWorkspace(token, { name: `Fault brand ${w} ${crypto.randomBytes(3).toString("hex")}` });
    const handle = `f${process.pid.toString(36)}w${w}${crypto.randomBytes(2).toString("hex")}.test`;
    const acct = await pds.createAccount({ handle, password: "account-password-123" });
    const mock = await masto.createAccount();
    const reg = async (body) => {
      const res = await app.post("/social-accounts", { workspaceId: ws.id, ...body }, { token });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const sky = await reg({ platform: "BLUESKY", handle, credentials: { identifier: handle, appPassword: acct.appPassword, service: skyProxy.url } });
    const mast = await reg({ platform: "MASTODON", handle: `@${mock.username}`, credentials: { instanceUrl: mastoProxy.url, accessToken: mock.token } });
    brands.push({ ws, acct, mock, sky, mast, posts: [] });
  }
  // Every post due within the next few seconds, spread so that they arrive in waves.
  for (let i = 0; i < POSTS_PER_WORKSPACE; i++) {
    for (const [w, b] of brands.entries()) {
      const content = `Fault run post ${w}.${i} #faults https://example.com/${w}/${i}`;
      const at = new Date(Date.now() + 2_000 + ((w * POSTS_PER_WORKSPACE + i) % 20) * 150).toISOString();
      const res = await app.post("/posts", { content, targets: [{ accountId: b.sky.id }, { accountId: b.mast.id }], scheduledFor: at }, { token });
      assert.equal(res.status, 201, res.text);
      b.posts.push(res.body);
    }
  }
  const postIds = brands.flatMap((b) => b.posts.map((p) => p.id));
  assert.equal(postIds.length * 2, 300);

  // Wait for every post to settle (the condition, not a fixed time).
  const open = () => all("SELECT id FROM posts WHERE id IN (SELECT value FROM json_each(?)) AND status NOT IN ('PUBLISHED', 'PARTIALLY_PUBLISHED', 'FAILED')", JSON.stringify(postIds));
  while ((await open()).length > 0) {
    assert.ok(Date.now() - started < 200_000, `still open: ${(await open()).length} posts`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // The sweep finds nothing left behind.
  await app.cron();
  const targets = await all(
    "SELECT t.id, t.status, t.error, t.platform_post_id, t.attempts, a.platform, t.post_id FROM post_targets t JOIN social_accounts a ON a.id = t.account_id WHERE t.post_id IN (SELECT value FROM json_each(?))",
    JSON.stringify(postIds),
  );
  assert.equal(targets.length, 300);
  assert.equal(targets.filter((t) => t.status === "PUBLISHING").length, 0);
  for (const t of targets) {
    assert.ok(["PUBLISHED", "FAILED"].includes(t.status), `${t.id} is ${t.status}`);
    if (t.status === "FAILED") assert.ok(JSON.parse(t.error).code, `${t.id} failed without a code`);
  }

  // No duplicates, and nothing published for a FAILED target: each account has exactly the
  // posts of its PUBLISHED targets, once each.
  const byId = new Map(targets.map((t) => [t.id, t]));
  for (const b of brands) {
    const texts = (posts) => posts.map((p) => p.content);
    const published = (platform) => b.posts.filter((p) => byId.get(p.targets.find((t) => t.platform === platform).id).status === "PUBLISHED");
    const records = await pds.listRecords(b.acct.did, POST);
    assert.deepEqual(records.map((r) => r.value.text).sort(), texts(published("BLUESKY")).sort(), `Bluesky ${b.acct.handle}`);
    const statuses = await masto.statuses({ token: b.mock.token });
    assert.deepEqual(statuses.map((s) => s.text).sort(), texts(published("MASTODON")).sort(), `Mastodon ${b.mock.username}`);
    // Each published target names its own post.
    for (const p of b.posts) {
      const [sky, mast] = p.targets.map((t) => byId.get(t.id));
      if (sky.status === "PUBLISHED") assert.ok(records.some((r) => r.uri === sky.platform_post_id && r.value.text === p.content));
      if (mast.status === "PUBLISHED") assert.ok(statuses.some((s) => s.id === mast.platform_post_id && s.text === p.content));
    }
  }

  // What the run went through (the faults did happen, and were survived).
  const injected = {};
  for (const proxy of [skyProxy, mastoProxy]) {
    for (const r of proxy.log) if (r.action !== "pass") injected[r.action] = (injected[r.action] ?? 0) + 1;
  }
  const outcomes = {};
  for (const a of await all("SELECT outcome FROM publish_attempts WHERE post_id IN (SELECT value FROM json_each(?))", JSON.stringify(postIds))) {
    outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + 1;
  }
  const summary = { seconds: Math.round((Date.now() - started) / 1000), published: targets.filter((t) => t.status === "PUBLISHED").length, failed: targets.filter((t) => t.status === "FAILED").length, injected, attempts: outcomes };
  console.log(`fault run: ${JSON.stringify(summary)}`);
  for (const kind of ["lostAnswer", "status", "rateLimit", "reset", "delay"]) assert.ok(injected[kind] > 0, `no ${kind} fault was injected`);
  assert.ok(outcomes.ALREADY_PUBLISHED > 0 || outcomes.UNKNOWN > 0, "no attempt met an unknown outcome");
});
