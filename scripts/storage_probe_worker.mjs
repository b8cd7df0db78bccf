// A second worker in the test harness's Miniflare, bound to the same local D1, KV and R2 as the
// product, that lets the harness read and write storage directly over an ordinary request.
//
// Why not Miniflare's `getD1Database()` and friends: their proxies answer every synchronous step
// (`prepare`, `bind`) with a blocking cross-thread fetch, whose reply check fails now and then on
// a loaded 2-core machine (`message?.id === id` in SynchronousFetcher). Plain async requests
// through `dispatchFetch` have no such step. Never part of the product or its build.
const b64 = (bytes) => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};

const statement = (db, { sql, params = [] }) => db.prepare(sql).bind(...params);

const handlers = {
  async "d1/query"(env, { mode, ...stmt }) {
    const s = statement(env.DB, stmt);
    if (mode === "first") return s.first();
    if (mode === "run") return s.run();
    if (mode === "raw") return s.raw();
    return s.all();
  },
  "d1/batch": (env, { statements }) => env.DB.batch(statements.map((s) => statement(env.DB, s))),
  "kv/get": (env, { key }) => env.AUTH_CACHE.get(key),
  "kv/list": (env, { options }) => env.AUTH_CACHE.list(options),
  async "r2/get"(env, { key }) {
    const obj = await env.MEDIA.get(key);
    if (obj === null) return null;
    const bytes = new Uint8Array(await obj.arrayBuffer());
    return { key: obj.key, size: obj.size, httpMetadata: obj.httpMetadata, customMetadata: obj.customMetadata, base64: b64(bytes) };
  },
  async "r2/put"(env, { key, base64, httpMetadata }) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const obj = await env.MEDIA.put(key, bytes, { httpMetadata });
    return { key: obj.key, size: obj.size, uploaded: obj.uploaded.toISOString() };
  },
  async "r2/head"(env, { key }) {
    const obj = await env.MEDIA.head(key);
    return obj === null ? null : { key: obj.key, size: obj.size, httpMetadata: obj.httpMetadata };
  },
  // Publishing tests: hand jobs to the publish queue as the scheduler does (a duplicate, a
  // message still in flight), and fire the cron trigger (local crons never fire by themselves).
  "queue/send": (env, { messages }) => env.PUBLISH_QUEUE.sendBatch(messages.map((body) => ({ body }))),
  async cron(env, { cron }) {
    // Resolves once the handler has finished (its effects are what the tests check).
    await env.API.scheduled({ cron, scheduledTime: Date.now() });
    return {};
  },
  async "r2/list"(env, { options }) {
    const listed = await env.MEDIA.list(options);
    return { truncated: listed.truncated, cursor: listed.cursor, objects: listed.objects.map((o) => ({ key: o.key, size: o.size })) };
  },
};

export default {
  async fetch(request, env) {
    const handler = handlers[new URL(request.url).pathname.slice(1)];
    if (!handler || request.method !== "POST") return new Response("not found", { status: 404 });
    try {
      return Response.json({ result: (await handler(env, await request.json())) ?? null });
    } catch (e) {
      return Response.json({ error: String(e?.message ?? e) }, { status: 500 });
    }
  },
};
