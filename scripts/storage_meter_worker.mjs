// Test-only worker: the storage meter's ledger. Every D1 statement, KV operation, R2 call and
// rate-limiter call the worker under test makes is reported here by its wrapped bindings
// (scripts/storage_meter_binding.mjs) before it goes through, under the trace id of the request
// that made it; scripts/harness_entry.mjs reports when a request is finished, that is, when its
// response was returned and every `waitUntil` promise it registered has settled.
//
// The harness (tests/helpers.mjs) gets a request's ledger with its response when the request
// left no work for after it (`take`), or else asks, over an ordinary request to
// `storage-meter.internal`, once the trace is finished (`/settle`). This worker is its own service in Miniflare,
// outside the worker under test, which can neither reach nor reset it.
import { WorkerEntrypoint } from "cloudflare:workers";

/** trace → { ops: [...], done: null | { requestId, status, waitUntil }, waiters: [resolve] } */
const traces = new Map();
let seq = 0;

function entry(trace) {
  let e = traces.get(trace);
  if (!e) {
    e = { ops: [], done: null, waiters: [] };
    traces.set(trace, e);
  }
  return e;
}

function wake(e) {
  for (const resolve of e.waiters.splice(0)) resolve();
}

async function settled(trace, timeoutMs) {
  const e = entry(trace);
  if (!e.done) {
    let timer;
    await Promise.race([
      new Promise((resolve) => e.waiters.push(resolve)),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
  return { trace, done: e.done, ops: e.ops };
}

export default class StorageMeter extends WorkerEntrypoint {
  /** RPC from the wrapped bindings: one call, before it is made. */
  record(trace, op) {
    entry(trace).ops.push({ seq: ++seq, at: Date.now(), ...op });
  }

  /** RPC from the metered entry: the request is finished. */
  done(trace, info) {
    const e = entry(trace);
    e.done = info;
    wake(e);
  }

  /**
   * RPC from the metered entry, for a request finished when its response is ready (it
   * registered no `waitUntil`): marks it done and hands back its ledger as JSON text, which the
   * entry sends along with the response, so the harness need not ask for it separately; null
   * (the ledger kept) when it is larger than `maxBytes`.
   */
  take(trace, info, maxBytes) {
    const e = entry(trace);
    e.done = info;
    wake(e);
    const text = JSON.stringify({ trace, done: info, ops: e.ops });
    // Too large to travel in a header: kept, for the harness to ask for.
    if (new TextEncoder().encode(text).length > maxBytes) return null;
    traces.delete(trace);
    return text;
  }

  /** The harness's side, over plain requests: POST /settle {trace, timeoutMs, forget}. */
  async fetch(request) {
    const route = new URL(request.url).pathname;
    if (request.method !== "POST") return new Response("not found", { status: 404 });
    const body = await request.json();
    if (route === "/settle") {
      const out = await settled(body.trace, body.timeoutMs ?? 10_000);
      if (body.forget && out.done) traces.delete(body.trace);
      return Response.json(out);
    }
    if (route === "/traces") {
      // Every trace not yet forgotten (requests the harness did not send, work outside requests).
      return Response.json(Object.fromEntries([...traces].map(([t, e]) => [t, { done: e.done, ops: e.ops }])));
    }
    return new Response("not found", { status: 404 });
  }
}
