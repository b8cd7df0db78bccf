// Webhooks (issue 13): endpoints managed by sessions only, deliveries signed by the Standard
// Webhooks spec and verified on arrival by the reference library (npm `standardwebhooks`), sent
// through the webhook Queue with retries, logged, and disabled by a 410. The receiver is a real
// HTTP server on loopback (the worker may reach it because the suite sets
// OUTBOUND_ALLOW_LOOPBACK=1); the retry schedule runs 1000 times faster
// (WEBHOOK_RETRY_SPEEDUP, a setting production ignores), so the first retries come within a
// second or so (5 ms, 30 ms, 120 ms, 600 ms, then 3.6 s; the Queue's delays are whole seconds)
// rather than minutes.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { startWorker, assertError, assertNoD1, unique, ghostId } from "./helpers.mjs";
import { startPds } from "../scripts/platforms/pds.mjs";

/** Polls `check` until it returns a truthy value (returned), or fails after `ms`. */
async function eventually(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A webhook receiver on 127.0.0.1. Each endpoint is a path `/hooks/<name>` with a plan (the
 * statuses to answer, in order; the last one repeats) and the secrets it trusts; every request
 * is recorded with the verdict of `standardwebhooks` for each trusted secret at arrival.
 */
class Receiver {
  constructor() {
    this.requests = [];
    this.plans = new Map();
    this.trusted = new Map();
    this.hanging = [];
  }

  /** Answers the requests `name` left hanging, with `status`. */
  release(name, status = 200) {
    for (const h of this.hanging.filter((x) => x.name === name)) h.res.writeHead(status).end("released");
    this.hanging = this.hanging.filter((x) => x.name !== name);
  }

  async start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const name = req.url.replace(/^\/hooks\//, "");
        const body = Buffer.concat(chunks).toString("utf8");
        const verified = (this.trusted.get(name) ?? []).map((secret) => {
          try {
            new Webhook(secret).verify(body, req.headers);
            return true;
          } catch {
            return false;
          }
        });
        const seen = this.requests.filter((r) => r.name === name).length;
        const plan = this.plans.get(name) ?? [200];
        const step = plan[Math.min(seen, plan.length - 1)];
        this.requests.push({ name, method: req.method, headers: req.headers, body, verified, at: Date.now() });
        if (step === "hang") {
          // No answer until `release` (or ever): the worker's 10 s deadline must cut it.
          this.hanging.push({ name, res });
          return;
        }
        res.writeHead(step, { "Content-Type": "text/plain" });
        res.end(`answer ${seen + 1}: ${step}`);
      });
    });
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
  }

  stop() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }

  /** A fresh endpoint path answering with `plan`. */
  endpoint(plan = [200]) {
    const name = unique("hook");
    this.plans.set(name, plan);
    return { name, url: `http://127.0.0.1:${this.port}/hooks/${name}` };
  }

  trust(name, ...secrets) {
    this.trusted.set(name, secrets);
  }

  received(name) {
    return this.requests.filter((r) => r.name === name);
  }
}

const receiver = new Receiver();
let app;
let p;
before(async () => {
  await receiver.start();
  app = await startWorker({ bindings: { OUTBOUND_ALLOW_LOOPBACK: "1", WEBHOOK_RETRY_SPEEDUP: "1000" } });
  p = await app.personas();
});
after(async () => {
  await app.dispose();
  await receiver.stop();
});

/** An endpoint on the receiver, registered by the owner in ws1, its secret trusted. */
async function registered(plan = [200], events = ["post.published"], ws = p.ws1.id) {
  const ep = receiver.endpoint(plan);
  const hook = await app.createWebhook(p.session, ws, ep.url, events);
  receiver.trust(ep.name, hook.secret);
  return { ...ep, hook };
}

async function deliveries(hookId, query = "") {
  const res = await app.get(`/webhooks/${hookId}/deliveries${query}`, { token: p.session });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** The delivery once it has settled (DELIVERED or FAILED). */
function settled(hookId, deliveryId) {
  return eventually(`delivery ${deliveryId} to settle`, async () => {
    const d = (await deliveries(hookId)).find((x) => x.id === deliveryId);
    return d && d.status !== "PENDING" ? d : null;
  });
}

async function sendTest(hookId) {
  const res = await app.post(`/webhooks/${hookId}/test`, undefined, { token: p.session });
  assert.equal(res.status, 202, res.text);
  return res.body;
}

/** Writes outbox rows as the publisher does (migration 0006's `events`). */
async function emit(wsId, type, data) {
  const id = unique("evt_");
  await app.db
    .prepare("INSERT INTO events (id, workspace_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)")
    .bind(id, wsId, type, JSON.stringify(data), new Date().toISOString())
    .run();
  return id;
}

describe("managing endpoints", () => {
  test("create answers 201 with a whsec_ secret once; reads and lists never show it", async () => {
    const res = await app.post(
      "/webhooks",
      { workspaceId: p.ws1.id, url: "https://hooks.example.com/a", events: ["post.failed", "post.published", "post.failed"], description: "CRM" },
      { token: p.session },
    );
    assert.equal(res.status, 201, res.text);
    const hook = res.body;
    assert.match(hook.id, /^wh_[0-9A-Za-z]{32}$/);
    assert.equal(hook.id.slice(3, 19), p.ws1.id.slice(3));
    assert.match(hook.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(hook.secret.slice(6), "base64").length, 32);
    assert.deepEqual(hook.events, ["post.published", "post.failed"]);
    assert.equal(hook.enabled, true);
    assert.equal(hook.disabledReason, null);
    assert.equal(res.headers.get("location"), `/api/v1/webhooks/${hook.id}`);

    const got = await app.get(`/webhooks/${hook.id}`, { token: p.session });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.secret, undefined);
    assert.ok(!got.text.includes(hook.secret.slice(6)));
    const list = await app.get(`/webhooks?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.body.some((w) => w.id === hook.id));
    assert.ok(!list.text.includes("whsec_"));
    // At rest the secret is sealed, not written as given.
    const row = await app.db.prepare("SELECT secret FROM webhook_endpoints WHERE id = ?").bind(hook.id).first();
    assert.match(row.secret, /^v1:[0-9a-f]{24}:[0-9a-f]+$/);
    assert.ok(!row.secret.includes(hook.secret.slice(6)));
  });

  test("bodies are validated field by field; Idempotency-Key is refused, as the response holds a secret", async () => {
    const bad = await app.post("/webhooks", { workspaceId: p.ws1.id, events: [], extra: 1 }, { token: p.session });
    assertError(bad, 400, "VALIDATION_FAILED");
    assert.deepEqual(bad.body.details.map((d) => d.field).sort(), ["extra", "url"]);
    for (const events of [["webhook.test"], ["post.deleted"], "post.published", [], null]) {
      const res = await app.post("/webhooks", { workspaceId: p.ws1.id, url: "https://hooks.example.com/x", events }, { token: p.session });
      assertError(res, 400, "VALIDATION_FAILED");
      assert.ok(res.body.details.every((d) => d.field.startsWith("events")), res.text);
    }
    const none = await app.post("/webhooks", { url: "https://hooks.example.com/x", events: ["post.failed"] }, { token: p.session });
    assertError(none, 400, "WORKSPACE_REQUIRED");
    const before = await app.count("webhook_endpoints");
    const keyed = await app.post(
      "/webhooks",
      { workspaceId: p.ws1.id, url: "https://hooks.example.com/x", events: ["post.failed"] },
      { token: p.session, headers: { "Idempotency-Key": "k1" } },
    );
    assertError(keyed, 400, "VALIDATION_FAILED");
    assert.equal(keyed.body.details[0].field, "Idempotency-Key");
    assert.equal(await app.count("webhook_endpoints"), before);
  });

  test("private, loopback, link-local and metadata URLs are refused in every spelling, and nothing is stored", async () => {
    const before = await app.count("webhook_endpoints");
    for (const url of [
      "http://10.0.0.7/hook",
      "http://192.168.1.1/hook",
      "http://172.16.0.1/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://2852039166/", // 169.254.169.254 as one decimal number
      "http://0xa9.0xfe.0xa9.0xfe/", // … in hex
      "http://0251.0376.0251.0376/", // … in octal
      "http://[::ffff:169.254.169.254]/",
      "http://[fd00::1]/",
      "http://[fe80::1]/",
      "http://[::1]:8080/",
      "http://127.0.0.2/",
      "http://100.64.0.1/",
      "http://metadata.google.internal/computeMetadata/v1/",
      "http://intranet/",
      "https://user:pass@hooks.example.com/",
      "https://hooks.example.com:8443/",
      "ftp://hooks.example.com/",
      "not a url",
    ]) {
      const res = await app.post("/webhooks", { workspaceId: p.ws1.id, url, events: ["post.published"] }, { token: p.session });
      assertError(res, 400, "URL_NOT_ALLOWED");
    }
    assert.equal(await app.count("webhook_endpoints"), before);
    // PATCH guards the URL the same way.
    const hook = await app.createWebhook(p.session, p.ws1.id, "https://hooks.example.com/ok");
    const patched = await app.patch(`/webhooks/${hook.id}`, { url: "http://169.254.169.254/" }, { token: p.session });
    assertError(patched, 400, "URL_NOT_ALLOWED");
    assert.equal((await app.get(`/webhooks/${hook.id}`, { token: p.session })).body.url, "https://hooks.example.com/ok");
  });

  test("PATCH changes url, events, description and enabled; DELETE removes the endpoint and its deliveries", async () => {
    const { hook } = await registered();
    const d = await sendTest(hook.id);
    await settled(hook.id, d.id);
    const res = await app.patch(
      `/webhooks/${hook.id}`,
      { url: "https://hooks.example.com/moved", events: ["social_account.needs_reauth"], description: "moved" },
      { token: p.session },
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.url, "https://hooks.example.com/moved");
    assert.deepEqual(res.body.events, ["social_account.needs_reauth"]);
    assert.equal(res.body.description, "moved");
    const off = await app.patch(`/webhooks/${hook.id}`, { enabled: false }, { token: p.session });
    assert.equal(off.body.enabled, false);
    assert.equal(off.body.disabledReason, "MANUAL");
    assertError(await app.post(`/webhooks/${hook.id}/test`, undefined, { token: p.session }), 409, "INVALID_STATE");
    const on = await app.patch(`/webhooks/${hook.id}`, { enabled: true }, { token: p.session });
    assert.equal(on.body.enabled, true);
    assert.equal(on.body.disabledReason, null);
    assertError(await app.patch(`/webhooks/${hook.id}`, { events: [] }, { token: p.session }), 400, "VALIDATION_FAILED");
    assertError(await app.patch(`/webhooks/${hook.id}`, { secret: "x" }, { token: p.session }), 400, "VALIDATION_FAILED");

    const del = await app.delete(`/webhooks/${hook.id}`, { token: p.session });
    assert.equal(del.status, 204, del.text);
    assertError(await app.get(`/webhooks/${hook.id}`, { token: p.session }), 404, "NOT_FOUND");
    assertError(await app.get(`/webhooks/${hook.id}/deliveries`, { token: p.session }), 404, "NOT_FOUND");
    assertError(await app.delete(`/webhooks/${hook.id}`, { token: p.session }), 404, "NOT_FOUND");
    assert.equal(await app.count("webhook_deliveries", "endpoint_id = ?", hook.id), 0);
    assert.equal(await app.count("webhook_attempts", "delivery_id = ?", d.id), 0);
  });

  test("lists are paged newest first with a cursor", async () => {
    const ws = await app.createWorkspace(p.session);
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await app.createWebhook(p.session, ws.id, `https://hooks.example.com/${i}`)).id);
    const first = await app.get(`/webhooks?workspaceId=${ws.id}&limit=2`, { token: p.session });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.map((w) => w.id), [made[2], made[1]]);
    const next = first.headers.get("link").match(/<([^>]+)>/)[1];
    const second = await app.get(next, { token: p.session });
    assert.deepEqual(second.body.map((w) => w.id), [made[0]]);
    assert.equal(second.headers.get("link"), null);
    assertError(await app.get("/webhooks", { token: p.session }), 400, "WORKSPACE_REQUIRED");
  });
});

describe("who may manage webhooks", () => {
  test("API keys get 403 SESSION_REQUIRED on every route, decided before any storage read", async () => {
    const hook = await app.createWebhook(p.session, p.ws1.id, "https://hooks.example.com/keys");
    await app.warm(p.fullKey, p.scopedKey);
    const before = await app.count("webhook_endpoints");
    const msg = ghostId("msg_", p.ws1.id);
    for (const token of [p.fullKey, p.scopedKey]) {
      for (const [method, path, body] of [
        ["GET", `/webhooks?workspaceId=${p.ws1.id}`],
        ["POST", "/webhooks", { workspaceId: p.ws1.id, url: "https://hooks.example.com/k", events: ["post.failed"] }],
        ["POST", "/webhooks", "{not json"],
        ["GET", `/webhooks/${hook.id}`],
        ["PATCH", `/webhooks/${hook.id}`, { enabled: false }],
        ["DELETE", `/webhooks/${hook.id}`],
        ["POST", `/webhooks/${hook.id}/rotate-secret`],
        ["POST", `/webhooks/${hook.id}/test`],
        ["GET", `/webhooks/${hook.id}/deliveries`],
        ["POST", `/webhooks/${hook.id}/deliveries/${msg}/redeliver`],
      ]) {
        const res = await app.request(method, path, { token, body });
        assertError(res, 403, "SESSION_REQUIRED");
        assertNoD1(res);
      }
    }
    assert.equal(await app.count("webhook_endpoints"), before);
    assert.equal((await app.get(`/webhooks/${hook.id}`, { token: p.session })).body.enabled, true);
  });

  test("members below ADMIN get 403 ROLE_FORBIDDEN; an ADMIN may manage", async () => {
    const hook = await app.createWebhook(p.session, p.ws1.id, "https://hooks.example.com/roles");
    for (const role of ["EDITOR", "MEMBER", "CLIENT_REVIEWER"]) {
      const m = await app.joinAs(p.session, p.ws1.id, role);
      await app.warm(m.session);
      for (const res of [
        await app.get(`/webhooks?workspaceId=${p.ws1.id}`, { token: m.session }),
        await app.get(`/webhooks/${hook.id}`, { token: m.session }),
        await app.post("/webhooks", { workspaceId: p.ws1.id, url: "https://hooks.example.com/r", events: ["post.failed"] }, { token: m.session }),
      ]) {
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoD1(res);
      }
    }
    const admin = await app.joinAs(p.session, p.ws1.id, "ADMIN");
    assert.equal((await app.get(`/webhooks/${hook.id}`, { token: admin.session })).status, 200);
  });
});

describe("delivery", () => {
  test("a receiver failing twice gets the same webhook-id three times, then success, all in the delivery log", async () => {
    const { name, hook } = await registered([500, 503, 200]);
    const queued = await sendTest(hook.id);
    assert.match(queued.id, /^msg_[0-9A-Za-z]{32}$/);
    assert.equal(queued.status, "PENDING");
    assert.equal(queued.eventType, "webhook.test");
    const done = await settled(hook.id, queued.id);
    assert.equal(done.status, "DELIVERED");
    assert.equal(done.attempts, 3);
    assert.equal(done.lastResponseStatus, 200);
    assert.equal(done.nextAttemptAt, null);
    assert.deepEqual(done.attemptLog.map((a) => [a.attempt, a.responseStatus, a.responseBody]), [
      [1, 500, "answer 1: 500"],
      [2, 503, "answer 2: 503"],
      [3, 200, "answer 3: 200"],
    ]);
    for (const a of done.attemptLog) assert.ok(Number.isInteger(a.durationMs) && a.durationMs >= 0);

    const got = receiver.received(name);
    assert.equal(got.length, 3);
    for (const r of got) {
      assert.equal(r.method, "POST");
      assert.equal(r.headers["webhook-id"], queued.id);
      assert.equal(r.headers["content-type"], "application/json");
      assert.deepEqual(r.verified, [true], "standardwebhooks verifies every attempt");
      const body = JSON.parse(r.body);
      assert.equal(body.type, "webhook.test");
      assert.deepEqual(body.data, { webhookId: hook.id, workspaceId: p.ws1.id });
      assert.equal(r.body, got[0].body, "the body is the same on every attempt");
    }
    // Retries waited: the schedule's first two delays, sped up, took a queue leg each.
    assert.ok(got[1].at > got[0].at && got[2].at > got[1].at);
    // The endpoint is healthy again.
    const row = await app.db.prepare("SELECT failing_since FROM webhook_endpoints WHERE id = ?").bind(hook.id).first();
    assert.equal(row.failing_since, null);
  });

  test("a 410 Gone disables the endpoint at once, and its pending deliveries fail with it", async () => {
    const { name, hook } = await registered([500, 500, 500, 500, 500, 410]);
    // The first delivery fails five times; its next attempt is an hour away (3.6 s here)…
    const waiting = await sendTest(hook.id);
    await eventually("five failures", async () => (await deliveries(hook.id)).find((d) => d.id === waiting.id).attempts === 5);
    // …while the second meets the 410.
    const gone = await sendTest(hook.id);
    const ep = await eventually("the endpoint to be disabled", async () => {
      const h = (await app.get(`/webhooks/${hook.id}`, { token: p.session })).body;
      return h.enabled ? null : h;
    });
    assert.equal(ep.disabledReason, "GONE");
    const both = await eventually("both deliveries to settle", async () => {
      const list = await deliveries(hook.id);
      return list.every((d) => d.status !== "PENDING") && list;
    });
    assert.deepEqual(both.map((d) => d.status), ["FAILED", "FAILED"]);
    // Whichever request came second got the 410; the other delivery failed with the endpoint.
    const by410 = both.find((d) => d.lastResponseStatus === 410);
    const other = both.find((d) => d !== by410);
    assert.ok(by410, JSON.stringify(both));
    assert.equal(other.lastError, "endpoint disabled");
    assert.equal(receiver.received(name).length, 6, "nothing is sent after the 410");
    assert.ok([waiting.id, gone.id].includes(by410.id));

    const again = await app.post(`/webhooks/${hook.id}/test`, undefined, { token: p.session });
    assertError(again, 409, "INVALID_STATE");
    assert.equal(again.body.currentStatus, "DISABLED");
    const redo = await app.post(`/webhooks/${hook.id}/deliveries/${by410.id}/redeliver`, undefined, { token: p.session });
    assertError(redo, 409, "INVALID_STATE");
    assert.equal(redo.body.currentStatus, "DISABLED");
    // Outbox events skip a disabled endpoint.
    await emit(p.ws1.id, "post.published", { id: "post_x" });
    await app.cron();
    assert.equal((await deliveries(hook.id)).length, 2);
  });

  test("rotation: for the overlap every delivery verifies with the old secret and with the new one", async () => {
    const { name, hook } = await registered([200]);
    const first = await sendTest(hook.id);
    await settled(hook.id, first.id);
    assert.equal(receiver.received(name)[0].headers["webhook-signature"].split(" ").length, 1);

    const rotated = await app.post(`/webhooks/${hook.id}/rotate-secret`, undefined, { token: p.session });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh = rotated.body.secret;
    assert.match(fresh, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(fresh, hook.secret);
    const overlap = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
    assert.ok(overlap > 23.9 * 3600e3 && overlap <= 24 * 3600e3, `${overlap} ms`);
    assert.equal((await app.get(`/webhooks/${hook.id}`, { token: p.session })).body.secret, undefined);

    receiver.trust(name, hook.secret, fresh);
    const second = await sendTest(hook.id);
    await settled(hook.id, second.id);
    const r = receiver.received(name).find((x) => x.headers["webhook-id"] === second.id);
    assert.deepEqual(r.verified, [true, true], "the old and the new secret both verify");
    const sigs = r.headers["webhook-signature"].split(" ");
    assert.equal(sigs.length, 2);
    assert.ok(sigs.every((s) => s.startsWith("v1,")));
    // Each secret alone verifies exactly one of the two signatures.
    for (const secret of [hook.secret, fresh]) {
      const wh = new Webhook(secret);
      const alone = sigs.filter((s) => {
        try {
          wh.verify(r.body, { ...r.headers, "webhook-signature": s });
          return true;
        } catch {
          return false;
        }
      });
      assert.equal(alone.length, 1);
    }
    // A second rotation ends the first secret's overlap at once.
    const again = await app.post(`/webhooks/${hook.id}/rotate-secret`, undefined, { token: p.session });
    receiver.trust(name, hook.secret, fresh, again.body.secret);
    const third = await sendTest(hook.id);
    await settled(hook.id, third.id);
    const last = receiver.received(name).find((x) => x.headers["webhook-id"] === third.id);
    assert.deepEqual(last.verified, [false, true, true]);
  });

  test("redeliver restarts a finished delivery under the same webhook-id; a pending one is 409", async () => {
    const { name, hook } = await registered([200]);
    const queued = await sendTest(hook.id);
    await settled(hook.id, queued.id);
    const res = await app.post(`/webhooks/${hook.id}/deliveries/${queued.id}/redeliver`, undefined, { token: p.session });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.id, queued.id);
    assert.equal(res.body.status, "PENDING");
    const done = await eventually("the redelivery", async () => {
      const d = (await deliveries(hook.id)).find((x) => x.id === queued.id);
      return d.status === "DELIVERED" && d.attempts === 2 ? d : null;
    });
    assert.deepEqual(done.attemptLog.map((a) => a.attempt), [1, 2]);
    const got = receiver.received(name);
    assert.deepEqual(got.map((r) => r.headers["webhook-id"]), [queued.id, queued.id]);
    assert.ok(got.every((r) => r.verified[0]));

    const hanging = await registered(["hang"]);
    const pending = await sendTest(hanging.hook.id);
    await eventually("the hanging attempt", () => receiver.received(hanging.name).length === 1);
    const busy = await app.post(`/webhooks/${hanging.hook.id}/deliveries/${pending.id}/redeliver`, undefined, { token: p.session });
    assertError(busy, 409, "INVALID_STATE");
    assert.equal(busy.body.currentStatus, "PENDING");
    for (const other of [ghostId("msg_", p.ws1.id), ghostId("msg_", p.ws2.id), "msg_nope", queued.id]) {
      const res = await app.post(`/webhooks/${hanging.hook.id}/deliveries/${other}/redeliver`, undefined, { token: p.session });
      assertError(res, 404, "NOT_FOUND");
    }
    receiver.release(hanging.name);
    assert.equal((await settled(hanging.hook.id, pending.id)).status, "DELIVERED");
    // It would hang on every later event of the workspace.
    assert.equal((await app.delete(`/webhooks/${hanging.hook.id}`, { token: p.session })).status, 204);
  });

  test("a receiver that never answers is cut off after 10 s; the other endpoints of the event do not wait for it", async () => {
    // A workspace of its own, two endpoints on one event: both attempts are announced together
    // and handled concurrently.
    const ws = await app.createWorkspace(p.session);
    const slow = await registered(["hang", 200], ["post.failed"], ws.id);
    const fast = await registered([200], ["post.failed"], ws.id);
    await emit(ws.id, "post.failed", { id: "post_slow" });
    await app.cron();
    const got = await eventually("the fast delivery", () => receiver.received(fast.name)[0]);
    assert.deepEqual(got.verified, [true]);
    const [quick] = await deliveries(fast.hook.id);
    assert.equal((await settled(fast.hook.id, quick.id)).status, "DELIVERED");
    assert.equal(receiver.received(slow.name).length, 1, "the slow receiver has its request");
    const [stuck] = await deliveries(slow.hook.id);
    assert.equal(stuck.attempts, 0, "the slow attempt is still running");
    const retried = await eventually("the slow attempt's deadline", async () => {
      const [d] = await deliveries(slow.hook.id);
      return d.attempts >= 1 ? d : null;
    }, 40_000);
    const first = retried.attemptLog[0];
    assert.equal(first.responseStatus, null);
    assert.match(first.error, /did not answer in time/);
    assert.ok(first.durationMs >= 9_900 && first.durationMs < 15_000, `${first.durationMs} ms`);
    const done = await settled(slow.hook.id, stuck.id);
    assert.equal(done.status, "DELIVERED");
    assert.equal(done.attempts, 2);
    assert.equal(receiver.received(slow.name)[1].headers["webhook-id"], stuck.id);
    receiver.release(slow.name);
  });
});

describe("a published post", () => {
  let pds;
  before(async () => {
    pds = await startPds();
  });
  after(() => pds?.close());

  test("arrives as post.published and verifies: the publisher's own outbox event, delivered after it settles", async () => {
    const alice = await pds.createAccount({ handle: `${unique("wh").toLowerCase()}.test`, password: "hunter2-long" });
    const ws = await app.createWorkspace(p.session);
    const account = await app.post(
      "/social-accounts",
      {
        workspaceId: ws.id,
        platform: "BLUESKY",
        // Not the identifier: the harness treats every credential field as a secret.
        handle: "@webhook-e2e",
        credentials: { identifier: alice.handle, appPassword: alice.appPassword, service: pds.url },
      },
      { token: p.session },
    );
    assert.equal(account.status, 201, account.text);
    const hook = await registered([200], ["post.published", "post.failed"], ws.id);
    const due = Date.now() + 1500;
    const post = await app.post(
      "/posts",
      { content: "Hello from the webhook test", targets: [{ accountId: account.body.id }], scheduledFor: new Date(due).toISOString() },
      { token: p.session },
    );
    assert.equal(post.status, 201, post.text);
    // The publisher's own scheduler should take it from here; its cron safety net is fired too
    // once the post is due, so this test is about webhooks whatever the scheduler does. The
    // delivery itself follows the publisher's settling batch (it calls the dispatcher).
    await eventually("the post to be due", () => Date.now() > due + 200);
    await app.cron();

    const r = await eventually("the post.published delivery", () => receiver.received(hook.name)[0], 60_000);
    assert.deepEqual(r.verified, [true], "standardwebhooks verifies it");
    const body = JSON.parse(r.body);
    assert.equal(body.type, "post.published");
    assert.equal(body.data.id, post.body.id);
    assert.equal(body.data.status, "PUBLISHED");
    const [target] = body.data.targets;
    assert.equal(target.status, "PUBLISHED");
    // The delivery names what the platform holds.
    const records = await pds.listRecords(alice.did, "app.bsky.feed.post");
    assert.equal(records.length, 1);
    assert.equal(records[0].value.text, "Hello from the webhook test");
    assert.equal(target.platformPostId, records[0].uri);
    const [d] = await deliveries(hook.hook.id);
    assert.equal(d.id, r.headers["webhook-id"]);
    assert.equal(d.eventType, "post.published");
    assert.match(d.eventId, /^evt_/);
  });
});

describe("events from the outbox", () => {
  test("an outbox post.published event reaches every subscribed endpoint of its workspace, once, and verifies", async () => {
    const published = await registered([200], ["post.published"]);
    const failedOnly = await registered([200], ["post.failed"]);
    const elsewhere = await registered([200], ["post.published"], p.ws2.id);
    const data = { id: "post_example", status: "PUBLISHED", targets: [{ platform: "BLUESKY", status: "PUBLISHED", url: "https://bsky.app/profile/x/post/1" }] };
    const eventId = await emit(p.ws1.id, "post.published", data);
    // The publisher calls the dispatcher after its batch and cron runs it too: concurrent runs
    // create each delivery once.
    await Promise.all([app.cron(), app.cron()]);
    const r = await eventually("the post.published delivery", () => receiver.received(published.name)[0]);
    assert.deepEqual(r.verified, [true]);
    const body = JSON.parse(r.body);
    assert.equal(body.type, "post.published");
    assert.deepEqual(body.data, data);
    assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
    const list = await deliveries(published.hook.id);
    assert.equal(list.length, 1);
    assert.equal(list[0].eventId, eventId);
    assert.equal(list[0].id, r.headers["webhook-id"]);
    await settled(published.hook.id, list[0].id);
    await app.cron();
    assert.equal(receiver.received(published.name).length, 1, "dispatched once");
    assert.equal(receiver.received(failedOnly.name).length, 0);
    assert.equal(receiver.received(elsewhere.name).length, 0);
    assert.equal((await deliveries(failedOnly.hook.id)).length, 0);
    const row = await app.db.prepare("SELECT dispatched_at FROM events WHERE id = ?").bind(eventId).first();
    assert.ok(row.dispatched_at);
  });

  test("each event type goes to its subscribers with its own type", async () => {
    const all = await registered([200], ["post.published", "post.partially_published", "post.failed", "social_account.needs_reauth"], p.ws2.id);
    const types = ["post.partially_published", "post.failed", "social_account.needs_reauth"];
    for (const type of types) await emit(p.ws2.id, type, { kind: type });
    await app.cron();
    const got = await eventually("three deliveries", () => receiver.received(all.name).length === 3 && receiver.received(all.name));
    assert.deepEqual(got.map((r) => JSON.parse(r.body).type).sort(), [...types].sort());
    assert.ok(got.every((r) => r.verified[0]));
  });
});

describe("production", () => {
  let prod;
  before(async () => {
    // Production refuses to serve with the development secrets (src/deployment.rs): real-looking ones.
    const secrets = { CREDENTIALS_KEY: "b2".repeat(32), MEDIA_CAPABILITY_SECRET: "a-production-capability-secret-of-32-bytes" };
    prod = await startWorker({ bindings: { ENVIRONMENT: "production", ...secrets, OUTBOUND_ALLOW_LOOPBACK: "1", WEBHOOK_RETRY_SPEEDUP: "1000" } });
  });
  after(() => prod.dispose());

  test("only https endpoints, loopback refused whatever OUTBOUND_ALLOW_LOOPBACK says", async () => {
    const owner = await prod.signup();
    const ws = await prod.createWorkspace(owner.token);
    for (const url of ["http://hooks.example.com/x", `http://127.0.0.1:${receiver.port}/hooks/x`, "https://127.0.0.1/x", "https://localhost/x"]) {
      const res = await prod.post("/webhooks", { workspaceId: ws.id, url, events: ["post.failed"] }, { token: owner.token });
      assertError(res, 400, "URL_NOT_ALLOWED");
    }
    const ok = await prod.post("/webhooks", { workspaceId: ws.id, url: "https://hooks.example.com/x", events: ["post.failed"] }, { token: owner.token });
    assert.equal(ok.status, 201, ok.text);
  });
});

describe("an endpoint failing every attempt for 3 days", () => {
  let fast;
  before(async () => {
    // Ten million times faster: the 3-day window is 26 ms, shorter than one queue leg.
    fast = await startWorker({ bindings: { OUTBOUND_ALLOW_LOOPBACK: "1", WEBHOOK_RETRY_SPEEDUP: "10000000" } });
  });
  after(() => fast.dispose());

  test("is disabled (FAILING) by the first failure past the window, with its pending deliveries", async () => {
    const owner = await fast.signup();
    const ws = await fast.createWorkspace(owner.token);
    const ep = receiver.endpoint([500]);
    const hook = await fast.createWebhook(owner.token, ws.id, ep.url, ["post.failed"]);
    receiver.trust(ep.name, hook.secret);
    // However fast the attempts go, the run of failures outlasts the window within a few test
    // events (each new one fails too, and the run never resets).
    const sent = [];
    const done = await eventually("the endpoint to be disabled", async () => {
      const h = (await fast.get(`/webhooks/${hook.id}`, { token: owner.token })).body;
      if (!h.enabled) return h;
      const res = await fast.post(`/webhooks/${hook.id}/test`, undefined, { token: owner.token });
      if (res.status === 202) sent.push(res.body.id);
      return null;
    });
    assert.equal(done.disabledReason, "FAILING");
    const list = (await fast.get(`/webhooks/${hook.id}/deliveries`, { token: owner.token })).body;
    assert.deepEqual(list.map((d) => d.id).sort(), [...sent].sort());
    const settledAll = await eventually("every delivery to settle", async () => {
      const now = (await fast.get(`/webhooks/${hook.id}/deliveries`, { token: owner.token })).body;
      return now.every((d) => d.status !== "PENDING") && now;
    });
    assert.ok(settledAll.every((d) => d.status === "FAILED"));
    // The last attempt was the one past the window; the row keeps when the run began.
    const row = await fast.db.prepare("SELECT failing_since FROM webhook_endpoints WHERE id = ?").bind(hook.id).first();
    assert.ok(row.failing_since);
    assert.ok(receiver.received(ep.name).length >= 2);
    assert.ok(receiver.received(ep.name).every((r) => r.verified[0]));
  });
});
