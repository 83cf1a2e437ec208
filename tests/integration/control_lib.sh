# control_lib.sh — helpers for the control-plane integration tests (sourced).
# Starts cloister-control from $BUILD/bin on an ephemeral port in a temp dir
# and talks to it with curl over HTTPS (--cacert). Not a test by itself.
# Run directly (tests/run.sh runs every *.sh), it has nothing to check.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then echo "helpers for control_*.sh"; exit 0; fi
set -euo pipefail
: "${BUILD:?set BUILD to the build directory}"
CTL_BIN="$BUILD/bin/cloister-control"
[ -x "$CTL_BIN" ] || { echo "missing $CTL_BIN"; exit 1; }
WORK=$(mktemp -d /tmp/cloister-ctl-test.XXXXXX)
CTL_PID=
cleanup() {
	if [ -n "$CTL_PID" ]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$WORK/ctl.err" ] && tail -n 20 "$WORK/ctl.err"; exit 1; }

# ctl_start [extra args]: starts the server, waits (deadline 20 s) for its
# "ca:" line; sets URL, CA, CTL_PID; appends stdout to $WORK/ctl.out.
ctl_start() {
	local a prev=
	CTL_POLL_MS=20000 # the server's default --poll-timeout-ms
	for a in "$@"; do [ "$prev" = --poll-timeout-ms ] && CTL_POLL_MS=$a; prev=$a; done
	: >"$WORK/ctl.out.cur"
	"$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0 "$@" >"$WORK/ctl.out.cur" 2>>"$WORK/ctl.err" &
	CTL_PID=$!
	local deadline=$((SECONDS + 20))
	until grep -q '^ca: ' "$WORK/ctl.out.cur"; do
		kill -0 "$CTL_PID" 2>/dev/null || fail "cloister-control exited during startup"
		[ $SECONDS -lt $deadline ] || fail "cloister-control did not start"
		sleep 0.05
	done
	URL=$(awk '/^listening: /{print $2}' "$WORK/ctl.out.cur")
	CA=$(awk '/^ca: /{print $2}' "$WORK/ctl.out.cur")
	cat "$WORK/ctl.out.cur" >>"$WORK/ctl.out"
}

# ctl_parts: the supervisor's pid and its parts' (monitor, worker): a
# signal meant to stop "the control plane" (SIGSTOP/SIGCONT) goes to all of them.
ctl_parts() { echo "$CTL_PID" $(pgrep -P "$CTL_PID" || true); }
# ctl_worker: the pid of the worker (cl-worker), which serves the connections.
ctl_worker() { pgrep -P "$CTL_PID" -x cl-worker; }
ctl_kill9() { kill -9 "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=; }

# json_ct ARGS...: prints -H 'Content-Type: application/json' when the curl
# arguments send a body (-d/--data*) without naming a Content-Type: the API
# answers 415 to a JSON endpoint given curl's default form type.
json_ct() {
	local a body=0
	for a in "$@"; do
		case "$a" in -d | --data*) body=1 ;; [Cc]ontent-[Tt]ype:*) return 0 ;; esac
	done
	[ $body = 1 ] && printf '%s\n' -H 'Content-Type: application/json'
	return 0
}
# req METHOD PATH [curl args...]: sets STATUS and BODY (REQ_OUT=file saves the body there instead).
req() {
	local m=$1 p=$2 ct; shift 2
	mapfile -t ct < <(json_ct "$@")
	BODY=$(curl -sS --cacert "$CA" -X "$m" -o "${REQ_OUT:--}" -w '\n%{http_code}' "${ct[@]}" "$@" "$URL$p") || fail "curl $m $p"
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
# as TOKEN METHOD PATH [json]: authenticated JSON request.
as() {
	local t=$1 m=$2 p=$3
	if [ $# -ge 4 ]; then req "$m" "$p" -H "Authorization: Bearer $t" -H 'Content-Type: application/json' --data-binary "$4"
	else req "$m" "$p" -H "Authorization: Bearer $t"; fi
}
# jget EXPR: evaluates a Python expression on the JSON in $BODY (as j).
jget() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print($1)" <<<"$BODY"; }
expect() { # expect STATUS [error-code]
	[ "$STATUS" = "$1" ] || fail "expected $1 got $STATUS: $BODY"
	if [ $# -ge 2 ]; then [ "$(jget 'j["error"]["code"]')" = "$2" ] || fail "expected error $2: $BODY"; fi
}

# sync_waiters: prints how many host syncs the server holds (/metrics).
sync_waiters() {
	local b s
	b=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics") || fail "GET /metrics"
	s=$(awk '/^cloister_sync_waiters /{print $2}' <<<"$b")
	[ -n "$s" ] || fail "no cloister_sync_waiters in /metrics"
	echo "$s"
}
# held_sync HOST TOKEN BODY: sends the sync BODY (JSON with a "wait_ms") in
# the background and returns once the server holds it (one more held sync
# in /metrics, deadline 10 s). Then make the change that must wake it, and
# call held_answer.
held_sync() {
	local before deadline
	before=$(sync_waiters)
	HELD_WAIT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["wait_ms"])' "$3")
	[ "$HELD_WAIT" -le "$CTL_POLL_MS" ] || HELD_WAIT=$CTL_POLL_MS # the server holds min(wait_ms, poll timeout)
	curl -sS --cacert "$CA" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary "$3" \
		-o "$WORK/held.body" -w '%{http_code} %{time_total}' "$URL/v1/hosts/$1/sync" >"$WORK/held.meta" 2>&1 &
	HELD_PID=$!
	deadline=$((SECONDS + 10))
	until [ "$(sync_waiters)" -gt "$before" ]; do
		kill -0 "$HELD_PID" 2>/dev/null || fail "the sync was answered at once, not held: $(cat "$WORK/held.body")"
		[ $SECONDS -lt $deadline ] || fail "the sync was never held"
		sleep 0.02
	done
}
# held_answer: waits for the held sync's answer and sets STATUS and BODY.
# Fails unless the answer came in less than half the time the server would
# hold it: it must come from a wake-up, not from the end of the wait. (A
# functional check with a wide margin, not a latency measurement.)
held_answer() {
	wait "$HELD_PID" || fail "held sync: curl failed: $(cat "$WORK/held.meta")"
	local meta ms
	meta=$(cat "$WORK/held.meta")
	STATUS=${meta%% *}
	BODY=$(cat "$WORK/held.body")
	ms=$(awk '{printf "%d", $2 * 1000}' <<<"$meta")
	[ "$ms" -lt $((HELD_WAIT / 2)) ] ||
		fail "held sync answered after ${ms} ms of its ${HELD_WAIT} ms wait: it timed out, it was not woken: ${BODY:0:400}"
}

# mkimage PATH: a minimal valid CLIMAGE1 image (docs/image-format.md).
mkimage() {
	python3 - "$1" <<'PY'
import hashlib, json, struct, sys
data = b"#!/bin/sh\necho hello\n"
man = {"format": 1, "name": "hello", "version": "1.0.0", "entrypoint": "/app/hello", "args": [],
       "files": [{"path": "app/hello", "mode": 493, "size": len(data), "sha384": hashlib.sha384(data).hexdigest()}]}
m = json.dumps(man, separators=(",", ":")).encode()
open(sys.argv[1], "wb").write(b"CLIMAGE1" + struct.pack(">I", len(m)) + m + data)
PY
}

# db SQL: reads the store with the sqlite3 CLI (read-only checks).
db() { sqlite3 "$WORK/data/db/control.db" "$1"; }
