// Rate limits (src/ratelimit/): one Durable Object per bucket — all the API keys of a user, all
// the sessions of a user, or the client network (an IPv4 address, an IPv6 /64) for credentials
// not yet resolved at the edge and for the credential-less routes — from which each isolate
// reserves requests in batches (a sixteenth of what is left).
// Keys get RATE_LIMIT_PER_MINUTE per 60 s (5 here) and RATE_LIMIT_PER_15_MINUTES per 900 s;
// sessions and IPs 10 times those. Each section uses its own CF-Connecting-IP, so the IP
// buckets of one section never leak into another.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startWorker, assertError, isolateBase } from "./helpers.mjs";
import { newToken } from "../scripts/keys.mjs";

const PER_MINUTE = 5;
const IP_PER_MINUTE = PER_MINUTE * 10;
const KEY_POLICY = `"burst";q=${PER_MINUTE};w=60, "sustained";q=1000000;w=900`;
const RATELIMIT = /^"(burst|sustained)";r=(\d+);t=(\d+)$/;

let app;
before(async () => {
  app = await startWorker({ bindings: { RATE_LIMIT_PER_MINUTE: String(PER_MINUTE) } });
});
after(() => app.dispose());

let ipCounter = 0;
/** A client address of its own (TEST-NET-3), sent as the edge would. */
function freshIp() {
  ipCounter += 1;
  return { "CF-Connecting-IP": `203.0.113.${ipCounter}` };
}

function remaining(res) {
  const m = RATELIMIT.exec(res.headers.get("ratelimit") ?? "");
  assert.ok(m, `RateLimit header: ${res.headers.get("ratelimit")}`);
  return { window: m[1], r: Number(m[2]), t: Number(m[3]) };
}

describe("per user, over all of their API keys", () => {
  test("the 6th request of a user's keys is 429 RATE_LIMITED with Retry-After, whichever key sends it; another user's key is unaffected", async () => {
    const headers = freshIp();
    const owner = await app.signup();
    const keyA = (await app.mintKey(owner.token, { name: "a" })).key;
    const keyB = (await app.mintKey(owner.token, { name: "b" })).key;
    const stranger = await app.signup();
    const strangerKey = (await app.mintKey(stranger.token, { name: "theirs" })).key;
    const seen = [];
    for (let i = 0; i < PER_MINUTE; i++) {
      // Errors are counted and carry the headers too: the third request is a 404.
      const res = i === 2
        ? await app.get("/posts/post_doesnotexist", { token: keyA, headers })
        : await app.get("/me", { token: keyA, headers });
      assert.equal(res.status, i === 2 ? 404 : 200, res.text);
      assert.equal(res.headers.get("ratelimit-policy"), KEY_POLICY);
      const rl = remaining(res);
      assert.equal(rl.window, "burst");
      assert.ok(rl.t >= 1 && rl.t <= 60, `t=${rl.t}`);
      seen.push(rl.r);
      assert.ok(res.timing.rl, "the limiter call is its own Server-Timing entry");
      // Near its limit a key's every request asks its object; a cache miss also charges the IP,
      // whose larger bucket may answer from this isolate's lease.
      if (res.timing.kv) assert.match(res.timing.rl.desc, /^(2 calls|1 call, 1 local)$/);
      else assert.equal(res.timing.rl.desc, "1 call");
    }
    assert.deepEqual(seen, [4, 3, 2, 1, 0]);

    const refused = await app.get("/me", { token: keyA, headers });
    assertError(refused, 429, "RATE_LIMITED");
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(typeof refused.body.retryAfterMs, "number");
    assert.equal(retryAfter, Math.max(1, Math.ceil(refused.body.retryAfterMs / 1000)));
    assert.equal(refused.headers.get("ratelimit-policy"), KEY_POLICY);
    assert.equal(remaining(refused).r, 0);
    assert.equal(refused.timing.d1, undefined, "refused before any D1 work");
    assert.equal(refused.timing.rl.desc, "1 call", "the object refuses");

    // The user's other key, and a key minted now, share the bucket: minting keys does not
    // multiply the limit.
    assertError(await app.get("/me", { token: keyB, headers }), 429, "RATE_LIMITED");
    const keyC = (await app.mintKey(owner.token, { name: "c" })).key;
    assertError(await app.get("/me", { token: keyC, headers }), 429, "RATE_LIMITED");
    // Refusals do not spill over to another user, nor to the sessions of this one.
    const other = await app.get("/me", { token: strangerKey, headers });
    assert.equal(other.status, 200, other.text);
    assert.equal(remaining(other).r, PER_MINUTE - 1);
    const viaSession = await app.get("/me", { token: owner.token, headers });
    assert.equal(viaSession.status, 200, viaSession.text);
    // The limited key stays limited, and this isolate now knows it: no call until the reset.
    const again = await app.get("/workspaces", { token: keyA, headers });
    assertError(again, 429, "RATE_LIMITED");
    assert.equal(again.timing.rl.desc, "1 local");
    assert.ok(Number(again.headers.get("retry-after")) <= retryAfter);
  });
});

describe("leases", () => {
  test("an isolate reserves a sixteenth of what is left and spends it without calling the object", async () => {
    const headers = freshIp();
    const seen = [];
    for (let i = 0; i < 5; i++) {
      const res = await app.get("/me", { token: newToken("pb_live_"), headers });
      assertError(res, 401, "UNAUTHORIZED");
      seen.push([res.timing.rl.desc, remaining(res).r]);
    }
    // The IP bucket holds 50: the first call reserves 3 (50 / 16), the next 2 (47 / 16).
    assert.deepEqual(seen, [["1 call", 49], ["1 local", 48], ["1 local", 47], ["1 call", 46], ["1 local", 45]]);
  });
});

describe("per user, over all of their sessions", () => {
  test("two sessions of one user share a bucket 10 times looser than the keys'", async () => {
    const headers = freshIp();
    const user = await app.signup();
    const key = (await app.mintKey(user.token, { name: "script" })).key;
    const second = await app.post("/auth/login", { email: user.email, password: user.password }, { headers });
    assert.equal(second.status, 200, second.text);
    // Both sessions, alternately, up to the sessions' quota (minting the key spent one); then
    // both are refused.
    let last;
    for (let i = 0; i < PER_MINUTE * 10 - 1; i++) {
      last = await app.get("/me", { token: i % 2 ? second.body.token : user.token, headers });
      assert.equal(last.status, 200, `request ${i + 1}: ${last.text}`);
    }
    assert.equal(remaining(last).r, 0);
    for (const token of [user.token, second.body.token]) assertError(await app.get("/me", { token, headers }), 429, "RATE_LIMITED");
    // The same user's keys have their own bucket: the dashboard and a script do not starve
    // each other.
    assert.equal((await app.get("/me", { token: key, headers })).status, 200);
  });

  test("a session's bucket is 10 times looser than a key's", async () => {
    const headers = freshIp();
    const owner = await app.signup();
    let last;
    for (let i = 0; i < PER_MINUTE * 2; i++) {
      last = await app.get("/me", { token: owner.token, headers });
      assert.equal(last.status, 200, `request ${i + 1}: ${last.text}`);
    }
    assert.equal(last.headers.get("ratelimit-policy"), `"burst";q=${PER_MINUTE * 10};w=60, "sustained";q=10000000;w=900`);
    const rl = remaining(last);
    assert.equal(rl.window, "burst");
    // Signup is charged to the client IP; each /me above to the session's own bucket, once.
    assert.equal(rl.r, PER_MINUTE * 10 - PER_MINUTE * 2);
  });
});

describe("never limited", () => {
  test("GET /health and GET /openapi.json: no count, no headers, even once the IP is over its limit", async () => {
    const headers = freshIp();
    // Exhaust this IP's bucket with unknown credentials.
    for (let i = 0; i < IP_PER_MINUTE; i++) await app.get("/me", { token: newToken("pb_live_"), headers });
    assertError(await app.get("/me", { token: newToken("pb_live_"), headers }), 429, "RATE_LIMITED");
    for (let i = 0; i < PER_MINUTE * 3; i++) {
      for (const route of ["/health", "/openapi.json"]) {
        const res = await app.get(route, { headers });
        assert.equal(res.status, 200, `${route}: ${res.text}`);
        assert.equal(res.headers.get("ratelimit-policy"), null);
        assert.equal(res.headers.get("ratelimit"), null);
        assert.equal(res.timing.rl, undefined, "no call to the limiter");
      }
    }
  });
});

describe("per client network", () => {
  let net = 0;
  /** The `CF-Connecting-IP` of host `host` in an IPv6 /64 of its own. */
  const v6 = (n, host) => ({ "CF-Connecting-IP": `2001:db8:${(0x100 + n).toString(16)}:1::${host}` });

  test("IPv6 clients are counted by /64: another address of the same /64 is refused with it, the next /64 is not", async () => {
    net += 1;
    for (let i = 0; i < IP_PER_MINUTE; i++) {
      // Each request from another address of the one /64.
      assertError(await app.get("/me", { token: newToken("pb_live_"), headers: v6(net, (i + 1).toString(16)) }), 401, "UNAUTHORIZED");
    }
    const same = await app.get("/me", { token: newToken("pb_live_"), headers: v6(net, "ffff:ffff:ffff") });
    assertError(same, 429, "RATE_LIMITED");
    assert.equal(same.timing.kv, undefined, "refused before KV");
    const next = await app.get("/me", { token: newToken("pb_live_"), headers: { "CF-Connecting-IP": `2001:db8:${(0x100 + net).toString(16)}:2::1` } });
    assertError(next, 401, "UNAUTHORIZED");
  });

  test("an IPv4 address is its own bucket, whether written plainly or IPv4-mapped", async () => {
    const headers = freshIp();
    for (let i = 0; i < IP_PER_MINUTE; i++) await app.get("/me", { token: newToken("pb_live_"), headers });
    const mapped = { "CF-Connecting-IP": `::ffff:${headers["CF-Connecting-IP"]}` };
    assertError(await app.get("/me", { token: newToken("pb_live_"), headers: mapped }), 429, "RATE_LIMITED");
    assertError(await app.get("/me", { token: newToken("pb_live_"), headers: freshIp() }), 401, "UNAUTHORIZED");
  });
});

describe("per client IP, before KV and D1", () => {
  test("a flood of well-formed unknown keys from one IP reaches KV/D1 at most the IP's quota of times", async () => {
    const headers = freshIp();
    const FLOOD = IP_PER_MINUTE + 20;
    let reachedStorage = 0;
    let refused = 0;
    for (let i = 0; i < FLOOD; i++) {
      const res = await app.get("/workspaces", { token: newToken("pb_live_"), headers });
      if (res.timing.kv || res.timing.d1) reachedStorage += 1;
      if (res.status === 429) {
        refused += 1;
        assertError(res, 429, "RATE_LIMITED");
        assert.equal(res.timing.kv, undefined, "a refused unknown key never reaches KV");
        assert.equal(res.timing.d1, undefined, "a refused unknown key never reaches D1");
        assert.ok(res.headers.get("retry-after"));
        assert.equal(res.headers.get("ratelimit-policy"), `"burst";q=${IP_PER_MINUTE};w=60, "sustained";q=10000000;w=900`);
      } else {
        assertError(res, 401, "UNAUTHORIZED");
        assert.ok(res.headers.get("ratelimit"), "a counted 401 carries the RateLimit header");
      }
    }
    assert.equal(reachedStorage, IP_PER_MINUTE, "exactly the IP's quota reached storage");
    assert.equal(refused, FLOOD - IP_PER_MINUTE);
    // Session tokens are the same kind of credential here.
    assertError(await app.get("/me", { token: newToken("pb_sess_"), headers }), 429, "RATE_LIMITED");
    // Another client is not affected.
    const elsewhere = await app.get("/workspaces", { token: newToken("pb_live_"), headers: freshIp() });
    assertError(elsewhere, 401, "UNAUTHORIZED");
    assert.ok(elsewhere.timing.kv, "another IP's unknown key is still looked up");
  });

  test("malformed credentials are refused without storage and without a limiter call", async () => {
    const headers = freshIp();
    const res = await app.get("/me", { token: "pb_live_short", headers });
    assertError(res, 401, "UNAUTHORIZED");
    assert.equal(res.timing.rl, undefined);
    assert.equal(res.timing.kv, undefined);
    assert.equal(res.headers.get("ratelimit"), null);
  });

  test("a known key is charged to the IP only on an isolate-cache miss; then to its own bucket", async () => {
    const headers = freshIp();
    const owner = await app.signup();
    const key = (await app.mintKey(owner.token)).key;
    // Minting cached the key in this isolate: one call, to the key's bucket.
    const res = await app.get("/me", { token: key, headers });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.timing.rl.desc, "1 call");
    assert.equal(res.timing.kv, undefined);
    assert.equal(res.headers.get("ratelimit-policy"), KEY_POLICY);
  });

  test("signup and login are charged to the client IP", async () => {
    const headers = freshIp();
    const res = await app.post("/auth/signup", { email: `rl${Date.now()}@example.com`, name: "R", password: "correct horse battery" }, { headers });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get("ratelimit-policy"), `"burst";q=${IP_PER_MINUTE};w=60, "sustained";q=10000000;w=900`);
    assert.equal(remaining(res).r, IP_PER_MINUTE - 1);
  });
});

describe("across isolates", () => {
  // Every isolate, in every location, asks the same Durable Object (one per bucket, named by
  // the credential's hash), so the counts are exact across them. Here a second copy of the
  // worker runs in an isolate of its own (its own leases and principal cache) over the same
  // storage and the same rate-limiter objects.
  let two;
  before(async () => {
    two = await startWorker({ isolates: 2, bindings: { RATE_LIMIT_PER_MINUTE: String(PER_MINUTE) } });
  });
  after(() => two?.dispose());
  const at = (i, route) => `${isolateBase(i)}${route}`;

  test("one key's quota is shared by two isolates: 3 here and 2 there use it up, then both refuse", async () => {
    const headers = freshIp();
    const owner = await two.signup();
    const key = (await two.mintKey(owner.token, { name: "roaming" })).key;
    const seen = [];
    const kvReads = [];
    for (const i of [1, 2, 1, 2, 1]) {
      const res = await two.get(at(i, "/me"), { token: key, headers });
      assert.equal(res.status, 200, `isolate ${i}: ${res.text}`);
      seen.push(remaining(res).r);
      kvReads.push(res.storage.kv.reads);
    }
    assert.deepEqual(seen, [4, 3, 2, 1, 0]);
    // Two isolates indeed: the minting one knew the key; the other read it from KV once (the
    // principal and its user's auth epoch: two reads).
    assert.deepEqual(kvReads, [0, 2, 0, 0, 0]);
    for (const i of [1, 2]) assertError(await two.get(at(i, "/me"), { token: key, headers }), 429, "RATE_LIMITED");
  });

  test("leases held by two isolates let exactly the IP's quota through, with the calls the documented batching predicts", async () => {
    // The README's rule, restated here as a model: an isolate with lease left spends it with no
    // call; otherwise it asks the object, which grants a sixteenth of what is left (at least 1)
    // or refuses when nothing is; a refusal is then remembered by the isolate (no more calls).
    let left = IP_PER_MINUTE;
    const lease = { 1: 0, 2: 0 };
    const refused = { 1: false, 2: false };
    const model = (i) => {
      if (refused[i]) return { status: 429, call: false };
      if (lease[i] > 0) {
        lease[i] -= 1;
        return { status: 401, call: false };
      }
      if (left === 0) {
        refused[i] = true;
        return { status: 429, call: true };
      }
      const grant = Math.max(1, Math.floor(left / 16));
      left -= grant;
      lease[i] = grant - 1;
      return { status: 401, call: true };
    };
    const headers = freshIp();
    const expected = [];
    const seen = [];
    for (let n = 0; n < IP_PER_MINUTE + 20; n++) {
      const i = 1 + (n % 2);
      expected.push(model(i));
      const res = await two.get(at(i, "/me"), { token: newToken("pb_live_"), headers });
      if (res.status === 429) assertError(res, 429, "RATE_LIMITED");
      else assertError(res, 401, "UNAUTHORIZED");
      seen.push({ status: res.status, call: res.storage.rl === 1 });
      assert.ok(res.storage.rl <= 1);
    }
    assert.deepEqual(seen, expected);
    assert.equal(seen.filter((r) => r.status === 401).length, IP_PER_MINUTE, "exactly the quota, none lost");
  });
});
