// The peer of issue 17: what a team would write in TypeScript with Hono, doing the naive path
// on every request. `make bench` serves it in its own Miniflare beside the product, against the
// same seeded D1 and a KV namespace holding the principals of the bench's keys.
//
// Per authenticated request: SHA-256 of the bearer token (Web Crypto), one KV read of the
// principal it names, a membership check, then the product's own D1 statement and the same
// JSON body. No isolate cache, no rate limiting, no log line, no Server-Timing: the peer does
// less than the product on purpose, so the ratios are a floor for the product.
//
// The SQL is the product's, read out of src/store/posts.rs when the bench bundles this file
// (bench/peer/build.mjs); `SQL` is defined there.
import { Hono, type Context } from "hono";

declare const SQL: { SELECT: string; PAGE_FILTER: string; HEADS: string; ABOVE_FLOOR: string };

// The few binding methods used here (no @cloudflare/workers-types needed to bundle).
interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  first<T>(): Promise<T | null>;
  all<T>(): Promise<{ results: T[] }>;
}
interface Bindings {
  DB: { prepare(sql: string): D1Statement };
  AUTH_CACHE: { get(key: string, type: "json"): Promise<unknown> };
}
type C = Context<{ Bindings: Bindings }>;

/** The principal as the product caches it in KV (`Stored` in src/auth/cache.rs). */
interface Principal {
  user_id: string;
  workspaces: [string, string][];
}

interface Row {
  mediaIds: string;
  targets: string;
  createdAt: string;
  id: string;
}

// The product's statements, composed as src/store/posts.rs composes them.
const GET_POST = `${SQL.SELECT} WHERE p.id = ?1 AND p.workspace_id = ?2 AND p.deleted_at IS NULL`;
const LIST_POSTS = `${SQL.HEADS} ${SQL.SELECT} WHERE p.id IN (
    SELECT id FROM posts WHERE workspace_id IN (SELECT value FROM json_each(?1)) AND ${SQL.PAGE_FILTER} ${SQL.ABOVE_FLOOR}
    ORDER BY created_at DESC, id DESC LIMIT ?7)
  ORDER BY p.created_at DESC, p.id DESC`;

const MESSAGES: Record<number, [string, string]> = {
  401: ["UNAUTHORIZED", "A valid credential is required: `Authorization: Bearer <API key or session token>`."],
  403: ["WORKSPACE_FORBIDDEN", "This credential cannot reach that workspace."],
  404: ["NOT_FOUND", "Nothing is here."],
  400: ["VALIDATION_FAILED", "The request is not valid; see `details`."],
};
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "req_" + Array.from(bytes, (b) => ALPHABET[b % 62]).join("");
}

function fail(c: C, status: 400 | 401 | 403 | 404) {
  const [code, message] = MESSAGES[status];
  return c.json({ statusCode: status, code, message, requestId: requestId() }, status);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function principal(c: C): Promise<Principal | null> {
  const header = c.req.header("Authorization");
  if (!header || !header.startsWith("Bearer ")) return null;
  const hash = await sha256Hex(header.slice(7).trim());
  return (await c.env.AUTH_CACHE.get(`principal:${hash}`, "json")) as Principal | null;
}

const canRead = (p: Principal, ws: string) => p.workspaces.some(([id]) => id === ws);

const view = (row: Row) => ({ ...row, mediaIds: JSON.parse(row.mediaIds), targets: JSON.parse(row.targets) });

const app = new Hono<{ Bindings: Bindings }>();

app.get("/api/v1/health", (c) => c.json({ status: "ok" }));

app.get("/api/v1/posts/:id", async (c) => {
  const p = await principal(c);
  if (!p) return fail(c, 401);
  const id = c.req.param("id");
  // A post id carries its workspace: `post_` + the workspace's 16 characters + 16 more.
  if (!/^post_[0-9A-Za-z]{32}$/.test(id)) return fail(c, 404);
  const ws = `ws_${id.slice(5, 21)}`;
  if (!canRead(p, ws)) return fail(c, 403);
  const row = await c.env.DB.prepare(GET_POST).bind(id, ws).first<Row>();
  if (!row) return fail(c, 404);
  return c.json(view(row));
});

app.get("/api/v1/posts", async (c) => {
  const p = await principal(c);
  if (!p) return fail(c, 401);
  const ws = c.req.query("workspaceId");
  if (!ws) return fail(c, 400); // the peer lists one workspace only
  if (!canRead(p, ws)) return fail(c, 403);
  const limit = Number(c.req.query("limit") ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) return fail(c, 400);
  const { results } = await c.env.DB.prepare(LIST_POSTS)
    .bind(JSON.stringify([ws]), null, null, null, null, null, limit + 1)
    .all<Row>();
  const page = results.slice(0, limit).map(view);
  if (results.length > limit) {
    // The next page's cursor, as the product writes it: hex of `createdAt|id` of the last row.
    const last = page[page.length - 1];
    const cursor = Array.from(new TextEncoder().encode(`${last.createdAt}|${last.id}`), (b) => b.toString(16).padStart(2, "0")).join("");
    const url = new URL(c.req.url);
    url.searchParams.set("cursor", cursor);
    c.header("Link", `<${url.href}>; rel="next"`);
  }
  return c.json(page);
});

app.notFound((c) => fail(c, 404));

export default app;
