// The deploy path (README "Deploy"), in two commands:
//
//   node scripts/deploy.mjs check    offline, part of `make test`: the production environment in
//                                    wrangler.toml binds everything the worker binds, holds no
//                                    development secret, and `wrangler deploy --dry-run` builds a
//                                    bundle under the Workers size limits (printed).
//   node scripts/deploy.mjs deploy   `make deploy`: the same checks, then no placeholder id left,
//                                    secrets given in the environment are set (development values
//                                    refused), every required secret present, migrations applied
//                                    remotely, deploy, and a smoke test when DEPLOY_URL is set.
//
// Options: --config <wrangler.toml> (default ./wrangler.toml), --env <name> (default production).
// DEPLOY_OUTDIR=<dir> moves the dry run's output (default dist/<env>).
// WRANGLER=<path> runs another wrangler binary (the tests give a recording stand-in; nothing here
// can reach Cloudflare from this machine).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Secrets the worker reads; `required` ones must be set before a deploy. */
export const SECRETS = [
  { name: "CREDENTIALS_KEY", required: true, check: (v) => /^[0-9a-fA-F]{64}$/.test(v) || "must be 64 hex characters (32 random bytes): openssl rand -hex 32" },
  { name: "MEDIA_CAPABILITY_SECRET", required: true, check: (v) => Buffer.byteLength(v) >= 32 || "must be at least 32 bytes: openssl rand -base64 48" },
  { name: "R2_ACCESS_KEY_ID", required: false, check: () => true },
  { name: "R2_SECRET_ACCESS_KEY", required: false, check: (v) => Buffer.byteLength(v) >= 32 || "must be the R2 token's secret access key" },
];

/** The Workers limits on the compressed bundle (https://developers.cloudflare.com/workers/platform/limits/). */
export const LIMITS = { freeGzipBytes: 3 * 1024 * 1024, paidGzipBytes: 10 * 1024 * 1024 };

/** Placeholder ids in wrangler.toml: what `wrangler d1 create` & co. print goes there. */
const PLACEHOLDER = /^(REPLACE|0{8}-0{4}-0{4}-0{4}-0{12}$|0{32}$)/;

class Refusal extends Error {}
const refuse = (msg) => {
  throw new Refusal(msg);
};

export function readConfig(file) {
  return parse(fs.readFileSync(file, "utf8"));
}

const names = (list, key = "binding") => (list ?? []).map((b) => b[key]).sort();

/**
 * What each kind of binding is called in the top level and in `env`: the kinds an environment
 * does not inherit (wrangler's `notInheritable` keys). Cron triggers, static assets, Durable
 * Object migrations and observability are inherited, so they are not listed.
 */
function bindingSets(c) {
  return {
    d1: names(c.d1_databases),
    kv: names(c.kv_namespaces),
    r2: names(c.r2_buckets),
    durableObjects: names(c.durable_objects?.bindings, "name"),
    queueProducers: names(c.queues?.producers),
    queueConsumers: names(c.queues?.consumers, "queue"),
    services: names(c.services),
  };
}

/**
 * Problems with the environment `envName` of a parsed wrangler.toml, from the file alone:
 * bindings the top level has and the environment lacks (environments inherit none of them),
 * development secrets in its vars, an ENVIRONMENT other than "production", and — when
 * `forDeploy` — ids still holding placeholders.
 */
export function configProblems(config, envName, { forDeploy = false } = {}) {
  const problems = [];
  const env = config.env?.[envName];
  if (!env) return [`wrangler.toml has no [env.${envName}] section`];
  const top = bindingSets(config);
  const mine = bindingSets(env);
  for (const [kind, wanted] of Object.entries(top)) {
    for (const name of wanted) {
      if (!mine[kind].includes(name)) problems.push(`[env.${envName}] lacks the ${kind} binding ${name} (environments inherit no bindings)`);
    }
  }
  const vars = env.vars ?? {};
  if (vars.ENVIRONMENT !== "production") problems.push(`[env.${envName}.vars] ENVIRONMENT must be "production"`);
  for (const s of SECRETS) {
    if (s.name in vars) problems.push(`[env.${envName}.vars] holds ${s.name}: set it as a secret (wrangler secret put ${s.name} --env ${envName}), never as a var`);
  }
  for (const name of Object.keys(config.vars ?? {})) {
    if (!SECRETS.some((s) => s.name === name) && !(name in vars)) problems.push(`[env.${envName}.vars] lacks ${name} (vars are not inherited)`);
  }
  if (forDeploy) {
    const ids = [
      ...(env.d1_databases ?? []).map((d) => [`d1 ${d.binding}`, d.database_id]),
      ...(env.kv_namespaces ?? []).map((k) => [`kv ${k.binding}`, k.id]),
    ];
    for (const [what, id] of ids) {
      if (!id || PLACEHOLDER.test(String(id))) problems.push(`[env.${envName}] ${what} still has a placeholder id: create it (README "Deploy", step 2) and paste the id`);
    }
  }
  return problems;
}

/** Refuses a secret value that is a development value of wrangler.toml or too weak. */
export function secretProblem(config, name, value) {
  const spec = SECRETS.find((s) => s.name === name);
  if (!spec) return `${name} is not a secret this worker reads`;
  if (config.vars && config.vars[name] !== undefined && config.vars[name] === value) {
    return `${name} is the development value from wrangler.toml [vars]; generate a new one`;
  }
  const ok = spec.check(value);
  return ok === true ? null : `${name} ${ok}`;
}

function wrangler(args, { input, allowFail = false } = {}) {
  const bin = process.env.WRANGLER ?? path.join(root, "node_modules/.bin/wrangler");
  const res = spawnSync(bin, args, {
    cwd: root,
    input,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0 && !allowFail) {
    refuse(`wrangler ${args.join(" ")} failed (exit ${res.status}):\n${res.stdout}${res.stderr}`);
  }
  return res;
}

/** Gzip size of what a dry run would upload: every module in the out dir (not maps, not the README). */
export function bundleSize(outdir) {
  let raw = 0;
  let gzip = 0;
  for (const f of fs.readdirSync(outdir)) {
    if (f.endsWith(".map") || f === "README.md") continue;
    const bytes = fs.readFileSync(path.join(outdir, f));
    raw += bytes.length;
    gzip += zlib.gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip };
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

function dryRun(configFile, envName) {
  const outdir = process.env.DEPLOY_OUTDIR ?? path.join(root, "dist", envName);
  fs.rmSync(outdir, { recursive: true, force: true });
  const res = wrangler(["deploy", "--dry-run", "--config", configFile, "--env", envName, "--outdir", outdir]);
  const size = bundleSize(outdir);
  const reported = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(res.stdout);
  if (size.gzip > LIMITS.freeGzipBytes) {
    refuse(`the ${envName} bundle is ${kib(size.gzip)} gzip, over the free plan's ${kib(LIMITS.freeGzipBytes)} (paid: ${kib(LIMITS.paidGzipBytes)})`);
  }
  return { ...size, reported: reported ? { raw: Number(reported[1]) * 1024, gzip: Number(reported[2]) * 1024 } : null };
}

export function check({ configFile, envName }) {
  const config = readConfig(configFile);
  const problems = configProblems(config, envName);
  if (problems.length) refuse(problems.join("\n"));
  const size = dryRun(configFile, envName);
  const pct = ((100 * size.gzip) / LIMITS.freeGzipBytes).toFixed(1);
  console.log(
    `deployable: [env.${envName}] binds everything the worker binds; dry-run bundle ${kib(size.raw)}, ` +
      `${kib(size.gzip)} gzip (${pct}% of the free plan's 3 MiB, paid 10 MiB)` +
      (size.reported ? `; wrangler reports ${kib(size.reported.gzip)} gzip` : ""),
  );
  return size;
}

export async function deploy({ configFile, envName }) {
  const config = readConfig(configFile);
  const problems = configProblems(config, envName, { forDeploy: true });
  if (problems.length) refuse(problems.join("\n"));
  // Secrets given in the environment are set first (this is also how to rotate one).
  for (const s of SECRETS) {
    const value = process.env[s.name];
    if (value === undefined) continue;
    const problem = secretProblem(config, s.name, value);
    if (problem) refuse(problem);
  }
  for (const s of SECRETS) {
    const value = process.env[s.name];
    if (value !== undefined) wrangler(["secret", "put", s.name, "--config", configFile, "--env", envName], { input: value });
  }
  const listed = JSON.parse(wrangler(["secret", "list", "--config", configFile, "--env", envName, "--format", "json"]).stdout || "[]");
  const present = new Set(listed.map((s) => s.name));
  const missing = SECRETS.filter((s) => s.required && !present.has(s.name)).map((s) => s.name);
  if (missing.length) refuse(`secrets not set for [env.${envName}]: ${missing.join(", ")} (README "Deploy", step 4)`);
  dryRun(configFile, envName);
  const db = (config.env[envName].d1_databases ?? [])[0]?.binding ?? "DB";
  wrangler(["d1", "migrations", "apply", db, "--remote", "--config", configFile, "--env", envName]);
  wrangler(["deploy", "--config", configFile, "--env", envName]);
  if (process.env.DEPLOY_URL) await smoke(process.env.DEPLOY_URL);
  else console.log("deployed; set DEPLOY_URL=https://<your host> to run the smoke test");
}

/** What a healthy deployment answers without a credential. */
export async function smoke(base) {
  const api = `${base.replace(/\/$/, "")}/api/v1`;
  const expect = async (route, status) => {
    const res = await fetch(api + route);
    if (res.status !== status) refuse(`smoke test: GET ${route} answered ${res.status}, expected ${status}`);
    if (!res.headers.get("x-request-id")) refuse(`smoke test: GET ${route} has no X-Request-Id`);
  };
  await expect("/health", 200);
  await expect("/openapi.json", 200);
  await expect("/me", 401);
  console.log(`smoke test passed against ${api}`);
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : fallback;
  };
  const args = { configFile: path.resolve(opt("config", path.join(root, "wrangler.toml"))), envName: opt("env", "production") };
  try {
    if (command === "check") check(args);
    else if (command === "deploy") await deploy(args);
    else refuse("usage: node scripts/deploy.mjs check|deploy [--config wrangler.toml] [--env production]");
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    console.error(`refused: ${e.message}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
