// console_test.js — drives Debian's chromium (puppeteer-core) through the
// console a control plane serves; run by tests/integration/console.sh, which
// starts the control plane, a fake host and an enclave, and passes:
//   CONSOLE_URL      https://127.0.0.1:PORT/console/
//   CONSOLE_SPKI     base64 SHA-256 of the server key (the only certificate
//                    error chromium is told to ignore: that key's)
//   CONSOLE_TOKEN    a valid token (admin: sees hosts);  CONSOLE_TENANT_TOKEN
//                    a tenant's (hosts hidden from it)
//   CONSOLE_ENCLAVE  the enclave's name;  CONSOLE_HOST  the host's name
//   CONSOLE_TLS      "run" to enable TLS through the page and watch every
//                    step appear, else the reason it cannot run here
//   CONSOLE_SHOT     where to save the screenshot
// Prints "ok: ..." lines; any failure exits 1 with "FAIL: ...".
"use strict";
const path = require("path");
const puppeteer = require(path.join(__dirname, "node_modules", "puppeteer-core"));

const env = (k) => { const v = process.env[k]; if (v === undefined) throw new Error("missing " + k); return v; };
const URL_ = env("CONSOLE_URL"), SPKI = env("CONSOLE_SPKI"), TOKEN = env("CONSOLE_TOKEN");
const TENANT_TOKEN = env("CONSOLE_TENANT_TOKEN"), ENCLAVE = env("CONSOLE_ENCLAVE"), HOST = env("CONSOLE_HOST");
const TLS = env("CONSOLE_TLS"), SHOT = env("CONSOLE_SHOT");
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const STEPS = ["key_generated", "certificate_requested", "certificate_issued", "delivered", "acknowledged", "enabled"];

function fail(msg) { throw new Error(msg); }
function ok(msg) { console.log("ok: " + msg); }

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      // Chromium refuses to run as root with its sandbox; the test loads
      // only the local control plane's page.
      ...(process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : []),
      "--disable-gpu", "--no-first-run", "--no-default-browser-check",
      "--ignore-certificate-errors-spki-list=" + SPKI,
    ],
  });
  try {
    await run(browser);
  } finally {
    await browser.close();
  }
}

async function run(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });
  const problems = [];   // console errors, page errors, failed requests, CSP violations
  const expected = [];   // what the test provokes on purpose (the CSP probe, 401s)
  page.on("console", (m) => {
    if (m.type() !== "error" && m.type() !== "warning") return;
    const t = m.text();
    // The wrong-token sign-in's 401 is logged by chromium as a failed resource.
    if (/status of 401/.test(t) && expected.includes("401")) return;
    if (/status of 404/.test(t) && expected.includes("404")) return;
    if (/status of 403/.test(t) && expected.includes("403")) return;
    if (/Content Security Policy/.test(t) && expected.includes("csp-probe")) return;
    problems.push("console " + m.type() + ": " + t);
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url() + " " + (r.failure() || {}).errorText));
  // Runs before the page's own script, outside its CSP (it is the DevTools
  // protocol's, not the page's): records every CSP violation the page causes.
  await page.evaluateOnNewDocument(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
    });
  });
  // Without the TLS API (tlsjob's routes) the panel's GET and Enable's POST
  // are 404s, which chromium logs: expected then, and only then.
  if (TLS !== "run") expected.push("404");
  const headers = {};
  page.on("response", (r) => { headers[r.url()] = r.headers(); });

  // 1. The page and its files, with their headers.
  const res = await page.goto(URL_, { waitUntil: "networkidle0" });
  if (!res || res.status() !== 200) fail("GET " + URL_ + " answered " + (res && res.status()));
  for (const f of ["", "console.css", "console.js"]) {
    const h = headers[URL_ + f];
    if (!h) fail("the page did not load " + (f || "index.html"));
    if (h["content-security-policy"] !== CSP) fail((f || "index.html") + ": CSP is " + JSON.stringify(h["content-security-policy"]));
    if (h["x-content-type-options"] !== "nosniff") fail((f || "index.html") + ": no nosniff");
  }
  ok("index.html, console.css and console.js served with the CSP and nosniff");
  if (await page.$eval("#app", (e) => !e.hidden)) fail("the app is shown before sign-in");
  const focused0 = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused0 !== "token") fail("the token field does not have the focus at load (" + focused0 + ")");

  // 2. A wrong token: an error, nothing shown.
  expected.push("401");
  await page.keyboard.type("clt_tok-nope_deadbeef");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("signin-error").textContent.length > 0, { timeout: 10000 });
  const err = await page.$eval("#signin-error", (e) => e.textContent);
  if (!/Sign-in failed/.test(err) || !/401/.test(err)) fail("wrong token error: " + err);
  if (await page.$eval("#app", (e) => !e.hidden)) fail("the app is shown after a wrong token");
  ok("a wrong token is refused with: " + err);

  // 3. A tenant token: its enclave, and no host list (admin only: a 403).
  expected.push("403");
  await signIn(page, TENANT_TOKEN);
  await page.waitForFunction((n) => document.querySelector("#enclaves tbody").textContent.includes(n), { timeout: 10000 }, ENCLAVE);
  await page.waitForFunction(() => /admin tokens only/.test(document.getElementById("hosts-note").textContent), { timeout: 10000 });
  ok("a tenant sees its enclave and is told hosts are for admins");
  await page.click("#signout");
  await page.waitForSelector("#signin:not([hidden])");
  expected.splice(expected.indexOf("403"), 1);

  // 4. The admin, keyboard only: sign in, the overview, Manage TLS, Enable.
  await signIn(page, TOKEN);
  await page.waitForFunction((n) => document.querySelector("#enclaves tbody").textContent.includes(n), { timeout: 10000 }, ENCLAVE);
  await page.waitForFunction((n) => document.querySelector("#hosts tbody").textContent.includes(n), { timeout: 10000 }, HOST);
  const rows = await page.$$eval("#enclaves tbody tr", (trs) => trs.map((tr) => tr.textContent));
  if (!rows.some((t) => t.includes(ENCLAVE))) fail("no enclave row: " + rows);
  ok("the overview lists enclave " + ENCLAVE + " and host " + HOST);
  const stored = await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length, location.href]);
  if (stored[0] !== "" || stored[1] !== 0 || stored[2] !== 0) fail("the page stored something: " + JSON.stringify(stored));
  if (stored[3].includes(TOKEN.slice(-8))) fail("the token is in the URL");
  const who = await page.$eval("#who", (e) => e.textContent);
  if (who.includes(TOKEN.slice(-8))) fail("the page shows the token's secret: " + who);
  ok("no cookie, no web storage, no token in the URL or on the page (" + who + ")");

  const path1 = await tabUntil(page, (a) => a.label === "Manage TLS for " + ENCLAVE, 40);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#tls:not([hidden])");
  const onTitle = await page.evaluate(() => document.activeElement.id);
  if (onTitle !== "tls-title") fail("opening the TLS panel left the focus on " + onTitle);
  await page.waitForFunction(() => document.getElementById("tls-availability").textContent !== "Loading…", { timeout: 10000 });
  const path2 = await tabUntil(page, (a) => a.id === "tls-enable", 40);
  for (const a of path2)
    if (a.tag === "INPUT" && !a.labelled) fail("focused input " + a.id + " has no label");
  for (const want of ["mode-all", "insecure-reject", "ports", "ips", "adapters", "header", "access-key"])
    if (!path2.some((a) => a.id === want)) fail("Tab never reached " + want + " on the way to Enable: " + path2.map((a) => a.id).join(" "));
  ok("keyboard only: " + path1.length + " Tabs to Manage TLS, " + path2.length + " more to Enable, every field labelled");
  // The options: each of the seed's is on the page, by its label.
  const labels = await page.$$eval("#tls-form label", (ls) => ls.map((l) => l.textContent));
  for (const want of ["Always", "Only these ports", "Auto-detect", "Only these IPs", "By adapter", "Reject", "Allow", "header"])
    if (!labels.some((l) => l.includes(want))) fail("no option labelled " + want);
  ok("the TLS panel offers every option");

  // 5. Enable (the Enter key on the focused button).
  if (TLS === "run") {
    // The access key (enabling is a data action), typed into its field; then
    // back to Enable with Tab.
    await page.focus("#access-key");
    await page.keyboard.type(env("CONSOLE_ACCESS_KEY"));
    await tabUntil(page, (a) => a.id === "tls-enable", 5);
    await page.keyboard.press("Enter");
    const seen = [];
    for (const step of STEPS) {
      await page.waitForSelector('#tls-steps li.done[data-step="' + step + '"]', { timeout: 60000 })
        .catch(() => fail("step " + step + " never appeared; page shows: " +
          JSON.stringify(seen) + " / " + problems.join("; ")));
      seen.push(step);
    }
    await page.waitForFunction(() => /succeeded/.test(document.getElementById("tls-job").textContent), { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById("tls-state").textContent === "enabled", { timeout: 30000 });
    // Step details are the API's text: shown as text, never parsed as markup.
    const markup = await page.$$eval("#tls-steps *", (es) => es.filter((e) => !["LI", "SPAN", "TIME"].includes(e.tagName)).length);
    if (markup) fail("a step's detail became markup in the page");
    const subject = await page.$eval("#tls-subject", (e) => e.textContent);
    if (subject === "—") fail("no certificate subject after enabling");
    ok("Enable ran the job: " + seen.join(" → ") + "; certificate " + subject);
  } else {
    await page.screenshot({ path: SHOT, fullPage: true }); // the page as a user finds it
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("tls-error").textContent.length > 0, { timeout: 10000 });
    const e = await page.$eval("#tls-error", (x) => x.textContent);
    if (!/does not serve TLS/.test(e)) fail("Enable without the TLS API: " + e);
    ok("Enable pressed; the page says: " + e + " (flow not run: " + TLS + ")");
  }

  // 6. No problem so far; then prove the CSP watcher sees a violation, so
  // its silence above means something: an inline script must be blocked.
  let v = await page.evaluate(() => window.__cspViolations.slice());
  if (v.length) fail("CSP violations: " + v.join("; "));
  if (problems.length) fail("console errors: " + problems.join("; "));
  ok("no console error, no failed request, no CSP violation");
  if (TLS === "run") await page.screenshot({ path: SHOT, fullPage: true }); // the steps done
  ok("screenshot " + SHOT);

  expected.push("csp-probe");
  const ran = await page.evaluate(() => {
    window.__probe = false;
    const s = document.createElement("script");
    s.textContent = "window.__probe = true";
    document.body.append(s);
    return window.__probe;
  });
  await page.waitForFunction(() => window.__cspViolations.length > 0, { timeout: 5000 })
    .catch(() => fail("an inline script caused no CSP violation"));
  if (ran) fail("an inline script ran: the CSP is not enforced");
  v = await page.evaluate(() => window.__cspViolations.slice());
  ok("an inline script is blocked by the CSP (" + v[0] + ")");
}

async function signIn(page, token) {
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "token", { timeout: 5000 });
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#app:not([hidden])", { timeout: 10000 });
}

// Presses Tab until want(activeElement info) holds; returns the elements
// visited (fails after max presses).
async function tabUntil(page, want, max) {
  const visited = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const a = await page.evaluate(() => {
      const e = document.activeElement;
      const id = e.id || "";
      return { id, tag: e.tagName, label: (e.getAttribute("aria-label") || e.textContent.trim()).slice(0, 40),
               labelled: !!(e.labels && e.labels.length) || !!e.getAttribute("aria-label") };
    });
    visited.push(a);
    if (want(a)) return visited;
  }
  fail("Tab x" + max + " never reached the target; visited: " + visited.map((a) => a.id || a.tag + ":" + a.label).join(" "));
}

main().catch((e) => { console.log("FAIL: " + e.message); process.exit(1); });
