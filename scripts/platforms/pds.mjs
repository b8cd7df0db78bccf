// A real Bluesky PDS (npm @atproto/pds, the reference implementation bsky.social runs), started
// in-process over an in-memory PLC directory (@did-plc/server with its mock database), the way
// @atproto/dev-env's TestPlc/TestPds do. Tests talk to it over HTTP exactly as the publisher
// does (XRPC on loopback); the helpers below are for arranging and for asserting on the PDS's
// own records.
//
//   const pds = await startPds();  // ~0.4 s, plus ~2 s to load the modules the first time
//   const alice = await pds.createAccount({ handle: "alice.test", password: "hunter2-long" });
//   // alice: { did, handle, password, appPassword, accessJwt, refreshJwt }
//   ... the product logs in with { identifier: alice.handle, appPassword: alice.appPassword,
//       service: pds.url } ...
//   await pds.listRecords(alice.did, "app.bsky.feed.post"); // [{ uri, cid, value }], oldest first
//   await pds.close();
//
// What the PDS answers, for the calls a publisher makes (checked by tests/platforms.test.mjs):
// - createSession {identifier, password} (a handle or the DID, and the account password or an
//   app password) → 200 {did, handle, accessJwt, refreshJwt, didDoc, active, ...}; a wrong
//   password → 401 {error: "AuthenticationRequired", message: "Invalid identifier or password"}.
// - refreshSession with `Authorization: Bearer <refreshJwt>` → 200 {did, handle, accessJwt,
//   refreshJwt, ...}, a new pair. The old refresh token stays usable for a 2-hour grace period
//   (a repeat within it answers the same new pair), then 400 ExpiredToken. An access token
//   sent to refreshSession → 400 {error: "InvalidToken", message: "Invalid token type"}; a
//   garbage token anywhere → 400 {error: "InvalidToken", message: "Token could not be
//   verified"}; an expired one → 400 {error: "ExpiredToken", message: "Token has expired"}.
//   Access tokens live 2 hours, refresh tokens 90 days.
// - uploadBlob (raw bytes, Content-Type the image's type) → 200 {blob: {$type: "blob", ref:
//   {$link: cid}, mimeType, size}}. A missing or garbage token on any authenticated call → 401
//   {error: "AuthMissing"} / 400 {error: "InvalidToken"}.
// - createRecord {repo, collection, rkey?, record, validate?} → 200 {uri, cid, commit: {cid,
//   rev}, validationStatus: "valid"}. `repo` may be the DID or the handle.
//   An rkey already used in that collection → 500 {error: "InternalServerError", message:
//   "Internal Server Error"}, with the repo unchanged: the repository's tree refuses to add a
//   key that exists ("There is already a value at key", a plain Error the PDS does not map to
//   a 4xx). The same 500 as a real server fault, so a publisher retrying with the same rkey
//   must treat a 500 as "maybe it exists" and ask getRecord. (applyWrites#create answers the
//   same 500.) The clean alternative: putRecord {repo, collection, rkey, record, swapRecord:
//   null} creates only if absent: 200 with `commit` when it created; 200 without `commit`
//   when the identical record is already there (a no-op); 400 {error: "InvalidSwap",
//   message: "Record was at <cid>"} when a different record holds the key.
//   Text over 300 graphemes → 400 {error: "InvalidRequest", message: "Invalid
//   app.bsky.feed.post record: grapheme too big (maximum 300, got N) at $.record.text"}.
//   A repo of another account → 403 {error: "AccountNotFound"} (unknown DID).
// - getRecord ?repo&collection&rkey → 200 {uri, cid, value}, or 400 {error: "RecordNotFound"}.
// - Record keys: `app.bsky.feed.post` needs a TID rkey (13 chars of
//   "234567abcdefghijklmnopqrstuvwxyz", the first one of "234567abcdefghij"): another key → 400
//   {error: "InvalidRequest", message: "Invalid record key for app.bsky.feed.post: Invalid
//   TID string ..."}.
// - Handles end in `.test` (the PDS's handle domain), the first label at least 3 chars.
//
// Data (SQLite files, blobs) lives in a temporary directory removed on close. Logs are off
// (the atproto loggers stay silent unless LOG_ENABLED is set).
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// CommonJS packages; loaded lazily so importing this module costs nothing until a PDS starts.
let libs;
function load() {
  libs ??= {
    pds: require("@atproto/pds"),
    plc: require("@did-plc/server"),
    crypto: require("@atproto/crypto"),
  };
  return libs;
}

const ADMIN_PASSWORD = "admin-pass";

/** Listens on 127.0.0.1 (and ::1 when the host has it) so both `localhost` spellings work. */
async function listenLoopback(app, port) {
  const v4 = http.createServer(app);
  v4.listen(port, "127.0.0.1");
  await once(v4, "listening");
  const bound = v4.address().port;
  const servers = [v4];
  const v6 = http.createServer(app);
  try {
    v6.listen(bound, "::1");
    await once(v6, "listening");
    servers.push(v6);
  } catch {
    // No IPv6 loopback here: 127.0.0.1 alone.
  }
  return {
    port: bound,
    async close() {
      await Promise.all(
        servers.map((s) => {
          const closed = new Promise((r) => s.close(r));
          s.closeAllConnections();
          return closed;
        }),
      );
    },
  };
}

/** A free TCP port on loopback (the PDS must know its own port before it starts). */
async function freePort() {
  const s = http.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function xrpc(base, method, nsid, { query, body, token, headers = {}, raw } = {}) {
  const url = new URL(`/xrpc/${nsid}`, base);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h["content-type"] = "application/json";
  }
  const res = await fetch(url, { method, headers: h, body: payload });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get("content-type") ?? "";
  const json = type.includes("json") && bytes.length ? JSON.parse(bytes.toString("utf8")) : undefined;
  if (!res.ok) {
    const err = new Error(`PDS ${nsid} → ${res.status} ${bytes.toString("utf8").slice(0, 300)}`);
    Object.assign(err, { status: res.status, body: json });
    throw err;
  }
  return json ?? bytes;
}

/**
 * Starts a PLC directory and a PDS on loopback.
 * @param {{port?: number}} [opts] the PDS port (default: a free one); the PLC always takes a free one.
 */
export async function startPds({ port } = {}) {
  const { pds: pdsLib, plc: plcLib, crypto } = load();
  const dataDirectory = await fs.mkdtemp(path.join(os.tmpdir(), "pds-"));
  const cleanups = [() => fs.rm(dataDirectory, { recursive: true, force: true })];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const plcServer = plcLib.PlcServer.create({ db: plcLib.Database.mock(), port: 0 });
    const plcListen = await listenLoopback(plcServer.app, 0);
    cleanups.push(() => plcServer.ctx.db.close(), () => plcListen.close());
    const plcUrl = `http://127.0.0.1:${plcListen.port}`;

    const pdsPort = port ?? (await freePort());
    const rotationKey = await crypto.Secp256k1Keypair.create({ exportable: true });
    const env = {
      devMode: true,
      port: pdsPort,
      dataDirectory,
      blobstoreDiskLocation: path.join(dataDirectory, "blobs"),
      recoveryDidKey: (await crypto.Secp256k1Keypair.create()).did(),
      adminPassword: ADMIN_PASSWORD,
      jwtSecret: "jwt-secret",
      serviceHandleDomains: [".test"],
      didPlcUrl: plcUrl,
      bskyAppViewUrl: "https://appview.invalid",
      bskyAppViewDid: "did:example:invalid",
      bskyAppViewCdnUrlPattern: "http://cdn.appview.invalid/%s/%s/%s",
      modServiceUrl: "https://moderator.invalid",
      modServiceDid: "did:example:invalid",
      plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotationKey.export()).toString("hex"),
      inviteRequired: false,
      disableSsrfProtection: true,
      crawlers: [],
    };
    const server = await pdsLib.PDS.create(pdsLib.envToCfg(env), pdsLib.envToSecrets(env));
    // What PDS.start() does, but listening on loopback only (start() listens on every interface).
    await server.ctx.sequencer.start();
    cleanups.push(async () => {
      // PDS.destroy() first awaits the sequencer's poll loop, which backs off up to 1 s when
      // idle; marking it destroyed ends the loop at its next turn without waiting for it.
      server.ctx.sequencer.destroyed = true;
      server.ctx.sequencer.pollPromise = null;
      await server.destroy();
    });
    const pdsListen = await listenLoopback(server.app, pdsPort);
    cleanups.push(() => pdsListen.close());
    const url = `http://127.0.0.1:${pdsPort}`;

    return {
      url,
      plcUrl,
      /** The PDS object itself (ctx, app), for what the helpers below do not cover. */
      server,
      /**
       * Creates an account and an app password for it, as a user would before connecting the
       * product. `handle` must end in `.test` (the PDS's handle domain).
       */
      async createAccount({ handle, password, email }) {
        const account = await xrpc(url, "POST", "com.atproto.server.createAccount", {
          body: { handle, password, email: email ?? `${handle}@example.com` },
        });
        const app = await xrpc(url, "POST", "com.atproto.server.createAppPassword", {
          token: account.accessJwt,
          body: { name: "postbridge" },
        });
        return {
          did: account.did,
          handle: account.handle,
          password,
          appPassword: app.password,
          accessJwt: account.accessJwt,
          refreshJwt: account.refreshJwt,
        };
      },
      /** Every record of `collection` in the repo of `did` (all pages), oldest first. */
      async listRecords(did, collection) {
        const records = [];
        let cursor;
        do {
          const page = await xrpc(url, "GET", "com.atproto.repo.listRecords", {
            query: { repo: did, collection, limit: "100", reverse: "true", ...(cursor ? { cursor } : {}) },
          });
          records.push(...page.records);
          cursor = page.records.length ? page.cursor : undefined;
        } while (cursor);
        return records;
      },
      /** One record ({uri, cid, value}), or null when the PDS has none under that key. */
      async getRecord(did, collection, rkey) {
        try {
          return await xrpc(url, "GET", "com.atproto.repo.getRecord", { query: { repo: did, collection, rkey } });
        } catch (e) {
          if (e.status === 400 && e.body?.error === "RecordNotFound") return null;
          throw e;
        }
      },
      /** A blob's bytes (a Buffer), as stored by the PDS. */
      async getBlob(did, cid) {
        return xrpc(url, "GET", "com.atproto.sync.getBlob", { query: { did, cid } });
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

// `make pds` (node scripts/platforms/pds.mjs [--port N]): a PDS for the README walkthrough,
// with a demo account, until Ctrl-C. Its data is temporary: every run starts empty, with a
// new app password (also written to .wrangler/pds-demo.json for scripts).
if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const i = process.argv.indexOf("--port");
  const port = Number(i > 0 ? process.argv[i + 1] : process.env.PDS_PORT ?? 2583);
  const pds = await startPds({ port });
  const demo = await pds.createAccount({ handle: "newcomer.test", password: "newcomer-password-123" });
  const info = { service: pds.url, handle: demo.handle, did: demo.did, password: demo.password, appPassword: demo.appPassword };
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
  await fs.mkdir(path.join(root, ".wrangler"), { recursive: true });
  await fs.writeFile(path.join(root, ".wrangler/pds-demo.json"), JSON.stringify(info, null, 2) + "\n");
  console.log(`Bluesky PDS (real @atproto/pds, in-memory PLC) on ${pds.url}
  handle:       ${demo.handle}
  did:          ${demo.did}
  password:     ${demo.password}
  app password: ${demo.appPassword}   (use this one in the product's credentials)
  credentials for the product: ${JSON.stringify({ identifier: demo.handle, appPassword: demo.appPassword, service: pds.url })}
  the demo account's posts:    curl '${pds.url}/xrpc/com.atproto.repo.listRecords?repo=${demo.did}&collection=app.bsky.feed.post'
(written to .wrangler/pds-demo.json; Ctrl-C stops it and deletes its data)`);
  const stop = async () => {
    await pds.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
