// The request and the response crossing between JavaScript and the wasm module, each in one
// call (src/http/boundary.rs). Bundled into build/index.js by worker-build (a wasm-bindgen
// snippet). Every call from wasm into JavaScript, and every string it hands over, has a price;
// reading a request header by header and building a response header by header paid it a dozen
// times per request.

/**
 * What `Ctx` reads from every request, as one JSON string: method, URL, and the headers every
 * route may need (`null` when absent).
 */
export function requestHead(request) {
  const h = request.headers;
  return JSON.stringify([
    request.method,
    request.url,
    h.get("Authorization"),
    h.get("X-Workspace-Id"),
    h.get("Idempotency-Key"),
    h.get("CF-Connecting-IP"),
  ]);
}

/**
 * `name\0value\0…` as `Headers`, set in order, as the worker used to set them one by one: a
 * later value of a name replaces an earlier one, and a pair the runtime refuses is left out.
 */
function headersOf(head) {
  const headers = new Headers();
  const parts = head.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    try {
      headers.set(parts[i], parts[i + 1]);
    } catch {
      // An invalid name or value: left out, as before.
    }
  }
  return headers;
}

/** The response with a body of bytes (a view of wasm memory, copied before it is reused). */
export function respondBytes(status, head, line, bytes) {
  if (line) console.log(line);
  return new Response(bytes.slice(), { status, headers: headersOf(head) });
}

/** The response with a stream for a body, or none (`null`). */
export function respond(status, head, line, body) {
  if (line) console.log(line);
  return new Response(body, { status, headers: headersOf(head) });
}
