// The Worker's entry: the Rust worker built by worker-build, behind a last line of defence.
//
// Rust code answers every request with the API's JSON envelope, but a panic aborts the wasm
// instance and surfaces here as a thrown error. This wrapper turns that into the same 500
// envelope (never a stack trace) with a fresh request id, and logs it. worker-build's shim
// then re-creates the wasm instance for the next request.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "req_" + Array.from(bytes, (b) => ALPHABET[b % 62]).join("");
}

function internalError(error) {
  const id = requestId();
  console.error(JSON.stringify({ level: "error", requestId: id, status: 500, cause: "worker threw: " + String(error) }));
  const body = {
    statusCode: 500,
    code: "INTERNAL",
    message: "Something went wrong on our side. Quote the requestId if you contact us.",
    requestId: id,
  };
  return new Response(JSON.stringify(body), {
    status: 500,
    headers: { "Content-Type": "application/json; charset=utf-8", "X-Request-Id": id, "Cache-Control": "no-store" },
  });
}

export default class extends WorkerEntrypoint {
  async fetch(request) {
    try {
      return await new RustWorker(this.ctx, this.env).fetch(request);
    } catch (error) {
      return internalError(error);
    }
  }
}
