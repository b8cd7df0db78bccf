// Uploads that stay final (issue 11, item 5) and downloads that are never sniffed (item 7):
// upload URLs, R2 presigned or the worker's capability route, write only the staging key
// `staging/<object key>`; `complete` checks the staged bytes and copies them to the asset's own
// key, so a URL still valid after `complete` changes nothing a READY asset serves. The cron sweep
// removes PENDING assets whose upload window closed, and staged objects left behind. URL ingest
// streams the body to R2 after sniffing it, with or without a declared length.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { Response } from "miniflare";
import { startWorker, assertError } from "./helpers.mjs";

/** `n` bytes that open with `magic` and continue with noise. */
function bytesWith(magic, n) {
  const out = randomFillSync(new Uint8Array(n));
  const head = typeof magic === "string" ? new TextEncoder().encode(magic) : Uint8Array.from(magic);
  out.set(head.subarray(0, Math.min(head.length, n)));
  return out;
}
const png = (n) => bytesWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52], n);
const pdf = (n) => bytesWith("%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", n);

async function presign(a, token, wsId, extra = {}) {
  const res = await a.post("/media/presign", { workspaceId: wsId, filename: "logo.png", contentType: "image/png", ...extra }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body;
}
/** A PUT to a capability upload URL, with the body's length as a client sends it. */
function put(a, presigned, bytes) {
  return a.request("PUT", presigned.uploadUrl, { headers: { ...presigned.headers, "Content-Length": String(bytes.length) }, body: bytes });
}
async function object(a, key) {
  const obj = await a.bucket.get(key);
  return obj === null ? null : { bytes: new Uint8Array(await obj.arrayBuffer()), httpMetadata: obj.httpMetadata };
}
async function download(a, token, id) {
  const got = await a.get(`/media/${id}`, { token });
  assert.equal(got.status, 200, got.text);
  const res = await a.mf.dispatchFetch(got.body.url);
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}
const mediaRow = (a, id) => a.db.prepare("SELECT * FROM media WHERE id = ?").bind(id).first();
/** Runs the cron sweep as if scheduled `minutes` from now. */
async function sweepAt(a, minutes) {
  const worker = await a.mf.getWorker();
  await worker.scheduled({ cron: "*/5 * * * *", scheduledTime: new Date(Date.now() + minutes * 60_000) });
}

describe("local mode: the capability upload route", () => {
  let app;
  before(async () => { app = await startWorker(); });
  after(() => app.dispose());

  test("once complete, the upload URL changes nothing: 409, and downloads serve the bytes complete checked", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    const first = png(600);
    assert.equal((await put(app, pre, first)).status, 200);
    const key = `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
    assert.equal((await app.bucket.head(key)), null, "an upload writes only the staging key");
    const done = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.status, 200, done.text);
    assertError(await put(app, pre, png(900)), 409, "INVALID_STATE");
    const dl = await download(app, p.session, pre.mediaAsset.id);
    assert.deepEqual(dl.bytes, first);
    assert.equal((await object(app, `staging/${key}`)), null, "the staged upload is gone");
  });

  test("an upload racing complete never changes what complete checked and recorded", async () => {
    const p = await app.personas();
    for (let i = 0; i < 5; i++) {
      const pre = await presign(app, p.session, p.ws1.id);
      const first = png(700 + i);
      const second = png(1700 + i);
      assert.equal((await put(app, pre, first)).status, 200);
      const [done, late] = await Promise.all([
        app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session }),
        put(app, pre, second),
      ]);
      assert.equal(done.status, 200, done.text);
      assert.ok(late.status === 200 || late.body?.code === "INVALID_STATE", late.text);
      const row = await mediaRow(app, pre.mediaAsset.id);
      const served = await download(app, p.session, pre.mediaAsset.id);
      // What is served is one whole upload, the one whose size the asset records.
      assert.equal(served.bytes.length, row.bytes);
      assert.ok([first, second].some((b) => Buffer.from(b).equals(Buffer.from(served.bytes))), "one of the uploads, whole");
      // And it stays so: the URL is refused from now on.
      assertError(await put(app, pre, png(10)), 409, "INVALID_STATE");
      assert.deepEqual((await download(app, p.session, pre.mediaAsset.id)).bytes, served.bytes);
    }
  });

  test("deleting a PENDING asset deletes its staged upload too", async () => {
    const p = await app.personas();
    const pre = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pre, png(300))).status, 200);
    const staged = `staging/${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
    assert.notEqual(await app.bucket.head(staged), null);
    assert.equal((await app.delete(`/media/${pre.mediaAsset.id}`, { token: p.session })).status, 204);
    assert.equal(await app.bucket.head(staged), null);
  });
});

describe("downloads", () => {
  let app;
  before(async () => { app = await startWorker(); });
  after(() => app.dispose());

  async function asset(p, bytes, contentType, filename) {
    const pre = await presign(app, p.session, p.ws1.id, { contentType, filename });
    assert.equal((await put(app, pre, bytes)).status, 200);
    const done = await app.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.status, 200, done.text);
    return done.body;
  }

  test("carry X-Content-Type-Options: nosniff; images show inline, a PDF is an attachment", async () => {
    const p = await app.personas();
    const image = await asset(p, png(800), "image/png", "logo.png");
    const doc = await asset(p, pdf(900), "application/pdf", "brief.pdf");
    const shown = await download(app, p.session, image.id);
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get("x-content-type-options"), "nosniff");
    assert.match(shown.headers.get("content-disposition"), /^inline; filename="logo.png"/);
    const saved = await download(app, p.session, doc.id);
    assert.equal(saved.status, 200);
    assert.equal(saved.headers.get("x-content-type-options"), "nosniff");
    assert.equal(saved.headers.get("content-type"), "application/pdf");
    assert.match(saved.headers.get("content-disposition"), /^attachment; filename="brief.pdf"; filename\*=UTF-8''brief.pdf$/);
    // The object itself says the same, for R2's own presigned downloads.
    assert.match((await object(app, `${p.ws1.id}/${doc.id}/brief.pdf`)).httpMetadata.contentDisposition, /^attachment;/);
    assert.match((await object(app, `${p.ws1.id}/${image.id}/logo.png`)).httpMetadata.contentDisposition, /^inline;/);
  });
});

describe("with R2 credentials: presigned URLs", () => {
  let r2;
  before(async () => {
    r2 = await startWorker({
      bindings: { R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", R2_BUCKET: "postbridge-media", R2_ACCESS_KEY_ID: "AKIDEXAMPLE", R2_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    });
  });
  after(() => r2.dispose());

  test("the presigned PUT names the staging key, so replaying it after complete cannot touch the asset", async () => {
    const p = await r2.personas();
    const pre = await presign(r2, p.session, p.ws1.id);
    const url = new URL(pre.uploadUrl);
    assert.equal(url.host, "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com");
    const key = `${p.ws1.id}/${pre.mediaAsset.id}/logo.png`;
    assert.equal(url.pathname, `/postbridge-media/staging/${key}`);
    // What R2 does with that PUT: the bytes at the staging key.
    const first = png(1200);
    await r2.bucket.put(`staging/${key}`, first, { contentType: "image/png" });
    const done = await r2.post(`/media/${pre.mediaAsset.id}/complete`, undefined, { token: p.session });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.bytes, 1200);
    // The URL is still valid for R2 (15 minutes): a second PUT, of anything, lands at the
    // staging key again, and the asset's own object does not change.
    await r2.bucket.put(`staging/${key}`, bytesWith("MZ", 5000), { contentType: "image/png" });
    assert.deepEqual((await object(r2, key)).bytes, first);
    const got = await r2.get(`/media/${pre.mediaAsset.id}`, { token: p.session });
    const dl = new URL(got.body.url);
    assert.equal(dl.pathname, `/postbridge-media/${key}`);
    assert.match(dl.searchParams.get("response-content-disposition"), /^inline; filename="logo.png"/);
    // The sweep removes the stray upload once the window has closed, and leaves the asset.
    await sweepAt(r2, 31);
    assert.equal(await r2.bucket.head(`staging/${key}`), null);
    assert.deepEqual((await object(r2, key)).bytes, first);
    assert.equal((await mediaRow(r2, pre.mediaAsset.id)).status, "READY");
  });
});

describe("the sweep of uploads never completed", () => {
  let app;
  before(async () => { app = await startWorker(); });
  after(() => app.dispose());

  test("a PENDING asset and its staged bytes go once the URL has been expired 15 minutes; not before; READY ones stay", async () => {
    const p = await app.personas();
    const pending = await presign(app, p.session, p.ws1.id);
    assert.equal((await put(app, pending, png(400))).status, 200);
    const never = await presign(app, p.session, p.ws1.id, { filename: "never.png" });
    const ready = await presign(app, p.session, p.ws1.id, { filename: "ready.png" });
    assert.equal((await put(app, ready, png(500))).status, 200);
    assert.equal((await app.post(`/media/${ready.mediaAsset.id}/complete`, undefined, { token: p.session })).status, 200);
    const staged = `staging/${p.ws1.id}/${pending.mediaAsset.id}/logo.png`;

    // 20 minutes on: the URL expired 5 minutes ago, and completing is still possible.
    await sweepAt(app, 20);
    assert.equal((await mediaRow(app, pending.mediaAsset.id)).status, "PENDING");
    assert.notEqual(await app.bucket.head(staged), null);

    // 31 minutes on: gone, row and staged bytes; the READY asset and its object stay.
    await sweepAt(app, 31);
    assert.equal(await mediaRow(app, pending.mediaAsset.id), null);
    assert.equal(await mediaRow(app, never.mediaAsset.id), null);
    assert.equal(await app.bucket.head(staged), null);
    assert.equal((await mediaRow(app, ready.mediaAsset.id)).status, "READY");
    assert.notEqual(await app.bucket.head(`${p.ws1.id}/${ready.mediaAsset.id}/ready.png`), null);
    assertError(await app.post(`/media/${pending.mediaAsset.id}/complete`, undefined, { token: p.session }), 404, "NOT_FOUND");
  });
});

describe("URL ingest streams to R2", () => {
  const MiB = 1024 * 1024;
  let serve = () => new Response("no handler", { status: 500 });
  const outboundService = (request) => serve(request);
  /** A response streamed in `chunk`-byte pieces, with no declared length. */
  const chunked = (bytes, chunk = 256 * 1024) => {
    let sent = 0;
    return new Response(
      new ReadableStream({
        pull(controller) {
          if (sent >= bytes.length) return controller.close();
          controller.enqueue(bytes.slice(sent, sent + chunk));
          sent += chunk;
        },
      }),
      { headers: { "Content-Type": "image/png" } },
    );
  };
  let app;
  before(async () => {
    // Unmetered: behind the storage meter's wrapped R2 binding, an 8 MiB multipart part spun
    // workerd at full CPU under load (5 of 5 runs side by side hung; 0 of 5 unmetered). These
    // tests are about streaming, not storage counts; the meter covers R2 everywhere else.
    app = await startWorker({ meter: false, bindings: { MEDIA_INGEST_MAX_BYTES: String(12 * MiB) }, worker: { outboundService } });
  });
  after(() => app.dispose());

  test("a body of undeclared length larger than one part (8 MiB) is stored whole, as a multipart upload", async () => {
    const p = await app.personas();
    const bytes = png(9 * MiB + 123);
    serve = () => chunked(bytes);
    const res = await app.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/huge.png" }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.bytes, bytes.length);
    const stored = await object(app, `${p.ws1.id}/${res.body.id}/huge.png`);
    assert.equal(stored.bytes.length, bytes.length);
    assert.ok(Buffer.from(stored.bytes).equals(Buffer.from(bytes)));
    assert.equal(stored.httpMetadata.contentType, "image/png");
  });

  test("a declared length is streamed through as it is", async () => {
    const p = await app.personas();
    const bytes = png(3 * MiB);
    serve = () => new Response(bytes, { headers: { "Content-Type": "image/png", "Content-Length": String(bytes.length) } });
    const res = await app.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/sized.png" }, { token: p.session });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.bytes, bytes.length);
    assert.ok(Buffer.from((await object(app, `${p.ws1.id}/${res.body.id}/sized.png`)).bytes).equals(Buffer.from(bytes)));
  });

  test("past the cap in the middle of a multipart upload: 400, and no asset, no object", async () => {
    const p = await app.personas();
    serve = () => chunked(png(13 * MiB));
    const res = await app.post("/media/from-url", { workspaceId: p.ws1.id, url: "https://cdn.example.com/toobig.png" }, { token: p.session });
    assertError(res, 400, "VALIDATION_FAILED");
    assert.equal(res.body.details[0].field, "url");
    assert.match(res.body.details[0].problem, new RegExp(`larger than ${12 * MiB} bytes`));
    assert.equal(await app.count("media", "workspace_id = ?", p.ws1.id), 0);
    assert.equal((await app.bucket.list({ prefix: `${p.ws1.id}/` })).objects.length, 0);
  });
});
