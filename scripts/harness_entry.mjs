// Test-only entry around the product's entry (worker/entry.mjs), used when the harness serves
// the worker behind the storage meter (scripts/worker.mjs, `meter: true`). Never deployed:
// wrangler.toml's `main` is worker/entry.mjs. It adds two things the tests control and the
// worker does not:
//
// 1. Storage attribution. Per request it takes the trace id the harness put in
//    `X-Storage-Trace` (or makes one up), hands the product an env whose storage bindings are
//    views of the wrapped bindings (scripts/storage_meter_binding.mjs) that report every call
//    under that trace, follows every `waitUntil` promise the request registers, and once the
//    response is returned and all of them have settled, tells the storage meter the trace is
//    finished. A request that registered none is finished with its response: the entry then
//    takes the trace's ledger from the meter and sends it back in `X-Storage-Ledger`, sparing
//    the harness a round trip; otherwise that header says "ask".
//
// 2. The test clock. The worker reads time only through `Date.now()` (src/ctx.rs `now_ms`). A
//    POST to `http://test-clock.internal/__clock` with `{"offsetMs": n}` sets how far this
//    isolate's `Date.now()` runs ahead of the wall clock (0 puts it back), so expiry tests move
//    time instead of sleeping through it. It moves the clock of every request after it in this
//    worker; storage (D1, KV, R2) keeps the wall clock. (Not `/`: the dashboard's static assets
//    answer `/` before any worker code runs, and refuse a POST there.)
//
// The product's code is unchanged: the same entry class runs, with another `this`.
import Entry from "../worker/entry.mjs";

export * from "../worker/entry.mjs";

const TRACE_HEADER = "x-storage-trace";
const CLOCK_HOST = "test-clock.internal";
const METERED = ["DB", "AUTH_CACHE", "MEDIA", "RATE_LIMITER"];
let untraced = 0;

const wallClock = Date.now.bind(Date);
let offsetMs = 0;
Date.now = () => wallClock() + offsetMs;

async function setClock(request) {
  const { offsetMs: next } = await request.json();
  if (!Number.isSafeInteger(next)) return new Response("offsetMs must be an integer", { status: 400 });
  offsetMs = next;
  return Response.json({ offsetMs, now: Date.now() });
}

export default class HarnessEntry extends Entry {
  async fetch(request) {
    if (new URL(request.url).hostname === CLOCK_HOST) return setClock(request);
    const trace = request.headers.get(TRACE_HEADER) ?? `untraced-${++untraced}`;
    const state = { responded: false };
    const env = { ...this.env };
    for (const name of METERED) if (env[name]?.traced) env[name] = env[name].traced(trace, state);
    const pending = [];
    const real = this.ctx;
    const ctx = {
      waitUntil(promise) {
        pending.push(Promise.resolve(promise).catch(() => {}));
        real.waitUntil(promise);
      },
      passThroughOnException: () => real.passThroughOnException(),
      get props() {
        return real.props;
      },
    };
    const meter = this.env.DB.traced(trace, state);
    const info = (response) => ({ requestId: response?.headers.get("x-request-id") ?? null, status: response?.status ?? null, waitUntil: pending.length });
    let response;
    try {
      response = await Entry.prototype.fetch.call({ env, ctx }, request);
    } catch (error) {
      state.responded = true;
      real.waitUntil(meter.finish(info(null)));
      throw error;
    }
    state.responded = true;
    // Every waitUntil of a request is registered before its response is returned. With none,
    // the request is finished now: its ledger goes back with the response (when small enough).
    if (pending.length === 0) {
      const ledger = await meter.take(info(response), MAX_LEDGER_BYTES);
      return withHeader(response, LEDGER_HEADER, ledger === null ? "ask" : base64(ledger));
    }
    real.waitUntil(
      (async () => {
        // A settled promise may have registered more; wait until none is left.
        let seen = 0;
        while (seen < pending.length) {
          const batch = pending.slice(seen);
          seen = pending.length;
          await Promise.all(batch);
        }
        await meter.finish(info(response));
      })(),
    );
    return withHeader(response, LEDGER_HEADER, "ask");
  }
}

/**
 * Where the ledger travels (base64 JSON), or "ask" when the harness must ask the meter for it
 * (work after the response, or a ledger too large for a header). The harness removes the header
 * before any check sees the response.
 */
const LEDGER_HEADER = "x-storage-ledger";
const MAX_LEDGER_BYTES = 6 * 1024;

function base64(text) {
  let latin1 = "";
  for (const b of new TextEncoder().encode(text)) latin1 += String.fromCharCode(b);
  return btoa(latin1);
}

function withHeader(response, name, value) {
  const out = new Response(response.body, response);
  out.headers.set(name, value);
  return out;
}
