// A fast, minimal, stateful fake of the two platforms, for the publishing benchmark (where the
// real PDS would measure itself). One loopback server speaks both protocols, for the calls a
// publisher makes, with the status codes and bodies of the real servers the tests use
// (@atproto/pds 0.4.217 and mastodon-mock 0.6.1; tests/platforms.test.mjs sends the same
// requests to the fake and to them and compares). It records the receipt time of every post
// and counts repeats per record key / Idempotency-Key. About 0.4 ms of CPU per post (measured:
// 2,000 createRecord calls from 200 accounts, 847 ms of the server's CPU), so the product under
// test is what a benchmark measures.
//
//   const fake = await startFakePlatform();
//   const bsky = fake.addBlueskyAccount({ handle: "shop.test", password: "app-pass" }); // {did, handle, password}
//   const masto = fake.addMastodonAccount({ token: "tok-1" });                           // {id, username, token}
//   ... the product uses service / instanceUrl = fake.url ...
//   fake.posts      // [{ platform, account, key, id, url, text, media, receivedAt }] in arrival order
//   fake.stats()    // { bluesky, mastodon, repeats, repeatedKeys, withoutKey, duplicateTexts, requests }
//   await fake.close();
//
// Bluesky (XRPC), as the PDS answers:
//   POST com.atproto.server.createSession {identifier (handle or DID), password} → 200 {did,
//     handle, email, emailConfirmed, active, accessJwt, refreshJwt}; unknown or wrong → 401
//     {error: "AuthenticationRequired", message: "Invalid identifier or password"}.
//     With `autoAccounts`, an unknown identifier is registered with the password it brings.
//   POST com.atproto.server.refreshSession (Bearer refreshJwt) → 200 a new pair (the old
//     refresh token keeps working, as in the PDS's grace period).
//   Tokens are HS256 JWTs shaped as the PDS's (typ at+jwt / refresh+jwt, sub = DID, exp);
//     `accessTtlSeconds` (default 7200) shortens them to exercise refresh. No token → 401
//     AuthMissing; garbage → 400 InvalidToken "Token could not be verified"; the wrong kind →
//     400 InvalidToken "Invalid token type"; expired → 400 ExpiredToken "Token has expired".
//   POST com.atproto.repo.uploadBlob (raw bytes) → 200 {blob: {$type: "blob", ref: {$link:
//     cid}, mimeType (sniffed from the bytes for PNG/JPEG/GIF/WebP, else the Content-Type),
//     size}}; over 5,000,000 bytes → 413 PayloadTooLarge.
//   POST com.atproto.repo.createRecord {repo, collection, rkey?, record} → 200 {uri, cid,
//     commit: {cid, rev}, validationStatus: "valid"}. An rkey already used → 500
//     InternalServerError (the PDS's answer) and a counted repeat. For app.bsky.feed.post: a
//     non-TID rkey, more than 300 graphemes or 3000 bytes of text, no createdAt, more than 4
//     images, an image over `blueskyMaxImageBytes` (default 1,000,000, the pinned PDS's
//     lexicon; bsky.social's is now 2,000,000) or a missing alt → 400 InvalidRequest. Another
//     account's repo → 401 AuthenticationRequired. CIDs are CIDv1/sha-256 of the bytes (blobs:
//     exact; records: of their JSON, not DAG-CBOR, so they differ from the PDS's).
//   GET com.atproto.repo.getRecord ?repo&collection&rkey → 200 {uri, cid, value} or 400
//     RecordNotFound (also for an unknown repo, where the PDS answers 502 UpstreamFailure); GET com.atproto.repo.listRecords ?repo&collection&limit&cursor&reverse;
//     GET com.atproto.server.getSession.
// Mastodon, as the mock answers:
//   Bearer token of an added account (or any, with `autoAccounts`); none → 401 {"error":
//     "This method requires an authenticated user"}, unknown → 401 {"error": "The access token
//     is invalid"} (Mastodon's words; the mock says the former for both).
//   POST /api/v2/media (multipart `file`, `description`) → 200 MediaAttachment; with
//     `mediaProcessingPolls: n`, 202 with url null, then GET /api/v1/media/:id answers 206 n
//     times before 200, and a status naming it meanwhile is 422 "Cannot attach files that have
//     not finished processing. Try again in a moment!". No `file` → 422.
//   POST /api/v1/statuses (form, multipart or JSON; `status`, `media_ids[]`, `visibility`,
//     `spoiler_text`, `language`, `sensitive`) with Idempotency-Key → 200 Status; a repeat key
//     from the same account → 200 the original status, nothing created, a counted repeat.
//     Blank with no media → 422; over `maxCharacters` (default 500) code points → 422; more
//     than 4 media → 422; unknown media ids are ignored (as the mock does).
//   GET /api/v1/instance, /api/v2/instance (max_characters, max_media_attachments,
//     characters_reserved_per_url, supported_mime_types, image_size_limit),
//   GET /api/v1/accounts/verify_credentials, GET /api/v1/media/:id, GET /api/v1/statuses/:id.
// Anything else → 404 (XRPC: {error: "MethodNotImplemented"}; Mastodon: {"error": "Record not
// found"}).
import crypto from "node:crypto";
import http from "node:http";
import { once } from "node:events";

const S32 = "234567abcdefghijklmnopqrstuvwxyz";
const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
const NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!";
const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });

function base32(bytes) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** CIDv1, sha2-256, base32 ("b…"): codec 0x55 raw (blobs) or 0x71 dag-cbor (records). */
function cid(codec, bytes) {
  const digest = crypto.createHash("sha256").update(bytes).digest();
  return `b${base32(Buffer.concat([Buffer.from([0x01, codec, 0x12, 0x20]), digest]))}`;
}

function sniff(bytes, declared) {
  const hex = bytes.subarray(0, 12).toString("hex");
  if (hex.startsWith("89504e470d0a1a0a")) return "image/png";
  if (hex.startsWith("ffd8ff")) return "image/jpeg";
  if (hex.startsWith("474946383")) return "image/gif";
  if (hex.startsWith("52494646") && hex.slice(16, 24) === "57454250") return "image/webp";
  return declared || "application/octet-stream";
}

function b64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** The parts of a multipart/form-data body: { fields: {name: [string]}, files: {name: {filename, type, data}} }. */
function parseMultipart(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const fields = {};
  const files = {};
  if (!m) return { fields, files };
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    const start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const split = part.indexOf("\r\n\r\n");
    if (split !== -1) {
      const head = part.subarray(0, split).toString("utf8");
      const data = part.subarray(split + 4);
      const name = /name="([^"]*)"/i.exec(head)?.[1];
      const filename = /filename="([^"]*)"/i.exec(head)?.[1];
      const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim();
      if (name !== undefined) {
        if (filename !== undefined) files[name] = { filename, type, data };
        else (fields[name] ??= []).push(data.toString("utf8"));
      }
    }
    pos = next;
  }
  return { fields, files };
}

/**
 * @param {{port?: number, autoAccounts?: boolean, accessTtlSeconds?: number,
 *   maxCharacters?: number, mediaProcessingPolls?: number, blueskyMaxImageBytes?: number}} [opts]
 */
export async function startFakePlatform({
  port = 0,
  autoAccounts = false,
  accessTtlSeconds = 7200,
  maxCharacters = 500,
  mediaProcessingPolls = 0,
  blueskyMaxImageBytes = 1_000_000,
} = {}) {
  const secret = crypto.randomBytes(32);
  let url = "";
  const posts = [];
  const repeatedKeys = new Map(); // "platform account key" → repeats
  let requests = 0;
  let lastTid = 0n;
  let mastoSeq = 0n;

  // Bluesky state
  const bskyByDid = new Map(); // did → { did, handle, password, records: Map(collection/rkey → {cid, value}), blobs: Map(cid → {mimeType, size}) }
  const bskyByHandle = new Map();
  // Mastodon state
  const mastoByToken = new Map(); // token → { id, username, idempotency: Map(key → status), statuses: [] }
  const media = new Map(); // id → { attachment, pending }
  const statuses = new Map(); // id → status

  const nextMastoId = () => String(110_000_000_000_000_000n + ++mastoSeq);
  function tid() {
    let n = BigInt(Date.now()) * 1000n;
    if (n <= lastTid) n = lastTid + 1n;
    lastTid = n;
    let v = n << 10n;
    let s = "";
    for (let i = 0; i < 13; i++) {
      s = S32[Number(v & 31n)] + s;
      v >>= 5n;
    }
    return s;
  }

  function addBlueskyAccount({ handle, password }) {
    const did = `did:plc:${base32(crypto.randomBytes(15)).slice(0, 24)}`;
    const account = { did, handle, password, records: new Map(), blobs: new Map() };
    bskyByDid.set(did, account);
    bskyByHandle.set(handle, account);
    return { did, handle, password };
  }
  function addMastodonAccount({ token, username } = {}) {
    const id = nextMastoId();
    const account = { id, username: username ?? `user${mastoSeq}`, token: token ?? crypto.randomBytes(16).toString("hex"), idempotency: new Map() };
    mastoByToken.set(account.token, account);
    return { id, username: account.username, token: account.token };
  }

  function sign(payload, typ) {
    const input = `${b64url({ typ, alg: "HS256" })}.${b64url(payload)}`;
    return `${input}.${crypto.createHmac("sha256", secret).update(input).digest("base64url")}`;
  }
  function sessionFor(account) {
    const iat = Math.floor(Date.now() / 1000);
    return {
      accessJwt: sign({ scope: "com.atproto.appPass", aud: "did:web:localhost", sub: account.did, iat, exp: iat + accessTtlSeconds }, "at+jwt"),
      refreshJwt: sign({ scope: "com.atproto.refresh", aud: "did:web:localhost", sub: account.did, jti: crypto.randomBytes(16).toString("base64url"), iat, exp: iat + 90 * 86400 }, "refresh+jwt"),
      did: account.did,
      handle: account.handle,
      email: `${account.handle}@example.com`,
      emailConfirmed: false,
      active: true,
    };
  }
  /** The account a bearer token names, or an XRPC error [status, error, message]. */
  function verify(req, typ) {
    const auth = req.headers.authorization;
    if (!auth) return [401, "AuthMissing", "Authentication Required"];
    const token = auth.replace(/^Bearer\s+/i, "");
    const parts = token.split(".");
    if (parts.length !== 3) return [400, "InvalidToken", "Token could not be verified"];
    const expected = crypto.createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], "base64url");
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      return [400, "InvalidToken", "Token could not be verified"];
    }
    let header;
    let payload;
    try {
      header = JSON.parse(Buffer.from(parts[0], "base64url"));
      payload = JSON.parse(Buffer.from(parts[1], "base64url"));
    } catch {
      return [400, "InvalidToken", "Token could not be verified"];
    }
    if (header.typ !== typ) return [400, "InvalidToken", "Invalid token type"];
    if (payload.exp * 1000 <= Date.now()) return [400, "ExpiredToken", "Token has expired"];
    const account = bskyByDid.get(payload.sub);
    if (!account) return [401, "AuthenticationRequired", "Authentication Required"];
    return account;
  }

  function countRepeat(platform, account, key) {
    const k = `${platform} ${account} ${key}`;
    repeatedKeys.set(k, (repeatedKeys.get(k) ?? 0) + 1);
  }

  function send(res, status, value, headers = {}) {
    const body = Buffer.from(JSON.stringify(value));
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": body.length, ...headers });
    res.end(body);
  }
  const xerr = (res, status, error, message) => send(res, status, { error, message });
  const merr = (res, status, error) => send(res, status, { error });

  function parseJson(body) {
    try {
      const v = JSON.parse(body.toString("utf8"));
      return v && typeof v === "object" && !Array.isArray(v) ? v : null;
    } catch {
      return null;
    }
  }

  function postRecordProblem(record) {
    if (typeof record.text !== "string") return 'Invalid app.bsky.feed.post record: Missing required key "text" at $.record';
    if (typeof record.createdAt !== "string") return 'Invalid app.bsky.feed.post record: Missing required key "createdAt" at $.record';
    const graphemes = [...segmenter.segment(record.text)].length;
    if (graphemes > 300) return `Invalid app.bsky.feed.post record: grapheme too big (maximum 300, got ${graphemes}) at $.record.text`;
    const bytes = Buffer.byteLength(record.text);
    if (bytes > 3000) return `Invalid app.bsky.feed.post record: string too long (maximum 3000, got ${bytes}) at $.record.text`;
    const images = record.embed?.$type === "app.bsky.embed.images" ? record.embed.images : undefined;
    if (images !== undefined) {
      if (!Array.isArray(images)) return "Invalid app.bsky.feed.post record: Expected array at $.record.embed.images";
      if (images.length > 4) return `Invalid app.bsky.feed.post record: array too big (maximum 4, got ${images.length}) at $.record.embed.images`;
      for (const [i, img] of images.entries()) {
        if (typeof img?.alt !== "string") return `Invalid app.bsky.feed.post record: Missing required key "alt" at $.record.embed.images[${i}]`;
        const size = img?.image?.size;
        if (typeof size === "number" && size > blueskyMaxImageBytes) {
          return `Invalid app.bsky.feed.post record: blob too big (maximum ${blueskyMaxImageBytes}, got ${size}) at $.record.embed.images[${i}].image`;
        }
      }
    }
    return null;
  }

  function xrpc(req, res, nsid, query, body, receivedAt) {
    switch (`${req.method} ${nsid}`) {
      case "POST com.atproto.server.createSession": {
        const input = parseJson(body);
        if (!input) return xrpc400(res, body);
        if (typeof input.identifier !== "string") return xerr(res, 400, "InvalidRequest", 'Missing required key "identifier" at $');
        if (typeof input.password !== "string") return xerr(res, 400, "InvalidRequest", 'Missing required key "password" at $');
        let account = bskyByDid.get(input.identifier) ?? bskyByHandle.get(input.identifier);
        if (!account && autoAccounts) {
          addBlueskyAccount({ handle: input.identifier, password: input.password });
          account = bskyByHandle.get(input.identifier);
        }
        if (!account || account.password !== input.password) {
          return xerr(res, 401, "AuthenticationRequired", "Invalid identifier or password");
        }
        return send(res, 200, sessionFor(account));
      }
      case "POST com.atproto.server.refreshSession": {
        const account = verify(req, "refresh+jwt");
        if (Array.isArray(account)) return xerr(res, ...account);
        return send(res, 200, sessionFor(account));
      }
      case "GET com.atproto.server.getSession": {
        const account = verify(req, "at+jwt");
        if (Array.isArray(account)) return xerr(res, ...account);
        const { accessJwt: _a, refreshJwt: _r, ...session } = sessionFor(account);
        return send(res, 200, session);
      }
      case "POST com.atproto.repo.uploadBlob": {
        const account = verify(req, "at+jwt");
        if (Array.isArray(account)) return xerr(res, ...account);
        if (body.length > 5_000_000) return xerr(res, 413, "PayloadTooLarge", "request entity too large");
        const ref = cid(0x55, body);
        const mimeType = sniff(body, req.headers["content-type"]);
        account.blobs.set(ref, { mimeType, size: body.length });
        return send(res, 200, { blob: { $type: "blob", ref: { $link: ref }, mimeType, size: body.length } });
      }
      case "POST com.atproto.repo.createRecord": {
        const account = verify(req, "at+jwt");
        if (Array.isArray(account)) return xerr(res, ...account);
        const input = parseJson(body);
        if (!input) return xrpc400(res, body);
        for (const key of ["repo", "collection", "record"]) {
          if (input[key] === undefined) return xerr(res, 400, "InvalidRequest", `Missing required key "${key}" at $`);
        }
        if (input.repo !== account.did && input.repo !== account.handle) {
          return xerr(res, 401, "AuthenticationRequired", "Authentication Required");
        }
        const { collection, record } = input;
        const rkey = input.rkey ?? tid();
        if (collection === "app.bsky.feed.post") {
          if (!TID_RE.test(rkey)) {
            return xerr(res, 400, "InvalidRequest", `Invalid record key for app.bsky.feed.post: Invalid TID string (got ${JSON.stringify(rkey)}) at $`);
          }
          const problem = postRecordProblem(record);
          if (problem) return xerr(res, 400, "InvalidRequest", problem);
        }
        const path = `${collection}/${rkey}`;
        const key = input.rkey === undefined ? null : rkey;
        if (account.records.has(path)) {
          countRepeat("bluesky", account.did, rkey);
          return xerr(res, 500, "InternalServerError", "Internal Server Error");
        }
        const value = { ...record, $type: record.$type ?? collection };
        const recordCid = cid(0x71, Buffer.from(JSON.stringify(value)));
        account.records.set(path, { cid: recordCid, value });
        const uri = `at://${account.did}/${path}`;
        if (collection === "app.bsky.feed.post") {
          const images = value.embed?.$type === "app.bsky.embed.images" ? value.embed.images : [];
          posts.push({
            platform: "bluesky",
            account: account.did,
            key,
            id: uri,
            url: `https://bsky.app/profile/${account.handle}/post/${rkey}`,
            text: value.text,
            media: images.map((i) => i.image?.ref?.$link),
            receivedAt,
          });
        }
        return send(res, 200, { uri, cid: recordCid, commit: { cid: cid(0x71, Buffer.from(`${uri} ${Date.now()}`)), rev: tid() }, validationStatus: "valid" });
      }
      case "GET com.atproto.repo.getRecord": {
        const { repo, collection, rkey } = Object.fromEntries(query);
        for (const [k, v] of Object.entries({ repo, collection, rkey })) {
          if (!v) return xerr(res, 400, "InvalidRequest", `Error: Params must have the property "${k}"`);
        }
        const account = bskyByDid.get(repo) ?? bskyByHandle.get(repo);
        const found = account?.records.get(`${collection}/${rkey}`);
        if (!found) return xerr(res, 400, "RecordNotFound", `Could not locate record: at://${account?.did ?? repo}/${collection}/${rkey}`);
        return send(res, 200, { uri: `at://${account.did}/${collection}/${rkey}`, cid: found.cid, value: found.value });
      }
      case "GET com.atproto.repo.listRecords": {
        const q = Object.fromEntries(query);
        const account = bskyByDid.get(q.repo) ?? bskyByHandle.get(q.repo);
        if (!account) return xerr(res, 400, "InvalidRequest", `Could not find repo: ${q.repo}`);
        const limit = Math.min(Math.max(Number(q.limit) || 50, 1), 100);
        let rows = [...account.records.entries()]
          .filter(([p]) => p.startsWith(`${q.collection}/`))
          .map(([p, r]) => ({ rkey: p.slice(q.collection.length + 1), ...r }))
          .sort((a, b) => (a.rkey < b.rkey ? 1 : a.rkey > b.rkey ? -1 : 0));
        if (q.reverse === "true") rows.reverse();
        if (q.cursor) rows = rows.filter((r) => (q.reverse === "true" ? r.rkey > q.cursor : r.rkey < q.cursor));
        const page = rows.slice(0, limit);
        return send(res, 200, {
          records: page.map((r) => ({ uri: `at://${account.did}/${q.collection}/${r.rkey}`, cid: r.cid, value: r.value })),
          ...(page.length ? { cursor: page[page.length - 1].rkey } : {}),
        });
      }
      default:
        return xerr(res, 404, "MethodNotImplemented", "Method Not Implemented");
    }
  }
  function xrpc400(res, body) {
    try {
      JSON.parse(body.toString("utf8"));
      return xerr(res, 400, "InvalidRequest", "Input must be an object");
    } catch (e) {
      return xerr(res, 400, "SyntaxError", e.message);
    }
  }

  function mastoAccount(req, res) {
    const auth = req.headers.authorization;
    if (!auth || !/^Bearer\s+\S/i.test(auth)) {
      merr(res, 401, "This method requires an authenticated user");
      return null;
    }
    const token = auth.replace(/^Bearer\s+/i, "");
    let account = mastoByToken.get(token);
    if (!account && autoAccounts) {
      addMastodonAccount({ token });
      account = mastoByToken.get(token);
    }
    if (!account) {
      merr(res, 401, "The access token is invalid");
      return null;
    }
    return account;
  }

  /** Form (urlencoded or multipart) or JSON params, `x[]` keys as lists under `x`. */
  function params(req, body) {
    const type = req.headers["content-type"] ?? "";
    if (type.startsWith("application/json")) return parseJson(body) ?? {};
    const out = {};
    const put = (k, v) => {
      if (k.endsWith("[]")) (out[k.slice(0, -2)] ??= []).push(v);
      else out[k] = v;
    };
    if (type.startsWith("multipart/form-data")) {
      const { fields } = parseMultipart(body, type);
      for (const [k, vs] of Object.entries(fields)) for (const v of vs) put(k, v);
    } else {
      for (const [k, v] of new URLSearchParams(body.toString("utf8"))) put(k, v);
    }
    return out;
  }

  function accountJson(account) {
    return { id: account.id, username: account.username, acct: account.username, display_name: account.username, url: `${url}/@${account.username}` };
  }

  function instance(version) {
    const configuration = {
      statuses: { max_characters: maxCharacters, max_media_attachments: 4, characters_reserved_per_url: 23 },
      media_attachments: { supported_mime_types: ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"], image_size_limit: 10485760 },
    };
    return version === 1
      ? { uri: new URL(url).host, title: "Fake platform", version: "4.6.0", configuration }
      : { domain: new URL(url).host, title: "Fake platform", version: "4.6.0", configuration };
  }

  function mastodon(req, res, path, body, receivedAt) {
    if (req.method === "GET" && path === "/api/v1/instance") return send(res, 200, instance(1));
    if (req.method === "GET" && path === "/api/v2/instance") return send(res, 200, instance(2));
    const mediaGet = /^\/api\/v1\/media\/([^/]+)$/.exec(path);
    const statusGet = /^\/api\/v1\/statuses\/([^/]+)$/.exec(path);
    if (req.method === "GET" && statusGet) {
      const status = statuses.get(statusGet[1]);
      return status ? send(res, 200, status) : merr(res, 404, "Record not found");
    }
    const account = mastoAccount(req, res);
    if (!account) return;
    if (req.method === "GET" && path === "/api/v1/accounts/verify_credentials") return send(res, 200, accountJson(account));
    if (req.method === "GET" && mediaGet) {
      const m = media.get(mediaGet[1]);
      if (!m) return merr(res, 404, "Record not found");
      if (m.pending > 0) {
        m.pending -= 1;
        return send(res, 206, { ...m.attachment, url: null });
      }
      return send(res, 200, m.attachment);
    }
    if (req.method === "POST" && (path === "/api/v2/media" || path === "/api/v1/media")) {
      const type = req.headers["content-type"] ?? "";
      const { fields, files } = type.startsWith("multipart/form-data") ? parseMultipart(body, type) : { fields: {}, files: {} };
      const file = files.file;
      if (!file) {
        return send(res, 422, { error: "Validation failed: file Field required", details: { file: [{ error: "ERR_BLANK", description: "Field required" }] } });
      }
      const id = nextMastoId();
      const mime = sniff(file.data, file.type);
      const attachment = {
        id,
        type: mime === "image/gif" ? "gifv" : mime.split("/")[0] === "image" ? "image" : mime.split("/")[0] === "video" ? "video" : "unknown",
        url: `${url}/media/${id}`,
        preview_url: `${url}/media/${id}`,
        remote_url: null,
        text_url: null,
        description: fields.description?.[0] ?? null,
        blurhash: "U00000fQfQfQfQfQfQfQfQfQfQfQ",
        meta: {},
      };
      const pending = path === "/api/v2/media" ? mediaProcessingPolls : 0;
      media.set(id, { attachment, pending, account: account.id, size: file.data.length });
      return pending > 0 ? send(res, 202, { ...attachment, url: null }) : send(res, 200, attachment);
    }
    if (req.method === "POST" && path === "/api/v1/statuses") {
      const p = params(req, body);
      const key = req.headers["idempotency-key"] ?? null;
      if (key !== null && account.idempotency.has(key)) {
        countRepeat("mastodon", account.id, key);
        return send(res, 200, account.idempotency.get(key));
      }
      const text = typeof p.status === "string" ? p.status : "";
      const ids = Array.isArray(p.media_ids) ? p.media_ids.map(String) : p.media_ids ? [String(p.media_ids)] : [];
      if (!text.trim() && ids.length === 0) return merr(res, 422, "Validation failed: Text can't be blank");
      if ([...text].length > maxCharacters) return merr(res, 422, `Validation failed: Text is too long (maximum is ${maxCharacters} characters)`);
      if (ids.length > 4) return merr(res, 422, "Validation failed: Media attachments count is too high (maximum is 4)");
      const attached = ids.map((id) => media.get(id)).filter(Boolean);
      if (attached.some((m) => m.pending > 0)) return merr(res, 422, NOT_READY);
      const id = nextMastoId();
      const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
      const status = {
        id,
        uri: `${url}/users/${account.username}/statuses/${id}`,
        url: `${url}/@${account.username}/${id}`,
        created_at: new Date(receivedAt).toISOString(),
        content: `<p>${escaped.split(/\n\s*\n/).map((para) => para.replace(/\n/g, "<br />")).join("</p><p>")}</p>`,
        visibility: typeof p.visibility === "string" ? p.visibility : "public",
        sensitive: p.sensitive === true || p.sensitive === "true",
        spoiler_text: typeof p.spoiler_text === "string" ? p.spoiler_text : "",
        language: typeof p.language === "string" ? p.language : null,
        media_attachments: attached.map((m) => m.attachment),
        mentions: [],
        tags: [],
        account: accountJson(account),
      };
      statuses.set(id, status);
      if (key !== null) account.idempotency.set(key, status);
      posts.push({ platform: "mastodon", account: account.id, key, id, url: status.url, text, media: ids, receivedAt });
      return send(res, 200, status);
    }
    return merr(res, 404, "Record not found");
  }

  const server = http.createServer((req, res) => {
    const receivedAt = Date.now();
    requests += 1;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const parsed = new URL(req.url, "http://fake");
      try {
        if (parsed.pathname.startsWith("/xrpc/")) xrpc(req, res, parsed.pathname.slice(6), parsed.searchParams, body, receivedAt);
        else mastodon(req, res, parsed.pathname, body, receivedAt);
      } catch (e) {
        if (!res.headersSent) send(res, 500, { error: "InternalServerError", message: `fake platform: ${e.message}` });
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    posts,
    addBlueskyAccount,
    addMastodonAccount,
    /**
     * Counts: posts made per platform; `repeats`, requests that reused a key (the platform made
     * nothing for them), by "platform account key" in `repeatedKeys`; `withoutKey`, posts sent
     * with no rkey / Idempotency-Key; `duplicateTexts`, posts whose text the same account had
     * already posted (true duplicates, when the benchmark gives every target its own text).
     */
    stats() {
      let repeats = 0;
      for (const n of repeatedKeys.values()) repeats += n;
      const seen = new Set();
      let duplicateTexts = 0;
      for (const p of posts) {
        const k = JSON.stringify([p.platform, p.account, p.text]);
        if (seen.has(k)) duplicateTexts += 1;
        seen.add(k);
      }
      return {
        bluesky: posts.filter((p) => p.platform === "bluesky").length,
        mastodon: posts.filter((p) => p.platform === "mastodon").length,
        repeats,
        repeatedKeys: new Map(repeatedKeys),
        withoutKey: posts.filter((p) => p.key === null).length,
        duplicateTexts,
        requests,
      };
    },
    async close() {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
