// Media: presigned uploads in local mode (the worker's own capability-authorised upload and
// download routes, streaming into the real local R2 binding), completion, reads, moves,
// folders, URL ingest through a stubbed outbound fetch (no network), and media on posts.
// Every refusal is checked for what it left behind: D1 rows, R2 objects, outbound fetches.
import { test, before, after, beforeEach, describe } from "node:test";
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import net from "node:net";
import { Response } from "miniflare";
import { startWorker, assertError, assertInvalid, assertNoStorage, withoutRequestId, ghostWorkspaceId, unique, tick } from "./helpers.mjs";

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

// --- local helpers ---------------------------------------------------------------------

const FIFTEEN_MINUTES = 15 * 60 * 1000;


/** Resolves each credential once, so the next request is answered from the principal cache
 * and a refusal at the edge shows no `d1` in Server-Timing. */
async function warm(a, ...tokens) {
  for (const token of tokens) {
    const res = await a.get("/me", { token });
    assert.equal(res.status, 200, res.text);
  }
}

/** A fresh user added to `wsId` by `session` with `role`; returns their session token. */
async function joinAs(a, session, wsId, role) {
  const user = await a.signup();
  await a.addMember(session, wsId, user.email, role);
  return user.token;
}

/** Personas, plus a MEMBER, a CLIENT_REVIEWER and an EDITOR of ws1 (sessions). */
async function team(a) {
  const p = await a.personas();
  return {
    ...p,
    member: await joinAs(a, p.session, p.ws1.id, "MEMBER"),
    reviewer: await joinAs(a, p.session, p.ws1.id, "CLIENT_REVIEWER"),
    editor: await joinAs(a, p.session, p.ws1.id, "EDITOR"),
  };
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const random62 = (n) => Array.from({ length: n }, () => BASE62[Math.floor(Math.random() * 62)]).join("");

/** A well-formed id of a workspace-owned resource in `wsId` that no row has. */
const ghostId = (prefix, wsId) => `${prefix}${wsId.slice(3)}${random62(16)}`;

/** `n` bytes that open with `magic` and continue with noise. */
function bytesWith(magic, n) {
  const out = randomFillSync(new Uint8Array(n));
  out.set(typeof magic === "string" ? new TextEncoder().encode(magic) : magic);
  return out;
}
const png = (n = 2000) => bytesWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52], n);
const jpeg = (n = 2000) => bytesWith([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00], n);
const gif = (n = 2000) => bytesWith("GIF89a", n);
const pdf = (n = 2000) => bytesWith("%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", n);
const html = () => new TextEncoder().encode("<!DOCTYPE html><html><body>not an image</body></html>");

const all = async (a, sql, ...args) => (await a.db.prepare(sql).bind(...args).all()).results;
const mediaRow = (a, id) => a.db.prepare("SELECT * FROM media WHERE id = ?").bind(id).first();
const folderRow = (a, id) => a.db.prepare("SELECT * FROM media_folders WHERE id = ?").bind(id).first();

/** The R2 object's bytes and content type, or null when there is none. */
async function object(a, key) {
  const obj = await a.bucket.get(key);
  if (obj === null) return null;
  return { bytes: new Uint8Array(await obj.arrayBuffer()), contentType: obj.httpMetadata?.contentType };
}
async function objectExists(a, key) {
  return (await a.bucket.head(key)) !== null;
}
/** Every object key under a workspace's prefix. */
async function keysOf(a, wsId) {
  const listed = await a.bucket.list({ prefix: `${wsId}/`, limit: 1000 });
  return listed.objects.map((o) => o.key).sort();
}

/** Everything a refusal could have touched: media rows, folders, R2 keys. */
async function storage(a) {
  const listed = await a.bucket.list({ limit: 1000 });
  return {
    media: await all(a, "SELECT * FROM media ORDER BY id"),
    folders: await all(a, "SELECT * FROM media_folders ORDER BY id"),
    objects: listed.objects.map((o) => o.key).sort(),
  };
}

/** POST /media/presign (201 asserted). */
async function presign(a, token, wsId, extra = {}) {
  const res = await a.post("/media/presign", { workspaceId: wsId, filename: "logo.png", contentType: "image/png", ...extra }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/**
 * PUT to a presigned URL with exactly the headers it listed (or `headers`), plus the body's
 * Content-Length, as curl or a browser sends it for a body of known size. Miniflare's
 * dispatchFetch would otherwise send the body chunked, with no Content-Length at all.
 */
function put(a, presigned, bytes, { url = presigned.uploadUrl, headers = presigned.headers } = {}) {
  return a.request(presigned.method, url, { headers: { ...headers, "Content-Length": String(bytes.length) }, body: bytes });
}

/** presign → PUT → complete; returns the READY asset. */
async function uploaded(a, token, wsId, { bytes = png(), ...extra } = {}) {
  const p = await presign(a, token, wsId, extra);
  const up = await put(a, p, bytes);
  assert.equal(up.status, 200, up.text);
  const done = await a.post(`/media/${p.mediaAsset.id}/complete`, undefined, { token });
  assert.equal(done.status, 200, done.text);
  assert.equal(done.body.status, "READY");
  return done.body;
}

/** GET an absolute URL (a download URL), as raw bytes. */
async function fetchBytes(a, url) {
  const res = await a.request("GET", url);
  return { status: res.status, headers: res.headers, bytes: res.bytes };
}

/**
 * A PUT over a raw socket, for a Content-Length no fetch client will send (one larger than the
 * body that follows). Resolves to the status and parsed JSON body of the answer, which goes
 * through the harness's contract, hygiene and storage checks like any other.
 */
async function rawPut(a, uploadUrl, headers, bytes) {
  const base = await a.mf.ready;
  const u = new URL(uploadUrl);
  headers = { ...headers, ...a.traceHeaders() };
  const head = [`PUT ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "Connection: close", "", ""].join("\r\n");
  const raw = await new Promise((resolve) => {
    let out = "";
    const sock = net.connect(Number(base.port), base.hostname, () => {
      sock.write(head);
      sock.write(bytes);
    });
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(out); };
    const timer = setTimeout(done, 10_000);
    sock.on("data", (d) => {
      out += d;
      const m = /\r\ncontent-length: (\d+)\r\n/i.exec(out);
      const at = out.indexOf("\r\n\r\n");
      if (m && at >= 0 && Buffer.byteLength(out.slice(at + 4)) >= Number(m[1])) done();
    });
    sock.on("error", done);
    sock.on("close", done);
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const headEnd = raw.indexOf("\r\n\r\n");
  const text = raw.slice(headEnd + 4);
  const answered = raw.slice(0, headEnd).split("\r\n").slice(1).map((line) => [line.slice(0, line.indexOf(":")).trim(), line.slice(line.indexOf(":") + 1).trim()]);
  const res = await a.seen("PUT", uploadUrl, undefined, { status, headers: answered, text }, headers);
  return { ...res, raw };
}

/** The upload URL with its token replaced (or removed, for `null`). */
function withToken(uploadUrl, token) {
  const u = new URL(uploadUrl);
  if (token === null) u.searchParams.delete("token");
  else u.searchParams.set("token", token);
  return u.href;
}

/** The same token with one character changed. */
function tamper(token, at = token.length - 1) {
  const c = token[at];
  const swapped = c === "0" ? "1" : /[0-9]/.test(c) ? "0" : c === "a" ? "b" : "a";
  return token.slice(0, at) + swapped + token.slice(at + 1);
}

/** A 400 VALIDATION_FAILED whose details name `field`, and only it. */
function assertField(res, field) {
  assertInvalid(res, field);
}

/** Both refusals are `status code` at the edge, with bodies equal but for the request id. */
function assertSameRefusal(real, ghost, status, code) {
  for (const res of [real, ghost]) {
    assertError(res, status, code);
    assertNoStorage(res);
  }
  assert.equal(withoutRequestId(real.text), withoutRequestId(ghost.text));
  assert.equal(real.headers.get("content-type"), ghost.headers.get("content-type"));
}

function assertAbout(iso, fromNow, slackMs = 60_000) {
  const t = Date.parse(iso);
  assert.ok(Number.isFinite(t), `not a timestamp: ${iso}`);
  assert.ok(Math.abs(t - (Date.now() + fromNow)) < slackMs, `${iso} is not ~${fromNow} ms from now`);
}

/** A post body on `accountId` with `mediaIds`. */
const postBody = (accountId, mediaIds) => ({ content: unique("Post "), targets: [{ accountId }], mediaIds });

async function connect(a, token, wsId) {
  const res = await a.post("/social-accounts", { workspaceId: wsId, platform: "X", handle: "@a" }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

// --- the whole local-mode flow --------------------------------------------------------

describe("media: the local-mode upload flow end to end", () => {
  test("presign, PUT, complete, read, download, list, move, edit and delete one asset", async () => {
    const p = await app.personas();
    const token = p.session;
    const bytes = png(4096);

    // 1. presign
    const pre = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "logo.png", contentType: "image/png", bytes: 8192 }, { token });
    assert.equal(pre.status, 201, pre.text);
    const m = pre.body.mediaAsset;
    assert.match(m.id, /^med_/);
    assert.equal(pre.headers.get("location"), `/api/v1/media/${m.id}`);
    assert.ok(pre.body.uploadUrl.startsWith(`http://api.test/api/v1/media/${m.id}/upload?token=`), pre.body.uploadUrl);
    assert.equal(pre.body.method, "PUT");
    assert.deepEqual(pre.body.headers, { "Content-Type": "image/png" });
    assertAbout(pre.body.expiresAt, FIFTEEN_MINUTES);
    assert.equal(m.status, "PENDING");
    assert.equal(m.workspaceId, p.ws1.id);
    assert.equal(m.folderId, null);
    assert.equal(m.filename, "logo.png");
    assert.equal(m.contentType, "image/png");
    assert.equal(m.bytes, 8192);
    assert.equal(m.altText, null);
    assert.equal(m.sourceUrl, null);
    assert.equal(m.createdBy, p.owner.user.id);
    assert.ok(Date.parse(m.createdAt));
    assert.ok(!("objectKey" in m), "the object key is not part of the API");
    const key = `${p.ws1.id}/${m.id}/logo.png`;
    assert.equal((await mediaRow(app, m.id)).object_key, key);
    assert.equal(await objectExists(app, key), false);

    // 2. PUT with exactly the returned headers (and the body's length, as any client sends it):
    // the bytes land at the staging key; the asset's own key is written only by complete.
    const up = await app.request(pre.body.method, pre.body.uploadUrl, {
      headers: { ...pre.body.headers, "Content-Length": String(bytes.length) },
      body: bytes,
    });
    assert.equal(up.status, 200, up.text);
    const stored = await object(app, `staging/${key}`);
    assert.deepEqual(stored.bytes, bytes);
    assert.equal(stored.contentType, "image/png");
    assert.equal(await objectExists(app, key), false);
    assert.equal((await mediaRow(app, m.id)).status, "PENDING");

    // 3. complete: READY with the real size
    const done = await app.post(`/media/${m.id}/complete`, undefined, { token });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.id, m.id);
    assert.equal(done.body.status, "READY");
    assert.equal(done.body.bytes, 4096);
    assert.equal(done.body.contentType, "image/png");
    assert.deepEqual((await object(app, key)).bytes, bytes, "copied to the asset's own key");
    assert.equal(await objectExists(app, `staging/${key}`), false, "and the staged upload gone");

    // 4. read it back, with a short-lived download URL
    const got = await app.get(`/media/${m.id}`, { token });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.status, "READY");
    assert.equal(got.body.bytes, 4096);
    assert.ok(got.body.url.startsWith(`http://api.test/api/v1/media/${m.id}/download?token=`), got.body.url);
    assertAbout(got.body.urlExpiresAt, FIFTEEN_MINUTES);

    // 5. the URL serves the same bytes with the right type, no credential needed
    const dl = await fetchBytes(app, got.body.url);
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get("content-type"), "image/png");
    assert.deepEqual(dl.bytes, bytes);

    // 6. listed in its workspace
    const list = await app.get(`/media?workspaceId=${p.ws1.id}`, { token });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.map((x) => x.id), [m.id]);
    assert.equal(list.body[0].status, "READY");
    assert.deepEqual((await app.get(`/media?workspaceId=${p.ws2.id}`, { token })).body, []);

    // 7. move into a folder
    const folder = await app.post(`/media/folders?workspaceId=${p.ws1.id}`, { name: "Logos" }, { token });
    assert.equal(folder.status, 201, folder.text);
    const moved = await app.post(`/media/${m.id}/move`, { folderId: folder.body.id }, { token });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.folderId, folder.body.id);
    const inFolder = await app.get(`/media?workspaceId=${p.ws1.id}&folderId=${folder.body.id}`, { token });
    assert.deepEqual(inFolder.body.map((x) => x.id), [m.id]);

    // 8. edit alt text and filename (sanitised)
    const edited = await app.patch(`/media/${m.id}`, { altText: "The logo, in blue", filename: "Brand Logo 2026.png" }, { token });
    assert.equal(edited.status, 200, edited.text);
    assert.equal(edited.body.altText, "The logo, in blue");
    assert.equal(edited.body.filename, "Brand-Logo-2026.png");
    assert.equal(edited.body.folderId, folder.body.id);
    assert.equal(edited.body.status, "READY");

    // 9. delete: row and object gone
    const del = await app.delete(`/media/${m.id}`, { token });
    assert.equal(del.status, 204, del.text);
    assert.equal(del.text, "");
    assert.equal(await mediaRow(app, m.id), null);
    assert.equal(await objectExists(app, key), false);
    assertError(await app.get(`/media/${m.id}`, { token }), 404, "NOT_FOUND");
    assert.equal((await fetchBytes(app, got.body.url)).status, 404);
  });

  test("a JPEG goes through the same flow and downloads as image/jpeg", async () => {
    const p = await app.personas();
    const bytes = jpeg(3000);
    const m = await uploaded(app, p.fullKey, p.ws1.id, { filename: "photo.jpg", contentType: "image/jpeg", bytes });
    assert.equal(m.bytes, 3000);
    assert.equal(m.contentType, "image/jpeg");
    const got = await app.get(`/media/${m.id}`, { token: p.fullKey });
    const dl = await fetchBytes(app, got.body.url);
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(dl.bytes, bytes);
  });
});

// --- POST /media/presign --------------------------------------------------------------

describe("POST /media/presign", () => {
  test("bytes may be omitted: the row has none until complete fills in the real size", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal(pre.mediaAsset.bytes, null);
    assert.equal((await put(app, pre, png(1234))).status, 200);
    const done = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.body.bytes, 1234);
  });

  test("the workspace may be named in the query or the X-Workspace-Id header", async () => {
    const p = await app.personas();
    const body = { filename: "a.png", contentType: "image/png" };
    const q = await app.post(`/media/presign?workspaceId=${p.ws1.id}`, body, { token: p.session });
    assert.equal(q.status, 201, q.text);
    assert.equal(q.body.mediaAsset.workspaceId, p.ws1.id);
    const h = await app.post("/media/presign", body, { token: p.session, headers: { "X-Workspace-Id": p.ws2.id } });
    assert.equal(h.status, 201, h.text);
    assert.equal(h.body.mediaAsset.workspaceId, p.ws2.id);
  });

  test("a content type off the allow-list is 400 naming contentType, and nothing is created", async () => {
    const p = await app.personas();
    const before = await app.count("media");
    for (const contentType of ["image/svg+xml", "text/html", "application/octet-stream", "image/jpg", ""]) {
      const res = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "x.png", contentType }, { token: p.session });
      assertField(res, "contentType");
    }
    assert.equal(await app.count("media"), before);
  });

  test("bytes over the type's cap, or zero, is 400 naming bytes; the cap itself is accepted", async () => {
    const p = await app.personas();
    const PDF_CAP = 100 * 1024 * 1024;
    const IMAGE_CAP = 5 * 1024 * 1024 * 1024;
    const before = await app.count("media");
    for (const [contentType, bytes] of [
      ["application/pdf", PDF_CAP + 1],
      ["image/png", IMAGE_CAP + 1],
      ["image/png", 0],
    ]) {
      const res = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "doc.pdf", contentType, bytes }, { token: p.session });
      assertField(res, "bytes");
    }
    assert.equal(await app.count("media"), before);
    const atCap = await presign(app, p.session, p.ws1.id, { filename: "doc.pdf", contentType: "application/pdf", bytes: PDF_CAP });
    assert.equal(atCap.mediaAsset.bytes, PDF_CAP);
  });

  test("bytes written with a zero fraction is that whole number (JSON Schema's integer); a fraction, a string or a negative is 400", async () => {
    const p = await app.personas();
    const send = (bytes) => `{"workspaceId":"${p.ws1.id}","filename":"x.png","contentType":"image/png","bytes":${bytes}}`;
    for (const [raw, expected] of [["2048.0", 2048], ["2.048e3", 2048]]) {
      const res = await app.post("/media/presign", send(raw), { token: p.session });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.mediaAsset.bytes, expected);
    }
    const before = await app.count("media");
    for (const raw of ["2048.5", "\"2048\"", "-1"]) {
      assertField(await app.post("/media/presign", send(raw), { token: p.session }), "bytes");
    }
    assert.equal(await app.count("media"), before);
  });

  test("a path in the filename is cut down to a safe last segment, which names the object", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id, { filename: "../../etc/passwd" });
    const name = pre.mediaAsset.filename;
    assert.equal(name, "passwd");
    assert.ok(!/[\\/]/.test(name) && !name.startsWith("."), name);
    const bytes = png(100);
    assert.equal((await put(app, pre, bytes)).status, 200);
    assert.deepEqual(await keysOf(app, `staging/${p.ws1.id}`), [`staging/${p.ws1.id}/${pre.mediaAsset.id}/passwd`]);
    const windows = await presign(app, p.session, p.ws1.id, { filename: "..\\..\\win dows\\my photo.png" });
    assert.equal(windows.mediaAsset.filename, "my-photo.png");
  });

  test("an empty filename, or one with nothing safe left, is 400 naming filename", async () => {
    const p = await app.personas();
    const before = await app.count("media");
    for (const filename of ["", "   ", "../", ".."]) {
      const res = await app.post("/media/presign", { workspaceId: p.ws1.id, filename, contentType: "image/png" }, { token: p.session });
      assertField(res, "filename");
    }
    assert.equal(await app.count("media"), before);
  });

  test("no workspace at all is 400 WORKSPACE_REQUIRED", async () => {
    const p = await app.personas();
    const before = await app.count("media");
    const res = await app.post("/media/presign", { filename: "a.png", contentType: "image/png" }, { token: p.session });
    assertError(res, 400, "WORKSPACE_REQUIRED");
    assert.equal(await app.count("media"), before);
  });

  test("a folder of another workspace is 404 and nothing is created", async () => {
    const p = await app.personas();
    const theirs = await app.post("/media/folders", { workspaceId: p.foreign.id, name: "Theirs" }, { token: p.stranger.token });
    assert.equal(theirs.status, 201, theirs.text);
    const mine2 = await app.post("/media/folders", { workspaceId: p.ws2.id, name: "Mine, in ws2" }, { token: p.session });
    const before = await storage(app);
    for (const folderId of [theirs.body.id, mine2.body.id, ghostId("fld_", p.ws1.id)]) {
      const res = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "a.png", contentType: "image/png", folderId }, { token: p.session });
      assertError(res, 404, "NOT_FOUND");
    }
    assert.deepEqual(await storage(app), before);
  });

  test("a folder of the same workspace is recorded on the asset", async () => {
    const p = await app.personas();
    const folder = await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Launch" }, { token: p.session });
    const pre = await presign(app, p.session, p.ws1.id, { folderId: folder.body.id });
    assert.equal(pre.mediaAsset.folderId, folder.body.id);
  });

  describe("auth", () => {
    test("no credential is 401 with no d1, and nothing is created", async () => {
      const p = await app.personas();
      const before = await storage(app);
      const res = await app.post("/media/presign", { workspaceId: p.ws1.id, filename: "a.png", contentType: "image/png" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.deepEqual(await storage(app), before);
    });

    test("a foreign workspace is 403 WORKSPACE_FORBIDDEN with no d1, the same body as a ghost's, for every credential", async () => {
      const p = await app.personas();
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const send = (ws) => app.post("/media/presign", { workspaceId: ws, filename: "a.png", contentType: "image/png" }, { token });
        assertSameRefusal(await send(target), await send(ghostWorkspaceId()), 403, "WORKSPACE_FORBIDDEN");
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may presign", async () => {
      const t = await team(app);
      await warm(app, t.member, t.reviewer, t.editor);
      const before = await storage(app);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.post("/media/presign", { workspaceId: t.ws1.id, filename: "a.png", contentType: "image/png" }, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.deepEqual(await storage(app), before);
      await presign(app, t.editor, t.ws1.id);
    });
  });
});

// --- PUT /media/{id}/upload (capability) ------------------------------------------------

describe("PUT /media/{id}/upload", () => {
  test("a body of exactly the presigned size is accepted", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id, { bytes: 1000 });
    const res = await put(app, pre, png(1000));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, pre.mediaAsset.id);
    assert.equal(res.body.bytes, 1000);
  });

  test("uploading again before complete replaces the object", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pre, png(500))).status, 200);
    const second = png(700);
    assert.equal((await put(app, pre, second)).status, 200);
    const key = `staging/${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
    assert.deepEqual((await object(app, key)).bytes, second);
  });

  test("once READY, the upload URL is refused and the object is unchanged", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const first = png(600);
    assert.equal((await put(app, pre, first)).status, 200);
    assert.equal((await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session })).status, 200);
    const again = await put(app, pre, png(600));
    assertError(again, 409, "INVALID_STATE");
    assert.deepEqual((await object(app, `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`)).bytes, first);
  });

  describe("auth", () => {
    // Expiry to the second is unit-tested in src/domain/capability.rs
    // (`expires_at_the_stated_second`); tokens minted by Node with a past expiry are refused in
    // tests/crypto.test.mjs. Here the worker's clock is moved past a token it issued itself.

    /** A PENDING asset, its object key, and a check that it is still untouched. */
    async function pending() {
      const p = await app.personas();
      const pre = await presign(app, p.session, p.ws1.id, { bytes: 1000 });
      const key = `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
      const untouched = async () => {
        assert.equal(await objectExists(app, key), false, "no object may be written");
        assert.equal((await mediaRow(app, pre.mediaAsset.id)).status, "PENDING");
      };
      return { p, pre, key, untouched };
    }

    test("an upload URL works until its expiresAt and is 401 from then on, writing nothing", async () => {
      const { pre, untouched } = await pending();
      const expiresAt = Date.parse(pre.expiresAt);
      try {
        // Five seconds before, it still holds (shown by the size refusal, which comes only after
        // the token is accepted; the token counts whole seconds).
        await app.setClock(expiresAt - Date.now() - 5000);
        assertError(await put(app, pre, png(1001)), 413, "PAYLOAD_TOO_LARGE");
        await app.setClock(expiresAt - Date.now());
        assertError(await put(app, pre, png(500)), 401, "UNAUTHORIZED");
        await untouched();
      } finally {
        await app.setClock(0);
      }
      assert.equal((await put(app, pre, png(500))).status, 200, "valid again on the wall clock");
    });

    test("a Content-Type other than the presigned one is 400 and writes nothing", async () => {
      const { pre, untouched } = await pending();
      for (const ct of ["image/jpeg", "text/html", "application/octet-stream"]) {
        const res = await put(app, pre, png(500), { headers: { "Content-Type": ct } });
        assertField(res, "Content-Type");
        await untouched();
      }
    });

    test("a body larger than the presigned bytes is 413 PAYLOAD_TOO_LARGE and writes nothing", async () => {
      const { pre, untouched } = await pending();
      const res = await put(app, pre, png(1001));
      assertError(res, 413, "PAYLOAD_TOO_LARGE");
      assert.match(res.body.message, /\b1000 bytes/);
      await untouched();
    });

    test("without presigned bytes the cap is the type's, 5 GiB for an image, and the 413 states it", async () => {
      const p = await app.personas();
      const pre = await presign(app, p.session, p.ws1.id);
      const key = `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
      const FIVE_GIB = 5 * 1024 * 1024 * 1024;
      const res = await rawPut(app, pre.uploadUrl, { "Content-Type": "image/png", "Content-Length": String(FIVE_GIB + 1) }, png(1000));
      assert.equal(res.status, 413, res.raw);
      assert.equal(res.body?.code, "PAYLOAD_TOO_LARGE", res.raw);
      assert.match(res.body.message, new RegExp(`\\b${FIVE_GIB} bytes`), res.body.message);
      assert.equal(await objectExists(app, key), false);
      assert.equal((await mediaRow(app, pre.mediaAsset.id)).status, "PENDING");
    });

    test("an empty body is refused and writes nothing", async () => {
      const { pre, untouched } = await pending();
      const res = await app.request("PUT", pre.uploadUrl, { headers: { ...pre.headers, "Content-Length": "0" }, body: new Uint8Array(0) });
      assert.ok([400, 413].includes(res.status), res.text);
      await untouched();
    });

    test("a body with no Content-Length (chunked) is 400 naming Content-Length and writes nothing", async () => {
      // Like R2's own presigned PUT, which answers 411 without it: the size cap is checked
      // against the declared length before a byte is stored.
      const { pre, untouched } = await pending();
      const res = await app.request("PUT", pre.uploadUrl, { headers: pre.headers, body: png(500) });
      assertField(res, "Content-Length");
      await untouched();
    });

    test("a token with one character changed is 401 and writes nothing", async () => {
      const { pre, untouched } = await pending();
      const token = new URL(pre.uploadUrl).searchParams.get("token");
      // The MAC's last character, and a digit of the size cap (a bid for a bigger upload).
      const capAt = token.indexOf(".1000.") + 1;
      assert.ok(capAt > 0, token);
      for (const bad of [tamper(token), tamper(token, capAt), tamper(token, Math.floor(token.length / 2))]) {
        assert.notEqual(bad, token);
        const res = await put(app, pre, png(500), { url: withToken(pre.uploadUrl, bad) });
        assertError(res, 401, "UNAUTHORIZED");
        assertNoStorage(res);
        await untouched();
      }
    });

    test("another media's token on this media's upload path is 401 and writes neither object", async () => {
      const { p, pre, untouched } = await pending();
      const other = await presign(app, p.session, p.ws1.id, { bytes: 1000 });
      const otherToken = new URL(other.uploadUrl).searchParams.get("token");
      const res = await put(app, pre, png(500), { url: withToken(pre.uploadUrl, otherToken) });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      await untouched();
      assert.equal(await objectExists(app, `${p.ws1.id}/${other.mediaAsset.id}/logo.png`), false);
      assert.equal((await mediaRow(app, other.mediaAsset.id)).status, "PENDING");
    });

    test("no token is 401 and writes nothing", async () => {
      const { pre, untouched } = await pending();
      const res = await put(app, pre, png(500), { url: withToken(pre.uploadUrl, null) });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      await untouched();
      const empty = await put(app, pre, png(500), { url: withToken(pre.uploadUrl, "") });
      assertError(empty, 401, "UNAUTHORIZED");
      await untouched();
    });

    test("a download token does not authorise an upload", async () => {
      const p = await app.personas();
      const m = await uploaded(app, p.session, p.ws1.id);
      const pre = await presign(app, p.session, p.ws1.id, { bytes: 1000 });
      // The READY asset's download token, on its own upload path and on a PENDING one's.
      const url = (await app.get(`/media/${m.id}`, { token: p.session })).body.url;
      const dlToken = new URL(url).searchParams.get("token");
      for (const target of [m.id, pre.mediaAsset.id]) {
        const res = await app.request("PUT", `http://api.test/api/v1/media/${target}/upload?token=${dlToken}`, {
          headers: { "Content-Type": "image/png", "Content-Length": "500" },
          body: png(500),
        });
        assertError(res, 401, "UNAUTHORIZED");
      }
      assert.equal(await objectExists(app, `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`), false);
    });
  });
});

// --- GET /media/{id}/download (capability) -----------------------------------------------

describe("GET /media/{id}/download", () => {
  test("an ASCII filename is offered inline under its own name", async () => {
    const p = await app.personas();
    const m = await uploaded(app, p.session, p.ws1.id, { filename: "brand logo.png" });
    const url = (await app.get(`/media/${m.id}`, { token: p.session })).body.url;
    const dl = await fetchBytes(app, url);
    assert.equal(dl.status, 200);
    assert.match(dl.headers.get("content-disposition"), /^inline; filename="brand-logo\.png"/);
  });

  test("a filename in any script reaches Content-Disposition intact, as RFC 6266 filename*", async () => {
    // The sanitiser keeps letters of every script, so the header must carry them in a form
    // clients decode: an ASCII header with filename*=UTF-8''<percent-encoded>. Raw UTF-8 in the
    // header is read as Latin-1 ("æ¥æ¬èª…") by fetch and most HTTP libraries.
    const p = await app.personas();
    for (const filename of ["日本語の写真.png", "café.png"]) {
      const m = await uploaded(app, p.session, p.ws1.id, { filename });
      assert.equal(m.filename, filename);
      const url = (await app.get(`/media/${m.id}`, { token: p.session })).body.url;
      const dl = await fetchBytes(app, url);
      assert.equal(dl.status, 200);
      const cd = dl.headers.get("content-disposition");
      assert.ok([...cd].every((c) => c.charCodeAt(0) < 0x80), `Content-Disposition is not ASCII: ${cd}`);
      const star = /filename\*=UTF-8''([^;\s]+)/i.exec(cd);
      assert.ok(star, `no filename* parameter: ${cd}`);
      assert.equal(decodeURIComponent(star[1]), filename);
    }
  });

  describe("auth", () => {
    test("an upload token, a tampered token, another media's token or none is 401", async () => {
      const p = await app.personas();
      const a = await uploaded(app, p.session, p.ws1.id);
      const b = await uploaded(app, p.session, p.ws1.id);
      const urlA = (await app.get(`/media/${a.id}`, { token: p.session })).body.url;
      const urlB = (await app.get(`/media/${b.id}`, { token: p.session })).body.url;
      const tokenA = new URL(urlA).searchParams.get("token");
      const tokenB = new URL(urlB).searchParams.get("token");
      const pending = await presign(app, p.session, p.ws1.id);
      const upToken = new URL(pending.uploadUrl).searchParams.get("token");
      for (const url of [
        withToken(urlA, tamper(tokenA)),
        withToken(urlA, tokenB),
        withToken(urlA, null),
        `http://api.test/api/v1/media/${pending.mediaAsset.id}/download?token=${upToken}`,
      ]) {
        const res = await app.get(url);
        assertError(res, 401, "UNAUTHORIZED");
      }
      assert.equal((await fetchBytes(app, urlA)).status, 200);
    });
  });
});

// --- POST /media/{id}/complete --------------------------------------------------------

describe("POST /media/{id}/complete", () => {
  test("before any upload it is 409 UPLOAD_INCOMPLETE and the row stays PENDING", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const res = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assertError(res, 409, "UPLOAD_INCOMPLETE");
    assert.equal((await mediaRow(app, pre.mediaAsset.id)).status, "PENDING");
  });

  test("bytes that are not the declared type are 400, and the object is deleted from R2", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const key = `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
    // The PUT checks only the header; the bytes are a PDF.
    assert.equal((await put(app, pre, pdf(1500))).status, 200);
    assert.equal(await objectExists(app, `staging/${key}`), true);
    const res = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assertField(res, "contentType");
    assert.equal(await objectExists(app, `staging/${key}`), false);
    assert.equal(await objectExists(app, key), false);
    const row = await mediaRow(app, pre.mediaAsset.id);
    assert.equal(row.status, "PENDING");
    assert.equal(row.content_type, "image/png");
    // A retry now finds nothing uploaded.
    assertError(await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session }), 409, "UPLOAD_INCOMPLETE");
  });

  test("JPEG bytes uploaded as image/png are refused the same way", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pre, jpeg(800))).status, 200);
    assertField(await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session }), "contentType");
    assert.equal(await objectExists(app, `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`), false);
    assert.equal(await objectExists(app, `staging/${p.ws1.id}/${pre.mediaAsset.id}/logo.png`), false);
  });

  test("completing twice is 200 both times, with the same READY asset", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pre, png(900))).status, 200);
    const first = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    const second = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.status, "READY");
    assert.equal(second.body.bytes, 900);
    assert.deepEqual(second.body, first.body);
  });

  test("an object shorter than the sniffing window still completes", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pre, png(24))).status, 200);
    const res = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.bytes, 24);
  });

  test("an unknown or malformed media id is 404", async () => {
    const p = await app.personas();
    assertError(await app.post(`/media/${ghostId("med_", p.ws1.id)}/complete`, undefined, { token: p.session }), 404, "NOT_FOUND");
    assertError(await app.post("/media/med_nope/complete", undefined, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const pre = await presign(app, p.session, p.ws1.id);
      await put(app, pre, png(500));
      const res = await app.post(`/media/${pre.mediaAsset.id}/complete`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await mediaRow(app, pre.mediaAsset.id)).status, "PENDING");
    });

    test("a foreign media id is 403 with no d1, the same body as a ghost's, and stays PENDING", async () => {
      const p = await app.personas();
      const theirs = await presign(app, p.stranger.token, p.foreign.id);
      await put(app, theirs, png(500));
      const mine2 = await presign(app, p.session, p.ws2.id);
      await put(app, mine2, png(500));
      await warm(app, p.session, p.fullKey, p.scopedKey);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const real = await app.post(`/media/${target.mediaAsset.id}/complete`, undefined, { token });
        const ghost = await app.post(`/media/${ghostId("med_", ws)}/complete`, undefined, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
      assert.equal((await mediaRow(app, theirs.mediaAsset.id)).status, "PENDING");
      assert.equal((await mediaRow(app, mine2.mediaAsset.id)).status, "PENDING");
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may complete", async () => {
      const t = await team(app);
      const pre = await presign(app, t.session, t.ws1.id);
      await put(app, pre, png(500));
      await warm(app, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal((await mediaRow(app, pre.mediaAsset.id)).status, "PENDING");
      const ok = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: t.editor });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.status, "READY");
    });
  });
});

// --- GET /media/{id} --------------------------------------------------------------------

describe("GET /media/{id}", () => {
  test("a PENDING asset has no url and no urlExpiresAt", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const res = await app.get(`/media/${pre.mediaAsset.id}`, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "PENDING");
    assert.equal(res.body.url, null);
    assert.equal(res.body.urlExpiresAt, null);
    assert.ok(!("objectKey" in res.body));
  });

  test("an unknown or malformed media id is 404", async () => {
    const p = await app.personas();
    assertError(await app.get(`/media/${ghostId("med_", p.ws1.id)}`, { token: p.session }), 404, "NOT_FOUND");
    assertError(await app.get("/media/not-an-id", { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const m = await uploaded(app, p.session, p.ws1.id);
      const res = await app.get(`/media/${m.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });

    test("a foreign media id is 403 with no d1 and the same body as a ghost's; the scoped key cannot reach ws2", async () => {
      const p = await app.personas();
      const theirs = await uploaded(app, p.stranger.token, p.foreign.id);
      const mine2 = await uploaded(app, p.session, p.ws2.id);
      await warm(app, p.session, p.fullKey, p.scopedKey);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const real = await app.get(`/media/${target.id}`, { token });
        const ghost = await app.get(`/media/${ghostId("med_", ws)}`, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
        assert.ok(!real.text.includes("download"), "a refusal carries no URL");
      }
    });

    test("every role may read, MEMBER and CLIENT_REVIEWER included", async () => {
      const t = await team(app);
      const m = await uploaded(app, t.session, t.ws1.id);
      for (const token of [t.member, t.reviewer, t.editor]) {
        const res = await app.get(`/media/${m.id}`, { token });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.id, m.id);
        assert.ok(res.body.url);
      }
    });
  });
});

// --- GET /media -----------------------------------------------------------------------------

describe("GET /media", () => {
  test("lists the workspace's media newest first, PENDING included, and filters by folder", async () => {
    const p = await app.personas();
    const folder = await app.post("/media/folders", { workspaceId: p.ws1.id, name: "F" }, { token: p.session });
    const a = await uploaded(app, p.session, p.ws1.id);
    await tick();
    const b = (await presign(app, p.session, p.ws1.id, { folderId: folder.body.id })).mediaAsset;
    await tick();
    const c = await uploaded(app, p.session, p.ws1.id, { folderId: folder.body.id });
    await uploaded(app, p.session, p.ws2.id);
    await uploaded(app, p.stranger.token, p.foreign.id);

    const res = await app.get(`/media?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((m) => m.id), [c.id, b.id, a.id]);
    assert.deepEqual(res.body.map((m) => m.status), ["READY", "PENDING", "READY"]);
    for (const m of res.body) assert.ok(!("objectKey" in m));

    const inFolder = await app.get(`/media?workspaceId=${p.ws1.id}&folderId=${folder.body.id}`, { token: p.session });
    assert.deepEqual(inFolder.body.map((m) => m.id), [c.id, b.id]);

    const paged = await app.get(`/media?workspaceId=${p.ws1.id}&limit=2`, { token: p.session });
    assert.deepEqual(paged.body.map((m) => m.id), [c.id, b.id]);
    const next = /^<([^>]+)>; rel="next"$/.exec(paged.headers.get("link"))?.[1];
    assert.ok(next, paged.headers.get("link"));
    const rest = await app.get(next, { token: p.session });
    assert.deepEqual(rest.body.map((m) => m.id), [a.id]);
  });

  test("no workspace is 400 WORKSPACE_REQUIRED; a folder of another workspace is 404", async () => {
    const p = await app.personas();
    assertError(await app.get("/media", { token: p.session }), 400, "WORKSPACE_REQUIRED");
    const theirs = await app.post("/media/folders", { workspaceId: p.foreign.id, name: "T" }, { token: p.stranger.token });
    assertError(await app.get(`/media?workspaceId=${p.ws1.id}&folderId=${theirs.body.id}`, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const res = await app.get(`/media?workspaceId=${p.ws1.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });

    test("a foreign workspace is 403 with no d1 and the same body as a ghost's, for every credential", async () => {
      const p = await app.personas();
      await uploaded(app, p.stranger.token, p.foreign.id);
      await warm(app, p.session, p.fullKey, p.scopedKey);
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const real = await app.get(`/media?workspaceId=${target}`, { token });
        const ghost = await app.get(`/media?workspaceId=${ghostWorkspaceId()}`, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
    });

    test("MEMBER and CLIENT_REVIEWER may list", async () => {
      const t = await team(app);
      const m = await uploaded(app, t.session, t.ws1.id);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.get(`/media?workspaceId=${t.ws1.id}`, { token });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.map((x) => x.id), [m.id]);
      }
    });
  });
});

// --- PATCH /media/{id} --------------------------------------------------------------------

describe("PATCH /media/{id}", () => {
  test("changes only the fields sent, sanitising the filename; the object stays where it is", async () => {
    const p = await app.personas();
    const m = await uploaded(app, p.session, p.ws1.id, { filename: "orig.png" });
    const alt = await app.patch(`/media/${m.id}`, { altText: "A blue logo" }, { token: p.session });
    assert.equal(alt.status, 200, alt.text);
    assert.equal(alt.body.altText, "A blue logo");
    assert.equal(alt.body.filename, "orig.png");
    const name = await app.patch(`/media/${m.id}`, { filename: "../x/new name.png" }, { token: p.session });
    assert.equal(name.body.filename, "new-name.png");
    assert.equal(name.body.altText, "A blue logo");
    assert.equal(await objectExists(app, `${p.ws1.id}/${m.id}/orig.png`), true);
    const url = (await app.get(`/media/${m.id}`, { token: p.session })).body.url;
    assert.equal((await fetchBytes(app, url)).status, 200);
  });

  test("an unusable filename or an unknown field is 400 and changes nothing", async () => {
    const p = await app.personas();
    const m = await uploaded(app, p.session, p.ws1.id);
    const before = await mediaRow(app, m.id);
    assertField(await app.patch(`/media/${m.id}`, { filename: "../" }, { token: p.session }), "filename");
    assertField(await app.patch(`/media/${m.id}`, { status: "PENDING" }, { token: p.session }), "status");
    assert.deepEqual(await mediaRow(app, m.id), before);
  });

  test("an unknown media id is 404", async () => {
    const p = await app.personas();
    assertError(await app.patch(`/media/${ghostId("med_", p.ws1.id)}`, { altText: "x" }, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const m = await uploaded(app, p.session, p.ws1.id);
      const res = await app.patch(`/media/${m.id}`, { altText: "x" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await mediaRow(app, m.id)).alt_text, null);
    });

    test("a foreign media id is 403 with no d1, the same body as a ghost's, and changes nothing", async () => {
      const p = await app.personas();
      const theirs = await uploaded(app, p.stranger.token, p.foreign.id);
      const mine2 = await uploaded(app, p.session, p.ws2.id);
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const body = { altText: "pwned", filename: "pwned.png" };
        const real = await app.patch(`/media/${target.id}`, body, { token });
        const ghost = await app.patch(`/media/${ghostId("med_", ws)}`, body, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may edit", async () => {
      const t = await team(app);
      const m = await uploaded(app, t.session, t.ws1.id);
      await warm(app, t.member, t.reviewer);
      const before = await mediaRow(app, m.id);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.patch(`/media/${m.id}`, { altText: "mine now" }, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.deepEqual(await mediaRow(app, m.id), before);
      const ok = await app.patch(`/media/${m.id}`, { altText: "by the editor" }, { token: t.editor });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.altText, "by the editor");
    });
  });
});

// --- POST /media/{id}/move ------------------------------------------------------------------

describe("POST /media/{id}/move", () => {
  test("moves between folders of the workspace, and out of any folder", async () => {
    const p = await app.personas();
    const f1 = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "One" }, { token: p.session })).body;
    const f2 = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Two" }, { token: p.session })).body;
    const m = await uploaded(app, p.session, p.ws1.id, { folderId: f1.id });
    const moved = await app.post(`/media/${m.id}/move`, { folderId: f2.id }, { token: p.session });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.folderId, f2.id);
    assert.equal((await mediaRow(app, m.id)).folder_id, f2.id);
    const out = await app.post(`/media/${m.id}/move`, {}, { token: p.session });
    assert.equal(out.status, 200, out.text);
    assert.equal(out.body.folderId, null);
  });

  test("a folder of another workspace, or no folder at all, is 404 and the asset stays put", async () => {
    const p = await app.personas();
    const f1 = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "One" }, { token: p.session })).body;
    const theirs = (await app.post("/media/folders", { workspaceId: p.foreign.id, name: "T" }, { token: p.stranger.token })).body;
    const inWs2 = (await app.post("/media/folders", { workspaceId: p.ws2.id, name: "W2" }, { token: p.session })).body;
    const m = await uploaded(app, p.session, p.ws1.id, { folderId: f1.id });
    for (const folderId of [theirs.id, inWs2.id, ghostId("fld_", p.ws1.id)]) {
      assertError(await app.post(`/media/${m.id}/move`, { folderId }, { token: p.session }), 404, "NOT_FOUND");
    }
    assert.equal((await mediaRow(app, m.id)).folder_id, f1.id);
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const m = await uploaded(app, p.session, p.ws1.id);
      const res = await app.post(`/media/${m.id}/move`, {});
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });

    test("a foreign media id is 403 with no d1, the same body as a ghost's, and nothing moves", async () => {
      const p = await app.personas();
      const theirs = await uploaded(app, p.stranger.token, p.foreign.id);
      const mine2 = await uploaded(app, p.session, p.ws2.id);
      const myFolder = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Mine" }, { token: p.session })).body;
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        for (const body of [{}, { folderId: myFolder.id }]) {
          const real = await app.post(`/media/${target.id}/move`, body, { token });
          const ghost = await app.post(`/media/${ghostId("med_", ws)}/move`, body, { token });
          assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
        }
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may move", async () => {
      const t = await team(app);
      const f = (await app.post("/media/folders", { workspaceId: t.ws1.id, name: "F" }, { token: t.session })).body;
      const m = await uploaded(app, t.session, t.ws1.id);
      await warm(app, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.post(`/media/${m.id}/move`, { folderId: f.id }, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal((await mediaRow(app, m.id)).folder_id, null);
      const ok = await app.post(`/media/${m.id}/move`, { folderId: f.id }, { token: t.editor });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.folderId, f.id);
    });
  });
});

// --- DELETE /media/{id} ---------------------------------------------------------------------

describe("DELETE /media/{id}", () => {
  test("a PENDING asset with no object yet is deleted too", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const res = await app.delete(`/media/${pre.mediaAsset.id}`, { token: p.session });
    assert.equal(res.status, 204, res.text);
    assert.equal(await mediaRow(app, pre.mediaAsset.id), null);
    // Its upload URL no longer finds a row to upload to.
    const late = await put(app, pre, png(500));
    assertError(late, 404, "NOT_FOUND");
    assert.equal(await objectExists(app, `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`), false);
  });

  test("deleting twice is 404 the second time", async () => {
    const p = await app.personas();
    const m = await uploaded(app, p.session, p.ws1.id);
    assert.equal((await app.delete(`/media/${m.id}`, { token: p.session })).status, 204);
    assertError(await app.delete(`/media/${m.id}`, { token: p.session }), 404, "NOT_FOUND");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1, and the row and object remain", async () => {
      const p = await app.personas();
      const m = await uploaded(app, p.session, p.ws1.id);
      const res = await app.delete(`/media/${m.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.ok(await mediaRow(app, m.id));
      assert.equal(await objectExists(app, `${p.ws1.id}/${m.id}/logo.png`), true);
    });

    test("a foreign media id is 403 with no d1, the same body as a ghost's, and nothing is deleted", async () => {
      const p = await app.personas();
      const theirs = await uploaded(app, p.stranger.token, p.foreign.id);
      const mine2 = await uploaded(app, p.session, p.ws2.id);
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const real = await app.delete(`/media/${target.id}`, { token });
        const ghost = await app.delete(`/media/${ghostId("med_", ws)}`, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may delete", async () => {
      const t = await team(app);
      const m = await uploaded(app, t.session, t.ws1.id);
      await warm(app, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.delete(`/media/${m.id}`, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.ok(await mediaRow(app, m.id));
      assert.equal(await objectExists(app, `${t.ws1.id}/${m.id}/logo.png`), true);
      assert.equal((await app.delete(`/media/${m.id}`, { token: t.editor })).status, 204);
      assert.equal(await objectExists(app, `${t.ws1.id}/${m.id}/logo.png`), false);
    });
  });
});

// --- folders ----------------------------------------------------------------------------------

describe("GET /media/folders", () => {
  test("lists the workspace's folders oldest first", async () => {
    const p = await app.personas();
    const made = [];
    for (const name of ["Zebra", "Apple", "Mango"]) {
      const res = await app.post(`/media/folders?workspaceId=${p.ws1.id}`, { name }, { token: p.session });
      assert.equal(res.status, 201, res.text);
      made.push(res.body);
      await tick();
    }
    await app.post("/media/folders", { workspaceId: p.ws2.id, name: "Elsewhere" }, { token: p.session });
    const res = await app.get(`/media/folders?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.map((f) => f.id), made.map((f) => f.id));
    assert.deepEqual(res.body.map((f) => f.name), ["Zebra", "Apple", "Mango"]);
    const page = await app.get(`/media/folders?workspaceId=${p.ws1.id}&limit=2`, { token: p.session });
    assert.deepEqual(page.body.map((f) => f.name), ["Zebra", "Apple"]);
    assert.ok(page.headers.get("link"));
  });

  test("no workspace is 400 WORKSPACE_REQUIRED", async () => {
    const p = await app.personas();
    assertError(await app.get("/media/folders", { token: p.session }), 400, "WORKSPACE_REQUIRED");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const res = await app.get(`/media/folders?workspaceId=${p.ws1.id}`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
    });

    test("a foreign workspace is 403 with no d1 and the same body as a ghost's, for every credential", async () => {
      const p = await app.personas();
      await app.post("/media/folders", { workspaceId: p.foreign.id, name: "Theirs" }, { token: p.stranger.token });
      await warm(app, p.session, p.fullKey, p.scopedKey);
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const real = await app.get(`/media/folders?workspaceId=${target}`, { token });
        const ghost = await app.get(`/media/folders?workspaceId=${ghostWorkspaceId()}`, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
    });

    test("MEMBER and CLIENT_REVIEWER may list folders", async () => {
      const t = await team(app);
      const f = (await app.post("/media/folders", { workspaceId: t.ws1.id, name: "F" }, { token: t.session })).body;
      for (const token of [t.member, t.reviewer]) {
        const res = await app.get(`/media/folders?workspaceId=${t.ws1.id}`, { token });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.map((x) => x.id), [f.id]);
      }
    });
  });
});

describe("POST /media/folders", () => {
  test("creates a folder, named in the body or the query", async () => {
    const p = await app.personas();
    const res = await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Campaign Q3" }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.id, /^fld_/);
    assert.equal(res.body.workspaceId, p.ws1.id);
    assert.equal(res.body.name, "Campaign Q3");
    assert.ok(Date.parse(res.body.createdAt));
    assert.equal(res.headers.get("location"), `/api/v1/media/folders/${res.body.id}`);
    assert.ok(await folderRow(app, res.body.id));
    const q = await app.post(`/media/folders?workspaceId=${p.ws1.id}`, { name: "Second" }, { token: p.session });
    assert.equal(q.status, 201, q.text);
    assert.equal(q.body.workspaceId, p.ws1.id);
  });

  test("a missing or blank name is 400, and no workspace is 400 WORKSPACE_REQUIRED", async () => {
    const p = await app.personas();
    const before = await app.count("media_folders");
    assertField(await app.post("/media/folders", { workspaceId: p.ws1.id }, { token: p.session }), "name");
    assertField(await app.post("/media/folders", { workspaceId: p.ws1.id, name: "   " }, { token: p.session }), "name");
    assertError(await app.post("/media/folders", { name: "x" }, { token: p.session }), 400, "WORKSPACE_REQUIRED");
    assert.equal(await app.count("media_folders"), before);
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const before = await app.count("media_folders");
      const res = await app.post("/media/folders", { workspaceId: p.ws1.id, name: "x" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(await app.count("media_folders"), before);
    });

    test("a foreign workspace is 403 with no d1 and the same body as a ghost's; nothing is created", async () => {
      const p = await app.personas();
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const real = await app.post(`/media/folders?workspaceId=${target}`, { name: "Planted" }, { token });
        const ghost = await app.post(`/media/folders?workspaceId=${ghostWorkspaceId()}`, { name: "Planted" }, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
        const inBody = await app.post("/media/folders", { workspaceId: target, name: "Planted" }, { token });
        assertError(inBody, 403, "WORKSPACE_FORBIDDEN");
        assertNoStorage(inBody);
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may create", async () => {
      const t = await team(app);
      await warm(app, t.member, t.reviewer);
      const before = await app.count("media_folders");
      for (const token of [t.member, t.reviewer]) {
        const res = await app.post("/media/folders", { workspaceId: t.ws1.id, name: "Nope" }, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal(await app.count("media_folders"), before);
      const ok = await app.post("/media/folders", { workspaceId: t.ws1.id, name: "Yes" }, { token: t.editor });
      assert.equal(ok.status, 201, ok.text);
    });
  });
});

describe("PATCH /media/folders/{id}", () => {
  test("renames the folder", async () => {
    const p = await app.personas();
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Old" }, { token: p.session })).body;
    const res = await app.patch(`/media/folders/${f.id}`, { name: "New" }, { token: p.session });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.id, f.id);
    assert.equal(res.body.name, "New");
    assert.equal((await folderRow(app, f.id)).name, "New");
    const list = await app.get(`/media/folders?workspaceId=${p.ws1.id}`, { token: p.session });
    assert.deepEqual(list.body.map((x) => x.name), ["New"]);
  });

  test("an unknown folder is 404, a blank name 400", async () => {
    const p = await app.personas();
    assertError(await app.patch(`/media/folders/${ghostId("fld_", p.ws1.id)}`, { name: "x" }, { token: p.session }), 404, "NOT_FOUND");
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Keep" }, { token: p.session })).body;
    assertField(await app.patch(`/media/folders/${f.id}`, { name: "" }, { token: p.session }), "name");
    assert.equal((await folderRow(app, f.id)).name, "Keep");
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Old" }, { token: p.session })).body;
      const res = await app.patch(`/media/folders/${f.id}`, { name: "x" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal((await folderRow(app, f.id)).name, "Old");
    });

    test("a foreign folder id is 403 with no d1, the same body as a ghost's, and is not renamed", async () => {
      const p = await app.personas();
      const theirs = (await app.post("/media/folders", { workspaceId: p.foreign.id, name: "Theirs" }, { token: p.stranger.token })).body;
      const mine2 = (await app.post("/media/folders", { workspaceId: p.ws2.id, name: "Mine2" }, { token: p.session })).body;
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const real = await app.patch(`/media/folders/${target.id}`, { name: "Hijacked" }, { token });
        const ghost = await app.patch(`/media/folders/${ghostId("fld_", ws)}`, { name: "Hijacked" }, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may rename", async () => {
      const t = await team(app);
      const f = (await app.post("/media/folders", { workspaceId: t.ws1.id, name: "Old" }, { token: t.session })).body;
      await warm(app, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.patch(`/media/folders/${f.id}`, { name: "Nope" }, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal((await folderRow(app, f.id)).name, "Old");
      const ok = await app.patch(`/media/folders/${f.id}`, { name: "Edited" }, { token: t.editor });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.name, "Edited");
    });
  });
});

describe("DELETE /media/folders/{id}", () => {
  test("an empty folder is deleted: 204", async () => {
    const p = await app.personas();
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Empty" }, { token: p.session })).body;
    const res = await app.delete(`/media/folders/${f.id}`, { token: p.session });
    assert.equal(res.status, 204, res.text);
    assert.equal(await folderRow(app, f.id), null);
    assertError(await app.delete(`/media/folders/${f.id}`, { token: p.session }), 404, "NOT_FOUND");
  });

  test("a folder holding media is 409 FOLDER_NOT_EMPTY and nothing is deleted", async () => {
    const p = await app.personas();
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Full" }, { token: p.session })).body;
    const m = await uploaded(app, p.session, p.ws1.id, { folderId: f.id });
    const before = await storage(app);
    for (const query of ["", "?recursive=false"]) {
      assertError(await app.delete(`/media/folders/${f.id}${query}`, { token: p.session }), 409, "FOLDER_NOT_EMPTY");
    }
    assert.deepEqual(await storage(app), before);
    assert.ok(await folderRow(app, f.id));
    assert.equal(await objectExists(app, `${p.ws1.id}/${m.id}/logo.png`), true);
  });

  test("?recursive=true deletes the folder, its media rows and their R2 objects, and nothing else", async () => {
    const p = await app.personas();
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "Doomed" }, { token: p.session })).body;
    const a = await uploaded(app, p.session, p.ws1.id, { folderId: f.id, filename: "a.png" });
    const b = await uploaded(app, p.session, p.ws1.id, { folderId: f.id, filename: "b.jpg", contentType: "image/jpeg", bytes: jpeg(700) });
    const pendingIn = (await presign(app, p.session, p.ws1.id, { folderId: f.id, filename: "c.png" })).mediaAsset;
    const outside = await uploaded(app, p.session, p.ws1.id, { filename: "keep.png" });
    const res = await app.delete(`/media/folders/${f.id}?recursive=true`, { token: p.session });
    assert.equal(res.status, 204, res.text);
    assert.equal(await folderRow(app, f.id), null);
    for (const id of [a.id, b.id, pendingIn.id]) assert.equal(await mediaRow(app, id), null, id);
    assert.equal(await objectExists(app, `${p.ws1.id}/${a.id}/a.png`), false);
    assert.equal(await objectExists(app, `${p.ws1.id}/${b.id}/b.jpg`), false);
    assert.ok(await mediaRow(app, outside.id));
    assert.deepEqual(await keysOf(app, p.ws1.id), [`${p.ws1.id}/${outside.id}/keep.png`]);
  });

  test("a recursive value other than true or false is 400 and nothing is deleted", async () => {
    const p = await app.personas();
    const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "F" }, { token: p.session })).body;
    assertField(await app.delete(`/media/folders/${f.id}?recursive=yes`, { token: p.session }), "recursive");
    assert.ok(await folderRow(app, f.id));
  });

  describe("auth", () => {
    test("no credential is 401 with no d1", async () => {
      const p = await app.personas();
      const f = (await app.post("/media/folders", { workspaceId: p.ws1.id, name: "F" }, { token: p.session })).body;
      const res = await app.delete(`/media/folders/${f.id}?recursive=true`);
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.ok(await folderRow(app, f.id));
    });

    test("a foreign folder id is 403 with no d1, the same body as a ghost's, and nothing is deleted", async () => {
      const p = await app.personas();
      const theirs = (await app.post("/media/folders", { workspaceId: p.foreign.id, name: "Theirs" }, { token: p.stranger.token })).body;
      await uploaded(app, p.stranger.token, p.foreign.id, { folderId: theirs.id });
      const mine2 = (await app.post("/media/folders", { workspaceId: p.ws2.id, name: "Mine2" }, { token: p.session })).body;
      await warm(app, p.session, p.fullKey, p.scopedKey);
      const before = await storage(app);
      for (const [token, target, ws] of [[p.session, theirs, p.foreign.id], [p.fullKey, theirs, p.foreign.id], [p.scopedKey, theirs, p.foreign.id], [p.scopedKey, mine2, p.ws2.id]]) {
        const real = await app.delete(`/media/folders/${target.id}?recursive=true`, { token });
        const ghost = await app.delete(`/media/folders/${ghostId("fld_", ws)}?recursive=true`, { token });
        assertSameRefusal(real, ghost, 403, "WORKSPACE_FORBIDDEN");
      }
      assert.deepEqual(await storage(app), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1; an EDITOR may delete", async () => {
      const t = await team(app);
      const f = (await app.post("/media/folders", { workspaceId: t.ws1.id, name: "F" }, { token: t.session })).body;
      await warm(app, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await app.delete(`/media/folders/${f.id}`, { token });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.ok(await folderRow(app, f.id));
      assert.equal((await app.delete(`/media/folders/${f.id}`, { token: t.editor })).status, 204);
    });
  });
});

// --- posts that use media ---------------------------------------------------------------------

describe("POST /posts with mediaIds", () => {
  test("a READY asset of the same workspace is accepted", async () => {
    const p = await app.personas();
    const account = await connect(app, p.session, p.ws1.id);
    const m = await uploaded(app, p.session, p.ws1.id);
    const res = await app.post("/posts", postBody(account.id, [m.id]), { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.mediaIds, [m.id]);
  });

  test("a PENDING asset is 400 naming mediaIds[0], and no post is created", async () => {
    const p = await app.personas();
    const account = await connect(app, p.session, p.ws1.id);
    const pre = await presign(app, p.session, p.ws1.id);
    await put(app, pre, png(500)); // uploaded, but not completed
    const before = await app.count("posts");
    const res = await app.post("/posts", postBody(account.id, [pre.mediaAsset.id]), { token: p.session });
    assertField(res, "mediaIds[0]");
    assert.equal(await app.count("posts"), before);
  });

  test("a deleted asset is 400 naming its index", async () => {
    const p = await app.personas();
    const account = await connect(app, p.session, p.ws1.id);
    const keep = await uploaded(app, p.session, p.ws1.id);
    const gone = await uploaded(app, p.session, p.ws1.id);
    assert.equal((await app.delete(`/media/${gone.id}`, { token: p.session })).status, 204);
    const res = await app.post("/posts", postBody(account.id, [keep.id, gone.id]), { token: p.session });
    assertField(res, "mediaIds[1]");
    assert.ok(!res.body.details.some((d) => d.field === "mediaIds[0]"), res.text);
  });

  test("an asset of another workspace is 400 naming mediaIds[0], decided with no d1", async () => {
    const p = await app.personas();
    const account = await connect(app, p.session, p.ws1.id);
    const theirs = await uploaded(app, p.stranger.token, p.foreign.id);
    const mine2 = await uploaded(app, p.session, p.ws2.id);
    await warm(app, p.session);
    const before = await app.count("posts");
    for (const id of [theirs.id, mine2.id]) {
      const res = await app.post("/posts", postBody(account.id, [id]), { token: p.session });
      assertField(res, "mediaIds[0]");
      assertNoStorage(res);
      const inTarget = await app.post("/posts", { content: "x", targets: [{ accountId: account.id, mediaIds: [id] }] }, { token: p.session });
      assertField(inTarget, "targets[0].mediaIds[0]");
      assertNoStorage(inTarget);
    }
    assert.equal(await app.count("posts"), before);
  });
});

// --- POST /media/from-url ---------------------------------------------------------------------

/** What the stubbed internet saw, and how it answers. Reset before every test. */
const upstream = { calls: [], handler: () => new Response("no handler", { status: 500 }) };
function serve(handler) {
  upstream.handler = handler;
}
const outboundService = async (request) => {
  upstream.calls.push({ url: request.url, method: request.method });
  return upstream.handler(request);
};
const image = (bytes, type) => new Response(bytes, { headers: { "Content-Type": type } });

describe("POST /media/from-url", () => {
  let ing;
  before(async () => { ing = await startWorker({ worker: { outboundService } }); });
  after(() => ing.dispose());
  beforeEach(() => {
    upstream.calls = [];
    upstream.handler = () => new Response("no handler", { status: 500 });
  });

  const ingest = (token, body) => ing.post("/media/from-url", body, { token });

  test("a public PNG is fetched into R2 as a READY asset with its source URL", async () => {
    const p = await ing.personas();
    const bytes = png(3000);
    serve(() => image(bytes, "image/png"));
    const url = "https://cdn.example.com/brand/logo.png";
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url, altText: "Our logo" });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get("location"), `/api/v1/media/${res.body.id}`);
    assert.equal(res.body.status, "READY");
    assert.equal(res.body.workspaceId, p.ws1.id);
    assert.equal(res.body.contentType, "image/png");
    assert.equal(res.body.bytes, 3000);
    assert.equal(res.body.sourceUrl, url);
    assert.equal(res.body.filename, "logo.png");
    assert.equal(res.body.altText, "Our logo");
    assert.deepEqual(upstream.calls, [{ url, method: "GET" }]);
    const stored = await object(ing, `${p.ws1.id}/${res.body.id}/logo.png`);
    assert.deepEqual(stored.bytes, bytes);
    assert.equal(stored.contentType, "image/png");
    const got = await ing.get(`/media/${res.body.id}`, { token: p.session });
    assert.deepEqual((await fetchBytes(ing, got.body.url)).bytes, bytes);
  });

  test("a redirect to a loopback address is 400 URL_NOT_ALLOWED and is never followed", async () => {
    const p = await ing.personas();
    serve(() => new Response(null, { status: 302, headers: { Location: "http://127.0.0.1/secret.png" } }));
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/moved.png" });
    assertError(res, 400, "URL_NOT_ALLOWED");
    assert.deepEqual(upstream.calls.map((c) => c.url), ["https://cdn.example.com/moved.png"]);
    assert.equal(await ing.count("media", "workspace_id = ?", p.ws1.id), 0);
    assert.deepEqual(await keysOf(ing, p.ws1.id), []);
  });

  test("a relative redirect is followed, checked, and the final URL is the source", async () => {
    const p = await ing.personas();
    const bytes = png(500);
    serve((req) => (new URL(req.url).pathname === "/old.png"
      ? new Response(null, { status: 301, headers: { Location: "/new/final.png" } })
      : image(bytes, "image/png")));
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/old.png" });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.sourceUrl, "https://cdn.example.com/new/final.png");
    assert.equal(res.body.filename, "final.png");
    assert.deepEqual(upstream.calls.map((c) => c.url), ["https://cdn.example.com/old.png", "https://cdn.example.com/new/final.png"]);
  });

  /** Serves /r0 → /r1 → … → /r<hops> and then a PNG. */
  function chain(hops) {
    serve((req) => {
      const n = Number(new URL(req.url).pathname.slice(2));
      return n < hops
        ? new Response(null, { status: 302, headers: { Location: `https://cdn.example.com/r${n + 1}` } })
        : image(png(300), "image/png");
    });
  }

  test("five redirects are followed; six are 400 URL_NOT_ALLOWED and nothing is written", async () => {
    const p = await ing.personas();
    chain(5);
    const ok = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/r0" });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(upstream.calls.length, 6);
    assert.equal(ok.body.sourceUrl, "https://cdn.example.com/r5");

    upstream.calls = [];
    chain(6);
    const before = await storage(ing);
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/r0" });
    assertError(res, 400, "URL_NOT_ALLOWED");
    assert.equal(upstream.calls.length, 6, "the sixth redirect is not followed");
    assert.deepEqual(await storage(ing), before);
  });

  test("bytes of another type than served or declared are 400 and nothing is written", async () => {
    const p = await ing.personas();
    const before = await storage(ing);
    serve(() => image(jpeg(800), "image/png"));
    assertField(await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/lie.png" }), "url");
    serve(() => image(gif(800), "image/gif"));
    // A declared type that the bytes contradict is that field's problem.
    assertField(await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/anim.gif", contentType: "image/png" }), "contentType");
    assert.deepEqual(await storage(ing), before);
  });

  test("a declared type that agrees with the bytes is accepted, even when the server says octet-stream", async () => {
    const p = await ing.personas();
    serve(() => image(gif(400), "application/octet-stream"));
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/anim.gif", contentType: "image/gif" });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.contentType, "image/gif");
  });

  test("a file that is no allowed type at all (HTML, SVG) is 400 and nothing is written", async () => {
    const p = await ing.personas();
    const before = await storage(ing);
    serve(() => image(html(), "text/html"));
    assertField(await ingest(p.session, { workspaceId: p.ws1.id, url: "https://example.com/page" }), "url");
    serve(() => image(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'), "image/svg+xml"));
    assertField(await ingest(p.session, { workspaceId: p.ws1.id, url: "https://example.com/x.svg" }), "url");
    assert.deepEqual(await storage(ing), before);
  });

  test("an upstream 404 is 502 UPSTREAM_FAILED and nothing is written", async () => {
    const p = await ing.personas();
    serve(() => new Response("not here", { status: 404 }));
    const before = await storage(ing);
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/missing.png" });
    assertError(res, 502, "UPSTREAM_FAILED");
    assert.equal(upstream.calls.length, 1);
    assert.deepEqual(await storage(ing), before);
  });

  test("internal, private and odd URLs are 400 URL_NOT_ALLOWED, never fetched, and cost no d1", async () => {
    const p = await ing.personas();
    serve(() => image(png(100), "image/png"));
    await warm(ing, p.session);
    const before = await storage(ing);
    for (const url of [
      "http://localhost/x.png",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]/x",
      "http://2130706433/x",
      "http://0x7f000001/x",
      "http://10.0.0.1/x",
      "ftp://example.com/x",
      "http://user:pass@example.com/x",
      "http://example.com:8080/x",
      "http://[::ffff:127.0.0.1]/x",
      "http://0177.0.0.1/x",
      "http://127.1/x",
      "http://metadata.google.internal/x",
      "http://printer.local/x",
      "http://100.64.0.1/x",
      "http://192.168.1.1/x",
      "file:///etc/passwd",
      "not a url",
    ]) {
      const res = await ingest(p.session, { workspaceId: p.ws1.id, url });
      assertError(res, 400, "URL_NOT_ALLOWED");
      assertNoStorage(res);
      assert.equal(upstream.calls.length, 0, `${url} reached the network`);
    }
    assert.deepEqual(await storage(ing), before);
  });

  test("a folder of another workspace is 404 and nothing is fetched", async () => {
    const p = await ing.personas();
    const theirs = (await ing.post("/media/folders", { workspaceId: p.foreign.id, name: "T" }, { token: p.stranger.token })).body;
    serve(() => image(png(100), "image/png"));
    const res = await ingest(p.session, { workspaceId: p.ws1.id, url: "https://cdn.example.com/a.png", folderId: theirs.id });
    assertError(res, 404, "NOT_FOUND");
    assert.equal(upstream.calls.length, 0);
  });

  describe("with a 1000-byte ingest cap", () => {
    let small;
    before(async () => { small = await startWorker({ bindings: { MEDIA_INGEST_MAX_BYTES: "1000" }, worker: { outboundService } }); });
    after(() => small.dispose());

    test("a 5000-byte PNG is 400 and nothing is written, with or without Content-Length", async () => {
      const p = await small.personas();
      const before = await storage(small);
      serve(() => image(png(5000), "image/png"));
      assertField(await small.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/big.png" }, { token: p.session }), "url");
      // The same bytes streamed in chunks with no declared length: abandoned past the cap.
      serve(() => {
        const body = png(5000);
        let sent = 0;
        const stream = new ReadableStream({
          pull(controller) {
            if (sent >= body.length) return controller.close();
            controller.enqueue(body.slice(sent, sent + 500));
            sent += 500;
          },
        });
        return new Response(stream, { headers: { "Content-Type": "image/png" } });
      });
      assertField(await small.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/streamed.png" }, { token: p.session }), "url");
      assert.deepEqual(await storage(small), before);
      assert.equal(await small.count("media", "workspace_id = ?", p.ws1.id), 0);
    });

    test("a PNG of exactly the cap is accepted", async () => {
      const p = await small.personas();
      serve(() => image(png(1000), "image/png"));
      const res = await small.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/fits.png" }, { token: p.session });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.bytes, 1000);
    });
  });

  describe("auth", () => {
    test("no credential is 401 with no d1 and no fetch", async () => {
      const p = await ing.personas();
      serve(() => image(png(100), "image/png"));
      const res = await ing.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/a.png" });
      assertError(res, 401, "UNAUTHORIZED");
      assertNoStorage(res);
      assert.equal(upstream.calls.length, 0);
    });

    test("a foreign workspace is 403 with no d1, no fetch, and the same body as a ghost's", async () => {
      const p = await ing.personas();
      serve(() => image(png(100), "image/png"));
      await warm(ing, p.session, p.fullKey, p.scopedKey);
      const before = await storage(ing);
      for (const [token, target] of [[p.session, p.foreign.id], [p.fullKey, p.foreign.id], [p.scopedKey, p.foreign.id], [p.scopedKey, p.ws2.id]]) {
        const send = (ws) => ingest(token, { workspaceId: ws, url: "https://cdn.example.com/planted.png" });
        assertSameRefusal(await send(target), await send(ghostWorkspaceId()), 403, "WORKSPACE_FORBIDDEN");
      }
      assert.equal(upstream.calls.length, 0);
      assert.deepEqual(await storage(ing), before);
    });

    test("MEMBER and CLIENT_REVIEWER get 403 ROLE_FORBIDDEN with no d1 and no fetch; an EDITOR may ingest", async () => {
      const t = await team(ing);
      serve(() => image(png(100), "image/png"));
      await warm(ing, t.member, t.reviewer);
      for (const token of [t.member, t.reviewer]) {
        const res = await ingest(token, { workspaceId: t.ws1.id, url: "https://cdn.example.com/a.png" });
        assertError(res, 403, "ROLE_FORBIDDEN");
        assertNoStorage(res);
      }
      assert.equal(upstream.calls.length, 0);
      const ok = await ingest(t.editor, { workspaceId: t.ws1.id, url: "https://cdn.example.com/a.png" });
      assert.equal(ok.status, 201, ok.text);
      assert.equal(upstream.calls.length, 1);
    });
  });
});
