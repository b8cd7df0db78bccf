// Posts in the states publishing leaves them in (FAILED, PUBLISHING, PUBLISHED,
// PARTIALLY_PUBLISHED), reached the way production reaches them: a post scheduled a moment
// ahead on a real Mastodon-mock account (scripts/platforms/mastodon.mjs), published by the
// worker's own scheduler (its Durable Object's alarm) and queue consumer, failures coming from
// the platform (a token it refuses: 401) and a PUBLISHING state held by the fault proxy
// (scripts/platforms/fault_proxy.mjs, `faults.hold()`). Nothing is written into D1.
//
//   const platform = await startPublishing(app);      // one mock + one proxy per test file
//   const { post } = await platform.failed(token, wsId);
//   ...
//   await platform.close();
//
// The worker must run the publish queue's consumer (startWorker's default) with
// `PUBLISH_BINDINGS` (loopback platforms allowed, short retries).
import assert from "node:assert/strict";
import { startMastodon } from "../scripts/platforms/mastodon.mjs";
import { startFaultProxy, faults } from "../scripts/platforms/fault_proxy.mjs";
import { unique } from "./helpers.mjs";

/** Worker vars for publishing to loopback test platforms, with retries a test can wait for. */
export const PUBLISH_BINDINGS = {
  OUTBOUND_ALLOW_LOOPBACK: "1",
  PUBLISH_RETRY_BASE_S: "1",
  PUBLISH_RETRY_CAP_S: "2",
};

/** The statuses a post settles in. */
export const SETTLED = ["PUBLISHED", "PARTIALLY_PUBLISHED", "FAILED"];

/** Polls `probe` until it returns something truthy (no fixed sleeps); fails after `timeoutMs`. */
export async function until(what, probe, timeoutMs = 45_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

/** An ISO time `ms` from now: a post due in a moment (scheduledFor must be in the future). */
export const soon = (ms = 800) => new Date(Date.now() + ms).toISOString();

/**
 * The Mastodon mock and a fault proxy in front of it, for the worker `app`. One per test file.
 */
export async function startPublishing(app) {
  const masto = await startMastodon();
  const proxy = await startFaultProxy(masto.url);
  // No PDS behind this proxy: it answers Bluesky's sign-in itself, as a PDS answers a wrong
  // app password (see `refused`).
  proxy.add({
    method: "POST",
    path: "/xrpc/com.atproto.server.createSession",
    action: faults.status(401, { body: { error: "AuthenticationRequired", message: "Invalid identifier or password" } }),
  });
  return new Publishing(app, masto, proxy);
}

export class Publishing {
  constructor(app, masto, proxy) {
    this.app = app;
    this.masto = masto;
    this.proxy = proxy;
  }

  close() {
    return Promise.all([this.proxy.close(), this.masto.close()]);
  }

  /**
   * A MASTODON account on its own mock account, whose posts the mock accepts: registered in
   * `at` (a workspace id) or, when `at` is an existing MASTODON account (a workspace has one
   * live account per platform), given these credentials by `PATCH /social-accounts/{id}`.
   * `proxied`: reached through the fault proxy (for `publishing`). Returns the API's account
   * with `mock` ({ id, username, token }).
   */
  async mastodon(token, at, { proxied = false, refused = false } = {}) {
    const mock = await this.masto.createAccount();
    const credentials = { instanceUrl: proxied ? this.proxy.url : this.masto.url, accessToken: refused ? `refused-${unique("t")}` : mock.token };
    const account = await this.credential(token, at, "MASTODON", `@${mock.username}`, credentials);
    return { ...account, mock };
  }

  /**
   * An account whose posts the platform refuses with 401 (ACCOUNT_NEEDS_REAUTH; the account
   * becomes TOKEN_EXPIRED): `at` a workspace id (a new MASTODON account with a token the mock
   * does not know) or an existing account. An existing MASTODON account gets such a token; an
   * existing BLUESKY one gets an app password that its service refuses: the fault proxy stands
   * in for the PDS there and answers `createSession` 401 `AuthenticationRequired`, as the PDS
   * answers a wrong app password.
   */
  async refused(token, at) {
    if (typeof at === "string" || at.platform === "MASTODON") return this.mastodon(token, at, { refused: true });
    assert.equal(at.platform, "BLUESKY");
    const credentials = { identifier: `${unique("r")}.test`, appPassword: "wrong-app-password", service: this.proxy.url };
    return { ...(await this.credential(token, at, "BLUESKY", at.handle, credentials)), mock: null };
  }

  /** Registers (`at` a workspace id) or re-credentials (`at` an account) an account. */
  async credential(token, at, platform, handle, credentials) {
    const res = typeof at === "string"
      ? await this.app.post("/social-accounts", { workspaceId: at, platform, handle, credentials }, { token })
      : await this.app.patch(`/social-accounts/${at.id}`, { credentials }, { token });
    assert.equal(res.status, typeof at === "string" ? 201 : 200, res.text);
    assert.equal(res.body.platform, platform);
    return res.body;
  }

  /** Gives a refused MASTODON account a token the mock accepts (it is ACTIVE again). */
  async repair(token, account) {
    const repaired = await this.mastodon(token, account);
    assert.equal(repaired.status, "ACTIVE");
    return repaired;
  }

  /** A post on `accounts`, due in a moment (201 asserted). */
  async schedule(token, accounts, extra = {}) {
    const res = await this.app.post("/posts", { content: unique("Post "), targets: accounts.map((a) => ({ accountId: a.id })), scheduledFor: soon(), ...extra }, { token });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  /** The post as the API shows it once its status is one of `statuses` (by default: settled). */
  async reached(token, postId, statuses = SETTLED) {
    return until(`post ${postId} to reach ${statuses.join("|")}`, async () => {
      const res = await this.app.get(`/posts/${postId}`, { token });
      assert.equal(res.status, 200, res.text);
      return statuses.includes(res.body.status) && res.body;
    });
  }

  /** The statuses the mock holds for a MASTODON account (what was really published). */
  statuses(account) {
    return this.masto.statuses({ token: account.mock.token });
  }

  /** A post published on a MASTODON account (`at`: see `mastodon`): `{ post, account }`. */
  async published(token, at) {
    const account = await this.mastodon(token, at);
    const made = await this.schedule(token, [account]);
    const post = await this.reached(token, made.id);
    assert.equal(post.status, "PUBLISHED", JSON.stringify(post));
    return { post, account };
  }

  /**
   * A post the platforms refused: one target per entry of `at` (see `refused`), each failed
   * with 401 (FAILED, `ACCOUNT_NEEDS_REAUTH`). Returns `{ post, accounts }`.
   */
  async failed(token, ...at) {
    const accounts = [];
    for (const where of at) accounts.push(await this.refused(token, where));
    const made = await this.schedule(token, accounts);
    const post = await this.reached(token, made.id);
    assert.equal(post.status, "FAILED", JSON.stringify(post));
    assert.deepEqual(post.targets.map((t) => [t.status, t.error?.code]), accounts.map(() => ["FAILED", "ACCOUNT_NEEDS_REAUTH"]));
    return { post, accounts };
  }

  /**
   * One target published (MASTODON, `okAt`), one refused (`refusedAt`, a BLUESKY account, see
   * `refused`): `{ post (PARTIALLY_PUBLISHED), ok, refused }`, targets in that order. `extra`:
   * more of the post's body (its `content`, say).
   */
  async partiallyPublished(token, okAt, refusedAt, extra = {}) {
    const ok = await this.mastodon(token, okAt);
    const refused = await this.refused(token, refusedAt);
    const made = await this.schedule(token, [ok, refused], extra);
    const post = await this.reached(token, made.id);
    assert.equal(post.status, "PARTIALLY_PUBLISHED", JSON.stringify(post));
    assert.deepEqual(post.targets.map((t) => t.status), ["PUBLISHED", "FAILED"]);
    return { post, ok, refused };
  }

  /**
   * A post caught PUBLISHING on a MASTODON account (`at`: see `mastodon`): its target claimed
   * and its status request on the mock, whose answer the fault proxy holds until `release()`.
   * `refusedToo` (see `refused`) adds a first target that the platform refuses, which fails
   * meanwhile (a PUBLISHING post with a FAILED target). Returns `{ post (as the API shows it
   * while held), account, release }`; `release()` lets the answer through and resolves with
   * the settled post, so the worker's queue (one batch at a time in Miniflare) moves on.
   * Release it in a `finally`.
   */
  async publishing(token, at, { refusedToo } = {}) {
    const account = await this.mastodon(token, at, { proxied: true });
    const others = refusedToo ? [await this.refused(token, refusedToo)] : [];
    const bearer = `Bearer ${account.mock.token}`;
    const rule = this.proxy.add({
      method: "POST",
      path: (path, req) => path.split("?")[0] === "/api/v1/statuses" && req.headers.authorization === bearer,
      times: 1,
      action: faults.hold(),
    });
    let made;
    const release = async () => {
      rule.action.release();
      return made && this.reached(token, made.id);
    };
    try {
      made = await this.schedule(token, [...others, account]);
      await this.proxy.waitFor((log) => log.some((e) => e.rule === rule.id), { timeoutMs: 45_000 });
      const post = await until("the post to be PUBLISHING with its other targets settled", async () => {
        const res = await this.app.get(`/posts/${made.id}`, { token });
        assert.equal(res.status, 200, res.text);
        return res.body.status === "PUBLISHING" && res.body.targets.slice(0, -1).every((t) => t.status === "FAILED") && res.body;
      });
      return { post, account, release };
    } catch (e) {
      rule.action.release();
      throw e;
    }
  }
}
