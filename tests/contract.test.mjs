// The contract itself, from outside: the document the worker serves is the one in the repository,
// and every operation the document says takes JSON refuses any other body with 415 (driven by
// the document, so a new JSON route is covered the day it is added to it).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker, assertError, unique, DASHBOARD_ORIGIN } from "./helpers.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = JSON.parse(fs.readFileSync(path.join(root, "src/openapi.json"), "utf8"));

let app;
before(async () => { app = await startWorker(); });
after(() => app.dispose());

describe("GET /openapi.json", () => {
  test("is src/openapi.json, parsed: the same document, member for member", async () => {
    const res = await app.get("/openapi.json");
    assert.equal(res.status, 200, res.text);
    // Member for member (the worker embeds it minified, with its keys sorted: order aside).
    assert.deepEqual(res.body, source);
  });
});

/** Every operation whose request body the document declares as JSON: [method, template]. */
const JSON_OPERATIONS = Object.entries(source.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([, op]) => op && typeof op === "object" && op.responses)
    .filter(([, op]) => Object.keys(op.requestBody?.content ?? {}).some((t) => /^application\/(.+\+)?json$/.test(t)))
    .map(([method]) => [method.toUpperCase(), template]),
);

/**
 * A world where every path parameter names something real the session may act on, so a request
 * gets as far as reading its body: the owner's workspace, a member, a scoped key, a channel, a
 * post in each state the actions need, a comment, a media asset and a folder.
 */
async function world() {
  const p = await app.personas();
  const ws = p.ws1.id;
  const member = await app.joinAs(p.session, ws, "MEMBER");
  const key = (await app.post(`/workspaces/${ws}/api-keys`, { name: "scoped" }, { token: p.session })).body;
  // BLUESKY: a platform that publishes, so the post can be scheduled.
  const account = (await app.post("/social-accounts", { workspaceId: ws, platform: "BLUESKY", handle: unique("@h") }, { token: p.session })).body;
  const when = new Date(Date.now() + 86_400_000).toISOString();
  const post = (await app.post("/posts", { content: unique("Post "), targets: [{ accountId: account.id }] }, { token: p.session })).body;
  const scheduled = (await app.post("/posts", { content: unique("Post "), targets: [{ accountId: account.id }], scheduledFor: when }, { token: p.session })).body;
  const comment = (await app.post(`/posts/${post.id}/comments`, { body: "hello" }, { token: p.session })).body;
  const media = (await app.post("/media/presign", { workspaceId: ws, filename: "a.png", contentType: "image/png" }, { token: p.session })).body.mediaAsset;
  const folder = (await app.post("/media/folders", { workspaceId: ws, name: unique("Folder ") }, { token: p.session })).body;
  const webhook = await app.createWebhook(p.session, ws, "https://hooks.example.com/contract");
  for (const [what, v] of Object.entries({ key, account, post, scheduled, comment, media, folder, webhook })) assert.ok(v?.id, `${what} was not created`);
  const params = {
    workspaceId: ws,
    userId: member.id,
    keyId: key.id,
    accountId: account.id,
    postId: post.id,
    commentId: comment.id,
    mediaId: media.id,
    folderId: folder.id,
    webhookId: webhook.id,
  };
  // Actions that need another state than a draft's.
  const postFor = { "/posts/{postId}/reschedule": scheduled.id };
  return { p, params, postFor };
}

/** The bodies a browser form or a careless client sends: [label, headers, body]. */
const NOT_JSON = [
  ["text/plain", { "Content-Type": "text/plain" }, '{"name":"x"}'],
  ["a form", { "Content-Type": "application/x-www-form-urlencoded" }, "name=x&email=a%40b.c"],
  ["multipart", { "Content-Type": "multipart/form-data; boundary=b" }, '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--\r\n'],
  ["no Content-Type", {}, new TextEncoder().encode('{"name":"x"}')],
];

describe("a body that is not JSON is 415 on every operation the document says takes JSON", () => {
  test("the document names the JSON operations (so this test covers something)", () => {
    assert.ok(JSON_OPERATIONS.length >= 20, JSON.stringify(JSON_OPERATIONS));
  });

  for (const [method, template] of JSON_OPERATIONS) {
    test(`${method} ${template}`, async () => {
      const { p, params, postFor } = await world();
      const route = template.replace(/\{(\w+)\}/g, (_, name) => {
        const v = name === "postId" && postFor[template] ? postFor[template] : params[name];
        assert.ok(v, `no value for {${name}}`);
        return v;
      });
      const op = source.paths[template][method.toLowerCase()];
      const token = op.security?.length === 0 ? undefined : p.session;
      // The dashboard's own routes refuse any other Origin first (tests/dashboard.test.mjs); sent
      // from the dashboard, the body's type decides.
      const origin = template.startsWith("/dashboard/") ? { Origin: DASHBOARD_ORIGIN } : {};
      for (const [label, headers, body] of NOT_JSON) {
        const res = await app.request(method, route, { token, headers: { ...headers, ...origin }, body, rawBody: true });
        assertError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
        // Refused before any write.
        const writes = res.storage.sql.filter((q) => /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(q));
        assert.deepEqual(writes, [], `${label}: ${res.storage.describe()}`);
      }
    });
  }
});
