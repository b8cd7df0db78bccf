// A loopback HTTP proxy in front of one platform (the PDS, the Mastodon mock, or the fake),
// programmable per request, that records every request and what it did with it. The product
// is pointed at `proxy.url` instead of the platform's URL.
//
//   const proxy = await startFaultProxy(pds.url, { seed: 7 });
//   proxy.add({ method: "POST", path: "/xrpc/com.atproto.repo.createRecord", times: 1,
//               action: faults.lostAnswer() });          // the post is made, the answer lost
//   proxy.add({ path: /^\/api\/v1\/statuses/, probability: 0.2, action: faults.status(500) });
//   ... run the product ...
//   proxy.requests({ path: "/xrpc/com.atproto.repo.createRecord" })  // [{ action, status, ... }]
//   await proxy.waitFor((log) => log.length >= 3);       // a condition, not a sleep
//   await proxy.close();
//
// Rules are tried in the order added; the first that matches a request decides it, and a
// request no rule takes is passed through. A rule matches on:
//   method       "POST" (any when absent)
//   path         a string (the path without the query, exactly), a RegExp (tested against
//                the path with its query) or a function (path with query, request) → bool
//   skip         leave the first N matching requests to the next rules (default 0)
//   times        then act on at most N of them (default: all); a spent rule matches nothing
//   probability  act on each match with this probability (0..1), drawn from a PRNG seeded by
//                the proxy's `seed` (default 1): the same seed and request order give the same
//                faults. A match not drawn passes on to the next rules.
//
// Actions (`faults.*`):
//   pass()                   forward and answer what the platform answered (the default)
//   status(500, {body, headers})  answer this status without forwarding; the body defaults to
//                            the platform's error shape (XRPC {error, message} for /xrpc/,
//                            Mastodon {error} otherwise)
//   rateLimit(seconds)       429 without forwarding, `Retry-After: <seconds>`, plus what the
//                            platform itself sends: XRPC `ratelimit-limit/remaining/reset`
//                            (reset in epoch seconds) and {error: "RateLimitExceeded"};
//                            Mastodon `X-RateLimit-Limit/Remaining/Reset` (ISO time) and
//                            {error: "Too many requests"}
//   reset()                  read the request, then reset the TCP connection (RST) without
//                            forwarding: the platform never sees it
//   delay(ms)                forward at once, then hold the platform's answer until `ms` after
//                            the request arrived (the client's timeout fires first if shorter;
//                            the platform has done the work either way); delay(Infinity)
//                            holds it until the client hangs up
//   hold()                   delay(Infinity) that the test ends: `rule.action.release()` lets
//                            the platform's answer through (a PUBLISHING state held as long as
//                            a test needs it, then let go, so the worker's queue moves on)
//   lostAnswer()             forward, let the platform finish (the post exists), then reset
//                            the client's connection without answering: "done, answer lost"
//   mediaProcessing({polls}) for POST /api/v2/media: forward; turn the platform's 200 into
//                            202 with `url: null` (Mastodon's "still processing"); then answer
//                            the next `polls` (default 2) GET /api/v1/media/:id for that id
//                            with 206 and `url: null` before passing the real 200 through. While
//                            pending, a POST /api/v1/statuses naming it in media_ids is answered
//                            422 {"error": "Cannot attach files that have not finished
//                            processing. Try again in a moment!"} without forwarding, as
//                            Mastodon does.
//
// Seen from the worker (workerd's fetch, checked): reset() and lostAnswer() reject with
// `Error: Network connection lost.`; delay() past the caller's AbortSignal.timeout rejects
// with `TimeoutError`; workerd reaches 127.0.0.1 from Miniflare without further options.
//
// Every request is recorded, in arrival order, in `proxy.log`:
//   { seq, method, path (with query), headers (as received), body (Buffer), receivedAt (ms,
//     Date.now()), rule (its id, or null), action ("pass", "status", "rateLimit", "reset",
//     "delay", "lostAnswer", "mediaProcessing", "mediaPending", "mediaNotReady"),
//     forwarded (reached the platform), upstreamStatus (what the platform answered, or null),
//     status (what the client got, or null when its connection was reset), clientClosed (the
//     client hung up before the answer), resetByProxy, done (the entry is final), doneAt }
// Request and response bodies pass through byte for byte (multipart and JSON alike); the
// request's Host is the platform's.
import http from "node:http";
import { once, EventEmitter } from "node:events";
import zlib from "node:zlib";

/** mulberry32: a small, fast, seedable PRNG (deterministic fault draws). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const faults = {
  pass: () => ({ type: "pass" }),
  status: (status, { body, headers } = {}) => ({ type: "status", status, body, headers }),
  rateLimit: (seconds) => ({ type: "rateLimit", seconds }),
  reset: () => ({ type: "reset" }),
  delay: (ms) => ({ type: "delay", ms }),
  hold: () => {
    let release;
    const released = new Promise((resolve) => {
      release = resolve;
    });
    return { type: "delay", ms: Infinity, released, release };
  },
  lostAnswer: () => ({ type: "lostAnswer" }),
  mediaProcessing: ({ polls = 2 } = {}) => ({ type: "mediaProcessing", polls }),
};

const NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!";
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

function errorBody(path, status) {
  if (path.startsWith("/xrpc/")) {
    const names = { 429: ["RateLimitExceeded", "Rate Limit Exceeded"], 500: ["InternalServerError", "Internal Server Error"], 502: ["UpstreamFailure", "Upstream Failure"], 503: ["NotEnoughResources", "Service Unavailable"] };
    const [error, message] = names[status] ?? ["Error", `HTTP ${status}`];
    return { error, message };
  }
  const messages = { 429: "Too many requests", 500: "An unexpected error occurred", 502: "Bad gateway", 503: "Service temporarily unavailable" };
  return { error: messages[status] ?? "An error occurred" };
}

function decode(body, encoding) {
  switch ((encoding ?? "").toLowerCase()) {
    case "gzip":
      return zlib.gunzipSync(body);
    case "br":
      return zlib.brotliDecompressSync(body);
    case "deflate":
      return zlib.inflateSync(body);
    default:
      return body;
  }
}

/** The media ids a status creation names (form `media_ids[]` or JSON `media_ids`). */
function mediaIdsOf(headers, body) {
  const type = headers["content-type"] ?? "";
  try {
    if (type.startsWith("application/json")) return (JSON.parse(body.toString("utf8")).media_ids ?? []).map(String);
    if (type.startsWith("application/x-www-form-urlencoded")) {
      const q = new URLSearchParams(body.toString("utf8"));
      return [...q.getAll("media_ids[]"), ...q.getAll("media_ids")];
    }
    if (type.startsWith("multipart/form-data")) {
      const text = body.toString("latin1");
      return [...text.matchAll(/name="media_ids(?:\[\])?"\r\n\r\n([^\r]*)\r\n/g)].map((m) => m[1]);
    }
  } catch {
    // an unparseable body names no media; the platform will refuse it itself
  }
  return [];
}

/**
 * Starts the proxy on 127.0.0.1.
 * @param {string} target the platform's base URL (http://127.0.0.1:PORT)
 * @param {{seed?: number, port?: number}} [opts]
 */
export async function startFaultProxy(target, { seed = 1, port = 0 } = {}) {
  const base = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const random = prng(seed);
  const rules = [];
  let nextRuleId = 1;
  const log = [];
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const pendingMedia = new Map(); // media id → 206 answers still to give
  const timers = new Set();
  const sockets = new Set();

  const changed = () => changes.emit("change");

  function decide(req, path) {
    for (const rule of rules) {
      if (rule.times !== undefined && rule.applied >= rule.times) continue;
      if (rule.method && rule.method.toUpperCase() !== req.method) continue;
      const bare = path.split("?")[0];
      const p = rule.path;
      if (p !== undefined) {
        const ok = typeof p === "string" ? p === bare : p instanceof RegExp ? p.test(path) : p(path, req);
        if (!ok) continue;
      }
      rule.matched += 1;
      if (rule.matched <= rule.skip) continue;
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      rule.applied += 1;
      return rule;
    }
    return null;
  }

  function forward(req, path, body) {
    return new Promise((resolve, reject) => {
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
      headers.host = base.host;
      headers["content-length"] = String(body.length);
      if (!body.length && (req.method === "GET" || req.method === "HEAD")) delete headers["content-length"];
      const up = http.request(
        { protocol: base.protocol, hostname: base.hostname, port: base.port, method: req.method, path, headers, agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      up.on("error", reject);
      up.end(body);
    });
  }

  function answer(res, entry, status, headers, body) {
    if (res.destroyed || entry.clientClosed) return;
    const out = {};
    for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
    out["content-length"] = String(body.length);
    res.writeHead(status, out);
    res.end(body);
    entry.status = status;
  }

  function json(res, entry, status, value, extra = {}) {
    answer(res, entry, status, { "content-type": "application/json; charset=utf-8", ...extra }, Buffer.from(JSON.stringify(value)));
  }

  function resetClient(req, entry) {
    entry.status = null;
    entry.resetByProxy = true;
    const s = req.socket;
    if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
    else s.destroy();
  }

  async function handle(req, res, entry) {
    const path = req.url;
    res.on("close", () => {
      if (!res.writableFinished && !entry.resetByProxy) entry.clientClosed = true;
    });
    const chunks = [];
    for await (const c of req) chunks.push(c);
    entry.body = Buffer.concat(chunks);
    const bare = path.split("?")[0];

    // Mastodon media still "processing" (set up by a mediaProcessing action).
    const mediaGet = req.method === "GET" && /^\/api\/v1\/media\/([^/]+)$/.exec(bare);
    if (mediaGet && pendingMedia.has(mediaGet[1])) {
      const id = mediaGet[1];
      const left = pendingMedia.get(id);
      entry.action = "mediaPending";
      entry.forwarded = true;
      changed();
      const up = await forward(req, path, entry.body);
      entry.upstreamStatus = up.status;
      if (left > 0 && up.status === 200) {
        pendingMedia.set(id, left - 1);
        const media = JSON.parse(decode(up.body, up.headers["content-encoding"]).toString("utf8"));
        json(res, entry, 206, { ...media, url: null });
      } else {
        pendingMedia.delete(id);
        answer(res, entry, up.status, up.headers, up.body);
      }
      return;
    }
    if (req.method === "POST" && bare === "/api/v1/statuses" && pendingMedia.size) {
      const waiting = mediaIdsOf(req.headers, entry.body).filter((id) => pendingMedia.has(id));
      if (waiting.length) {
        entry.action = "mediaNotReady";
        changed();
        json(res, entry, 422, { error: NOT_READY });
        return;
      }
    }

    const rule = decide(req, path);
    const action = rule?.action ?? faults.pass();
    entry.rule = rule?.id ?? null;
    entry.action = action.type;
    changed(); // arrived whole, action decided

    switch (action.type) {
      case "status":
        json(res, entry, action.status, action.body ?? errorBody(bare, action.status), action.headers);
        return;
      case "rateLimit": {
        const seconds = action.seconds;
        const extra = { "retry-after": String(seconds) };
        if (bare.startsWith("/xrpc/")) {
          Object.assign(extra, {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": String(Math.ceil(Date.now() / 1000 + seconds)),
            "ratelimit-policy": "3000;w=300",
          });
        } else {
          Object.assign(extra, {
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": new Date(Date.now() + seconds * 1000).toISOString(),
          });
        }
        json(res, entry, 429, errorBody(bare, 429), extra);
        return;
      }
      case "reset":
        resetClient(req, entry);
        return;
      default:
        break;
    }

    entry.forwarded = true;
    let up;
    try {
      up = await forward(req, path, entry.body);
    } catch (e) {
      entry.action = `${entry.action} (upstream error: ${e.code ?? e.message})`;
      json(res, entry, 502, errorBody(bare, 502));
      return;
    }
    entry.upstreamStatus = up.status;
    switch (action.type) {
      case "lostAnswer":
        resetClient(req, entry);
        return;
      case "delay": {
        const wait = entry.receivedAt + action.ms - Date.now();
        if (wait > 0 && !entry.clientClosed) {
          await new Promise((resolve) => {
            // delay(Infinity) (or beyond setTimeout's range) holds until the client gives up.
            const t = wait <= 2 ** 31 - 1 ? setTimeout(() => {
              timers.delete(t);
              resolve();
            }, wait) : undefined;
            if (t) timers.add(t);
            res.once("close", () => {
              clearTimeout(t);
              timers.delete(t);
              resolve();
            });
            action.released?.then(() => {
              clearTimeout(t);
              timers.delete(t);
              resolve();
            });
          });
        }
        answer(res, entry, up.status, up.headers, up.body);
        return;
      }
      case "mediaProcessing":
        if (up.status === 200) {
          const media = JSON.parse(decode(up.body, up.headers["content-encoding"]).toString("utf8"));
          pendingMedia.set(String(media.id), action.polls);
          json(res, entry, 202, { ...media, url: null });
          return;
        }
        answer(res, entry, up.status, up.headers, up.body);
        return;
      default:
        answer(res, entry, up.status, up.headers, up.body);
    }
  }

  const server = http.createServer((req, res) => {
    const entry = {
      seq: log.length + 1,
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: Buffer.alloc(0),
      receivedAt: Date.now(),
      rule: null,
      action: "pass",
      forwarded: false,
      upstreamStatus: null,
      status: null,
      clientClosed: false,
      resetByProxy: false,
      done: false,
      doneAt: null,
    };
    log.push(entry);
    handle(req, res, entry)
      .catch((e) => {
        entry.action = `${entry.action} (proxy error: ${e.message})`;
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "fault proxy error", message: e.message }));
        }
      })
      .finally(() => {
        entry.done = true;
        entry.doneAt = Date.now();
        changed();
      });
  });
  server.keepAliveTimeout = 5000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (_e, socket) => socket.destroy());
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    target: base.origin,
    log,
    /** Adds a rule (see the top of this file); returns it, with live `matched`/`applied` counts. */
    add({ method, path, skip = 0, times, probability, action = faults.pass(), name } = {}) {
      const rule = { id: name ?? `r${nextRuleId++}`, method, path, skip, times, probability, action, matched: 0, applied: 0 };
      rules.push(rule);
      return rule;
    },
    /** Removes every rule (the log stays). */
    clearRules() {
      rules.length = 0;
    },
    /** Removes every rule, forgets pending media and empties the log. */
    reset() {
      rules.length = 0;
      pendingMedia.clear();
      log.length = 0;
    },
    /** Log entries, filtered by method / path (string: exact path without query; RegExp) / action. */
    requests({ method, path, action } = {}) {
      return log.filter((e) => {
        if (method && e.method !== method.toUpperCase()) return false;
        if (action && e.action !== action) return false;
        if (path === undefined) return true;
        return typeof path === "string" ? e.path.split("?")[0] === path : path.test(e.path);
      });
    },
    /**
     * Resolves with the log once `predicate(log)` is true (checked now, when a request has
     * arrived whole and its action is decided, and when one is finished); rejects after `timeoutMs` with the log's summary.
     */
    waitFor(predicate, { timeoutMs = 10_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(log)) {
            cleanup();
            resolve(log);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`fault proxy: condition not met within ${timeoutMs} ms; log:\n${log.map((e) => `  ${e.seq} ${e.method} ${e.path} ${e.action} → ${e.status}`).join("\n")}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          changes.off("change", check);
        };
        changes.on("change", check);
        check();
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      agent.destroy();
      await closed;
    },
  };
}
