// Fuzzes the running API with Schemathesis, a client nobody here wrote, driven only by the
// OpenAPI document (issue 6): serves the built worker on a loopback port in Miniflare, signs up
// a user with two workspaces and a full-access API key, and runs `st run` in three passes. Exits
// non-zero on any finding or error of any pass. The checks: not_a_server_error,
// status_code_conformance, content_type_conformance and response_schema_conformance (what
// issue 6 asks), plus response_headers_conformance, ignored_auth (a request without or with a
// broken credential must be refused), use_after_free and ensure_resource_availability (stateful:
// a deleted resource is gone, a created one can be read).
//
//   key      every operation, with the API key, parameters as generated. Mostly the edge:
//            credential and scope checks, workspace conflicts, body validation, and 403
//            SESSION_REQUIRED on the session-only routes.
//   session  every operation but POST /auth/logout (it would end the session the pass runs on),
//            with the session token and the ids of the first workspace and of resources seeded
//            in it (an account, a folder, a media asset, a post, a comment, a webhook endpoint
//            and one of its deliveries) pinned wherever a
//            parameter or body field takes one, so generated requests get past the scope check
//            and the 404s into the handlers, D1 and the post lifecycle, session-only routes
//            included. Each DELETE is pinned to a second, spare resource
//            (the second workspace for DELETE /workspaces/{workspaceId}), so one early delete
//            does not leave the rest of the pass with 404s. The credential-less routes get
//            what gets them past their credential: login the fuzz user's e-mail and password,
//            the upload route a live token for a PENDING image, the download route a token for
//            the kept asset; the member and lifecycle routes a member, a SCHEDULED post and
//            posts awaiting approval to act on.
//   logout   POST /auth/logout alone, with a session of its own: the first request ends it,
//            the rest must be 401.
//
// Times and cursors come from scripts/fuzz_hooks.py: every `date-time` is drawn from valid times
// at any offset, the edges of the accepted range and valid times with one character replaced or
// inserted (non-ASCII, controls), and `cursor` is sometimes the hex of such a time and an id.
// Without them no generated value reached the timestamp parser past its shape check.
//
// The worker's outbound fetch (URL ingest) is answered here with a small PNG, as in the
// black-box suite: a fuzz run touches no network, and a 502 means the worker's bug, not the
// sandbox's. Worker log lines go to .schemathesis/worker.log. Miniflare is driven from this
// process (it drains workerd's output and answers the outbound stub), so `st` runs as an
// asynchronous child: a blocking spawnSync stalls the worker once its log pipe fills.
//
//   node scripts/fuzz.mjs [--examples N] [--phases a,b] [--seed N | --deterministic] [--workers N]
//                          [-- more `st run` options, e.g. --report junit]
//
// Needs .venv/bin/st (`make fuzz` and `make test` install it).
import { Miniflare } from "miniflare";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { miniflareOptions, migrate, root } from "./worker.mjs";

const { values: opts, positionals: extra } = parseArgs({
  allowPositionals: true,
  options: {
    examples: { type: "string", default: "100" },
    phases: { type: "string", default: "examples,coverage,fuzzing,stateful" },
    seed: { type: "string" },
    deterministic: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
  },
});

const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_schema_conformance",
  "response_headers_conformance",
  "ignored_auth",
  "use_after_free",
  "ensure_resource_availability",
].join(",");
// Hostile times (valid at any offset, at the edges of the range, and with one character changed)
// for every `date-time`, and forged cursors: Schemathesis alone never sends either (issue 11).
const HOOKS = path.join(root, "scripts/fuzz_hooks.py");
const outDir = path.join(root, ".schemathesis");
fs.mkdirSync(outDir, { recursive: true });
const logFd = fs.openSync(path.join(outDir, "worker.log"), "w");

// 8 bytes of PNG signature and an IHDR chunk header: enough for the type sniffer.
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, ...new Array(240).fill(0)]);

const mf = new Miniflare({
  ...miniflareOptions({
    host: "127.0.0.1",
    port: 0,
    worker: { outboundService: () => new Response(PNG, { headers: { "Content-Type": "image/png" } }) },
  }),
  handleRuntimeStdio(stdout, stderr) {
    for (const stream of [stdout, stderr]) stream.on("data", (chunk) => fs.writeSync(logFd, chunk));
  },
});
await migrate(mf);
const base = new URL("/api/v1", await mf.ready).href;

async function call(method, route, body, token) {
  const res = await fetch(base + route, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body && JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** One `st run`; resolves to its exit status. */
function schemathesis(name, credential, { config, include = [], exclude = [], phases = opts.phases } = {}) {
  const args = [
    ...(config ? ["--config-file", config] : []),
    "run",
    `${base}/openapi.json`,
    "--url",
    base,
    "--header",
    `Authorization: Bearer ${credential}`,
    "--checks",
    CHECKS,
    "--phases",
    phases,
    "--max-examples",
    opts.examples,
    "--workers",
    opts.workers,
    // A slow answer on a loaded 2-core machine is not a finding; a hung one still is.
    "--request-timeout",
    "60",
    ...(opts.deterministic ? ["--generation-deterministic"] : opts.seed ? ["--seed", opts.seed] : []),
    ...include.flatMap((op) => ["--include-name", op]),
    ...exclude.flatMap((op) => ["--exclude-name", op]),
    "--no-color",
    ...extra,
  ];
  console.log(`\n=== fuzz pass "${name}" ===`);
  return new Promise((resolve) => {
    const st = spawn(path.join(root, ".venv/bin/st"), args, { stdio: "inherit", env: { ...process.env, SCHEMATHESIS_HOOKS: HOOKS } });
    st.on("error", (e) => (console.error(e.message), resolve(1)));
    st.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** TOML for the session pass: ids pinned to the seeded resources (see the header). */
function sessionConfig(keep, spare, states, capabilities) {
  const q = JSON.stringify;
  const pin = (entries) => Object.entries(entries).map(([k, v]) => `${q(k)} = ${q(v)}`);
  const only = (operation, entries, { stateful = true } = {}) => [
    "",
    "[[operations]]",
    `include-name = ${q(operation)}`,
    `parameters = { ${pin(entries).join(", ")} }`,
    ...(stateful ? [] : ["[operations.phases.stateful]", "enabled = false"]),
  ];
  return [
    "[parameters]",
    ...pin({
      workspaceId: keep.workspace,
      "X-Workspace-Id": keep.workspace,
      "body.workspaceId": keep.workspace,
      accountId: keep.account,
      "body.targets[*].accountId": keep.account,
      "body.platforms[*].accountId": keep.account,
      folderId: keep.folder,
      "body.folderId": keep.folder,
      mediaId: keep.media,
      "body.mediaIds[*]": keep.media,
      "body.targets[*].mediaIds[*]": keep.media,
      "body.platforms[*].mediaIds[*]": keep.media,
      postId: keep.post,
      commentId: keep.comment,
      webhookId: keep.webhook,
      deliveryId: keep.delivery,
    }),
    ...only("DELETE /workspaces/{workspaceId}", { workspaceId: spare.workspace, "X-Workspace-Id": spare.workspace }),
    ...only("DELETE /social-accounts/{accountId}", { accountId: spare.account }),
    ...only("DELETE /media/folders/{folderId}", { folderId: spare.folder }),
    ...only("DELETE /media/{mediaId}", { mediaId: spare.media }),
    ...only("DELETE /posts/{postId}", { postId: spare.post }),
    ...only("DELETE /webhooks/{webhookId}", { webhookId: spare.webhook }),
    // Routes that need a resource in a particular state: another member (a role to change, one
    // to remove; out of the stateful phase, which would send them to workspaces it created, where
    // that user is rightly not found, and take the 404 for a created resource gone missing), a SCHEDULED post, and two posts awaiting approval in a workspace that requires
    // it (one to approve, one to send back). Only `retry` stays short of its success: FAILED is
    // reached by the publisher, and the pinned posts are never due within the run.
    ...only("PATCH /workspaces/{workspaceId}/members/{userId}", { userId: states.member }, { stateful: false }),
    ...only("DELETE /workspaces/{workspaceId}/members/{userId}", { userId: states.leaver }, { stateful: false }),
    ...only("POST /posts/{postId}/reschedule", { postId: states.scheduled }),
    // Approving names the revision seen (If-Match, the post's ETag).
    ...only("POST /posts/{postId}/approve", { postId: states.awaiting[0].id, workspaceId: states.review, "X-Workspace-Id": states.review, "If-Match": `"${states.awaiting[0].revision}"` }),
    ...only("POST /posts/{postId}/request-changes", { postId: states.awaiting[1].id, workspaceId: states.review, "X-Workspace-Id": states.review }),
    // The credential-less routes, past their credential: the fuzz user's e-mail and password,
    // a live upload token for a PENDING image, a download token for the kept asset.
    ...only("POST /auth/login", { "body.email": capabilities.email, "body.password": capabilities.password }),
    // The dashboard's session routes answer only their own origin (the bearer header this pass
    // sends is not theirs: dashboard logout ends only a cookie's session).
    ...only("POST /dashboard/signup", { Origin: capabilities.origin }),
    ...only("POST /dashboard/login", { Origin: capabilities.origin, "body.email": capabilities.email, "body.password": capabilities.password }),
    ...only("POST /dashboard/logout", { Origin: capabilities.origin }),
    ...only("PUT /media/{mediaId}/upload", { mediaId: capabilities.upload.media, token: capabilities.upload.token }),
    ...only("GET /media/{mediaId}/download", { mediaId: keep.media, token: capabilities.downloadToken }),
    "",
  ].join("\n");
}

/** A workspace's worth of resources for the session pass to act on: one to keep, one to delete. */
async function seed(token, workspace, platform) {
  const account = await call("POST", "/social-accounts", { workspaceId: workspace, platform, handle: `@fuzz${platform.toLowerCase()}` }, token);
  const folder = await call("POST", "/media/folders", { workspaceId: workspace, name: `Fuzz ${platform}` }, token);
  const media = await call("POST", "/media/from-url", { workspaceId: workspace, url: "https://cdn.example.com/fuzz.png", folderId: folder.id }, token);
  const post = await call("POST", "/posts", { content: "Fuzz", targets: [{ accountId: account.id, mediaIds: [media.id] }] }, token);
  const comment = await call("POST", `/posts/${post.id}/comments`, { body: "Fuzz" }, token);
  // A webhook endpoint (deliveries reach the stubbed outbound fetch) and one delivery of it.
  const webhook = await call("POST", "/webhooks", { workspaceId: workspace, url: `https://hooks.example.com/fuzz-${platform.toLowerCase()}`, events: ["post.published"] }, token);
  const delivery = await call("POST", `/webhooks/${webhook.id}/test`, undefined, token);
  return { workspace, account: account.id, folder: folder.id, media: media.id, post: post.id, comment: comment.id, webhook: webhook.id, delivery: delivery.id };
}

/** Resources in the states some routes need (see `sessionConfig`). */
async function inStates(token, workspace) {
  const joined = async (name) => {
    const email = `fuzz-${name}@example.com`;
    const { user } = await call("POST", "/auth/signup", { email, name, password: "fuzz-password-123" });
    await call("POST", `/workspaces/${workspace}/members`, { email, role: "MEMBER" }, token);
    return user.id;
  };
  const later = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const account = (await call("GET", `/social-accounts?workspaceId=${workspace}`, undefined, token))[0].id;
  const scheduled = await call("POST", "/posts", { content: "Fuzz scheduled", targets: [{ accountId: account }], scheduledFor: later }, token);
  const review = await call("POST", "/workspaces", { name: "Fuzz Review", requireApproval: true }, token);
  const reviewAccount = await call("POST", "/social-accounts", { workspaceId: review.id, platform: "BLUESKY", handle: "@fuzzreview" }, token);
  const awaiting = [];
  for (const n of [1, 2]) {
    awaiting.push(await call("POST", "/posts", { content: `Fuzz awaiting ${n}`, targets: [{ accountId: reviewAccount.id }], scheduledFor: later }, token));
  }
  return { member: await joined("member"), leaver: await joined("leaver"), scheduled: scheduled.id, review: review.id, awaiting };
}

/** The `token` query parameter of a capability URL the API handed out. */
const tokenOf = (url) => new URL(url).searchParams.get("token");

const failed = [];
try {
  const user = { email: "fuzz@example.com", password: "fuzz-password-123" };
  const { token } = await call("POST", "/auth/signup", { ...user, name: "Fuzz" });
  const one = await call("POST", "/workspaces", { name: "Fuzz One" }, token);
  const two = await call("POST", "/workspaces", { name: "Fuzz Two" }, token);
  const { key } = await call("POST", "/api-keys", { name: "fuzz" }, token);

  if ((await schemathesis("key", key)) !== 0) failed.push("key");

  const config = path.join(outDir, "session.toml");
  // The platforms that publish, so the kept post can be scheduled (their accounts hold no
  // credentials: whatever falls due fails at once, with no request to a platform).
  const keep = await seed(token, one.id, "BLUESKY");
  const spare = { ...(await seed(token, one.id, "MASTODON")), workspace: two.id };
  const pending = await call("POST", "/media/presign", { workspaceId: one.id, filename: "fuzz.png", contentType: "image/png", bytes: 4096 }, token);
  const capabilities = {
    ...user,
    origin: new URL(base).origin,
    upload: { media: pending.mediaAsset.id, token: tokenOf(pending.uploadUrl) },
    downloadToken: tokenOf((await call("GET", `/media/${keep.media}`, undefined, token)).url),
  };
  fs.writeFileSync(config, sessionConfig(keep, spare, await inStates(token, one.id), capabilities));
  if ((await schemathesis("session", token, { config, exclude: ["POST /auth/logout"] })) !== 0) failed.push("session");

  // Last, with a session of its own: the one operation that ends the session it is sent with.
  const { token: ending } = await call("POST", "/auth/login", user);
  // One operation has no links, so no stateful phase, whatever the run's phases are.
  const logoutPhases = "examples,coverage,fuzzing";
  if ((await schemathesis("logout", ending, { include: ["POST /auth/logout"], phases: logoutPhases })) !== 0) failed.push("logout");
} finally {
  await mf.dispose();
}
if (failed.length) console.error(`\nfuzz: findings in pass(es) ${failed.join(", ")} (worker log: .schemathesis/worker.log)`);
process.exit(failed.length ? 1 : 0);
