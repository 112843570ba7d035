// Opens pages of the pool's web page in headless Chromium and prints, as one
// JSON document on stdout, what each page showed: every element carrying a
// number (data-k, data-v and its text), the API answers the page fetched,
// console errors and failed requests, the bytes transferred (bodies as sent,
// compressed, and headers), and where its screenshot went.
//
//   node check-pages.js spec.json
//
// spec.json: {"base": "http://127.0.0.1:8000", "chromium": "/usr/bin/chromium",
//   "screenshots": "/abs/dir", "pages": [{"name": "home", "path": "/",
//   "page": "home", "allow_failed": ["/api/miners/tst1…"]}]}
// The Rust test (integration-tests/tests/e2e/web_page.rs) writes the spec,
// runs this script and checks the result against the API.
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

// Chromium must not reach for the network on its own (updates, sync, field
// trials): the machine running the tests may have none.
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
  "--no-default-browser-check", "--disable-features=Translate,MediaRouter,OptimizationHints",
];

async function visit(context, spec, page, shots) {
  const tab = await context.newPage();
  const consoleErrors = [];
  const failed = [];
  const api = {};
  const allowed = page.allow_failed || [];
  const isAllowed = (url) => allowed.some((part) => url.includes(part));
  tab.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location() && message.location().url;
    if (where && isAllowed(where)) return;
    consoleErrors.push(message.text() + (where ? " (" + where + ")" : ""));
  });
  tab.on("pageerror", (error) => consoleErrors.push("uncaught: " + error.message));
  tab.on("requestfailed", (request) => failed.push(request.url() + ": " + (request.failure() || {}).errorText));
  const transfers = [];
  tab.on("requestfinished", (request) => {
    transfers.push(request.sizes().then((sizes) => sizes.responseBodySize + sizes.responseHeadersSize, () => 0));
  });
  tab.on("response", async (response) => {
    const url = new URL(response.url());
    if (!url.pathname.startsWith("/api/")) return;
    const key = url.pathname + url.search;
    try {
      api[key] = { status: response.status(), body: await response.json() };
    } catch (error) {
      api[key] = { status: response.status(), body: null };
    }
    if (response.status() >= 400 && !isAllowed(url.pathname)) {
      failed.push(key + ": " + response.status());
    }
  });
  const started = Date.now();
  const navigation = await tab.goto(spec.base + page.path, { waitUntil: "load" });
  await tab.waitForSelector(`main[data-page="${page.page}"]:not([aria-busy])`, { timeout: 30000 });
  await tab.waitForLoadState("networkidle");
  const items = await tab.$$eval("[data-k]", (nodes) => nodes.map((node) => ({
    k: node.getAttribute("data-k"),
    v: node.getAttribute("data-v"),
    text: node.textContent.trim(),
  })));
  const status = await tab.$eval("#status", (node) => (node.hidden ? "" : node.textContent));
  const transferred = (await Promise.all(transfers)).reduce((sum, bytes) => sum + bytes, 0);
  const screenshot = path.join(shots, page.name + ".png");
  await tab.screenshot({ path: screenshot, fullPage: true });
  await tab.close();
  return {
    name: page.name,
    path: page.path,
    http_status: navigation ? navigation.status() : 0,
    load_ms: Date.now() - started,
    requests: transfers.length,
    transferred,
    status,
    items,
    api,
    console_errors: consoleErrors,
    failed_requests: failed,
    screenshot,
  };
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  fs.mkdirSync(spec.screenshots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: spec.chromium,
    headless: true,
    args: FLAGS,
    timeout: 60000,
  });
  const results = { browser: browser.version(), pages: [] };
  try {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
    for (const page of spec.pages) results.pages.push(await visit(desktop, spec, page, spec.screenshots));
    // The same home page on a phone-sized screen.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const home = spec.pages.find((page) => page.name === "home");
    if (home) results.pages.push(await visit(phone, spec, Object.assign({}, home, { name: "home-phone" }), spec.screenshots));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((error) => {
  process.stderr.write("check-pages: " + (error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
