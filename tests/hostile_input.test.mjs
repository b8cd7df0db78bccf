// No input crashes the worker (issue 11, item 1). Driven by src/openapi.json: every query
// parameter, header parameter, path parameter and string field of the JSON body of every
// operation gets hostile values — non-ASCII of every UTF-8 width, control characters, over-long
// text, malformed and out-of-range times, forged cursors — one field at a time, on top of a
// request that is otherwise valid, sent with the owner's session and with ids pinned to real
// resources, so each value reaches the parser behind its field and not just the edge.
//
// What must hold for every request: never a 5xx; every error is the API.md §5 envelope (the
// harness checks every response against the contract); a value its field's schema refuses gets
// a 4xx, and when that is 400 VALIDATION_FAILED, `details` names the field. A value the schema
// allows may succeed (a name in any script is a name).
//
// The original defect this would have caught: `GET /posts?from=2026-01-01T00:00:0é.000Z` (or a
// cursor holding such a time, or `scheduledFor`/`expiresAt` in a body) panicked the timestamp
// parser, aborting the isolate: a 500 for this request and every other in flight.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { Response } from "miniflare";
import { startWorker, unique, contractViolations, BASE } from "./helpers.mjs";
import { doc } from "./contract.mjs";

// --- the hostile values ---------------------------------------------------------------------

const hex = (s) => Buffer.from(s, "utf8").toString("hex");
/** Values for any text: non-ASCII of 2, 3 and 4 bytes, controls, blank, over-long, injection. */
const TEXT = [
  "é",
  "日本語 💥",
  "\u0000",
  "a\u0007b\u001b[31m",
  "\u0085\u2028",
  "   ",
  "",
  "' OR '1'='1' --",
  "../../etc/passwd%00",
  "<script>alert(1)</script>",
];
/** Malformed and out-of-range times: non-ASCII where the old parser sliced, offsets past 9999. */
const TIMES = [
  "2026-01-01T00:00:0é.000Z",
  "2026-01-01T00:00:00é1:00",
  "2026-01-01T00:00:00.1日",
  "9999-12-31T23:59:59-23:59",
  "1969-12-31T23:59:59Z",
  "2026-02-30T25:61:61Z",
  "+12026-01-01T00:00:00Z",
];
/** Cursors that decode (hex) to hostile text. */
const CURSORS = [
  hex("2026-01-01T00:00:0é.000Z|post_x"),
  hex("10000-01-01T00:00:00.000Z|ws_a"),
  hex("2026-01-01T00:00:00.000Z|" + "a".repeat(500)),
  "zz",
  "0",
];
const OVER_LONG_BODY = "x".repeat(70_000); // past every maxLength, under the 1 MB body cap
const OVER_LONG_QUERY = "x".repeat(4_000);

/** The values for one field, by its schema (times and cursors get theirs on top of text). */
function valuesFor(schema, name, where) {
  const out = [...TEXT, ...TIMES];
  if (name === "cursor") out.push(...CURSORS);
  out.push(where === "body" ? OVER_LONG_BODY : OVER_LONG_QUERY);
  if (where === "header") {
    // Header values are bytes 0x20–0xFF and tab, trimmed: what a client can send at all (an
    // empty value is the same as no header).
    return [...new Set(out.map((v) => v.replace(/[^\t\x20-\xff]/g, "é")))].filter((v) => v.trim() !== "");
  }
  // A secret the suite sends (a password, social-account credentials) is watched for in every
  // response and log line (tests/hygiene.mjs): each one is made unique, so a name that happens
  // to hold the same hostile text is not taken for a leak.
  if (/password|credentials/i.test(name)) return out.map((v) => (v.length ? `${v}·${unique("s")}` : v));
  return out;
}

// --- the contract ---------------------------------------------------------------------------

const DOC_ID = "https://hostile.test/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: DOC_ID });
const validators = new Map();
/** Whether `value` is valid for the schema at `pointer` (a JSON pointer into the document). */
function schemaAllows(pointer, value) {
  let v = validators.get(pointer);
  if (!v) validators.set(pointer, (v = ajv.compile({ $ref: DOC_ID + pointer })));
  return v(value);
}

const esc = (k) => String(k).replace(/~/g, "~0").replace(/\//g, "~1");
const at = (pointer) => pointer.slice(2).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~")).reduce((o, k) => o?.[k], doc);
/** Follows `$ref`s; returns the object and the pointer it lives at. */
function deref(obj, pointer) {
  while (obj && typeof obj.$ref === "string") {
    pointer = obj.$ref;
    obj = at(pointer);
  }
  return { obj, pointer };
}

/**
 * Every string-accepting leaf of a body schema that `base` reaches: `[path, pointer]`, where
 * `path` is how `details` names it (`targets[0].accountId`). Array items are walked through the
 * first element of `base`'s array; `platforms` is left out (the base sends `targets`, and the
 * two are one list under two names).
 */
function stringLeaves(schemaObj, pointer, base, path = "") {
  const { obj: s, pointer: p } = deref(schemaObj, pointer);
  if (!s) return [];
  const out = [];
  (s.allOf ?? []).forEach((part, i) => out.push(...stringLeaves(part, `${p}/allOf/${i}`, base, path)));
  if (s.properties) {
    for (const [k, sub] of Object.entries(s.properties)) {
      if (k === "platforms") continue;
      out.push(...stringLeaves(sub, `${p}/properties/${esc(k)}`, base?.[k], path ? `${path}.${k}` : k));
    }
    return out;
  }
  const types = [s.type ?? []].flat();
  if (types.includes("array") || s.items) {
    if (Array.isArray(base) && base.length) out.push(...stringLeaves(s.items, `${p}/items`, base[0], `${path}[0]`));
    return out;
  }
  const branches = [...(s.oneOf ?? []), ...(s.anyOf ?? [])].map((b) => deref(b, p).obj);
  const takesString = types.includes("string") || branches.some((b) => [b?.type ?? []].flat().includes("string")) || (!s.type && !s.oneOf && !s.anyOf && !s.enum && !s.allOf);
  if (takesString && path) out.push([path, p]);
  return out;
}

function setPath(obj, path, value) {
  const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
  const copy = structuredClone(obj);
  let o = copy;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys.at(-1)] = value;
  return copy;
}

// --- the world the requests act on ----------------------------------------------------------

// 16 bytes that sniff as PNG, for ingests (outbound fetches are answered here) and uploads.
const PNG = new Uint8Array(64);
PNG.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);

let app;
let pins;
before(async () => {
  app = await startWorker({ worker: { outboundService: () => new Response(PNG, { headers: { "Content-Type": "image/png" } }) } });
  const ok = (res) => (assert.ok(res.status < 300, res.text), res.body);
  const owner = await app.signup({ password: "hostile-password-123" });
  const s = owner.token;
  const post = (route, body) => app.post(route, body, { token: s }).then(ok);
  const ws = await app.createWorkspace(s);
  const spareWs = await app.createWorkspace(s);
  const review = await app.createWorkspace(s, { requireApproval: true });
  // BLUESKY: a platform that publishes, so the pinned posts can be scheduled.
  const account = await post("/social-accounts", { workspaceId: ws.id, platform: "BLUESKY", handle: "@hostile" });
  const spareAccount = await post("/social-accounts", { workspaceId: ws.id, platform: "THREADS", handle: "@spare" });
  const reviewAccount = await post("/social-accounts", { workspaceId: review.id, platform: "BLUESKY", handle: "@review" });
  const folder = await post("/media/folders", { workspaceId: ws.id, name: "Hostile" });
  const spareFolder = await post("/media/folders", { workspaceId: ws.id, name: "Spare" });
  const media = await post("/media/from-url", { workspaceId: ws.id, url: "https://cdn.example.com/a.png", folderId: folder.id });
  const spareMedia = await post("/media/from-url", { workspaceId: ws.id, url: "https://cdn.example.com/b.png" });
  const later = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
  const draft = await post("/posts", { content: "Hostile draft", targets: [{ accountId: account.id, mediaIds: [media.id] }] });
  const scheduled = await post("/posts", { content: "Hostile scheduled", targets: [{ accountId: account.id }], scheduledFor: later });
  const spareDraft = await post("/posts", { content: "Spare", targets: [{ accountId: account.id }] });
  const awaiting = await post("/posts", { content: "Awaiting", targets: [{ accountId: reviewAccount.id }], scheduledFor: later });
  const comment = await post(`/posts/${draft.id}/comments`, { body: "Hostile comment" });
  const member = await app.signup();
  await app.addMember(s, ws.id, member.email, "MEMBER");
  const leaver = await app.signup();
  await app.addMember(s, ws.id, leaver.email, "MEMBER");
  const spareKey = await app.mintKey(s, { name: "spare" });
  const pending = await post("/media/presign", { workspaceId: ws.id, filename: "up.png", contentType: "image/png", bytes: PNG.length });
  const tokenOf = (url) => new URL(url).searchParams.get("token");
  const downloadUrl = (await app.get(`/media/${media.id}`, { token: s })).body.url;
  const webhook = await post("/webhooks", { workspaceId: ws.id, url: "https://hooks.example.com/hostile", events: ["post.published"] });
  const spareWebhook = await post("/webhooks", { workspaceId: ws.id, url: "https://hooks.example.com/spare", events: ["post.published"] });
  const delivery = await post(`/webhooks/${webhook.id}/test`);
  pins = {
    owner, session: s, later, member: member.user.id, leaver: leaver.user.id,
    ws: ws.id, spareWs: spareWs.id, review: review.id, account: account.id, spareAccount: spareAccount.id,
    folder: folder.id, spareFolder: spareFolder.id, media: media.id, spareMedia: spareMedia.id,
    draft: draft.id, scheduled: scheduled.id, spareDraft: spareDraft.id, awaiting: awaiting.id,
    comment: comment.id, spareKey: spareKey.id, pending: pending.mediaAsset.id,
    uploadToken: tokenOf(pending.uploadUrl), downloadToken: tokenOf(downloadUrl),
    webhook: webhook.id, spareWebhook: spareWebhook.id, delivery: delivery.id,
  };
});
after(() => app.dispose());

/** The path parameters of each operation, pinned (DELETEs to spare resources). */
function pathParams(method, template) {
  const p = pins;
  const del = method === "delete";
  const post = /\/(reschedule)$/.test(template) ? p.scheduled : /\/(approve|request-changes)$/.test(template) ? p.awaiting : del ? p.spareDraft : p.draft;
  return {
    workspaceId: template.startsWith("/workspaces/{workspaceId}") && del && template === "/workspaces/{workspaceId}" ? p.spareWs : p.ws,
    keyId: p.spareKey,
    userId: del ? p.leaver : p.member,
    accountId: del ? p.spareAccount : p.account,
    postId: post,
    commentId: p.comment,
    mediaId: /\/(upload)$/.test(template) ? p.pending : del ? p.spareMedia : p.media,
    folderId: del ? p.spareFolder : p.folder,
    webhookId: del ? p.spareWebhook : p.webhook,
    deliveryId: p.delivery,
  };
}

/** A valid request body for each operation that takes one. */
function baseBody(method, template) {
  const p = pins;
  const bodies = {
    "post /auth/signup": () => ({ email: `${unique("h")}@example.com`, name: "Hostile", password: "correct horse battery" }),
    "post /auth/login": () => ({ email: p.owner.email, password: p.owner.password }),
    "post /dashboard/signup": () => ({ email: `${unique("h")}@example.com`, name: "Hostile", password: "correct horse battery" }),
    "post /dashboard/login": () => ({ email: p.owner.email, password: p.owner.password }),
    "post /api-keys": () => ({ name: "k", access: "scoped", workspaceIds: [p.ws], expiresAt: p.later }),
    "post /workspaces": () => ({ name: unique("W "), slug: unique("w"), timezone: "Europe/Paris", requireApproval: false }),
    "patch /workspaces/{workspaceId}": () => ({ name: "Renamed", timezone: "UTC", workspaceId: p.ws }),
    "post /workspaces/{workspaceId}/api-keys": () => ({ name: "k", expiresAt: p.later, workspaceId: p.ws }),
    "post /workspaces/{workspaceId}/members": () => ({ email: p.owner.email, role: "MEMBER", workspaceId: p.ws }),
    "patch /workspaces/{workspaceId}/members/{userId}": () => ({ role: "EDITOR", workspaceId: p.ws }),
    "post /social-accounts": () => ({ workspaceId: p.ws, platform: "BLUESKY", handle: "@h", displayName: "H", externalId: "e", credentials: { identifier: "h.bsky.social", appPassword: "app-password", service: "https://bsky.social" } }),
    "patch /social-accounts/{accountId}": () => ({ handle: "@h2", displayName: "H2", workspaceId: p.ws, credentials: { identifier: "h.bsky.social", appPassword: "app-password", service: "https://bsky.social" } }),
    "post /posts": () => ({ content: "c", targets: [{ accountId: p.account, captionOverride: "c", firstComment: "f", mediaIds: [p.media], platformOptions: {} }], mediaIds: [p.media], scheduledFor: p.later, workspaceId: p.ws }),
    "patch /posts/{postId}": () => ({ content: "c", targets: [{ accountId: p.account, captionOverride: "c", firstComment: "f", mediaIds: [p.media] }], mediaIds: [p.media], workspaceId: p.ws }),
    "post /posts/{postId}/schedule": () => ({ scheduledFor: p.later }),
    "post /posts/{postId}/reschedule": () => ({ scheduledFor: p.later }),
    "post /posts/{postId}/request-changes": () => ({ comment: "c" }),
    "post /posts/{postId}/comments": () => ({ body: "b" }),
    "post /comments/{commentId}/reply": () => ({ body: "b" }),
    "post /media/presign": () => ({ workspaceId: p.ws, filename: "a.png", contentType: "image/png", bytes: 64, folderId: p.folder }),
    "post /media/from-url": () => ({ workspaceId: p.ws, url: "https://cdn.example.com/c.png", folderId: p.folder, altText: "a", filename: "c.png", contentType: "image/png" }),
    "patch /media/{mediaId}": () => ({ altText: "a", filename: "a.png" }),
    "post /media/{mediaId}/move": () => ({ folderId: p.folder }),
    "post /media/folders": () => ({ workspaceId: p.ws, name: "F" }),
    "patch /media/folders/{folderId}": () => ({ name: "F" }),
    "post /webhooks": () => ({ workspaceId: p.ws, url: "https://hooks.example.com/h", events: ["post.published", "post.failed"], description: "d" }),
    "patch /webhooks/{webhookId}": () => ({ workspaceId: p.ws, url: "https://hooks.example.com/h2", events: ["post.failed"], description: "d2", enabled: true }),
  };
  return bodies[`${method} ${template}`]?.();
}

/** Headers the operation needs to get past its refusals: the dashboard's routes want the API's
 * own origin. */
function baseHeaders(template) {
  return template.startsWith("/dashboard/") ? { Origin: new URL(BASE).origin } : {};
}

/** Query parameters the operation needs to get past its refusals. */
function baseQuery(method, template) {
  if (template === "/media/{mediaId}/upload") return { token: pins.uploadToken };
  if (template === "/media/{mediaId}/download") return { token: pins.downloadToken };
  if (method === "get" && ["/media", "/media/folders"].includes(template)) return { workspaceId: pins.ws };
  return {};
}

// --- the cases ------------------------------------------------------------------------------

/** Every (operation, field, value) to send: `{ op, where, name, value, schemaOk, send }`. */
function cases() {
  const out = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const opName = `${method.toUpperCase()} ${template}`;
      if (opName === "POST /auth/logout") continue; // no input; it would end the session
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p, i) => {
        const { obj, pointer } = deref(p, `#/paths/${esc(template)}/${op.parameters?.includes(p) ? `${method}/parameters/${op.parameters.indexOf(p)}` : `parameters/${i}`}`);
        return { ...obj, schemaPointer: `${pointer}/schema` };
      });
      const pathValues = pathParams(method, template);
      const body = baseBody(method, template);
      const query = baseQuery(method, template);
      const request = ({ path = {}, q = {}, headers = {}, b = body, raw } = {}) => {
        const route = template.replace(/\{(\w+)\}/g, (_, k) => (k in path ? encodeURIComponent(path[k]) : pathValues[k]));
        const search = Object.entries({ ...query, ...q }).map(([k, v]) => `${encodeURIComponent(k)}=${raw?.[k] ?? encodeURIComponent(v)}`).join("&");
        const url = route + (search ? `?${search}` : "");
        if (template === "/media/{mediaId}/upload") {
          return app.request("PUT", url, { token: pins.session, headers: { "Content-Type": "image/png", "Content-Length": String(PNG.length), ...headers }, body: PNG });
        }
        return app.request(method.toUpperCase(), url, { token: pins.session, headers: { ...baseHeaders(template), ...headers }, body: b });
      };
      for (const p of params) {
        const where = p.in === "header" ? "header" : "query";
        for (const value of valuesFor(p.schema, p.name, p.in === "header" ? "header" : "query")) {
          const schemaOk = schemaAllows(p.schemaPointer, value);
          const send =
            p.in === "path" ? () => request({ path: { [p.name]: value } })
            : p.in === "query" ? () => request({ q: { [p.name]: value } })
            : () => request({ headers: { [p.name]: value } });
          out.push({ opName, where: p.in, name: p.name, value, schemaOk, send, detailsField: where === "header" && p.name !== "Idempotency-Key" ? null : p.name });
        }
        // Percent-escapes that do not decode to UTF-8, sent as they are.
        if (p.in === "query") {
          out.push({ opName, where: "query", name: p.name, value: "%ff%fe%00", schemaOk: false, send: () => request({ q: { [p.name]: "" }, raw: { [p.name]: "%ff%fe%00" } }), detailsField: p.name });
        }
      }
      const media = op.requestBody && deref(op.requestBody, `#/paths/${esc(template)}/${method}/requestBody`);
      const schema = media?.obj.content?.["application/json"]?.schema;
      if (!schema) continue;
      // A JSON body needs a valid base here, or its fields would go untested.
      if (!body) throw new Error(`${opName} takes a JSON body: give it a valid one in baseBody (tests/hostile_input.test.mjs)`);
      const schemaPointer = `${media.pointer}/content/application~1json/schema`;
      for (const [path, pointer] of stringLeaves(schema, schemaPointer, body)) {
        for (const value of valuesFor(null, path, "body")) {
          out.push({ opName, where: "body", name: path, value, schemaOk: schemaAllows(pointer, value), send: () => request({ b: setPath(body, path, value) }), detailsField: path });
        }
        // Bytes that are not UTF-8 inside the field's string: the body is not JSON text.
        out.push({
          opName, where: "body", name: path, value: "<invalid UTF-8>", schemaOk: false, detailsField: "body",
          send: () => request({ b: Buffer.from(JSON.stringify(setPath(body, path, "@@")).replace('"@@"', '"\xff\xfe"'), "latin1") }),
        });
      }
    }
  }
  return out;
}

test("hostile values in every query parameter, header, path parameter and string field get a 4xx envelope, never a 5xx", async () => {
  const all = cases();
  const problems = [];
  const seen = { operations: new Set(), fields: new Set() };
  const limit = 4;
  let next = 0;
  async function worker() {
    while (next < all.length) {
      const c = all[next++];
      seen.operations.add(c.opName);
      seen.fields.add(`${c.opName} ${c.where}:${c.name}`);
      const res = await c.send();
      const shown = JSON.stringify(c.value.length > 40 ? c.value.slice(0, 40) + `…(${c.value.length})` : c.value);
      const where = `${c.opName} ${c.where} ${c.name}=${shown}: ${res.status} ${res.text.slice(0, 300)}`;
      if (res.status >= 500) {
        problems.push(`5xx: ${where}`);
      } else if (!c.schemaOk && res.status < 400) {
        problems.push(`accepted a value its schema refuses: ${where}`);
      } else if (res.status === 400 && res.body?.code === "VALIDATION_FAILED" && c.detailsField) {
        const named = (res.body.details ?? []).some((d) => d.field === c.detailsField || d.field.startsWith(`${c.detailsField}[`));
        if (!named) problems.push(`details do not name ${c.detailsField}: ${where}`);
      }
    }
  }
  await Promise.all(Array.from({ length: limit }, worker));
  assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  // The walk reached what it claims: every operation with an input, each with its fields.
  const inputless = ([t, item], m) => !(item.parameters?.length || item[m].parameters?.length || item[m].requestBody);
  const expected = Object.entries(doc.paths).flatMap((e) => ["get", "post", "put", "patch", "delete"].filter((m) => e[1][m]).map((m) => [`${m.toUpperCase()} ${e[0]}`, inputless(e, m)]));
  const skipped = expected.filter(([o]) => !seen.operations.has(o));
  assert.deepEqual(skipped.filter(([o, none]) => !none && o !== "POST /auth/logout"), [], "operations with inputs left out");
  assert.ok(skipped.length >= 3, "GET /health, GET /openapi.json, GET /me take no input");
  for (const f of ["GET /posts query:from", "GET /posts query:cursor", "POST /posts body:scheduledFor", "POST /posts body:targets[0].accountId", "POST /api-keys body:expiresAt", "POST /posts/{postId}/reschedule body:scheduledFor", "PUT /media/{mediaId}/upload query:token"]) {
    assert.ok(seen.fields.has(f), `not exercised: ${f}`);
  }
  assert.equal(contractViolations.length, 0, "every response matches the contract (details in the file's report)");
  console.log(`hostile input: ${all.length} requests, ${seen.operations.size} operations, ${seen.fields.size} fields`);
});
