// The MCP server (issue 12), driven by the official TypeScript SDK client (npm
// @modelcontextprotocol/sdk, Client + StreamableHTTPClientTransport) over real HTTP to the worker
// served on a loopback port, by raw requests where the SDK cannot say something (other
// revisions, broken messages, the 2026-07-28 per-request shape), and by a second, independent
// client: PyPI `mcp` (tests/mcp_client.py, run from .venv).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startWorker, unique, parseTiming, ghostId, assertError, assertNoD1 } from "./helpers.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, ...new Array(240).fill(0)]);
/** What the stubbed internet was asked (media.ingestFromUrl). */
const upstream = [];
const outboundService = async (request) => {
  upstream.push(request.url);
  return new Response(PNG, { headers: { "Content-Type": "image/png" } });
};

let app, base, w;
before(async () => {
  app = await startWorker({ serve: true, worker: { outboundService } });
  base = app.origin;
  w = await world();
});
after(() => app.dispose());

const inHours = (h) => new Date(Date.now() + h * 3600e3).toISOString();

// MASTODON by default: a platform that publishes, so posts to it can be scheduled.
async function account(token, wsId, platform = "MASTODON") {
  const res = await app.post("/social-accounts", { workspaceId: wsId, platform, handle: unique("@h") }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

async function restPost(token, accountId) {
  const res = await app.post("/posts", { content: unique("Post "), platforms: [{ accountId }] }, { token });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

/** The personas, with an account, a post and a media asset in the stranger's workspace. */
async function world() {
  const p = await app.personas();
  const foreignMedia = await app.post("/media/presign", { workspaceId: p.foreign.id, filename: "a.png", contentType: "image/png" }, { token: p.stranger.token });
  assert.equal(foreignMedia.status, 201, foreignMedia.text);
  const folder = await app.post("/media/folders", { workspaceId: p.ws1.id, name: unique("Folder ") }, { token: p.session });
  assert.equal(folder.status, 201, folder.text);
  const foreignAccount = await account(p.stranger.token, p.foreign.id);
  return {
    ...p,
    account: await account(p.session, p.ws1.id),
    doomedAccount: await account(p.session, p.ws1.id, "BLUESKY"),
    folder: folder.body.id,
    foreignAccount,
    foreignPost: await restPost(p.stranger.token, foreignAccount),
    foreignMedia: foreignMedia.body.mediaAsset.id,
  };
}

/**
 * An SDK client over HTTP. Its fetch is the platform's, wrapped only to keep each response's
 * status and headers (Server-Timing, X-Request-Id) and to hand it to the suite's contract and
 * secret checks; the SDK's own HTTP handling is untouched.
 */
async function sdk(token) {
  const seen = [];
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
    fetch: async (url, init = {}) => {
      const res = await fetch(url, init);
      const text = await res.clone().text();
      let body = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {}
      const method = init.method ?? "GET";
      const seenRes = { status: res.status, headers: res.headers, text, body, timing: parseTiming(res.headers.get("server-timing")) };
      seen.push({ method, sent: typeof init.body === "string" ? JSON.parse(init.body) : null, ...seenRes });
      app.observe(method, String(url), init.body, seenRes);
      return res;
    },
  });
  const client = new Client({ name: "postbridge-tests", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport, seen };
}

/** Calls a tool; returns its result and the HTTP response that carried it. */
async function call(c, name, args) {
  const result = await c.client.callTool({ name, arguments: args });
  const http = c.seen.findLast((s) => s.method === "POST" && s.sent?.params?.name === name);
  return { result, http };
}

/** A successful result: structured content and the same JSON as text. */
function ok({ result }, name) {
  assert.ok(!result.isError, `${name}: ${JSON.stringify(result)}`);
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, "text");
  if (result.structuredContent !== undefined) assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
  return result.structuredContent;
}

/** A refused call: isError, the REST error envelope, its request id the HTTP response's. */
function refused({ result, http }, status, code) {
  assert.equal(result.isError, true, JSON.stringify(result));
  const e = result.structuredContent;
  assert.equal(e.code, code, JSON.stringify(e));
  assert.equal(e.statusCode, status);
  assert.equal(typeof e.message, "string");
  assert.equal(e.requestId, http.headers.get("x-request-id"));
  assert.deepEqual(JSON.parse(result.content[0].text), e);
  assert.equal(http.status, 200);
  return e;
}

/** A raw JSON-RPC POST, through the suite's checked `App.request`. */
function rpc(message, { token = w.scopedKey, headers = {} } = {}) {
  return app.request("POST", `${base}/mcp`, {
    token,
    body: typeof message === "string" ? message : JSON.stringify(message),
    headers: { Accept: "application/json, text/event-stream", ...headers },
  });
}

const TOOLS = [
  "workspaces.list", "workspaces.get", "socialAccounts.list", "socialAccounts.get", "socialAccounts.disconnect",
  "posts.list", "posts.get", "posts.create", "posts.update", "posts.schedule", "posts.cancel", "posts.retry",
  "posts.delete", "comments.list", "comments.create", "media.list", "media.get", "media.presign",
  "media.ingestFromUrl", "media.move",
];

describe("the TypeScript SDK client", () => {
  test("connects with a scoped key, negotiates 2025-11-25, and its notification is 202 and its GET 405", async () => {
    // A key's `lastUsedAt` is written after a successful request at most once a minute: used
    // just now over REST, so what follows shows only the MCP exchange's own storage work.
    await app.warm(w.scopedKey);
    const c = await sdk(w.scopedKey);
    assert.equal(c.transport.protocolVersion, "2025-11-25");
    assert.equal(c.client.getServerVersion().name, "postbridge");
    assert.deepEqual(c.client.getServerCapabilities().tools, { listChanged: false });
    assert.match(c.client.getInstructions(), /REST operation/);
    const init = c.seen[0];
    assert.equal(init.sent.method, "initialize");
    assert.equal(init.status, 200);
    assertNoD1(init);
    assert.equal(init.headers.get("mcp-session-id"), null, "stateless: no session");
    assert.equal(c.seen[1].sent.method, "notifications/initialized");
    assert.equal(c.seen[1].status, 202);
    assert.equal(c.seen[1].text, "");
    // The SDK then tries to open a server-to-client stream with GET; it is refused.
    for (let i = 0; i < 200 && !c.seen.some((s) => s.method === "GET"); i++) await new Promise((r) => setTimeout(r, 10));
    const get = c.seen.find((s) => s.method === "GET");
    assert.equal(get?.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await c.client.close();
  });

  test("lists every tool with derived schemas, annotations and how the workspace is found, with no storage work", async () => {
    await app.warm(w.scopedKey);
    const c = await sdk(w.scopedKey);
    const { tools } = await c.client.listTools();
    const http = c.seen.at(-1);
    assert.equal(http.sent.method, "tools/list");
    assertNoD1(http);
    assert.equal(http.timing.kv, undefined, `a warm key needs no KV: ${http.headers.get("server-timing")}`);
    const names = tools.map((t) => t.name);
    for (const name of TOOLS) assert.ok(names.includes(name), `${name} is listed`);
    for (const t of tools) {
      assert.equal(t.inputSchema.type, "object", t.name);
      assert.match(t.description, /Workspace: (fan-out|explicit|derived)/, t.name);
      assert.equal(typeof t.annotations.readOnlyHint, "boolean", t.name);
      assert.equal(typeof t.annotations.destructiveHint, "boolean", t.name);
      assert.equal(typeof t.annotations.idempotentHint, "boolean", t.name);
      assert.ok(!JSON.stringify(t).includes("$ref"), `${t.name}: $refs are inlined`);
    }
    const get = tools.find((t) => t.name === "posts.get");
    assert.deepEqual(get.inputSchema.required, ["postId"]);
    assert.equal(get.annotations.readOnlyHint, true);
    assert.equal(tools.find((t) => t.name === "posts.delete").annotations.destructiveHint, true);
    assert.ok(!names.some((n) => /key|member|webhook/i.test(n)), "no tool manages keys, members or webhooks");
    await c.client.close();
  });

  test("calls every tool successfully, each answering what its REST route answers", async () => {
    const c = await sdk(w.scopedKey);
    const { ws1 } = w;
    const listed = ok(await call(c, "workspaces.list", {}), "workspaces.list");
    assert.deepEqual(listed.items.map((x) => x.id), [ws1.id], "a scoped key lists its allow-list");
    const rest = await app.get(`/workspaces/${ws1.id}`, { token: w.scopedKey });
    assert.deepEqual(ok(await call(c, "workspaces.get", { workspaceId: ws1.id }), "workspaces.get"), rest.body);

    const accounts = ok(await call(c, "socialAccounts.list", {}), "socialAccounts.list");
    assert.ok(accounts.items.some((a) => a.id === w.account));
    assert.equal(ok(await call(c, "socialAccounts.get", { accountId: w.account }), "socialAccounts.get").id, w.account);

    const created = ok(await call(c, "posts.create", { content: "From an LLM", platforms: [{ accountId: w.account }] }), "posts.create");
    assert.equal(created.status, "DRAFT");
    assert.equal(created.workspaceId, ws1.id);
    const second = ok(await call(c, "posts.create", { content: "Another", targets: [{ accountId: w.account }] }), "posts.create");
    const got = await call(c, "posts.get", { postId: created.id });
    assert.deepEqual(ok(got, "posts.get"), (await app.get(`/posts/${created.id}`, { token: w.scopedKey })).body);
    assert.equal(got.http.timing.d1.desc, "1 query", "the tool's D1 work shows in the POST's Server-Timing");

    // A page and the next: nextCursor is the cursor of the REST Link header.
    const page1 = ok(await call(c, "posts.list", { limit: 1 }), "posts.list");
    assert.equal(page1.items.length, 1);
    assert.equal(typeof page1.nextCursor, "string");
    const page2 = ok(await call(c, "posts.list", { limit: 1, cursor: page1.nextCursor }), "posts.list");
    assert.notEqual(page2.items[0].id, page1.items[0].id);
    assert.deepEqual(new Set([page1.items[0].id, page2.items[0].id]), new Set([created.id, second.id]));

    assert.equal(ok(await call(c, "posts.update", { postId: created.id, content: "Edited" }), "posts.update").content, "Edited");
    assert.equal(ok(await call(c, "posts.schedule", { postId: created.id, scheduledFor: inHours(2) }), "posts.schedule").status, "SCHEDULED");
    assert.equal(ok(await call(c, "posts.cancel", { postId: created.id }), "posts.cancel").status, "CANCELED");

    const comment = ok(await call(c, "comments.create", { postId: created.id, body: "Looks good" }), "comments.create");
    const comments = ok(await call(c, "comments.list", { postId: created.id }), "comments.list");
    assert.deepEqual(comments.items.map((x) => x.id), [comment.id]);

    const presigned = ok(await call(c, "media.presign", { workspaceId: ws1.id, filename: "logo.png", contentType: "image/png" }), "media.presign");
    assert.match(presigned.uploadUrl, /\/api\/v1\/media\/med_[0-9A-Za-z]+\/upload\?token=/);
    const media = presigned.mediaAsset.id;
    assert.equal(ok(await call(c, "media.get", { mediaId: media }), "media.get").status, "PENDING");
    const ingested = ok(await call(c, "media.ingestFromUrl", { workspaceId: ws1.id, url: "https://cdn.example.com/brand/logo.png" }), "media.ingestFromUrl");
    assert.equal(ingested.status, "READY");
    assert.ok(upstream.includes("https://cdn.example.com/brand/logo.png"));
    const moved = ok(await call(c, "media.move", { mediaId: ingested.id, folderId: w.folder }), "media.move");
    assert.equal(moved.folderId, w.folder);
    const inFolder = ok(await call(c, "media.list", { workspaceId: ws1.id, folderId: w.folder }), "media.list");
    assert.deepEqual(inFolder.items.map((m) => m.id), [ingested.id]);

    // Retry: a FAILED post made the way its REST tests make it (the publisher's error shape);
    // retried, it is publishing again.
    const failed = await restPost(w.session, w.account);
    await app.db.prepare("UPDATE posts SET status = 'FAILED' WHERE id = ?").bind(failed).run();
    await app.db
      .prepare("UPDATE post_targets SET status = 'FAILED', error = ? WHERE post_id = ?")
      .bind(JSON.stringify({ code: "PLATFORM_UNAVAILABLE", message: "boom", retryable: true }), failed)
      .run();
    assert.equal(ok(await call(c, "posts.retry", { postId: failed }), "posts.retry").status, "PUBLISHING");

    const deleted = await call(c, "posts.delete", { postId: second.id });
    ok(deleted, "posts.delete");
    assert.equal(deleted.result.structuredContent, undefined, "204: no body, so no structured content");
    assert.equal((await app.get(`/posts/${second.id}`, { token: w.scopedKey })).status, 404);
    ok(await call(c, "socialAccounts.disconnect", { accountId: w.doomedAccount }), "socialAccounts.disconnect");
    assert.equal((await app.get(`/social-accounts/${w.doomedAccount}`, { token: w.scopedKey })).body.status, "DISCONNECTED");

    const called = new Set(c.seen.filter((s) => s.sent?.method === "tools/call").map((s) => s.sent.params.name));
    assert.deepEqual([...called].sort(), [...TOOLS].sort(), "every tool was called");
    await c.client.close();
  });

  test("posts.retry refuses as REST does: NOTHING_TO_RETRY without a failed target, INVALID_STATE from a status that cannot retry", async () => {
    const c = await sdk(w.scopedKey);
    const noFailedTarget = await restPost(w.session, w.account);
    await app.db.prepare("UPDATE posts SET status = 'FAILED' WHERE id = ?").bind(noFailedTarget).run();
    const draftWithFailure = await restPost(w.session, w.account);
    await app.db.prepare("UPDATE post_targets SET status = 'FAILED' WHERE post_id = ?").bind(draftWithFailure).run();
    for (const [post, status, code] of [[noFailedTarget, 400, "NOTHING_TO_RETRY"], [draftWithFailure, 409, "INVALID_STATE"]]) {
      const e = refused(await call(c, "posts.retry", { postId: post }), status, code);
      const rest = await app.post(`/posts/${post}/retry`, undefined, { token: w.scopedKey });
      assertError(rest, status, code);
      assert.equal(e.currentStatus, rest.body.currentStatus);
    }
    await c.client.close();
  });

  test("an invalid call is the route's own VALIDATION_FAILED; a malformed one is a JSON-RPC error", async () => {
    const c = await sdk(w.scopedKey);
    const before = await app.count("posts");
    const e = refused(await call(c, "posts.create", { content: " ", platforms: [{ accountId: w.account }], scheduledFor: "tomorrow" }), 400, "VALIDATION_FAILED");
    assert.deepEqual(e.details.map((d) => d.field).sort(), ["content", "scheduledFor"]);
    assert.equal(await app.count("posts"), before);
    for (const [name, args, what] of [
      ["posts.nope", {}, /unknown tool/],
      ["posts.get", {}, /postId/],
      ["posts.get", { postId: 42 }, /postId/],
      ["posts.get", { postId: "post_x", content: "x" }, /unknown argument `content`/],
      ["posts.list", { status: ["DRAFT"] }, /status/],
    ]) {
      await assert.rejects(c.client.callTool({ name, arguments: args }), (err) => {
        assert.equal(err.code, -32602, `${name}: ${err.message}`);
        assert.match(err.message, what);
        return true;
      });
    }
    await c.client.close();
  });

  test("a key acts with its owner's role: a MEMBER's key is refused ROLE_FORBIDDEN at the edge, as on REST", async () => {
    const member = await app.joinAs(w.session, w.ws1.id, "MEMBER");
    const c = await sdk(member.key);
    await c.client.listTools();
    const before = await app.count("posts");
    const r = await call(c, "posts.create", { content: "Not mine to post", platforms: [{ accountId: w.account }] });
    refused(r, 403, "ROLE_FORBIDDEN");
    assertNoD1(r.http);
    assert.equal(await app.count("posts"), before);
    ok(await call(c, "posts.list", { workspaceId: w.ws1.id }), "posts.list");
    await c.client.close();
  });

  test("without a valid key the SDK client cannot connect (401)", async () => {
    await assert.rejects(sdk(undefined), /401/);
    await assert.rejects(sdk("pb_live_notARealKeyAtAllNotARealKey00"), /401/);
  });
});

describe("a key reaches, through MCP, exactly what it reaches through REST", () => {
  const future = inHours(3);
  // [tool, arguments in a target workspace `t`]: every tool that takes an id or a workspaceId.
  const FOREIGN = [
    ["workspaces.list", (t) => ({ workspaceId: t.ws })],
    ["workspaces.get", (t) => ({ workspaceId: t.ws })],
    ["socialAccounts.list", (t) => ({ workspaceId: t.ws })],
    ["socialAccounts.get", (t) => ({ accountId: t.account })],
    ["socialAccounts.disconnect", (t) => ({ accountId: t.account })],
    ["posts.list", (t) => ({ workspaceId: t.ws })],
    ["posts.get", (t) => ({ postId: t.post })],
    ["posts.create", (t) => ({ content: "Hijack", platforms: [{ accountId: t.account }] })],
    ["posts.update", (t) => ({ postId: t.post, content: "Hijacked" })],
    ["posts.schedule", (t) => ({ postId: t.post, scheduledFor: future })],
    ["posts.cancel", (t) => ({ postId: t.post })],
    ["posts.retry", (t) => ({ postId: t.post })],
    ["posts.delete", (t) => ({ postId: t.post })],
    ["comments.list", (t) => ({ workspaceId: t.ws })],
    ["comments.create", (t) => ({ postId: t.post, body: "Hi" })],
    ["media.list", (t) => ({ workspaceId: t.ws })],
    ["media.get", (t) => ({ mediaId: t.media })],
    ["media.presign", (t) => ({ workspaceId: t.ws, filename: "x.png", contentType: "image/png" })],
    ["media.ingestFromUrl", (t) => ({ workspaceId: t.ws, url: "https://cdn.example.com/x.png" })],
    ["media.move", (t) => ({ mediaId: t.media })],
  ];

  async function snapshot() {
    const all = async (sql) => (await app.db.prepare(sql).all()).results;
    return {
      posts: await all("SELECT id, status, content, deleted_at, updated_at FROM posts ORDER BY id"),
      targets: await all("SELECT id, status FROM post_targets ORDER BY id"),
      comments: await all("SELECT id FROM comments ORDER BY id"),
      media: await all("SELECT id, status, folder_id FROM media ORDER BY id"),
      accounts: await all("SELECT id, status FROM social_accounts ORDER BY id"),
    };
  }

  for (const [who, key, target] of [
    ["a scoped key, at the stranger's workspace", "scopedKey", "foreign"],
    ["a scoped key, at its owner's other workspace", "scopedKey", "ws2"],
    ["a full key, at the stranger's workspace", "fullKey", "foreign"],
  ]) {
    test(`${who}: every tool is refused WORKSPACE_FORBIDDEN with no D1 work, and nothing changes`, async () => {
      const t = target === "foreign"
        ? { ws: w.foreign.id, account: w.foreignAccount, post: w.foreignPost, media: w.foreignMedia }
        : { ws: w.ws2.id, account: ghostId("soc_", w.ws2.id), post: ghostId("post_", w.ws2.id), media: ghostId("med_", w.ws2.id) };
      const c = await sdk(w[key]);
      await c.client.listTools(); // the key is warm: refusals below are decided without storage
      const seenUpstream = upstream.length;
      const before = await snapshot();
      assert.deepEqual(FOREIGN.map(([n]) => n).sort(), [...TOOLS].sort(), "the table covers every tool");
      for (const [name, args] of FOREIGN) {
        const r = await call(c, name, args(t));
        refused(r, 403, "WORKSPACE_FORBIDDEN");
        assert.equal(r.http.timing.d1, undefined, `${name}: ${r.http.headers.get("server-timing")}`);
      }
      assert.equal(upstream.length, seenUpstream, "no URL was fetched");
      assert.deepEqual(await snapshot(), before);
      await c.client.close();
    });
  }
});

describe("the HTTP transport", () => {
  test("401 without a valid credential points at the RFC 9728 metadata document, which is served", async () => {
    const meta = `${base}/.well-known/oauth-protected-resource`;
    const none = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { token: null });
    assertError(none, 401, "UNAUTHORIZED");
    assertNoD1(none);
    assert.equal(none.headers.get("www-authenticate"), `Bearer resource_metadata="${meta}"`);
    const bad = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { token: "pb_live_garbage" });
    assertError(bad, 401, "UNAUTHORIZED");
    assert.equal(bad.headers.get("www-authenticate"), `Bearer error="invalid_token", resource_metadata="${meta}"`);
    for (const url of [meta, `${meta}/mcp`]) {
      const doc = await app.request("GET", url);
      assert.equal(doc.status, 200, doc.text);
      assert.match(doc.headers.get("content-type"), /^application\/json/);
      assert.equal(doc.body.resource, `${base}/mcp`);
      assert.deepEqual(doc.body.bearer_methods_supported, ["header"]);
      assertNoD1(doc);
    }
    assert.equal((await app.request("POST", meta, { body: {} })).status, 405);
  });

  test("initialize negotiates 2025-03-26, 2025-06-18 and 2025-11-25, and answers others with 2025-11-25", async () => {
    for (const [asked, answered] of [["2025-03-26", "2025-03-26"], ["2025-06-18", "2025-06-18"], ["2025-11-25", "2025-11-25"], ["2024-11-05", "2025-11-25"], ["2026-07-28", "2025-11-25"]]) {
      const res = await rpc({ jsonrpc: "2.0", id: "i", method: "initialize", params: { protocolVersion: asked, capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.id, "i");
      assert.equal(res.body.result.protocolVersion, answered, asked);
      assert.equal(res.body.result.serverInfo.name, "postbridge");
    }
  });

  test("MCP-Protocol-Version is checked on later requests: unsupported is 400; absent means 2025-03-26", async () => {
    for (const v of ["2025-03-26", "2025-06-18", "2025-11-25"]) {
      const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { headers: { "MCP-Protocol-Version": v } });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.result.tools.length >= TOOLS.length);
    }
    for (const v of ["1999-01-01", "2024-11-05", "latest"]) {
      const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { headers: { "MCP-Protocol-Version": v } });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error.code, -32022);
      assert.deepEqual(res.body.error.data, { supported: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], requested: v });
    }
    assert.equal((await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" })).status, 200);
  });

  test("notifications and responses are 202 with no body; GET and DELETE are 405", async () => {
    for (const m of [{ jsonrpc: "2.0", method: "notifications/initialized" }, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } }, { jsonrpc: "2.0", id: 5, result: {} }]) {
      const res = await rpc(m, { headers: { "MCP-Protocol-Version": "2025-11-25" } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.text, "");
    }
    for (const method of ["GET", "DELETE"]) {
      const res = await app.request(method, `${base}/mcp`, { token: w.scopedKey });
      assertError(res, 405, "METHOD_NOT_ALLOWED");
      assert.equal(res.headers.get("allow"), "POST");
    }
  });

  test("a cross-site Origin is 403 before any storage; the server's own origin is served", async () => {
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1:1"]) {
      const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { headers: { Origin: origin } });
      assert.equal(res.status, 403, `${origin}: ${res.text}`);
      assert.equal(res.body.error.code, -32600);
      assert.equal(res.body.id, undefined);
      assertNoD1(res);
    }
    assert.equal((await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { headers: { Origin: base } })).status, 200);
  });

  test("broken messages are JSON-RPC errors; a body that is not JSON is 415; an unknown method is -32601", async () => {
    const cases = [
      ["{", 400, -32700],
      ["[]", 400, -32600],
      [JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "tools/list" }]), 400, -32600],
      [JSON.stringify({ jsonrpc: "1.0", id: 1, method: "tools/list" }), 400, -32600],
      [JSON.stringify({ jsonrpc: "2.0", id: 1, method: "prompts/list" }), 200, -32601],
      [JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "posts.get", arguments: [] } }), 200, -32602],
    ];
    for (const [body, status, code] of cases) {
      const res = await rpc(body);
      assert.equal(res.status, status, `${body}: ${res.text}`);
      assert.equal(res.body.error.code, code, body);
    }
    const res = await app.request("POST", `${base}/mcp`, { token: w.scopedKey, body: "{}", headers: { "Content-Type": "text/plain" } });
    assertError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    const big = await rpc(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "posts.create", arguments: { content: "x".repeat(1100 * 1024) } } }));
    assertError(big, 413, "PAYLOAD_TOO_LARGE");
    const html = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { headers: { Accept: "text/html" } });
    assert.equal(html.status, 406, html.text);
    const ping = await rpc({ jsonrpc: "2.0", id: "p", method: "ping" });
    assert.deepEqual(ping.body, { jsonrpc: "2.0", id: "p", result: {} });
  });

  test("the rate limit is REST's: /mcp answers carry the same policy headers", async () => {
    const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const restRes = await app.get("/me", { token: w.scopedKey });
    assert.equal(res.headers.get("ratelimit-policy"), restRes.headers.get("ratelimit-policy"));
    assert.match(res.headers.get("ratelimit"), /^"(burst|sustained)";r=\d+;t=\d+$/);
  });
});

describe("the rate limit", () => {
  test("REST and MCP spend one bucket per key: the request past the limit is 429 on either", async () => {
    const limited = await startWorker({ serve: true, bindings: { RATE_LIMIT_PER_MINUTE: "3" } });
    try {
      const p = await limited.personas();
      const key = p.scopedKey;
      const mcp = (id) =>
        limited.request("POST", `${limited.origin}/mcp`, { token: key, body: { jsonrpc: "2.0", id, method: "tools/list" }, headers: { Accept: "application/json, text/event-stream" } });
      assert.equal((await limited.get("/me", { token: key })).status, 200);
      assert.equal((await mcp(1)).status, 200);
      assert.equal((await limited.get("/me", { token: key })).status, 200);
      const over = await mcp(2);
      assertError(over, 429, "RATE_LIMITED");
      assert.ok(Number(over.headers.get("retry-after")) > 0);
      assertError(await limited.get("/me", { token: key }), 429, "RATE_LIMITED");
    } finally {
      await limited.dispose();
    }
  });
});

describe("the 2026-07-28 per-request shape", () => {
  const V = "2026-07-28";
  const meta = { "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" }, "io.modelcontextprotocol/clientCapabilities": {} };
  const modern = (method, params = {}, headers = {}) =>
    rpc({ jsonrpc: "2.0", id: 9, method, params: { ...params, _meta: meta } }, { headers: { "MCP-Protocol-Version": V, "Mcp-Method": method, ...headers } });

  test("server/discover, tools/list and tools/call work without initialize, each POST on its own", async () => {
    const d = await modern("server/discover");
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.result.resultType, "complete");
    assert.ok(d.body.result.supportedVersions.includes(V));
    assert.ok(d.body.result.capabilities.tools);
    assert.equal(d.body.result._meta["io.modelcontextprotocol/serverInfo"].name, "postbridge");
    assertNoD1(d);
    const l = await modern("tools/list");
    assert.equal(l.body.result.resultType, "complete");
    assert.equal(l.body.result.cacheScope, "public");
    assert.equal(typeof l.body.result.ttlMs, "number");
    assertNoD1(l);
    const post = await restPost(w.session, w.account);
    const g = await modern("tools/call", { name: "posts.get", arguments: { postId: post } }, { "Mcp-Name": "posts.get" });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.body.result.resultType, "complete");
    assert.equal(g.body.result.structuredContent.id, post);
    const f = await modern("tools/call", { name: "posts.get", arguments: { postId: w.foreignPost } }, { "Mcp-Name": "=?base64?cG9zdHMuZ2V0?=" });
    assert.equal(f.body.result.isError, true);
    assert.equal(f.body.result.structuredContent.code, "WORKSPACE_FORBIDDEN");
    assertNoD1(f);
  });

  test("headers must mirror the body: missing or different is 400 HeaderMismatch; other errors are the modern ones", async () => {
    const call = { name: "posts.get", arguments: { postId: w.foreignPost } };
    const cases = [
      [modern("tools/call", call), 400, -32020],
      [modern("tools/call", call, { "Mcp-Name": "posts.delete" }), 400, -32020],
      [modern("tools/list", {}, { "Mcp-Method": "tools/call" }), 400, -32020],
      [rpc({ jsonrpc: "2.0", id: 9, method: "tools/list", params: { _meta: meta } }, { headers: { "MCP-Protocol-Version": V } }), 400, -32020],
      [rpc({ jsonrpc: "2.0", id: 9, method: "tools/list", params: { _meta: meta } }, { headers: { "MCP-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list" } }), 400, -32020],
      [rpc({ jsonrpc: "2.0", id: 9, method: "tools/list", params: { _meta: { ...meta, "io.modelcontextprotocol/protocolVersion": "2099-01-01" } } }, { headers: { "MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list" } }), 400, -32022],
      [rpc({ jsonrpc: "2.0", id: 9, method: "tools/list", params: { _meta: { "io.modelcontextprotocol/protocolVersion": V } } }, { headers: { "MCP-Protocol-Version": V, "Mcp-Method": "tools/list" } }), 400, -32602],
      [modern("resources/list"), 404, -32601],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      assert.equal(res.status, status, res.text);
      assert.equal(res.body.error.code, code, res.text);
      assertNoD1(res);
    }
  });
});

describe("a second client: PyPI mcp", () => {
  test("lists and calls tools, negotiating 2026-07-28 through server/discover and 2025-11-25 through initialize", async () => {
    const python = path.join(root, ".venv/bin/python");
    assert.ok(fs.existsSync(python), "the Python MCP client is installed by `make test` (Makefile target .venv/.mcp-*)");
    const post = await restPost(w.session, w.account);
    const child = spawn(python, [path.join(root, "tests/mcp_client.py"), `${base}/mcp`, w.scopedKey, post, w.foreignPost], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise((r) => child.on("close", r));
    assert.equal(code, 0, err);
    const runs = JSON.parse(out);
    assert.deepEqual(runs.map((r) => [r.mode, r.version]), [["auto", "2026-07-28"], ["legacy", "2025-11-25"]]);
    for (const r of runs) {
      for (const name of TOOLS) assert.ok(r.tools.includes(name), `${r.mode}: ${name}`);
      assert.equal(r.get.isError, false);
      assert.equal(r.get.structured.id, post);
      assert.deepEqual(JSON.parse(r.get.text), r.get.structured);
      assert.equal(r.refused.isError, true);
      assert.equal(r.refused.structured.code, "WORKSPACE_FORBIDDEN");
      assert.ok(r.list.structured.items.some((p) => p.id === post));
    }
  });
});
