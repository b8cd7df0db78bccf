// The Worker's entry: the Rust worker built by worker-build, behind a last line of defence.
//
// Rust code answers every request with the API's JSON envelope, but a panic aborts the wasm
// instance (panic = "abort"): the trap surfaces as a global `error` event, and the request's
// promise would never settle. This wrapper races each request against that event and answers
// with the same 500 envelope (never a stack trace, a fresh request id), and logs it.
// worker-build's shim then re-creates the wasm instance for the next request.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

// The rate limiter's Durable Object class (src/ratelimit.rs), bound as RATE_LIMITER.
export { RateLimiter } from "../build/index.js";

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

/** Runs `work`, failing as soon as the wasm instance traps (its own promise would never settle). */
async function untilTrap(work) {
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
  async fetch(request) {
    const started = Date.now();
    try {
      return await untilTrap(() => new RustWorker(this.ctx, this.env).fetch(request));
    } catch (error) {
      return internalError(error, started);
    }
  }

  // Queue batches and cron events: a trap rejects, so the runtime retries the batch (and logs
  // the failed cron run) rather than waiting on a promise that never settles.
  async queue(batch) {
    return untilTrap(() => new RustWorker(this.ctx, this.env).queue(batch));
  }

  async scheduled(controller) {
    return untilTrap(() => new RustWorker(this.ctx, this.env).scheduled(controller));
  }
}
