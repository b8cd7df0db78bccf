// A Mastodon API *mock* for the tests: PyPI `mastodon-mock` 0.6.1 (third-party, FastAPI over an
// in-memory SQLite; installed into .venv by the Makefile target .venv/.mastodon-mock-0.6.1),
// run as `mastodon_mock serve --in-memory --host 127.0.0.1 --port N` in a child process.
// It is not Mastodon: a stateful stand-in for its REST API, checked by its author against
// Mastodon.py. No Mastodon-compatible server is packaged for this machine.
//
//   const masto = await startMastodon();       // ~1–3 s (Python start-up)
//   // masto: { url, token, account: {id, username} }
//   ... the product posts with { instanceUrl: masto.url, accessToken: masto.token } ...
//   await masto.statuses();                    // the account's statuses, oldest first, with `text`
//   const bob = await masto.createAccount({ username: "bob" });   // { id, username, token }
//   await masto.close();
//
// What the mock does, for the calls a publisher makes (read from its source, checked by
// tests/platforms.test.mjs where marked ✓):
// - Auth: `Authorization: Bearer <token>`. The seeded account `testuser` has the token
//   `mock_token`; createAccount() makes more (the mock-only POST /api/v1/_mock/dev_user).
//   Missing or unknown token on a write → 401 {"error": "This method requires an authenticated
//   user"} ✓. Scopes are stored but not enforced; tokens never expire or get revoked (to test
//   a revoked token, use an unknown one: the same 401).
// - POST /api/v2/media (and /api/v1/media), multipart `file` (+ `description`, `focus`) → 200
//   MediaAttachment {id, type ("image" for image/*, "gifv" for image/gif), url, preview_url,
//   remote_url: null, text_url: null, description, blurhash, meta: {}} ✓. ALWAYS 200 at once,
//   never 202 (no processing step; the fault proxy's mediaProcessing mode adds one). No size
//   or type check (it advertises image_size_limit 10485760 but accepts anything); the bytes
//   are served back at `url`. No `file` → 422 {"error": "Validation failed: file Field
//   required", "details": {...}} ✓.
// - GET /api/v1/media/:id → 200 the same MediaAttachment (never 206) ✓; unknown → 404
//   {"error": "Record not found"} ✓. PUT /api/v1/media/:id updates description/focus.
// - POST /api/v1/statuses, form (`status`, `media_ids[]`, `visibility`, `spoiler_text`,
//   `sensitive`, `language`, `in_reply_to_id`, `scheduled_at`, `poll[...]`) or JSON → 200
//   Status {id, uri, url ("http://localhost:PORT/@testuser/ID"), content (HTML, see below),
//   created_at, visibility, media_attachments, tags, mentions, account, ...} ✓.
//   - Idempotency-Key ✓: a repeat with the same key from the same account answers 200 with
//     the ORIGINAL status (even if the body differs) and creates nothing. Keys are kept per
//     account for the life of the process (real Mastodon: 1 hour, in Redis). The check and
//     the insert run without an await between them, so concurrent repeats do not race.
//   - Refusals (422 {"error": "..."}) ✓: blank text with no media and no poll ("Validation
//     failed: Text can't be blank"); more than 500 characters ("Validation failed: Text is
//     too long (maximum is 500 characters)"), counted as Python code points, with no URL
//     (23-char) or mention rule as real Mastodon has; more than 4 media_ids ("Validation
//     failed: Media attachments count is too high (maximum is 4)").
//   - Unknown media ids are silently ignored (a real instance answers 422); media is never
//     "not ready" (real: 422 "Cannot attach files that have not finished processing. Try
//     again in a moment!"; the fault proxy's mediaProcessing mode enforces that).
//   - `content` is the mock's rendering: HTML-escaped, bare URLs linked, blank-line
//     paragraphs in <p>, and (unlike Mastodon) **bold**/*italic*/`code`/~~strike~~ turned into
//     tags. Hashtags and @mentions are recorded in `tags` / `mentions`. The plain text is at
//     GET /api/v1/statuses/:id/source (statuses() below adds it as `text`).
//   - `scheduled_at` more than 5 minutes ahead → a ScheduledStatus instead.
// - GET /api/v1/instance and /api/v2/instance ✓: configuration.statuses.max_characters 500,
//   max_media_attachments 4, characters_reserved_per_url 23; media_attachments
//   supported_mime_types [image/jpeg, image/png, image/gif, image/webp, video/mp4],
//   image_size_limit 10485760. version "4.6.0".
// - GET /api/v1/accounts/verify_credentials ✓, GET /api/v1/accounts/:id/statuses (pages of
//   at most 40, Link header, max_id) ✓, GET/DELETE /api/v1/statuses/:id.
// - No rate limiting by default (no X-RateLimit-* headers, never 429); no 5xx of its own.
//   Faults come from scripts/platforms/fault_proxy.mjs in front of it. (The mock has an
//   inert fault plane of its own at /api/v1/_mock/faults; the tests do not use it.)
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MASTODON_MOCK_VERSION = "0.6.1";
const python = path.join(root, ".venv/bin/python");
export const SEEDED_TOKEN = "mock_token";

// Runs the mock's CLI, and exits as soon as stdin closes: when the Node process that started
// it ends (even killed), its end of the pipe closes, so no orphaned server is left behind.
const LAUNCHER = `
import os, sys, threading
def _watch():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
from mastodon_mock.cli import main
main(sys.argv[1:])
`;

async function freePort() {
  const s = http.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function api(url, method, p, { token, body, form } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(new URL(p, url), { method, headers, body: payload });
  const text = await res.text();
  if (!res.ok) {
    const err = new Error(`mastodon-mock ${method} ${p} → ${res.status} ${text.slice(0, 300)}`);
    err.status = res.status;
    throw err;
  }
  return { json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Starts the process and resolves once it answers; rejects (with its stderr) if it exits first. */
async function launch(dir, port, timeoutMs) {
  const child = spawn(
    python,
    ["-c", LAUNCHER, "serve", "--in-memory", "--host", "127.0.0.1", "--port", String(port),
      "--config", path.join(dir, "mastodon_mock.toml"), "--log-level", "warning"],
    { cwd: dir, stdio: ["pipe", "ignore", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } },
  );
  // Unreferenced: a test file that forgets close() still ends (and the launcher then exits).
  child.unref();
  child.stdin.unref();
  child.stderr.unref();
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = once(child, "exit").then(([code, signal]) => ({ code, signal }));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  let ended = null;
  exited.then((e) => (ended = e));
  while (!ended) {
    try {
      const res = await fetch(`${url}/api/v1/instance`);
      await res.arrayBuffer();
      if (res.ok) return { child, url, exited, stderr: () => stderr };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`mastodon-mock did not answer within ${timeoutMs} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const e = new Error(`mastodon-mock exited (${ended.code ?? ended.signal}) before answering:\n${stderr}`);
  e.addressInUse = /address already in use|Errno 98/i.test(stderr);
  throw e;
}

/**
 * Starts mastodon-mock on a free loopback port (or `port`).
 * @param {{port?: number, timeoutMs?: number}} [opts]
 */
export async function startMastodon({ port, timeoutMs = 60_000 } = {}) {
  if (!fs.existsSync(python) || !fs.existsSync(path.join(root, `.venv/.mastodon-mock-${MASTODON_MOCK_VERSION}`))) {
    throw new Error(`mastodon-mock is not installed in .venv: run \`make .venv/.mastodon-mock-${MASTODON_MOCK_VERSION}\``);
  }
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "mastodon-mock-"));
  // A config of our own (and cwd in the temporary directory), so no stray pyproject.toml or
  // .mastodon_mock.toml changes its behaviour; uploaded media goes to the temporary directory.
  await fsp.writeFile(
    path.join(dir, "mastodon_mock.toml"),
    `media_storage_path = ${JSON.stringify(path.join(dir, "media"))}\n`,
  );
  let proc;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        proc = await launch(dir, port ?? (await freePort()), timeoutMs);
        break;
      } catch (e) {
        // Another process took the free port between the probe and the bind: try another.
        if (!e.addressInUse || port !== undefined || attempt >= 3) throw e;
      }
    }
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
  const { child, url } = proc;
  const me = (await api(url, "GET", "/api/v1/accounts/verify_credentials", { token: SEEDED_TOKEN })).json;
  let closed = false;

  return {
    url,
    token: SEEDED_TOKEN,
    account: { id: me.id, username: me.username },
    /** A fresh account with a token of its own (Idempotency-Key is per account). */
    async createAccount({ username } = {}) {
      const made = (await api(url, "POST", "/api/v1/_mock/dev_user", { body: username ? { username } : {} })).json;
      return { id: made.id, username: made.username, token: made.access_token };
    },
    /**
     * Every status of the token's account, oldest first, each as the API returns it plus
     * `text` (the plain source, from /statuses/:id/source) unless `source: false`.
     */
    async statuses({ token = SEEDED_TOKEN, source = true } = {}) {
      const account = (await api(url, "GET", "/api/v1/accounts/verify_credentials", { token })).json;
      const all = [];
      let maxId;
      for (;;) {
        const q = new URLSearchParams({ limit: "40", ...(maxId ? { max_id: maxId } : {}) });
        const page = (await api(url, "GET", `/api/v1/accounts/${account.id}/statuses?${q}`, { token })).json;
        if (!page.length) break;
        all.push(...page);
        maxId = page[page.length - 1].id;
      }
      all.reverse();
      if (source) {
        for (let i = 0; i < all.length; i += 16) {
          await Promise.all(
            all.slice(i, i + 16).map(async (s) => {
              s.text = (await api(url, "GET", `/api/v1/statuses/${s.id}/source`, { token })).json.text;
            }),
          );
        }
      }
      return all;
    },
    /** One media attachment as the mock holds it. */
    async media(id, { token = SEEDED_TOKEN } = {}) {
      return (await api(url, "GET", `/api/v1/media/${id}`, { token })).json;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
