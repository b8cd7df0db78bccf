// The dashboard in a real browser (issue 14): Debian's Chromium driven by playwright-core,
// against the built worker and its static assets served over HTTP on loopback by Miniflare
// (real local D1, KV, R2). Every page is checked with axe-core (no serious or critical
// violation) and photographed into test-artifacts/browser/; the page must raise no script
// error and no CSP violation. Keys the pages mint are tried against the API itself.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { startWorker, assertError, unique, tick, logLines } from "../helpers.mjs";
import { root } from "../../scripts/worker.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const ARTIFACTS = path.join(root, "test-artifacts/browser");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Flags that work on this kind of machine (no network but loopback; root needs --no-sandbox).
const ARGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
];
const PASSWORD = "correct horse battery";
/** Waits for the page, never a fixed pause; generous for a loaded 2-core machine. */
const WAIT = { timeout: 20_000 };

let app;
let browser;
before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  [app, browser] = await Promise.all([
    startWorker({ serve: { host: "127.0.0.1", port: 0 } }),
    chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true }),
  ]);
});
after(async () => {
  await browser?.close();
  await app?.dispose();
});

/** The API as the dashboard's origin serves it (App.request checks every answer against the contract). */
const api = (p) => new URL(`/api/v1${p}`, app.url).href;

/**
 * A fresh browser profile on the dashboard. Every script error and CSP violation it reports is
 * collected and asserted empty at `done()`.
 */
async function openDashboard() {
  const context = await browser.newContext({ baseURL: app.url.href, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.goto("/");
  return {
    context,
    page,
    async done() {
      await context.close();
      assert.deepEqual(problems, []);
    },
  };
}

/** axe-core in the page: no serious or critical violation. Then a screenshot named `name`. */
async function check(page, name) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  assert.deepEqual(violations, [], `axe on ${name}`);
}

/** The first worker log line (parsed) that `match` accepts, waiting for it to be printed. */
async function logLine(match) {
  const deadline = Date.now() + WAIT.timeout;
  while (Date.now() < deadline) {
    for (const text of logLines) {
      let line;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      if (match(line)) return line;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no such log line");
}

const byLabel = (page, label) => page.getByLabel(label, { exact: true });
const button = (scope, name) => scope.getByRole("button", { name, exact: true });
const heading = (page, name) => page.getByRole("heading", { name, exact: true, level: 1 });

async function signUpInBrowser(page, name = "Ada Lovelace") {
  const email = `${unique("ui")}@example.com`;
  await button(page, "Create an account").click();
  await byLabel(page, "Name").fill(name);
  await byLabel(page, "Email").fill(email);
  await byLabel(page, "Password").fill(PASSWORD);
  await button(page, "Sign up").click();
  await heading(page, "Workspaces").waitFor();
  return email;
}

async function createWorkspaceInBrowser(page, name, zone) {
  await button(page, "New workspace").click();
  const dialog = page.getByRole("dialog", { name: "New workspace" });
  await byLabel(dialog, "Workspace name").fill(name);
  if (zone) await byLabel(dialog, "Time zone").selectOption(zone);
  await button(dialog, "Create workspace").click();
  await page.getByRole("rowheader", { name, exact: true }).waitFor();
}

/** The page's own workspaces, read through its cookie (a same-origin GET). */
async function workspacesSeenByPage(page) {
  return page.evaluate(async () => (await fetch("/api/v1/workspaces")).json());
}

describe("the dashboard in Chromium", () => {
  test("sign up, two workspaces, a key scoped to one: it works there and is refused on the other; after a reload the plaintext is gone; revoked, it is refused", async () => {
    const { page, context, done } = await openDashboard();
    await heading(page, "Sign in to PostBridge").waitFor();
    await check(page, "sign-in");
    await button(page, "Create an account").click();
    await heading(page, "Create your PostBridge account").waitFor();
    await check(page, "sign-up");
    await button(page, "Sign in instead").click();
    await signUpInBrowser(page);

    await createWorkspaceInBrowser(page, "Initech Coffee", "Europe/Paris");
    await createWorkspaceInBrowser(page, "Hooli Shoes");
    // Rename one and move it to another time zone.
    const hooliRow = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "Hooli Shoes", exact: true }) });
    await button(hooliRow, "Edit").click();
    const edit = page.getByRole("dialog", { name: "Edit Hooli Shoes" });
    await byLabel(edit, "Workspace name").fill("Hooli Sneakers");
    await byLabel(edit, "Time zone").selectOption("America/New_York");
    await button(edit, "Save").click();
    const sneakers = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "Hooli Sneakers", exact: true }) });
    await sneakers.getByText("America/New_York").waitFor();
    await check(page, "workspaces");
    const workspaces = await workspacesSeenByPage(page);
    const coffee = workspaces.find((w) => w.name === "Initech Coffee");
    const hooli = workspaces.find((w) => w.name === "Hooli Sneakers");
    assert.equal(coffee.timezone, "Europe/Paris");
    assert.equal(hooli.timezone, "America/New_York");

    await page.getByRole("link", { name: "Developers", exact: true }).click();
    await heading(page, "Developers").waitFor();
    await button(page, "Create key").click();
    const sheet = page.getByRole("dialog", { name: "Create an API key" });
    await byLabel(sheet, "Key name").fill("coffee-bot");
    const full = sheet.getByRole("switch", { name: "Full access", exact: true });
    assert.equal(await full.isChecked(), true, "Full access is on by default");
    assert.equal(await sheet.getByRole("checkbox", { name: "Initech Coffee" }).count(), 0, "no workspace list while Full access is on");
    await full.click();
    await sheet.getByRole("checkbox", { name: "Initech Coffee", exact: true }).check();
    assert.equal(await sheet.getByRole("checkbox", { name: "Hooli Sneakers", exact: true }).isChecked(), false);
    await check(page, "developers-create-key");
    await button(sheet, "Create").click();

    const shown = page.getByRole("dialog", { name: "Your new API key" });
    const box = shown.getByRole("textbox", { name: "API key", exact: true });
    await box.waitFor();
    assert.equal(await box.getAttribute("readonly"), "");
    const key = await box.inputValue();
    assert.match(key, /^pb_live_[0-9A-Za-z]{32}$/);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: app.url.origin });
    await button(shown, "Copy").click();
    await shown.getByText("Copied to the clipboard.").waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
    await check(page, "developers-new-key");

    // The key, read from the dialog, through the API: its workspace yes, the other no.
    const ok = await app.get(api(`/workspaces/${coffee.id}`), { token: key });
    assert.equal(ok.status, 200, ok.text);
    const refused = await app.get(api(`/workspaces/${hooli.id}`), { token: key });
    assertError(refused, 403, "WORKSPACE_FORBIDDEN");
    assert.deepEqual((await app.get(api("/workspaces"), { token: key })).body.map((w) => w.id), [coffee.id]);

    await button(shown, "Done").click();
    await shown.waitFor({ state: "hidden" });
    assert.ok(!(await page.content()).includes(key), "the plaintext is gone once the dialog is closed");
    await page.reload();
    await heading(page, "Developers").waitFor();
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "coffee-bot", exact: true }) });
    await row.waitFor();
    assert.ok(!(await page.content()).includes(key.slice(8)), "no part of the plaintext after a reload");
    await row.getByText(`pb_live_${key.slice(8, 16)}…`).waitFor();
    await row.getByText("Scoped", { exact: true }).waitFor();
    await row.getByText("Initech Coffee", { exact: true }).waitFor();
    assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, ""]);

    // A second key, full access (the default) with an expiry date.
    await button(page, "Create key").click();
    await byLabel(sheet, "Key name").fill("publisher");
    // A date two years ahead (keys expire at most five years ahead), in the date input's form.
    const expiresOn = new Date(Date.now() + 2 * 365 * 864e5).toISOString().slice(0, 10);
    await byLabel(sheet, "Expires on (optional)").fill(expiresOn);
    await button(sheet, "Create").click();
    const second = await box.inputValue();
    await button(shown, "Done").click();
    await shown.waitFor({ state: "hidden" });
    const secondMe = await app.get(api("/me"), { token: second });
    assert.deepEqual(secondMe.body.workspaces.map((w) => w.id).sort(), [coffee.id, hooli.id].sort());
    const listed = await page.evaluate(async () => (await fetch("/api/v1/api-keys")).json());
    const publisher = listed.find((k) => k.name === "publisher");
    assert.equal(publisher.access, "full");
    assert.equal(publisher.expiresAt.slice(0, 4), expiresOn.slice(0, 4));
    const publisherRow = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "publisher", exact: true }) });
    await publisherRow.getByText("Full access", { exact: true }).waitFor();
    await publisherRow.locator(`time[datetime="${publisher.expiresAt}"]`).waitFor();
    await check(page, "developers");

    await button(row, "Revoke").click();
    const confirm = page.getByRole("alertdialog", { name: "Revoke coffee-bot?" });
    await check(page, "developers-revoke");
    await button(confirm, "Revoke key").click();
    await row.waitFor({ state: "detached" });
    assertError(await app.get(api(`/workspaces/${coffee.id}`), { token: key }), 401, "UNAUTHORIZED");
    await done();
  });

  test("keyboard only: a scoped key is created and shown without a pointer", async () => {
    const { page, done } = await openDashboard();
    await signUpInBrowser(page, "Keyboard User");
    await createWorkspaceInBrowser(page, "Typing Club");
    await createWorkspaceInBrowser(page, "Other Club");
    const club = (await workspacesSeenByPage(page)).find((w) => w.name === "Typing Club");
    await page.goto("/#/developers");
    await heading(page, "Developers").waitFor();

    /** Presses Tab until the focused element has accessible name `name` (a bounded walk). */
    async function tabTo(name) {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        const focused = await page.evaluate(() => {
          const el = document.activeElement;
          const label = el?.labels?.[0]?.textContent ?? el?.getAttribute("aria-label") ?? el?.textContent;
          return label?.trim();
        });
        if (focused === name) return;
      }
      throw new Error(`Tab never reached ${name}`);
    }
    await tabTo("Create key");
    await page.keyboard.press("Enter");
    const sheet = page.getByRole("dialog", { name: "Create an API key" });
    await sheet.waitFor();
    // The sheet opens with the focus in its first field.
    await byLabel(sheet, "Key name").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), "key-name");
    await page.keyboard.type("typed-key");
    await tabTo("Full access");
    await page.keyboard.press("Space");
    assert.equal(await sheet.getByRole("switch", { name: "Full access" }).isChecked(), false);
    await tabTo("Typing Club");
    await page.keyboard.press("Space");
    await tabTo("Create");
    await page.keyboard.press("Enter");
    const shown = page.getByRole("dialog", { name: "Your new API key" });
    await shown.waitFor();
    const key = await shown.getByRole("textbox", { name: "API key" }).inputValue();
    await tabTo("Done");
    await page.keyboard.press("Enter");
    await shown.waitFor({ state: "hidden" });

    const me = await app.get(api("/me"), { token: key });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.body.workspaces.map((w) => w.id), [club.id]);
    assert.equal(me.body.credential.access, "scoped");
    await done();
  });

  test("team: a member is added by e-mail, re-roled and removed", async () => {
    const grace = await app.signup({ name: "Grace Hopper" });
    const { page, done } = await openDashboard();
    await signUpInBrowser(page, "Team Owner");
    await createWorkspaceInBrowser(page, "Compiler Co");
    const ws = (await workspacesSeenByPage(page)).find((w) => w.name === "Compiler Co");
    await page.getByRole("link", { name: "Team", exact: true }).click();
    await heading(page, "Team").waitFor();
    await byLabel(page, "Email").fill(grace.email);
    await byLabel(page, "Role").selectOption("EDITOR");
    await button(page, "Add member").click();
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "Grace Hopper", exact: true }) });
    const role = row.getByRole("combobox", { name: "Role of Grace Hopper" });
    await role.waitFor();
    assert.equal(await role.inputValue(), "EDITOR");
    // The form is ready for the next one, with the default role again (never Owner).
    assert.equal(await byLabel(page, "Email").inputValue(), "");
    assert.equal(await byLabel(page, "Role").inputValue(), "MEMBER");
    assert.equal((await app.get(`/workspaces/${ws.id}`, { token: grace.token })).status, 200, "Grace is in");
    await role.selectOption("ADMIN");
    await page.getByRole("status").getByText("Grace Hopper is now Admin.").waitFor();
    const members = await app.get(`/workspaces/${ws.id}/members`, { token: grace.token });
    assert.equal(members.body.find((m) => m.userId === grace.user.id).role, "ADMIN");
    await check(page, "team");

    await button(row, "Remove").click();
    const confirm = page.getByRole("alertdialog", { name: "Remove Grace Hopper?" });
    await check(page, "team-remove");
    await button(confirm, "Remove member").click();
    await row.waitFor({ state: "detached" });
    assertError(await app.get(`/workspaces/${ws.id}`, { token: grace.token }), 403, "WORKSPACE_FORBIDDEN");
    await done();
  });

  test("posts: one list over every workspace with status, schedule and each target's result", async () => {
    // Made through the API with a bearer session; the person then signs in in the browser.
    const owner = await app.signup({ name: "Post Owner" });
    const wsA = await app.createWorkspace(owner.token, { name: "Alpha Brand" });
    const wsB = await app.createWorkspace(owner.token, { name: "Beta Brand" });
    const account = async (ws, platform) =>
      (await app.post("/social-accounts", { workspaceId: ws.id, platform, handle: unique("@brand") }, { token: owner.token })).body;
    // Platforms that publish: a post to any other can only be a draft (PUBLISHING_NOT_SUPPORTED).
    const [mastodon, bluesky, x] = [await account(wsA, "MASTODON"), await account(wsA, "BLUESKY"), await account(wsB, "BLUESKY")];
    const when = new Date(Date.now() + 86_400_000).toISOString();
    const create = async (body) => {
      const res = await app.post("/posts", body, { token: owner.token });
      assert.equal(res.status, 201, res.text);
      await tick(); // distinct creation times: "newest first" is then one order
      return res.body;
    };
    const done1 = await create({ content: "Spring roast is in", platforms: [{ accountId: mastodon.id }, { accountId: bluesky.id }], scheduledFor: when });
    const sched = await create({ content: "Sneaker drop tomorrow", platforms: [{ accountId: x.id }], scheduledFor: when });
    const draft = await create({ content: "Draft idea", platforms: [{ accountId: x.id }] });
    // What a publisher leaves behind: one target published, one failed.
    const [published, failed] = done1.targets;
    const at = new Date().toISOString();
    await app.db.batch([
      app.db.prepare("UPDATE post_targets SET status = 'PUBLISHED', published_at = ? WHERE id = ?").bind(at, published.id),
      app.db
        .prepare("UPDATE post_targets SET status = 'FAILED', error = ? WHERE id = ?")
        .bind(JSON.stringify({ code: "PLATFORM_RATE_LIMITED", message: "Bluesky said: rate limited", retryable: true }), failed.id),
      app.db.prepare("UPDATE posts SET status = 'PARTIALLY_PUBLISHED' WHERE id = ?").bind(done1.id),
    ]);

    const { page, done } = await openDashboard();
    // The per-target `url` the publisher sets is replaced in the real response here, to show the
    // page renders it (and only http(s) ones).
    await page.route("**/api/v1/posts?*", async (route) => {
      const res = await route.fetch();
      const posts = await res.json();
      for (const p of posts) {
        for (const t of p.targets) {
          if (t.id === published.id) t.url = "https://mastodon.example/@brand/1";
          if (t.id === failed.id) t.url = "javascript:alert(1)";
        }
      }
      await route.fulfill({ response: res, json: posts });
    });
    await byLabel(page, "Email").fill(owner.email);
    await byLabel(page, "Password").fill(owner.password);
    await button(page, "Sign in").click();
    await heading(page, "Workspaces").waitFor();
    await page.getByRole("link", { name: "Posts", exact: true }).click();
    await heading(page, "Posts").waitFor();

    const rowOf = (content) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: content, exact: true }) });
    const partly = rowOf("Spring roast is in");
    await partly.waitFor();
    await partly.getByText("Alpha Brand", { exact: true }).waitFor();
    await partly.getByText("Partly published", { exact: true }).waitFor();
    await partly.getByText("Error: Bluesky said: rate limited").waitFor();
    const link = partly.getByRole("link", { name: "View published post" });
    assert.equal(await link.count(), 1, "only the http(s) result is a link");
    assert.equal(await link.getAttribute("href"), "https://mastodon.example/@brand/1");
    assert.equal(await partly.locator(`time[datetime="${at}"]`).count(), 1, "publishedAt is shown");
    const scheduled = rowOf("Sneaker drop tomorrow");
    await scheduled.getByText("Beta Brand", { exact: true }).waitFor();
    await scheduled.getByText("Scheduled", { exact: true }).waitFor();
    assert.equal(await scheduled.locator(`time[datetime="${sched.scheduledFor}"]`).count(), 1);
    await rowOf("Draft idea").getByText("Not scheduled").waitFor();
    assert.equal(draft.status, "DRAFT");
    // Newest first, across both workspaces.
    const order = await page.locator("tbody th[scope=row]").allTextContents();
    assert.deepEqual(order, ["Draft idea", "Sneaker drop tomorrow", "Spring roast is in"]);
    await check(page, "posts");
    await done();
  });

  test("the session cookie is HttpOnly and SameSite=Strict, never in script; a same-site page of another origin cannot write with it", async () => {
    const { page, context, done } = await openDashboard();
    await signUpInBrowser(page, "Cookie Monster");
    const cookies = await context.cookies();
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    const [c] = cookies;
    assert.equal(c.name, "pb_session");
    assert.match(c.value, /^pb_sess_[0-9A-Za-z]{32}$/);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "Strict");
    assert.equal(c.secure, false, "plain-HTTP loopback only");
    assert.equal(c.path, "/");
    assert.ok(c.expires > Date.now() / 1000 + 29 * 86400);
    assert.deepEqual(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length]), ["", 0, 0]);

    // Another origin on the same site (127.0.0.1, another port): the browser sends the cookie
    // along (SameSite does not look at ports), so only the Origin check stands in the way.
    const before = await app.count("workspaces");
    const evil = http.createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<!doctype html><title>evil</title><p>evil</p>");
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    try {
      const evilPage = await context.newPage();
      await evilPage.goto(`http://127.0.0.1:${evil.address().port}/`);
      const target = api("/workspaces");
      const answered = evilPage.waitForResponse((r) => r.url() === target && r.request().method() === "POST");
      const sent = evilPage.waitForRequest((r) => r.url() === target && r.method() === "POST");
      await evilPage.evaluate(async (url) => {
        // A "simple" request: no preflight, credentials included.
        await fetch(url, { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ name: "Planted" }) }).catch(() => {});
      }, target);
      await sent;
      assert.equal((await answered).status(), 403);
      // The body is opaque to the page (no-cors); the worker's log line says why: the cookie
      // arrived (else the refusal would be 401) and its Origin was not the dashboard's.
      const line = await logLine((l) => l.method === "POST" && l.route === "/workspaces" && l.status === 403);
      assert.equal(line.code, "ORIGIN_FORBIDDEN");
      assert.equal(line.d1Queries, 0);
      // With a JSON body the browser asks first (CORS preflight), and the API grants nothing.
      const readable = await evilPage.evaluate(async (url) => {
        try {
          await fetch(url, { method: "POST", credentials: "include", headers: { "Content-Type": "application/json" }, body: "{}" });
          return "sent and read";
        } catch {
          return "blocked";
        }
      }, target);
      assert.equal(readable, "blocked");
    } finally {
      evil.close();
    }
    assert.equal(await app.count("workspaces"), before, "nothing was created");

    // Signing out clears the cookie and ends the session.
    const token = cookies[0].value;
    await button(page, "Sign out").click();
    await heading(page, "Sign in to PostBridge").waitFor();
    assert.deepEqual(await context.cookies(), []);
    assertError(await app.get(api("/me"), { headers: { Cookie: `pb_session=${token}` } }), 401, "UNAUTHORIZED");
    await done();
  });
});
