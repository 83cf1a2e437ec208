#!/usr/bin/env python3
"""mock_tls_api.py CONSOLE_DIR — serves console/ and a stand-in of the TLS API
of /work/wt/TLS-CONTRACT.md (docs/tls.md "Credentials: the job and its
steps") on 127.0.0.1, an ephemeral port printed as "port: N".

For tests/integration/console.sh: it lets the page's enable flow (POST
/v1/enclaves/{id}/tls -> 202 {"job"}, then GET /v1/jobs/{id}?wait=S&steps=N
answered as soon as the job has more than N steps) run in chromium before the
control plane serves that API; the real control plane's run is the other half
of the test. Tokens: "admin" (sees hosts), "tenant" (403 on hosts); anything
else is 401. Step details carry markup, which the page must show as text.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = sys.argv[1]
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
TYPES = {"html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
         "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}
STEPS = ["key_generated", "certificate_requested", "certificate_issued", "delivered", "acknowledged", "enabled"]
ENC = {"id": "enc-mock0000000000000001", "name": "web", "state": "running", "host_id": "host-mock000000000000001",
       "memory_mib": 64, "cpus": 1}
lock = threading.Lock()
job = {"start": None, "policy": None, "key": None}


def steps_now():
    """One more step every 0.3 s after the POST."""
    with lock:
        if job["start"] is None:
            return []
        n = min(len(STEPS), int((time.time() - job["start"]) / 0.3))
    return [{"name": s, "at": "2026-12-07T12:00:0%dZ" % i, "detail": "<b>step %d</b>" % i}
            for i, s in enumerate(STEPS[:n])]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj, ctype="application/json"):
        b = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(b)

    def error(self, code, name, msg):
        self.reply(code, {"error": {"code": name, "message": msg}})

    def who(self):
        t = self.headers.get("Authorization", "")
        if t in ("Bearer admin", "Bearer tenant"):
            return t[7:]
        self.error(401, "unauthorized", "missing or invalid bearer token")
        return None

    def do_GET(self):
        u = urlparse(self.path)
        p, q = u.path, parse_qs(u.query)
        if p.startswith("/console/"):
            name = p[len("/console/"):] or "index.html"
            f = os.path.join(ROOT, name)
            if "/" in name or not os.path.isfile(f):
                return self.error(404, "not_found", "no such console file")
            with open(f, "rb") as fh:
                return self.reply(200, fh.read(), TYPES[name.rsplit(".", 1)[1]])
        who = self.who()
        if not who:
            return
        if p == "/v1/enclaves":
            return self.reply(200, {"items": [ENC], "next": None})
        if p == "/v1/hosts":
            if who != "admin":
                return self.error(403, "forbidden", "admin only")
            return self.reply(200, {"items": [{"id": ENC["host_id"], "name": "h1", "state": "ready", "level": "software",
                                               "zone": "z1", "enclaves": 1, "memory_free_mib": 960,
                                               "last_seen": "2026-12-07T12:00:00Z"}], "next": None})
        if p == "/v1/enclaves/%s/tls" % ENC["id"]:
            done = len(steps_now()) == len(STEPS)
            st = {"state": "enabled" if done else ("enabling" if job["start"] else "disabled"), "policy": job["policy"]}
            if done:
                st["certificate"] = {"subject": "CN=web.acme.cloister.test", "issuer": "CN=Cloister CA",
                                     "not_after": "2027-01-06T12:00:00Z", "serial": "5a1e",
                                     "sans": ["web.acme.cloister.test"]}
            return self.reply(200, st)
        if p == "/v1/jobs/job-mock000000000000001":
            n = int(q.get("steps", ["0"])[0])
            deadline = time.time() + min(30, int(q.get("wait", ["0"])[0]))
            while len(steps_now()) <= n and len(steps_now()) < len(STEPS) and time.time() < deadline:
                time.sleep(0.05)
            s = steps_now()
            return self.reply(200, {"id": "job-mock000000000000001", "kind": "tls_enable", "enclave_id": ENC["id"],
                                    "state": "succeeded" if len(s) == len(STEPS) else "running", "error": None,
                                    "steps": s})
        self.error(404, "not_found", "no such endpoint")

    def do_POST(self):
        if not self.who():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path != "/v1/enclaves/%s/tls" % ENC["id"]:
            return self.error(404, "not_found", "no such endpoint")
        if self.headers.get("Content-Type") != "application/json":
            return self.error(415, "unsupported_media_type", "application/json only")
        if self.headers.get("X-Cloister-Access-Key") != "clk_mock":
            return self.error(403, "forbidden", "the access key is required")
        if body.get("mode") not in ("all", "ports", "ips", "adapters", "auto") or \
                body.get("insecure") not in ("allow", "reject"):
            return self.error(400, "invalid", "bad policy")
        with lock:
            job.update(start=time.time(), policy=body)
        print("enable: " + json.dumps(body, sort_keys=True), flush=True)
        self.reply(202, {"job": {"id": "job-mock000000000000001", "kind": "tls_enable", "state": "pending",
                                 "steps": []}})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port: %d" % server.server_address[1], flush=True)
server.serve_forever()
