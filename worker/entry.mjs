// The Worker's entry: the Rust worker built by worker-build, behind a last line of defence.
//
// Rust code answers every request with the API's JSON envelope, but a panic aborts the wasm
// instance (panic = "abort"): the trap surfaces as a global `error` event, and the request's
// promise would never settle. This wrapper races each request against that event and answers
// with the same 500 envelope (never a stack trace, a fresh request id), and logs it.
// worker-build's shim then re-creates the wasm instance for the next request.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

// The rate limiter's Durable Object class (src/ratelimit/), bound as RATE_LIMITER, and the
// publisher's scheduler (src/publish/scheduler.rs), bound as PUBLISH_SCHEDULER.
export { RateLimiter, PublishScheduler } from "../build/index.js";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const inFlight = new Set();

addEventListener("error", (event) => {
  if (event.error instanceof WebAssembly.RuntimeError) {
    for (const fail of inFlight) fail(event.error);
  }
});

function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "req_" + Array.from(bytes, (b) => ALPHABET[b % 62]).join("");
}

function internalError(error, started) {
  const id = requestId();
  console.error(JSON.stringify({ level: "error", requestId: id, status: 500, cause: "worker trapped: " + String(error) }));
  const body = {
    statusCode: 500,
    code: "INTERNAL",
    message: "Something went wrong on our side. Quote the requestId if you contact us.",
    requestId: id,
  };
  return new Response(JSON.stringify(body), {
    status: 500,
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "X-Request-Id": id,
      "Server-Timing": `total;dur=${(Date.now() - started).toFixed(1)}`,
      "Cache-Control": "no-store",
    },
  });
}

/** Runs `work` unless the wasm instance traps first; a trap rejects (the runtime retries the
 * queue batch or logs the failed cron run). */
async function guarded(work) {
  let fail;
  const trapped = new Promise((_, reject) => (fail = reject));
  inFlight.add(fail);
  try {
    return await Promise.race([work(), trapped]);
  } finally {
    inFlight.delete(fail);
  }
}

export default class extends WorkerEntrypoint {
  // The publish queue and its dead-letter queue (src/publish/consumer.rs), and the webhook
  // queue (src/webhooks/consumer.rs).
  async queue(batch) {
    return guarded(() => new RustWorker(this.ctx, this.env).queue(batch));
  }

  // Cron triggers (wrangler.toml): the Rust `scheduled` handler (the publisher's and the
  // webhooks' sweeps, the cleanup of what expires); each job logs its own line.
  async scheduled(controller) {
    return guarded(() => new RustWorker(this.ctx, this.env).scheduled(controller));
  }

  async fetch(request) {
    const started = Date.now();
    try {
      return await guarded(() => new RustWorker(this.ctx, this.env).fetch(request));
    } catch (error) {
      return internalError(error, started);
    }
  }
}
