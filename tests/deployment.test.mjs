// A production deployment refuses to serve with development or weak secrets (issue 11, item 7):
// with ENVIRONMENT=production, CREDENTIALS_KEY or MEDIA_CAPABILITY_SECRET at the value
// wrangler.toml ships, missing, or under 32 bytes (or CREDENTIALS_KEY_PREVIOUS, when set, at the
// development key or equal to the key), every request is the 500 envelope and its log
// line names the variable (never its value). Each case is its own worker, with those bindings.
import { test, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startWorker, assertError, logLines, logsSettled } from "./helpers.mjs";

/** The development values, read from wrangler.toml itself. */
const toml = fs.readFileSync(new URL("../wrangler.toml", import.meta.url), "utf8");
const devValue = (name) => new RegExp(`^${name} = "([^"]*)"$`, "m").exec(toml)[1];
const DEV_KEY = devValue("CREDENTIALS_KEY");
const DEV_SECRET = devValue("MEDIA_CAPABILITY_SECRET");
const GOOD_KEY = "a1".repeat(32);
const GOOD_SECRET = "a-real-production-secret-32-bytes";

const started = [];
after(() => Promise.all(started.map((a) => a.dispose())));

async function production(bindings) {
  const app = await startWorker({ bindings: { ENVIRONMENT: "production", CREDENTIALS_KEY: GOOD_KEY, MEDIA_CAPABILITY_SECRET: GOOD_SECRET, ...bindings } });
  started.push(app);
  return app;
}

/** The log line of the response with this request id, once the worker has printed it. */
async function logLineOf(requestId) {
  for (let i = 0; i < 200; i++) {
    const line = logLines.find((l) => l.includes(requestId));
    if (line) return JSON.parse(line);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`no log line for ${requestId}`);
}

describe("ENVIRONMENT=production with unfit secrets", () => {
  const cases = [
    ["CREDENTIALS_KEY at its development value", { CREDENTIALS_KEY: DEV_KEY }, "CREDENTIALS_KEY"],
    ["CREDENTIALS_KEY shorter than 32 bytes", { CREDENTIALS_KEY: "a1".repeat(31) }, "CREDENTIALS_KEY"],
    ["CREDENTIALS_KEY_PREVIOUS at the development key", { CREDENTIALS_KEY_PREVIOUS: DEV_KEY }, "CREDENTIALS_KEY_PREVIOUS"],
    ["CREDENTIALS_KEY_PREVIOUS the same key as CREDENTIALS_KEY", { CREDENTIALS_KEY_PREVIOUS: GOOD_KEY.toUpperCase() }, "CREDENTIALS_KEY_PREVIOUS"],
    ["MEDIA_CAPABILITY_SECRET at its development value", { MEDIA_CAPABILITY_SECRET: DEV_SECRET }, "MEDIA_CAPABILITY_SECRET"],
    ["MEDIA_CAPABILITY_SECRET shorter than 32 bytes", { MEDIA_CAPABILITY_SECRET: GOOD_SECRET.slice(0, 31) }, "MEDIA_CAPABILITY_SECRET"],
  ];
  for (const [name, bindings, variable] of cases) {
    test(`${name}: every request is 500, the log names ${variable} and not its value`, async () => {
      const app = await production(bindings);
      for (const [method, route, body] of [["GET", "/health"], ["POST", "/auth/signup", { email: "p@example.com", name: "P", password: "correct horse battery" }], ["GET", "/me"]]) {
        const res = await app.request(method, route, { body });
        assertError(res, 500, "INTERNAL");
        assert.ok(!res.text.includes(variable), "the body says nothing of the cause");
        const line = await logLineOf(res.body.requestId);
        assert.equal(line.level, "error");
        assert.match(line.cause, new RegExp(`^deployment: ${variable} `));
        for (const value of Object.values(bindings)) assert.ok(!line.cause.includes(value), line.cause);
      }
      // Refused before anything is stored.
      assert.equal(await app.count("users"), 0);
    });
  }

  test("real secrets serve; development values outside production serve too", async () => {
    // A rotation under way: the previous key is another real key.
    const prod = await production({ CREDENTIALS_KEY_PREVIOUS: "b2".repeat(32) });
    assert.equal((await prod.get("/health")).status, 200);
    const user = await prod.signup();
    assert.ok(user.token.startsWith("pb_sess_"));
    const dev = await startWorker({ bindings: { ENVIRONMENT: "development", CREDENTIALS_KEY: DEV_KEY, MEDIA_CAPABILITY_SECRET: DEV_SECRET } });
    started.push(dev);
    assert.equal((await dev.get("/health")).status, 200);
    await logsSettled();
  });
});
