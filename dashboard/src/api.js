// The dashboard's one way to the API. The session is the HttpOnly cookie the browser sends by
// itself: no token ever passes through this code, and nothing is kept in storage. Writes are
// same-origin fetches, which carry the `Origin` header the API insists on for cookie writes.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code ?? "UNKNOWN";
    this.details = Array.isArray(body?.details) ? body.details : [];
  }

  /** One line for people: the message, then each field's problem. */
  explain() {
    const fields = this.details.map((d) => `${d.field} ${d.problem}`);
    return [this.message, ...fields].join(" ");
  }
}

async function send(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, res };
}

/** The next page's cursor from `Link: <…?cursor=…>; rel="next"`, if any. */
export function nextCursor(link) {
  const m = /<([^>]*)>\s*;\s*rel="next"/.exec(link ?? "");
  if (!m) return null;
  return new URL(m[1], location.origin).searchParams.get("cursor");
}

export const api = {
  get: async (path) => (await send("GET", path)).data,
  post: async (path, body) => (await send("POST", path, body)).data,
  patch: async (path, body) => (await send("PATCH", path, body)).data,
  del: async (path) => (await send("DELETE", path)).data,
  /** A page of a list and the cursor of the next one. */
  page: async (path) => {
    const { data, res } = await send("GET", path);
    return { rows: data, next: nextCursor(res.headers.get("Link")) };
  },
};

/** Every row of a list, page after page (lists the dashboard shows whole: workspaces, keys, members). */
export async function all(path) {
  const rows = [];
  let cursor = null;
  const sep = path.includes("?") ? "&" : "?";
  for (let i = 0; i < 50; i++) {
    const page = await api.page(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    rows.push(...page.rows);
    if (!page.next) break;
    cursor = page.next;
  }
  return rows;
}
