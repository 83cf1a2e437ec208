#!/usr/bin/env bash
# console.sh — the web console (/console/, docs/api/console.md) in a real
# browser: Debian's chromium driven by puppeteer-core
# (tests/browser/console_test.js, installed by scripts/install-deps.sh).
#
#   chromium (puppeteer-core) ──HTTPS──► cloister-control (port 0, temp dir) ◄── curl: fake host h1
#
# curl checks what the control plane serves (headers, bytes, 404 for every
# other name, no path traversal); the browser signs in with a wrong token, a
# tenant's and the admin's, reads the overview, reaches Enable with the
# keyboard alone, and sees no console error and no CSP violation (and an
# inline script blocked). Enabling TLS through the page needs the TLS API
# (POST/GET /v1/enclaves/{id}/tls) and network enclaves: when this control
# plane has them, the page enables TLS and every step must appear; when not,
# the script says why that part did not run. The same flow then runs against
# a stand-in of that API (tests/browser/mock_tls_api.py), so the page's half
# of it is tested either way.
source "$(dirname "$0")/control_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER_DIR="$ROOT/tests/browser"
command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh)"
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -x "$CHROMIUM" ] || fail "chromium is not installed (scripts/install-deps.sh)"
[ -f "$BROWSER_DIR/node_modules/puppeteer-core/package.json" ] ||
	fail "puppeteer-core is not installed in tests/browser (scripts/install-deps.sh runs npm ci there)"

# --- the files, statically: nothing inline, nothing that parses data as markup
for f in "$ROOT"/console/*.js; do
	code=$(grep -nvE '^\s*//' "$f") # comments may name what the code must not do
	if grep -E 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\("' <<<"$code"; then
		fail "$(basename "$f") turns text into markup or code"
	fi
	grep -E 'localStorage|sessionStorage|document\.cookie' <<<"$code" && fail "$(basename "$f") stores something"
done
H="$ROOT/console/index.html"
grep -niE '<script[^>]*>[^<]|<script( [^>]*)?>$|<style|style=|javascript:|\son[a-z]+=' "$H" && fail "index.html has inline script or style"
grep -q '<script src="console.js"' "$H" || fail "index.html does not load console.js"

ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
HOSTPORT=${URL#https://}

# --- what the control plane serves
CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
served() { # served PATH FILE TYPE: 200, the file's bytes, its type, the CSP, nosniff
	curl -sS --cacert "$CA" -D "$WORK/h" -o "$WORK/b" "$URL$1" || fail "curl $1"
	head -1 "$WORK/h" | grep -q ' 200 ' || fail "$1: $(head -1 "$WORK/h")"
	cmp -s "$WORK/b" "$2" || fail "$1 is not the bytes of $2"
	grep -qi "^content-type: $3"$'\r'"\$" "$WORK/h" || fail "$1: content type $(grep -i '^content-type' "$WORK/h")"
	grep -qF "Content-Security-Policy: $CSP"$'\r' "$WORK/h" || fail "$1: CSP: $(grep -i '^content-security' "$WORK/h")"
	grep -qi '^x-content-type-options: nosniff' "$WORK/h" || fail "$1: no nosniff"
	grep -qi '^set-cookie' "$WORK/h" && fail "$1 sets a cookie"
	return 0
}
served /console/ "$ROOT/console/index.html" 'text/html; charset=utf-8'
served /console/index.html "$ROOT/console/index.html" 'text/html; charset=utf-8'
served /console/console.js "$ROOT/console/console.js" 'text/javascript; charset=utf-8'
served /console/console.css "$ROOT/console/console.css" 'text/css; charset=utf-8'
served /console/favicon.svg "$ROOT/console/favicon.svg" 'image/svg+xml'
served '/console/console.js?x=1' "$ROOT/console/console.js" 'text/javascript; charset=utf-8'
curl -sS --cacert "$CA" -D "$WORK/h" -o /dev/null "$URL/console" || fail "curl /console"
head -1 "$WORK/h" | grep -q ' 301 ' && grep -qi '^location: /console/'$'\r' "$WORK/h" || fail "/console does not redirect to /console/"
# Any other name is 404, however it is spelled; no file outside the set is reachable.
for p in /console/nope.js /console/../healthz /console/..%2f..%2fetc%2fpasswd /console/%2e%2e /console/.. \
	/console/./index.html /console/index.html/x /console/INDEX.HTML /console/console.js%00 /console/%63onsole.js \
	'/console/..\\ca.pem' /console/ca.pem /console/data/ca.pem; do
	code=$(curl -sS --cacert "$CA" --path-as-is -o "$WORK/b" -w '%{http_code}' "$URL$p") || fail "curl $p"
	if [ "$p" = /console/../healthz ]; then continue; fi # curl may not send it as is; below
	[ "$code" = 404 ] || fail "$p answered $code: $(head -c 200 "$WORK/b")"
	grep -q 'BEGIN CERTIFICATE\|root:' "$WORK/b" && fail "$p served a file from disk"
done
# Sent raw: the request line's path is exactly /console/../ca.pem.
python3 - "$HOSTPORT" "$CA" <<'PY' || fail "a raw ../ request was not refused"
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
for path in ("/console/../ca.pem", "/console/../../../../etc/passwd", "/console/%2e%2e/ca.pem"):
    s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    status = data.split(b"\r\n", 1)[0]
    if b" 404 " not in status or b"BEGIN CERTIFICATE" in data or b"root:" in data:
        print("raw GET %s -> %r" % (path, data[:200])); sys.exit(1)
PY
for m in POST PUT DELETE; do
	code=$(curl -sS --cacert "$CA" -X "$m" -o /dev/null -w '%{http_code}' "$URL/console/index.html") || fail "curl $m"
	[ "$code" = 405 ] || fail "$m /console/index.html answered $code"
done
req GET /console/ -H "Authorization: Bearer garbage"; expect 200 # the files need no token

# --- a tenant, a fake host, an enclave on it (control_api.sh's way)
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"web\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2,"zone":"z1"}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0,"enclaves":[],"results":[],"capabilities":'"$CAPS"'}'
expect 200; GEN=$(jget 'j["generation"]')
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
E='"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"'
# A network enclave when this control plane has them (guestnet); else a plain one.
TLS_WHY=
as "$TA" POST /v1/enclaves '{"name":"web",'"$E"',"network":true}'
if [ "$STATUS" = 202 ]; then
	NAME=web
else
	TLS_WHY="this control plane has no network enclaves (POST /v1/enclaves with \"network\": $STATUS $(jget 'j["error"]["message"]'))"
	as "$TA" POST /v1/enclaves '{"name":"web",'"$E"'}'; expect 202; NAME=web
fi
EID=$(jget 'j["enclave"]["id"]'); KEY=$(jget 'j["access_key"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[]}"; expect 200; GEN=$(jget 'j["generation"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}]}"
expect 200
as "$TA" GET "/v1/enclaves/$EID"; expect 200; [ "$(jget 'j["state"]')" = running ] || fail "enclave not running: $BODY"

# --- the TLS API: present, or why the enable flow cannot run here
req GET "/v1/enclaves/$EID/tls" -H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $KEY"
if [ "$STATUS" = 404 ] && [ "$(jget 'j["error"]["message"]')" = "no such endpoint" ]; then
	TLS_WHY="the control plane has no GET/POST /v1/enclaves/{id}/tls route (the TLS job API is not merged)"
fi
FAKE_PID=
if [ -z "$TLS_WHY" ]; then
	# The host's half of the job, as a fake host: tests/browser/fake_tls_host.py.
	python3 "$BROWSER_DIR/fake_tls_host.py" "$URL" "$CA" "$HID" "$HT" "$GEN" "$EID" >"$WORK/fakehost.log" 2>&1 &
	FAKE_PID=$!
	CONSOLE_TLS=run
else
	echo "console: the TLS enable flow through the page did NOT run: $TLS_WHY"
	CONSOLE_TLS="$TLS_WHY"
fi

# --- the browser. The only certificate error chromium ignores is for this
# server's key (its SPKI hash), not for any origin.
SPKI=$(openssl s_client -connect "$HOSTPORT" -CAfile "$CA" </dev/null 2>/dev/null | openssl x509 -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ -n "$SPKI" ] || fail "could not read the server's key"
rc=0
CONSOLE_URL="$URL/console/" CONSOLE_SPKI="$SPKI" CONSOLE_TOKEN="$ADMIN" CONSOLE_TENANT_TOKEN="$TA" \
	CONSOLE_ENCLAVE="$NAME" CONSOLE_HOST=h1 CONSOLE_TLS="$CONSOLE_TLS" CONSOLE_ACCESS_KEY="$KEY" \
	CONSOLE_SHOT="${CONSOLE_SHOT:-$WORK/console.png}" CHROMIUM="$CHROMIUM" HOME="$WORK" \
	timeout 300 node "$BROWSER_DIR/console_test.js" || rc=$?
if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; fi
if [ "$rc" != 0 ]; then
	[ -f "$WORK/fakehost.log" ] && tail -n 20 "$WORK/fakehost.log"
	fail "the browser test failed"
fi
grep -q "$ADMIN" "$WORK/ctl.err" && fail "the admin token is in the log"

# --- the page's enable flow against the contract's API shape, now: a stand-in
# API (tests/browser/mock_tls_api.py, plain HTTP on 127.0.0.1) serves console/
# and one enclave whose tls_enable job gains a step every 0.3 s. The same
# browser test enables TLS by keyboard and must see all six steps appear.
python3 "$BROWSER_DIR/mock_tls_api.py" "$ROOT/console" >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
deadline=$((SECONDS + 20))
until grep -q '^port: ' "$WORK/mock.out"; do
	kill -0 "$MOCK_PID" 2>/dev/null || { cat "$WORK/mock.err"; fail "the stand-in API exited"; }
	[ $SECONDS -lt $deadline ] || fail "the stand-in API did not start"
	sleep 0.05
done
MOCK_PORT=$(awk '/^port: /{print $2}' "$WORK/mock.out")
rc=0
CONSOLE_URL="http://127.0.0.1:$MOCK_PORT/console/" CONSOLE_SPKI="$SPKI" CONSOLE_TOKEN=admin CONSOLE_TENANT_TOKEN=tenant \
	CONSOLE_ENCLAVE=web CONSOLE_HOST=h1 CONSOLE_TLS=run CONSOLE_ACCESS_KEY=clk_mock CONSOLE_SHOT="$WORK/console-mock.png" \
	CHROMIUM="$CHROMIUM" HOME="$WORK" timeout 300 node "$BROWSER_DIR/console_test.js" || rc=$?
kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true
[ "$rc" = 0 ] || { cat "$WORK/mock.err"; fail "the browser test against the stand-in TLS API failed"; }
grep -qx 'enable: {"header": null, "insecure": "reject", "mode": "all"}' "$WORK/mock.out" ||
	fail "the page did not send the policy object: $(cat "$WORK/mock.out")"
echo "console: ok"
