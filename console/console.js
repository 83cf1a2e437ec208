// console.js — the Cloister web console (docs/tls.md "The console").
// No framework, no build step. Rules this file keeps:
//  - the token lives in one closure variable only: never a cookie, never
//    localStorage/sessionStorage, never in the URL; sent as Authorization;
//  - every piece of data reaches the page through textContent (never
//    innerHTML), so nothing the API returns is ever parsed as markup;
//  - no inline script or style anywhere (the CSP forbids both).
"use strict";
(function () {
  let token = null;      // the API token, typed once
  let accessKey = "";    // the selected enclave's access key, if typed
  let current = null;    // the enclave whose TLS panel is open
  let following = 0;     // bumped to stop following an older job
  const tlsButtons = new Map(); // enclave id -> its "Manage TLS" button

  const STEPS = ["key_generated", "certificate_requested", "certificate_issued",
                 "delivered", "acknowledged", "enabled"];
  const STEP_TEXT = {
    key_generated: "Key pair generated on the host",
    key_imported: "Key imported into the host's key holder",
    certificate_requested: "Certificate requested",
    certificate_issued: "Certificate issued",
    delivered: "Delivered to the host",
    acknowledged: "Host acknowledged",
    enabled: "Enabled",
  };

  const $ = (id) => document.getElementById(id);
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function show(id, on) { $(id).hidden = !on; }
  function say(id, text) { $(id).textContent = text || ""; }
  const dash = (v) => (v === undefined || v === null || v === "" ? "—" : String(v));

  // api(method, path[, body]) -> {status, body}; body is parsed JSON or null.
  // Throws only for a network failure.
  async function api(method, path, body) {
    const headers = { "Authorization": "Bearer " + token };
    if (accessKey && path.startsWith("/v1/enclaves/")) headers["X-Cloister-Access-Key"] = accessKey;
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, body: data };
  }
  function errText(r) {
    const e = r.body && r.body.error;
    return e ? e.message + " (" + e.code + ", HTTP " + r.status + ")" : "HTTP " + r.status;
  }

  // ---- sign-in ----
  async function signIn(ev) {
    ev.preventDefault();
    const typed = $("token").value.trim();
    $("token").value = "";
    say("signin-error", "");
    if (!typed) { say("signin-error", "Type a token first."); $("token").focus(); return; }
    token = typed;
    let r;
    try { r = await api("GET", "/v1/enclaves?limit=500"); } catch (e) { r = { status: 0, body: null }; }
    if (r.status !== 200) {
      token = null;
      say("signin-error", "Sign-in failed: " + (r.status ? errText(r) : "the control plane did not answer"));
      $("token").focus();
      return;
    }
    show("signin", false);
    show("app", true);
    show("signout", true);
    show("who", true);
    // Only the token's id (clt_<id>_…), never its secret part.
    const id = /^(clt_[a-z0-9-]+)_/.exec(typed);
    say("who", id ? "Signed in (token " + id[1] + "_…)" : "Signed in");
    renderEnclaves(r.body);
    await loadHosts();
    $("enclaves-title").focus();
  }
  function signOut() {
    token = null;
    accessKey = "";
    $("access-key").value = "";
    current = null;
    following++;
    $("enclaves").tBodies[0].replaceChildren();
    $("hosts").tBodies[0].replaceChildren();
    show("app", false);
    show("tls", false);
    show("signout", false);
    show("who", false);
    show("signin", true);
    $("token").focus();
  }

  // ---- overview ----
  function renderEnclaves(body) {
    const tb = $("enclaves").tBodies[0];
    tb.replaceChildren();
    tlsButtons.clear();
    const items = (body && body.items) || [];
    say("enclaves-note", items.length ? "" : "No enclaves.");
    for (const e of items) {
      const tr = el("tr");
      tr.append(el("td", dash(e.name)), el("td", dash(e.id), "mono"), el("td", dash(e.state)),
                el("td", dash(e.host_id), "mono"), el("td", dash(e.memory_mib)), el("td", dash(e.cpus)));
      const td = el("td");
      const b = el("button", "Manage TLS");
      b.type = "button";
      b.setAttribute("aria-label", "Manage TLS for " + dash(e.name));
      b.addEventListener("click", () => openTls(e));
      tlsButtons.set(e.id, b);
      td.append(b);
      tr.append(td);
      tb.append(tr);
    }
    if (body && body.next) say("enclaves-note", "Showing the first " + items.length + " enclaves.");
  }
  async function loadHosts() {
    const tb = $("hosts").tBodies[0];
    tb.replaceChildren();
    let r;
    try { r = await api("GET", "/v1/hosts?limit=500"); } catch (e) { r = { status: 0, body: null }; }
    if (r.status === 403) { say("hosts-note", "Hosts are shown to admin tokens only."); show("hosts", false); return; }
    if (r.status !== 200) { say("hosts-note", "Could not list hosts: " + errText(r)); show("hosts", false); return; }
    show("hosts", true);
    const items = r.body.items || [];
    say("hosts-note", items.length ? "" : "No hosts.");
    for (const h of items) {
      const tr = el("tr");
      tr.append(el("td", dash(h.name)), el("td", dash(h.id), "mono"), el("td", dash(h.state)),
                el("td", dash(h.level)), el("td", dash(h.zone)), el("td", dash(h.enclaves)),
                el("td", dash(h.memory_free_mib)), el("td", dash(h.last_seen)));
      tb.append(tr);
    }
  }
  async function refresh() {
    let r;
    try { r = await api("GET", "/v1/enclaves?limit=500"); } catch (e) { r = { status: 0, body: null }; }
    if (r.status === 401) { signOut(); say("signin-error", "Signed out: " + errText(r)); return; }
    if (r.status === 200) renderEnclaves(r.body);
    else say("enclaves-note", "Could not list enclaves: " + errText(r));
    await loadHosts();
  }

  // ---- the TLS panel ----
  function policyText(p) {
    if (!p) return "—";
    const parts = ["mode " + dash(p.mode)];
    if (p.ports && p.ports.length) parts.push("ports " + p.ports.join(", "));
    if (p.ips && p.ips.length) parts.push("IPs " + p.ips.join(", "));
    if (p.adapters && p.adapters.length) parts.push("adapters " + p.adapters.join(", "));
    parts.push("insecure " + dash(p.insecure));
    parts.push(p.header ? "header " + p.header : "no header marking");
    return parts.join("; ");
  }
  function fillForm(p) {
    if (!p) return;
    const m = document.querySelector('input[name="mode"][value="' + CSS.escape(String(p.mode)) + '"]');
    if (m) m.checked = true;
    const i = document.querySelector('input[name="insecure"][value="' + CSS.escape(String(p.insecure)) + '"]');
    if (i) i.checked = true;
    $("ports").value = (p.ports || []).join(", ");
    $("ips").value = (p.ips || []).join(", ");
    $("adapters").value = (p.adapters || []).join(", ");
    $("header").value = p.header || "";
  }
  function renderStatus(s) {
    const c = s.certificate || s;
    const sans = c.sans || s.names || [];
    say("tls-name", dash(s.server_name || sans[0]));
    say("tls-state", dash(s.state));
    say("tls-subject", dash(c.subject));
    say("tls-issuer", dash(c.issuer));
    say("tls-expiry", dash(c.not_after || c.expires_at));
    say("tls-serial", dash(c.serial));
    say("tls-settings", policyText(s.policy));
    fillForm(s.policy);
    const notice = s.state === "needs_import"
      ? "This enclave's imported key was lost when its host restarted: import it again (cloister tls enable --import-cert --import-key), or press Enable to switch to a key issued by the control plane."
      : s.state === "reissuing" ? "The host lost this enclave's key (restart): a new key and certificate are being issued." : "";
    say("tls-notice", notice);
    show("tls-notice", !!notice);
  }
  function clearStatus() {
    for (const id of ["tls-name", "tls-state", "tls-subject", "tls-issuer", "tls-expiry", "tls-serial", "tls-settings"])
      say(id, "—");
    show("tls-notice", false);
  }
  async function loadTls(e) {
    let r;
    try { r = await api("GET", "/v1/enclaves/" + encodeURIComponent(e.id) + "/tls"); } catch (x) { r = { status: 0, body: null }; }
    if (current !== e) return null;
    if (r.status === 404 && r.body && r.body.error && r.body.error.message === "no such endpoint") {
      say("tls-availability", "This control plane does not serve TLS for enclaves yet (no /v1/enclaves/{id}/tls endpoint).");
      return null;
    }
    if (r.status !== 200) { say("tls-availability", "TLS status unavailable: " + errText(r)); return null; }
    say("tls-availability", "");
    renderStatus(r.body);
    return r.body;
  }
  async function openTls(e) {
    current = e;
    following++;
    accessKey = "";
    $("access-key").value = "";
    say("tls-title", "TLS for " + dash(e.name));
    say("tls-error", "");
    say("tls-job", "");
    say("tls-availability", "Loading…");
    clearStatus();
    renderSteps([], null);
    show("tls", true);
    $("tls-title").focus();
    const s = await loadTls(e);
    const job = s && (s.job || s.last_job);
    if (job && typeof job === "object") {
      renderSteps(job.steps || s.steps || [], job.state);
      if (job.state === "pending" || job.state === "running") follow(job.id);
    } else if (s && s.steps) {
      renderSteps(s.steps, null);
    }
  }
  function closeTls() {
    const e = current;
    current = null;
    following++;
    accessKey = "";
    $("access-key").value = "";
    show("tls", false);
    const b = e && tlsButtons.get(e.id);
    if (b) b.focus();
  }
  function listOf(s) { return s.split(",").map((x) => x.trim()).filter((x) => x.length); }
  function policyFromForm() {
    const mode = document.querySelector('input[name="mode"]:checked').value;
    const p = { mode, insecure: document.querySelector('input[name="insecure"]:checked').value };
    if (mode === "ports") {
      p.ports = listOf($("ports").value).map((x) => (/^[0-9]{1,5}$/.test(x) ? Number(x) : NaN));
      if (!p.ports.length || p.ports.some((n) => !(n >= 1 && n <= 65535)))
        throw new Error("Ports must be numbers from 1 to 65535, separated by commas.");
    }
    if (mode === "ips") {
      p.ips = listOf($("ips").value);
      if (!p.ips.length) throw new Error("List at least one IP address or CIDR.");
    }
    if (mode === "adapters") {
      p.adapters = listOf($("adapters").value);
      if (!p.adapters.length) throw new Error("List at least one adapter.");
    }
    const h = $("header").value.trim();
    p.header = h ? h : null;
    return p;
  }
  async function enable(ev) {
    ev.preventDefault();
    const e = current;
    if (!e) return;
    say("tls-error", "");
    accessKey = $("access-key").value;
    let p;
    try { p = policyFromForm(); } catch (x) { say("tls-error", x.message); return; }
    $("tls-enable").disabled = true;
    let r;
    try { r = await api("POST", "/v1/enclaves/" + encodeURIComponent(e.id) + "/tls", p); } catch (x) { r = { status: 0, body: null }; }
    $("tls-enable").disabled = false;
    if (current !== e) return;
    if (r.status === 404 && r.body && r.body.error && r.body.error.message === "no such endpoint") {
      say("tls-error", "Enable failed: this control plane does not serve TLS for enclaves yet.");
      return;
    }
    if (r.status !== 202 && r.status !== 200) { say("tls-error", "Enable failed: " + errText(r)); return; }
    const job = r.body && r.body.job;
    if (!job || !job.id) { say("tls-error", "Enable answered without a job."); return; }
    renderSteps(job.steps || [], job.state);
    follow(job.id);
  }

  // The six steps, each marked done (with its time and detail) once the
  // job has it; the first missing one is "in progress" or "failed".
  function renderSteps(steps, state) {
    const ol = $("tls-steps");
    ol.replaceChildren();
    const names = STEPS.slice();
    if (steps.length && steps[0].name === "key_imported") names[0] = "key_imported";
    for (const s of steps) if (!names.includes(s.name)) names.push(s.name);
    let gap = false;
    for (const n of names) {
      const s = steps.find((x) => x.name === n);
      const li = el("li");
      li.dataset.step = n;
      let mark;
      if (s) { mark = "done"; }
      else if (!gap && state === "failed") { mark = "failed"; gap = true; }
      else if (!gap && (state === "pending" || state === "running")) { mark = "active"; gap = true; }
      else { mark = "waiting"; gap = true; }
      li.className = "step " + mark;
      li.append(el("span", { done: "✔ done", failed: "✖ failed", active: "… in progress", waiting: "○ waiting" }[mark], "mark"),
                el("span", STEP_TEXT[n] || n, "name"));
      if (s && s.at) li.append(el("time", s.at));
      if (s && s.detail) li.append(el("span", s.detail, "detail"));
      ol.append(li);
    }
  }
  async function follow(jobId) {
    const mine = ++following;
    let seen = -1;
    for (;;) {
      let r;
      const n = Math.max(seen, 0);
      try {
        r = await api("GET", "/v1/jobs/" + encodeURIComponent(jobId) + "?wait=30&steps=" + n);
      } catch (x) { r = { status: 0, body: null }; }
      if (mine !== following) return;
      if (r.status === 429 || r.status === 503) { await new Promise((ok) => setTimeout(ok, 1000)); continue; }
      if (r.status !== 200) { say("tls-job", "Could not follow job " + jobId + ": " + (r.status ? errText(r) : "no answer")); return; }
      const j = r.body;
      const steps = j.steps || [];
      renderSteps(steps, j.state);
      say("tls-job", "Job " + j.id + ": " + j.state + (j.error ? " — " + j.error : ""));
      if (j.state === "succeeded" || j.state === "failed") {
        if (current) await loadTls(current);
        return;
      }
      if (steps.length === seen && !("steps" in j)) await new Promise((ok) => setTimeout(ok, 1000));
      seen = steps.length;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    $("refresh").addEventListener("click", refresh);
    $("tls-form").addEventListener("submit", enable);
    $("tls-close").addEventListener("click", closeTls);
    $("enclaves-title").tabIndex = -1;
    $("token").focus();
  });
})();
