#!/usr/bin/env bash
# control_flood.sh — the control plane holds under a connection flood, and
# every error it (or libevent under it) answers is JSON with the right status.
#
#   127.0.0.2 (.4-.8)  flood_client.py: silent TCP connections, ─┐
#                      TLS connections dripping a header          │
#   127.0.0.3          probe (per-address cap: another address) ──┼──► cloister-control
#   127.0.0.1          curl / probe with the admin token        ──┘   (port 0, temp dir,
#                                                                      restarted per phase)
# Phases: JSON errors; a busy port; header/body/idle timeouts and a held sync
# that outlives them; the per-address cap; eviction at the cap;
# the flood itself (liveness, descriptors, CPU, log growth; /healthz latency
# printed, not asserted); accept() failing with EMFILE; the descriptor
# limit at start.
source "$(dirname "$0")/control_lib.sh"
FLOOD=(python3 "$(cd "$(dirname "$0")/.." && pwd)/flood_client.py")
DOCS="$(cd "$(dirname "$0")/../.." && pwd)/docs/control.md"

port() { echo "${URL##*:}"; }
restart() { # restart [flags]: a fresh process on the same data directory
	if [ -n "$CTL_PID" ]; then kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=; fi
	ctl_start "$@"
}
FLOOD_PID= DRIP_PID=
stop_flood() {
	local p
	for p in $FLOOD_PID $DRIP_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	FLOOD_PID= DRIP_PID=
}
trap 'stop_flood; cleanup' EXIT
# st EXPR: a Python expression on the flood client's status file (as s).
st() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($1)" "${2:-$WORK/flood.json}" 2>/dev/null; }
st_true() { [ "$(st "$@")" = True ]; }
wait_for() { # wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }   # calc EXPR: floating point
is() { awk "BEGIN { exit !($1) }"; }                # is EXPR: true if EXPR holds
# the worker serves the connections (the supervisor and the monitor hold none)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$(ctl_worker)/stat"; }
nfds() { find "/proc/$(ctl_worker)/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# worker_nofile SOFT: sets the worker's soft descriptor limit (its hard limit
# stays). As the worker's own uid: changing another uid's limits needs
# CAP_SYS_RESOURCE, which a test runner (a container's root) may not have.
worker_nofile() {
	local w uid gid hard
	w=$(ctl_worker)
	uid=$(awk '/^Uid:/{print $2}' "/proc/$w/status") gid=$(awk '/^Gid:/{print $2}' "/proc/$w/status")
	hard=$(awk '/^Max open files/{print $5}' "/proc/$w/limits")
	[ "$1" = hard ] && set -- "$hard"
	setpriv --reuid="$uid" --regid="$gid" --clear-groups prlimit --pid "$w" --nofile="$1:$hard"
}

# rawjson STATUS CODE [HEADER: VALUE]: sends stdin over TLS as-is; the reply
# must be STATUS with exactly {"error":{"code":CODE,"message":"..."}} as
# application/json (and the header, if given).
rawjson() {
	"${FLOOD[@]}" raw --port "$(port)" >"$WORK/raw.out" || true
	python3 - "$1" "$2" "${3:-}" "$WORK/raw.out" <<'PY' || fail "raw reply: $(head -c 400 "$WORK/raw.out")"
import json, sys
want, code, hdr, path = sys.argv[1:5]
data = open(path, "rb").read()
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode().split("\r\n")
status = lines[0].split()[1]
headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
assert status == want, "status %s, want %s" % (status, want)
assert headers.get("content-type") == "application/json", headers
assert int(headers["content-length"]) == len(body), "content-length"
j = json.loads(body)
assert list(j) == ["error"] and sorted(j["error"]) == ["code", "message"], j
assert j["error"]["code"] == code and isinstance(j["error"]["message"], str) and j["error"]["message"], j
if hdr:
    k, v = hdr.split(": ", 1)
    assert headers.get(k.lower()) == v, (hdr, headers)
PY
}
# jsonshape CODE: $BODY (from req/as) is exactly the error shape with CODE.
jsonshape() {
	[ "$(jget 'sorted(j) == ["error"] and sorted(j["error"]) == ["code", "message"] and j["error"]["code"]')" = "$1" ] ||
		fail "not the error shape with $1: $BODY"
}

# ---- --help and docs/control.md agree ----
for flag in $("$CTL_BIN" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -- "$flag" "$DOCS" || fail "flag $flag (in --help) missing from docs/control.md"
done

# ---- JSON errors (default limits) ----
ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
grep -q 'limits fd_soft=[0-9]* fd_hard=[0-9]* max_connections=[0-9]* max_connections_per_ip=128 header_timeout_s=10' \
	"$WORK/ctl.err" || fail "no limits line in the log"
big=$(head -c 20000 /dev/zero | tr '\0' a)
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$big" | rawjson 431 headers_too_large
printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$big" | rawjson 431 headers_too_large
printf 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n' |
	rawjson 413 too_large
printf 'PATCH /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | rawjson 405 method_not_allowed "Allow: GET"
printf 'TRACE /v1/tenants HTTP/1.1\r\nHost: x\r\n\r\n' | rawjson 405 method_not_allowed "Allow: GET, POST"
# A method no path implements (evhttp does not know it): 501, whatever the path.
printf 'BREW /v1/tenants HTTP/1.1\r\nHost: x\r\n\r\n' | rawjson 501 not_implemented
printf 'BREW /nope HTTP/1.1\r\nHost: x\r\n\r\n' | rawjson 501 not_implemented
printf 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' | rawjson 404 not_found
printf 'garbage\r\n\r\n' | rawjson 400 invalid
printf 'GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n' | rawjson 400 invalid
printf 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n' | rawjson 400 invalid
printf 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 2\r\n\r\n{}' | rawjson 417 invalid
req DELETE /v1/tenants; expect 405 method_not_allowed; jsonshape method_not_allowed
curl -sS --cacert "$CA" -X DELETE -o /dev/null -D "$WORK/h" "$URL/v1/tenants"
grep -qi '^Allow: GET, POST' "$WORK/h" || fail "405 without Allow: $(cat "$WORK/h")"
req POST /v1/tenants -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/plain' --data-binary '{"name":"t1"}'
expect 415 unsupported_media_type; jsonshape unsupported_media_type
req POST /v1/tenants -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-binary 'name=t1'
expect 415 unsupported_media_type; jsonshape unsupported_media_type
as "$ADMIN" POST /v1/uploads "{\"size\":10,\"sha384\":\"$(printf 0123456789 | sha384sum | cut -d' ' -f1)\"}"
expect 201; UP=$(jget 'j["id"]')
req PUT "/v1/uploads/$UP/parts/0" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary 0123456789
expect 415 unsupported_media_type; jsonshape unsupported_media_type
[ "$(db 'SELECT COUNT(*) FROM tenants')" = 1 ] || fail "a refused request created a tenant"
# plain HTTP on the HTTPS port: a short answer saying so
PLAIN=$(curl -sS -w '\n%{http_code}' "http://127.0.0.1:$(port)/healthz") || fail "plain HTTP: no answer"
[ "${PLAIN##*$'\n'}" = 400 ] && grep -q 'speaks HTTPS' <<<"$PLAIN" || fail "plain HTTP answer: $PLAIN"
req GET /healthz; expect 200

# ---- a busy port ----
set +e
"$CTL_BIN" --data "$WORK/data2" --listen "127.0.0.1:$(port)" >/dev/null 2>"$WORK/busy.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a second control plane on a busy port exited 0"
grep -q "cannot listen on 127.0.0.1:$(port): address in use" "$WORK/busy.err" || fail "busy port: $(cat "$WORK/busy.err")"
req GET /healthz; expect 200

# ---- timeouts: silent and dripping connections, a slow body, an idle keep-alive ----
restart --header-timeout-s 2 --body-timeout-s 3 --idle-timeout-s 2 --poll-timeout-ms 6000
"${FLOOD[@]}" flood --port "$(port)" --bind 127.0.0.2 --silent 100 --drip 20 --drip-interval 0.5 \
	--status "$WORK/flood.json" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 20 st_true 's["closed_by_server"]["silent"]["n"] == 100 and s["closed_by_server"]["drip"]["n"] == 20' ||
	fail "silent/dripping connections not all closed by the server: $(cat "$WORK/flood.json")"
stop_flood
echo "header timeout 2 s: $(st 's["closed_by_server"]')"
# closed by the header timeout: not before it (the dripping ones were active all along), not long after
st_true 'min(s["closed_by_server"][k]["min"] for k in ("silent", "drip")) >= 1.95' || fail "closed early: $(cat "$WORK/flood.json")"
st_true 'max(s["closed_by_server"][k]["max"] for k in ("silent", "drip")) <= 5' || fail "closed late: $(cat "$WORK/flood.json")"
# timed_raw: seconds until the server closes a connection given stdin
timed_raw() { local t0=$EPOCHREALTIME; "${FLOOD[@]}" raw --port "$(port)" >"$WORK/raw.out" || true; calc "$EPOCHREALTIME - $t0"; }
T=$(printf 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na' | timed_raw)
echo "body timeout 3 s: closed after $T s"
is "$T >= 2.9 && $T < 6" || fail "slow body closed after $T s (body timeout 3 s)"
T=$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | timed_raw)
echo "idle timeout 2 s: closed after $T s"
grep -q '^HTTP/1.1 200' "$WORK/raw.out" || fail "keep-alive request not answered: $(head -c 200 "$WORK/raw.out")"
is "$T >= 1.9 && $T < 5" || fail "idle keep-alive closed after $T s (idle timeout 2 s)"
as "$ADMIN" GET /metrics
for phase in header body idle; do
	grep -q "^cloister_connections_timed_out_total{phase=\"$phase\"} [1-9]" <<<"$BODY" || fail "no $phase timeout counted"
done
# a held sync outlives the header and idle timeouts: it is being served
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0,"enclaves":[],"results":[]}'; expect 200
GEN=$(jget 'j["generation"]')
t0=$SECONDS
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":5000,\"enclaves\":[],\"results\":[]}"
expect 200
[ $((SECONDS - t0)) -ge 4 ] || fail "the sync was not held ($((SECONDS - t0)) s)"

# ---- per-address cap: a full address is refused, another one still gets in ----
restart --max-connections-per-ip 8 --header-timeout-s 60
"${FLOOD[@]}" flood --port "$(port)" --bind 127.0.0.2 --silent 20 --status "$WORK/flood.json" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 20 st_true 's["opened"]["silent"] == 20 and s["closed_by_server"]["silent"]["n"] == 12' ||
	fail "per-address cap: $(cat "$WORK/flood.json")"
st_true 's["open"]["silent"] == 8 and s["closed_by_server"]["silent"]["max"] < 5' || fail "per-address cap: $(cat "$WORK/flood.json")"
"${FLOOD[@]}" probe --port "$(port)" --bind 127.0.0.3 --count 3 >"$WORK/probe.out" ||
	fail "another address refused: $(cat "$WORK/probe.out")"
"${FLOOD[@]}" probe --port "$(port)" --bind 127.0.0.2 --count 1 --timeout 5 >"$WORK/probe.out" &&
	fail "a 9th connection from the full address was served"
as "$ADMIN" GET /metrics
grep -q '^cloister_connections_refused_total{reason="per_address"} [1-9]' <<<"$BODY" || fail "per-address refusals not counted"
stop_flood

# ---- eviction at the cap: silent connections go before one that is sending ----
restart --max-connections 16 --max-connections-per-ip 16 --header-timeout-s 60
"${FLOOD[@]}" flood --port "$(port)" --bind 127.0.0.2 --drip 1 --drip-interval 0.5 \
	--status "$WORK/drip.json" >"$WORK/drip.out" 2>&1 &
DRIP_PID=$!
wait_for 20 st_true 's["open"]["drip"] == 1' "$WORK/drip.json" || fail "dripper: $(cat "$WORK/drip.json")"
"${FLOOD[@]}" flood --port "$(port)" --bind 127.0.0.4 --silent 15 --status "$WORK/flood.json" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 20 st_true 's["open"]["silent"] == 15' || fail "silent: $(cat "$WORK/flood.json")"
wait_for 20 test "$(nfds)" -ge 16 || fail "the table is not full ($(nfds) descriptors)"
"${FLOOD[@]}" probe --port "$(port)" --count 3 >"$WORK/probe.out" || fail "newcomer at the cap: $(cat "$WORK/probe.out")"
wait_for 10 st_true 's["closed_by_server"]["silent"]["n"] >= 1' || fail "no silent connection evicted: $(cat "$WORK/flood.json")"
st_true 's["open"]["drip"] == 1 and s["closed_by_server"]["drip"]["n"] == 0' "$WORK/drip.json" ||
	fail "the (older) dripping connection was evicted before silent ones: $(cat "$WORK/drip.json")"
stop_flood

# ---- the flood ----
# From six addresses, so that the per-address cap (256 each) does not bound
# it: the global cap and eviction must. The header timeout (30 s) outlasts
# the checks, so only eviction can let another address in. Each connection
# is reopened 2 s after the server closes it: several hundred new
# connections a second, so the table turns over every half second or so.
MAX=256
FLOODERS=127.0.0.2,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8
restart --max-connections $MAX --max-connections-per-ip $MAX --header-timeout-s 30
"${FLOOD[@]}" flood --port "$(port)" --bind $FLOODERS --silent 1500 --drip 100 --drip-interval 2 --reopen \
	--reopen-delay 2 --status "$WORK/flood.json" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 60 st_true 's["opened"]["silent"] >= 1500 and s["opened"]["drip"] + s["failed"]["drip"] >= 100' ||
	fail "the flood did not start: $(cat "$WORK/flood.json" 2>/dev/null)"
wait_for 20 test "$(nfds)" -ge $MAX || fail "the flood did not fill the table ($(nfds) descriptors)"
LOG0=$(stat -c %s "$WORK/ctl.err")
CPU0=$(cpu_ticks)
T0=$EPOCHREALTIME
# liveness from another address, within a deadline, during the flood
wait_for 10 "${FLOOD[@]}" probe --port "$(port)" --count 1 || fail "/healthz did not answer during the flood"
wait_for 10 "${FLOOD[@]}" probe --port "$(port)" --count 1 --path /v1/tenants --token "$ADMIN" ||
	fail "an authenticated request did not answer during the flood"
"${FLOOD[@]}" probe --port "$(port)" --count 20 >"$WORK/lat.out" || true
echo "/healthz during the flood (ms, new TLS connection each): $(tail -n 1 "$WORK/lat.out")"
FDMAX=0
for _ in $(seq 1 20); do n=$(nfds); [ "$n" -gt "$FDMAX" ] && FDMAX=$n; sleep 0.25; done
CPU1=$(cpu_ticks)
T1=$EPOCHREALTIME
LOG1=$(stat -c %s "$WORK/ctl.err")
HZ=$(getconf CLK_TCK)
CORE=$(calc "($CPU1 - $CPU0) / $HZ / ($T1 - $T0)")
echo "flood: $(st 's["opened"]') opened, max descriptors $FDMAX (cap $MAX), cpu $CORE core over $(calc "$T1 - $T0") s, log +$((LOG1 - LOG0)) bytes"
[ "$FDMAX" -le $((MAX + 32 + 64)) ] || fail "$FDMAX descriptors open (cap $MAX + 32 closing + 64 reserve)"
is "$CORE < 0.5" || fail "the control plane used $CORE of a core during the flood"
[ $((LOG1 - LOG0)) -lt 131072 ] || fail "the log grew by $((LOG1 - LOG0)) bytes during the flood"
grep -q 'suppressed [0-9]* similar lines' "$WORK/ctl.err" || fail "no rate-limited log line"
evicted() { curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" | grep '^cloister_connections_evicted_total [1-9]'; }
wait_for 10 evicted || fail "no eviction counted"
stop_flood
wait_for 20 test "$(nfds)" -lt 64 || fail "connections not released after the flood ($(nfds) descriptors)"

# ---- accept() failing with EMFILE: paused, not spun ----
restart
N=$(nfds)
worker_nofile $((N + 2))
"${FLOOD[@]}" flood --port "$(port)" --bind 127.0.0.2 --silent 50 --status "$WORK/flood.json" >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
wait_for 20 st_true 's["opened"]["silent"] == 50' || fail "emfile flood: $(cat "$WORK/flood.json")"
wait_for 10 test "$(nfds)" -ge $((N + 2)) || fail "the lowered descriptor limit was not reached ($(nfds))"
CPU0=$(cpu_ticks); T0=$EPOCHREALTIME; LOG0=$(stat -c %s "$WORK/ctl.err")
sleep 3 # a resource window (CPU over 3 s), not a wait for a condition
CPU1=$(cpu_ticks); T1=$EPOCHREALTIME; LOG1=$(stat -c %s "$WORK/ctl.err")
CORE=$(calc "($CPU1 - $CPU0) / $HZ / ($T1 - $T0)")
echo "EMFILE: cpu $CORE core, log +$((LOG1 - LOG0)) bytes over 3 s"
is "$CORE < 0.2" || fail "accept() failures burnt $CORE of a core"
[ $((LOG1 - LOG0)) -lt 16384 ] || fail "accept() failures grew the log by $((LOG1 - LOG0)) bytes"
grep -q 'accept failed, not accepting for 250 ms: Too many open files' "$WORK/ctl.err" || fail "no accept() failure logged"
worker_nofile hard
wait_for 20 "${FLOOD[@]}" probe --port "$(port)" --count 1 || fail "/healthz after the limit was raised again"
as "$ADMIN" GET /metrics
grep -q '^cloister_accept_pauses_total{reason="descriptors"} [1-9]' <<<"$BODY" || fail "pauses not counted"
stop_flood

# ---- the descriptor limit at start: soft raised to hard, the cap fitted under it ----
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
(ulimit -Sn 256 && exec "$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0 >"$WORK/l1.out" 2>"$WORK/l1.err") &
CTL_PID=$!
wait_for 20 grep -q '^ca: ' "$WORK/l1.out" || fail "no start under ulimit -Sn 256: $(cat "$WORK/l1.err")"
grep -q "limits fd_soft=$(ulimit -Hn) " "$WORK/l1.err" || fail "soft limit not raised: $(grep limits "$WORK/l1.err")"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
(ulimit -n 300 && exec "$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0 --max-connections 1000 >"$WORK/l2.out" 2>"$WORK/l2.err") &
CTL_PID=$!
wait_for 20 grep -q '^ca: ' "$WORK/l2.out" || fail "no start under ulimit -n 300: $(cat "$WORK/l2.err")"
grep -q 'limits fd_soft=300 fd_hard=300 max_connections=204 ' "$WORK/l2.err" || fail "cap not fitted: $(grep limits "$WORK/l2.err")"
grep -q 'max-connections lowered' "$WORK/l2.err" || fail "no warning for the lowered cap"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
set +e
(ulimit -n 100 && exec "$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0) >/dev/null 2>"$WORK/l3.err"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q 'fewer than 16 connections' "$WORK/l3.err" || fail "ulimit -n 100: $(cat "$WORK/l3.err")"
echo "control_flood: ok"
