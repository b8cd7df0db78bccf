// Secret hygiene (issue 6, item 5): the harness learns every secret that passes through
// `App.request` — session tokens from signup and login, API keys from their create calls,
// webhook signing secrets from their create and rotate calls, passwords it sends,
// social-account `credentials` it sends — and at the end of each file
// asserts that no response (other than the one that legitimately returned a token or key, once)
// and no worker log line holds any of them.

/** Any API key or session token: the prefix and 32 base62 characters. */
export const TOKEN_RE = /pb_(live|sess)_[0-9A-Za-z]{32}/g;

/** A webhook signing secret: `whsec_` and base64 of 32 bytes. */
export const WEBHOOK_SECRET_RE = /whsec_[A-Za-z0-9+/]{43}=/g;

/** Strings shorter than this are not tracked as secrets: they would match by chance. */
const MIN_SECRET_LENGTH = 8;

/** The operations that hand out a secret, and where in their body it is. */
const MINTS = {
  "POST /auth/signup": "token",
  "POST /auth/login": "token",
  "POST /api-keys": "key",
  "POST /workspaces/{workspaceId}/api-keys": "key",
  "POST /webhooks": "secret",
  "POST /webhooks/{webhookId}/rotate-secret": "secret",
};

/** The operations that hand out a session in their `Set-Cookie` header (the dashboard's). */
const COOKIE_MINTS = new Set(["POST /dashboard/signup", "POST /dashboard/login"]);
/** What kind of secret a minting operation's field holds. */
const KIND = { key: "API key", token: "session token", secret: "webhook secret" };

function parseSent(body) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "object" && !(body instanceof Uint8Array)) return body;
  if (typeof body !== "string") return undefined;
  try {
    return JSON.parse(body);
  } catch {
    // A deliberately broken JSON body may still carry a password.
    const out = {};
    const m = [...body.matchAll(/"password"\s*:\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]);
    if (m.length) out.password = m;
    return out;
  }
}

function* leaves(value) {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const v of value) yield* leaves(v);
  else if (value && typeof value === "object") for (const v of Object.values(value)) yield* leaves(v);
}

function* passwords(value) {
  if (Array.isArray(value)) for (const v of value) yield* passwords(v);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (/password/i.test(k)) yield* leaves(v);
      else yield* passwords(v);
    }
  }
}

/** Operations whose body may carry social-account credentials. */
const CREDENTIAL_OPERATIONS = new Set(["POST /social-accounts", "PATCH /social-accounts/{accountId}"]);
/** Fields of the publishers' credentials that are not secret (BLUESKY, MASTODON). */
const PUBLIC_CREDENTIAL_FIELDS = new Set(["identifier", "service", "instanceUrl"]);

export class SecretLedger {
  constructor() {
    /** secret → { kind, origin: the sequence number of the response that returned it, or null } */
    this.secrets = new Map();
    /** Every response seen: { seq, method, url, operation, status, text, headers }. */
    this.responses = [];
    this.seq = 0;
  }

  learn(value, kind, origin = null) {
    if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
    if (!this.secrets.has(value)) this.secrets.set(value, { kind, origin });
  }

  /** One request and its response, as `App.request` saw them. */
  observe({ method, url, operation, sentBody, res }) {
    const seq = ++this.seq;
    const sent = parseSent(sentBody);
    for (const p of passwords(sent)) this.learn(p, "password");
    if (CREDENTIAL_OPERATIONS.has(operation) && sent && typeof sent === "object" && sent.credentials != null) {
      const c = sent.credentials;
      // The publishers' credentials name their account and server in the clear (a handle, a
      // URL, shown elsewhere anyway); their password and token are the secrets.
      const secretPart = c && typeof c === "object" && !Array.isArray(c)
        ? Object.fromEntries(Object.entries(c).filter(([k]) => !PUBLIC_CREDENTIAL_FIELDS.has(k)))
        : c;
      for (const leaf of leaves(secretPart)) this.learn(leaf, "social-account credential");
      if (typeof c === "object") this.learn(JSON.stringify(c), "social-account credentials (serialised)");
    }
    const field = MINTS[operation];
    if (field && res.status >= 200 && res.status < 300 && typeof res.body?.[field] === "string") {
      this.learn(res.body[field], KIND[field], seq);
    }
    if (COOKIE_MINTS.has(operation) && res.status >= 200 && res.status < 300) {
      for (const m of (res.headers.get("set-cookie") ?? "").matchAll(TOKEN_RE)) this.learn(m[0], "session token (cookie)", seq);
    }
    const headers = [];
    res.headers.forEach((v, k) => headers.push(`${k}: ${v}`));
    this.responses.push({ seq, method, url, operation, status: res.status, text: res.text, headers: headers.join("\n") });
  }

  /** Every hit in the responses and the given log lines, as readable strings. */
  check(logLines) {
    const hits = [];
    const needles = [];
    for (const [secret, { kind, origin }] of this.secrets) {
      needles.push({ needle: secret, kind, origin, secret });
      // Keys and tokens are also looked for by their secret part, so `key.slice(8)` is caught.
      if (/^pb_(live|sess)_/.test(secret)) needles.push({ needle: secret.slice(8), kind: `${kind} (secret part)`, origin, secret });
      if (secret.startsWith("whsec_")) needles.push({ needle: secret.slice(6), kind: `${kind} (secret part)`, origin, secret });
    }
    const show = (s) => (s.length > 24 ? `${s.slice(0, 12)}…${s.slice(-4)}` : s);
    const around = (text, i, n) => JSON.stringify(text.slice(Math.max(0, i - 60), i + n + 60));

    for (const r of this.responses) {
      for (const { needle, kind, origin, secret } of needles) {
        if (r.seq === origin) continue;
        for (const [where, text] of [["body", r.text], ["headers", r.headers]]) {
          const i = text.indexOf(needle);
          if (i >= 0) hits.push(`response ${where} of ${r.method} ${r.url} → ${r.status} (${r.operation}) holds a ${kind} ${show(secret)}: …${around(text, i, needle.length)}…`);
        }
      }
      if ((MINTS[r.operation] || COOKIE_MINTS.has(r.operation)) && r.status < 300) continue;
      for (const [where, text] of [["body", r.text], ["headers", r.headers]]) {
        for (const m of [...text.matchAll(TOKEN_RE), ...text.matchAll(WEBHOOK_SECRET_RE)]) {
          if (this.secrets.has(m[0])) continue; // reported above with its kind
          hits.push(`response ${where} of ${r.method} ${r.url} → ${r.status} (${r.operation}) holds a credential-shaped string ${show(m[0])}: …${around(text, m.index, m[0].length)}…`);
        }
      }
    }
    for (const line of logLines) {
      for (const { needle, kind, secret } of needles) {
        if (line.includes(needle)) hits.push(`a log line holds a ${kind} ${show(secret)}: ${line.length > 400 ? line.slice(0, 400) + "…" : line}`);
      }
      for (const m of [...line.matchAll(TOKEN_RE), ...line.matchAll(WEBHOOK_SECRET_RE)]) {
        if (this.secrets.has(m[0])) continue; // reported above with its kind
        hits.push(`a log line holds a credential-shaped string ${show(m[0])}: ${line.length > 400 ? line.slice(0, 400) + "…" : line}`);
      }
    }
    return hits;
  }
}
