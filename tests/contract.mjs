// The contract cannot drift (issue 6, item 3): every response the black-box suite receives
// through `App.request` is checked against src/openapi.json — the operation found for its
// method and path, the status declared for it, the JSON body against the declared schema
// ($refs resolved by Ajv over the whole document), the declared required headers present and
// every declared header's value valid. Requests outside the route table must be the global
// 404 `NOT_FOUND`, and a known path with another method the global 405 `METHOD_NOT_ALLOWED`
// with an `Allow` header listing the path's methods, as the document's introduction says.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const doc = JSON.parse(fs.readFileSync(path.join(root, "src/openapi.json"), "utf8"));
export const API_PREFIX = new URL(doc.servers[0].url, "http://x").pathname.replace(/\/$/, ""); // "/api/v1"

const DOC_ID = "https://contract.test/openapi.json";
/** Paths the worker answers outside the API prefix (src/mcp). */
export const OUTSIDE_REST = ["/mcp", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"];
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// OpenAPI 3.1 schemas are JSON Schema 2020-12. Strict mode off so the OpenAPI-only keywords
// (`example`, `discriminator`, `xml`, ...) are ignored rather than refused. The whole document
// is added once; each (operation, status) schema is compiled lazily by JSON pointer into it, so
// `#/components/...` references resolve against the document.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: DOC_ID });

const pointer = (parts) => "#" + parts.map((p) => "/" + encodeURIComponent(String(p).replace(/~/g, "~0").replace(/\//g, "~1"))).join("");

const validators = new Map();
function validatorAt(parts) {
  const ref = pointer(parts);
  let v = validators.get(ref);
  if (!v) {
    v = ajv.compile({ $ref: DOC_ID + ref });
    validators.set(ref, v);
  }
  return v;
}

/** Follows an OpenAPI (non-schema) `$ref` such as `#/components/responses/Internal`. */
function deref(obj, parts) {
  let seen = 0;
  while (obj && typeof obj.$ref === "string") {
    if (!obj.$ref.startsWith("#/") || ++seen > 10) throw new Error(`unsupported $ref ${obj.$ref}`);
    parts = obj.$ref.slice(2).split("/").map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
    obj = parts.reduce((o, k) => o?.[k], doc);
  }
  return { obj, parts };
}

// Path templates, each as segments; a literal segment beats a `{param}` at the first position
// where two matching templates differ (so `/media/folders` is never `/media/{mediaId}`).
const templates = Object.keys(doc.paths).map((t) => ({ template: t, segs: t.split("/") }));
function matchTemplate(rest) {
  const segs = rest.split("/");
  const hits = templates.filter(({ segs: ts }) =>
    ts.length === segs.length && ts.every((t, i) => (t.startsWith("{") ? segs[i] !== "" : t === segs[i])),
  );
  hits.sort((a, b) => {
    for (let i = 0; i < a.segs.length; i++) {
      const pa = a.segs[i].startsWith("{"), pb = b.segs[i].startsWith("{");
      if (pa !== pb) return pa ? 1 : -1;
    }
    return 0;
  });
  return hits[0]?.template ?? null;
}

function ajvErrors(validate) {
  return (validate.errors ?? [])
    .slice(0, 6)
    .map((e) => {
      const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'`
        : e.params?.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}`
        : e.params?.allowedValue !== undefined ? ` ${JSON.stringify(e.params.allowedValue)}`
        : "";
      return `${e.instancePath || "/"} ${e.message}${extra}`;
    })
    .join("; ");
}

const snippet = (text) => (text.length > 300 ? text.slice(0, 300) + "…" : text);
const mediaType = (h) => (h ?? "").split(";")[0].trim().toLowerCase();
const isJsonType = (t) => t === "application/json" || /^application\/[^/]+\+json$/.test(t);

/** The Error envelope for a global refusal: `Error` with this status and code. */
function checkEnvelope(res, status, code, problems, method) {
  if (!/^req_[0-9A-Za-z]{16}$/.test(res.headers.get("x-request-id") ?? "")) problems.push("X-Request-Id missing or malformed");
  if (method === "HEAD") return; // a HEAD answer has no body, whatever it would have been
  const v = validatorAt(["components", "schemas", "Error"]);
  if (!isJsonType(mediaType(res.headers.get("content-type")))) problems.push(`Content-Type ${res.headers.get("content-type")} is not JSON`);
  if (res.body === null) problems.push(`body is not JSON: ${snippet(res.text)}`);
  else if (!v(res.body)) problems.push(`body: ${ajvErrors(v)}`);
  else {
    if (res.body.statusCode !== status || res.body.code !== code) problems.push(`body is ${res.body.statusCode} ${res.body.code}, expected ${status} ${code}`);
    const extra = [];
    undeclared([doc.components.schemas.Error], res.body, "", extra);
    if (extra.length) problems.push(`body has members the Error schema does not declare: ${extra.join(", ")}`);
  }
}

/**
 * Checks one response. `url` is the full URL sent; `extraRoutes` maps "METHOD /path" (under the
 * API prefix) to a response pointer for test-only routes outside the contract.
 * Returns `{ operation, problems }`: the operation's label and every violation found.
 */
export function checkResponse(method, url, res, { extraRoutes = {} } = {}) {
  const problems = [];
  const { pathname } = new URL(url);
  const m = method.toUpperCase();
  const rest = pathname.startsWith(API_PREFIX + "/") ? pathname.slice(API_PREFIX.length) : null;

  // The MCP endpoint and its RFC 9728 metadata document are not REST resources and not in the
  // document: the MCP specification is their contract (tests/mcp.test.mjs). Like every
  // response, theirs carry a request id.
  if (OUTSIDE_REST.includes(pathname)) {
    if (!/^req_[0-9A-Za-z]{16}$/.test(res.headers.get("x-request-id") ?? "")) problems.push("X-Request-Id missing or malformed");
    return { operation: `${m} ${pathname} (MCP, outside the REST contract)`, problems };
  }

  if (rest !== null && extraRoutes[`${m} ${rest}`]) {
    const ptr = extraRoutes[`${m} ${rest}`][String(res.status)];
    if (!ptr) problems.push(`status ${res.status} not expected of this test-only route`);
    else checkDeclared(res, { $ref: ptr }, [], problems, m);
    return { operation: `${m} ${rest} (test-only)`, problems };
  }

  const template = rest === null ? null : matchTemplate(rest);
  if (template === null) {
    // Outside the route table: the global 404.
    if (res.status !== 404) problems.push(`path is outside the route table but the status is ${res.status}, not the global 404`);
    else checkEnvelope(res, 404, "NOT_FOUND", problems, m);
    return { operation: "(no route) → global 404", problems };
  }

  const item = doc.paths[template];
  const op = item[m.toLowerCase()];
  if (!op) {
    const allow = METHODS.filter((x) => item[x]).map((x) => x.toUpperCase());
    if (res.status !== 405) problems.push(`${template} has no ${m} operation, but the status is ${res.status}, not the global 405`);
    else {
      checkEnvelope(res, 405, "METHOD_NOT_ALLOWED", problems, m);
      const got = (res.headers.get("allow") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      const same = got.length === allow.length && [...got].sort().join() === [...allow].sort().join();
      if (!same) problems.push(`Allow is "${res.headers.get("allow") ?? "(missing)"}", the document's methods for ${template} are "${allow.join(", ")}"`);
    }
    return { operation: `${m} ${template} (no such operation) → global 405`, problems };
  }

  const operation = `${m} ${template}`;
  const declared = op.responses?.[String(res.status)] ?? op.responses?.[`${String(res.status)[0]}XX`] ?? op.responses?.default;
  if (!declared) {
    problems.push(`status ${res.status} is not declared (declared: ${Object.keys(op.responses ?? {}).join(", ")})${res.body?.code ? `; body code ${res.body.code}` : ""}`);
    return { operation, problems };
  }
  const key = op.responses[String(res.status)] ? String(res.status) : op.responses[`${String(res.status)[0]}XX`] ? `${String(res.status)[0]}XX` : "default";
  checkDeclared(res, declared, ["paths", template, m.toLowerCase(), "responses", key], problems, m);
  return { operation, problems };
}

function checkDeclared(res, declared, parts, problems, method) {
  const { obj: resp, parts: at } = deref(declared, parts);

  // Headers: required ones present, every present one valid against its schema.
  for (const [name, h0] of Object.entries(resp.headers ?? {})) {
    if (name.toLowerCase() === "content-type") continue; // ignored by OpenAPI
    const { obj: h, parts: hAt } = deref(h0, [...at, "headers", name]);
    const value = res.headers.get(name);
    if (value === null) {
      if (h.required) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (h.schema) {
      const v = validatorAt([...hAt, "schema"]);
      if (!v(value)) problems.push(`header ${name}: "${value}" ${ajvErrors(v)}`);
    }
  }

  // Body.
  if (method === "HEAD") return;
  const content = resp.content ?? {};
  const types = Object.keys(content);
  const got = mediaType(res.headers.get("content-type"));
  if (types.length === 0) {
    if (res.text !== "") problems.push(`no body is declared but one was sent (${got || "no Content-Type"}): ${snippet(res.text)}`);
    return;
  }
  const jsonType = types.find((t) => isJsonType(t.toLowerCase()));
  const listed = types.some((t) => t.toLowerCase() === got || t === "*/*");
  if (!listed && !(jsonType && isJsonType(got))) {
    problems.push(`Content-Type is "${res.headers.get("content-type") ?? "(missing)"}", declared ${types.join(", ")}`);
  }
  // A JSON body is validated whenever the operation declares a JSON schema and the response is
  // JSON (or claims a type the operation does not list at all).
  if (jsonType && (isJsonType(got) || !listed)) {
    if (res.body === null && res.text.trim() !== "null") {
      problems.push(`body is not JSON: ${snippet(res.text)}`);
      return;
    }
    if (content[jsonType].schema) {
      const v = validatorAt([...at, "content", jsonType, "schema"]);
      if (!v(res.body)) problems.push(`body: ${ajvErrors(v)} — ${snippet(res.text)}`);
      else {
        const extra = [];
        undeclared([content[jsonType].schema], res.body, "", extra);
        const names = [...new Set(extra.map((p) => p.replace(/\/\d+(?=\/|$)/g, "/*")))];
        if (names.length) problems.push(`body has members the schema does not declare: ${names.join(", ")} — ${snippet(res.text)}`);
      }
    }
  }
}

// Response schemas leave `additionalProperties` unset, so Ajv accepts members the document does
// not name. A field the code returns but the document does not list is drift all the same, so
// each JSON body is also walked against the properties its schema declares (through `$ref`,
// `allOf`/`anyOf`/`oneOf`, `if`/`then`/`else`, `items`, `prefixItems`). An object is open, and
// not walked, where a schema at that spot sets `additionalProperties` (other than `false`) or
// `patternProperties`, or where no schema there declares any property (e.g. `{type: object}`).
function resolveSchema(schema) {
  let seen = 0;
  while (schema && typeof schema === "object" && typeof schema.$ref === "string" && ++seen < 20) {
    const parts = schema.$ref.replace(/^#\//, "").split("/").map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
    const target = parts.reduce((o, k) => o?.[k], doc);
    // A $ref with siblings (2020-12): keep the siblings too.
    const { $ref, ...siblings } = schema;
    schema = Object.keys(siblings).length ? { allOf: [target, siblings] } : target;
  }
  return schema;
}

function gather(schema, acc) {
  schema = resolveSchema(schema);
  if (schema === true || schema === undefined || schema === null || typeof schema !== "object") {
    acc.open = true;
    return;
  }
  if (schema.properties) {
    acc.declares = true;
    for (const [k, v] of Object.entries(schema.properties)) acc.props.set(k, [...(acc.props.get(k) ?? []), v]);
  }
  if ((schema.additionalProperties !== undefined && schema.additionalProperties !== false) || schema.patternProperties) acc.open = true;
  if (schema.items !== undefined) acc.items.push(schema.items);
  for (const [i, p] of (schema.prefixItems ?? []).entries()) acc.prefix[i] = [...(acc.prefix[i] ?? []), p];
  for (const k of ["allOf", "anyOf", "oneOf"]) for (const sub of schema[k] ?? []) gather(sub, acc);
  for (const k of ["if", "then", "else"]) if (schema[k] !== undefined && typeof schema[k] === "object") gather(schema[k], acc);
}

function undeclared(schemas, value, at, out) {
  if (value === null || typeof value !== "object") return;
  const acc = { props: new Map(), items: [], prefix: [], open: false, declares: false };
  for (const s of schemas) gather(s, acc);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const subs = acc.prefix[i] ?? acc.items;
      if (subs.length) undeclared(subs, v, `${at}/${i}`, out);
    });
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const subs = acc.props.get(k);
    if (subs) undeclared(subs, v, `${at}/${k}`, out);
    else if (acc.declares && !acc.open) out.push(`${at}/${k}`);
  }
}

/** The violations of a whole file, grouped by operation, for the after hook's message. */
export function formatViolations(violations) {
  const byOp = new Map();
  for (const v of violations) byOp.set(v.operation, [...(byOp.get(v.operation) ?? []), v]);
  const out = [];
  for (const [operation, list] of [...byOp].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`${operation}  (${list.length})`);
    const seen = new Set();
    for (const v of list) {
      for (const p of v.problems) {
        const line = `    ${v.method} ${v.path} → ${v.status}: ${p}`;
        const shape = v.path.split("?")[0].replace(/\b(usr|ws|key|soc|post|tgt|cmt|med|fld)_[0-9A-Za-z]+/g, "$1_…");
        const dedupeKey = `${v.method} ${shape} ${v.status} ${p.replace(/req_[0-9A-Za-z]{16}/g, "req_").replace(/ — .*$/, "")}`;
        if (seen.has(dedupeKey)) continue;
        seen.add(dedupeKey);
        out.push(line);
      }
    }
  }
  return out.join("\n");
}
