// The deploy path (issue 15): the production environment of wrangler.toml is complete and holds
// no development secret, and `make deploy` refuses what it must refuse and otherwise runs the
// steps of README "Deploy" in order. Cloudflare cannot be reached from here, so the last part
// runs scripts/deploy.mjs against a recording stand-in for the wrangler CLI
// (tests/fixtures/fake_wrangler.mjs); the real dry run is `make deploy-check`, part of make test.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "smol-toml";
import { configProblems, readConfig, secretProblem, SECRETS } from "../scripts/deploy.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const real = () => readConfig(path.join(root, "wrangler.toml"));
const GOOD_KEY = "a1".repeat(32);
const GOOD_SECRET = "x".repeat(48);

describe("the production environment of wrangler.toml", () => {
  test("binds everything the top level binds, with ENVIRONMENT=production and no secret as a var", () => {
    assert.deepEqual(configProblems(real(), "production"), []);
  });

  test("still holds placeholder ids, which a deploy refuses (a dry run does not need them)", () => {
    const problems = configProblems(real(), "production", { forDeploy: true });
    assert.ok(problems.some((p) => p.includes("d1 DB") && p.includes("placeholder")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("kv AUTH_CACHE") && p.includes("placeholder")), problems.join("\n"));
  });

  test("a binding missing from the environment is named", () => {
    const c = real();
    delete c.env.production.kv_namespaces;
    c.env.production.durable_objects.bindings = [];
    const problems = configProblems(c, "production");
    assert.ok(problems.some((p) => p.includes("kv binding AUTH_CACHE")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes("durableObjects binding RATE_LIMITER")), problems.join("\n"));
  });

  test("a secret written as a production var, or another ENVIRONMENT, is refused", () => {
    const c = real();
    c.env.production.vars.CREDENTIALS_KEY = GOOD_KEY;
    c.env.production.vars.ENVIRONMENT = "development";
    const problems = configProblems(c, "production");
    assert.ok(problems.some((p) => p.includes("holds CREDENTIALS_KEY")), problems.join("\n"));
    assert.ok(problems.some((p) => p.includes('ENVIRONMENT must be "production"')), problems.join("\n"));
  });
});

describe("secret values", () => {
  test("the development values of wrangler.toml are refused, by name", () => {
    const c = real();
    for (const name of ["CREDENTIALS_KEY", "MEDIA_CAPABILITY_SECRET"]) {
      assert.match(secretProblem(c, name, c.vars[name]), /development value/, name);
    }
  });

  test("weak values are refused, good ones accepted", () => {
    const c = real();
    assert.match(secretProblem(c, "CREDENTIALS_KEY", "abc"), /64 hex/);
    assert.match(secretProblem(c, "CREDENTIALS_KEY", "zz".repeat(32)), /64 hex/);
    assert.match(secretProblem(c, "MEDIA_CAPABILITY_SECRET", "short"), /32 bytes/);
    assert.equal(secretProblem(c, "CREDENTIALS_KEY", GOOD_KEY), null);
    assert.equal(secretProblem(c, "MEDIA_CAPABILITY_SECRET", GOOD_SECRET), null);
    assert.match(secretProblem(c, "SOMETHING_ELSE", "x"), /not a secret/);
  });

  test("every required secret is one the worker reads", () => {
    assert.deepEqual(SECRETS.filter((s) => s.required).map((s) => s.name), ["CREDENTIALS_KEY", "MEDIA_CAPABILITY_SECRET"]);
  });
});

describe("make deploy (scripts/deploy.mjs deploy) against a recording wrangler", () => {
  function run({ config = real(), env = {}, secrets = ["CREDENTIALS_KEY", "MEDIA_CAPABILITY_SECRET"] } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-test-"));
    const configFile = path.join(dir, "wrangler.toml");
    fs.writeFileSync(configFile, stringify(config));
    const log = path.join(dir, "calls.jsonl");
    fs.writeFileSync(log, "");
    const res = spawnSync(process.execPath, [path.join(root, "scripts/deploy.mjs"), "deploy", "--config", configFile], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        WRANGLER: path.join(root, "tests/fixtures/fake_wrangler.mjs"),
        FAKE_WRANGLER_LOG: log,
        FAKE_SECRETS: JSON.stringify(secrets),
        DEPLOY_OUTDIR: path.join(dir, "dist"),
        ...env,
      },
    });
    const calls = fs.readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: res.status, out: res.stdout + res.stderr, calls };
  }

  const filled = () => {
    const c = real();
    c.env.production.d1_databases[0].database_id = "3f2a1c9e-8b7d-4e6f-9a0b-1c2d3e4f5a6b";
    c.env.production.kv_namespaces[0].id = "0123456789abcdef0123456789abcdef";
    return c;
  };

  test("refuses placeholder ids before calling wrangler at all", () => {
    const r = run();
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /placeholder id/);
    assert.deepEqual(r.calls, []);
  });

  test("refuses a development secret given to set, before setting anything", () => {
    const c = filled();
    const r = run({ config: c, env: { CREDENTIALS_KEY: c.vars.CREDENTIALS_KEY } });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /CREDENTIALS_KEY is the development value/);
    assert.deepEqual(r.calls, []);
  });

  test("refuses when a required secret is not set, before migrating or deploying", () => {
    const r = run({ config: filled(), secrets: ["CREDENTIALS_KEY"] });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /secrets not set .*MEDIA_CAPABILITY_SECRET/);
    assert.deepEqual(r.calls.map((c) => c.args.slice(0, 2).join(" ")), ["secret list"]);
  });

  test("sets given secrets, checks them all, dry-runs, migrates remotely, then deploys", () => {
    const r = run({ config: filled(), env: { CREDENTIALS_KEY: GOOD_KEY } });
    assert.equal(r.status, 0, r.out);
    const steps = r.calls.map((c) => c.args.filter((a) => !a.startsWith("/")).join(" "));
    assert.deepEqual(steps, [
      "secret put CREDENTIALS_KEY --config --env production",
      "secret list --config --env production --format json",
      "deploy --dry-run --config --env production --outdir",
      "d1 migrations apply DB --remote --config --env production",
      "deploy --config --env production",
    ]);
    assert.equal(r.calls[0].input, GOOD_KEY, "the secret goes through stdin, never argv");
    assert.ok(!JSON.stringify(r.calls.map((c) => c.args)).includes(GOOD_KEY));
  });

  test("a CREDENTIALS_KEY rotation sets the new key and the previous one in one `secret bulk`", () => {
    const previous = "b2".repeat(32);
    const r = run({ config: filled(), env: { CREDENTIALS_KEY: GOOD_KEY, CREDENTIALS_KEY_PREVIOUS: previous } });
    assert.equal(r.status, 0, r.out);
    assert.equal(r.calls[0].args.filter((a) => !a.startsWith("/")).join(" "), "secret bulk --config --env production");
    assert.deepEqual(JSON.parse(r.calls[0].input), { CREDENTIALS_KEY: GOOD_KEY, CREDENTIALS_KEY_PREVIOUS: previous });
    assert.ok(!JSON.stringify(r.calls.map((c) => c.args)).includes(previous));
    assert.equal(r.calls.at(-1).args[0], "deploy");
  });

  test("refuses a previous key equal to the key, or the development key, or not a key, before setting anything", () => {
    const c = filled();
    for (const [previous, why] of [
      [GOOD_KEY.toUpperCase(), /same key as CREDENTIALS_KEY/],
      [c.vars.CREDENTIALS_KEY, /development CREDENTIALS_KEY/],
      ["abc", /CREDENTIALS_KEY_PREVIOUS must be 64 hex/],
    ]) {
      const r = run({ config: c, env: { CREDENTIALS_KEY: GOOD_KEY, CREDENTIALS_KEY_PREVIOUS: previous } });
      assert.equal(r.status, 1, r.out);
      assert.match(r.out, why);
      assert.deepEqual(r.calls, []);
    }
  });
});
