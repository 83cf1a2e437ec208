# tests/integration/lib.sh — shared helpers for integration tests (sourced,
# not run by itself). Every wait polls a condition against a deadline.
#
#   source "$(dirname "$0")/lib.sh"
#   start_dev                      # cloister dev --detach in $T/dev; sets SERVER CA ADMIN CLOISTER_CONFIG
#   start_control DIR              # or: a bare control plane (sets SERVER CA ADMIN)
#   start_host DIR [NAME]          # ...and a host joined to it (sets HOST_ID)
#   wait_for SECONDS CMD...        # retries CMD until it succeeds
#   api TOKEN METHOD PATH [JSON] [ACCESS_KEY]   # curl; sets STATUS and BODY
#   jget EXPR                      # Python expression on $BODY (as j)
#   cli ARGS...                    # runs cloister; sets RC, OUT, ERR
#
# The EXIT trap (cleanup) stops what was started here — by pid, and
# `cloister dev stop` for dev instances — and removes $T.
# pipefail: never end a pipeline with `grep -q` — it exits at the first match,
# the writer gets SIGPIPE and the pipeline fails at random. Use grep >/dev/null.
set -euo pipefail

: "${BUILD:=build}"
BUILD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && cd "$BUILD" && pwd)
BIN="$BUILD/bin"
CLOISTER="$BIN/cloister"
for b in cloister cloister-control cloister-host cloister-init cloister-init-bundle; do
	[ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build first)"; exit 1; }
done
T=$(mktemp -d /tmp/cloister-it.XXXXXX)
CL_PIDS=()
CL_DEV_DIRS=()
unset CLOISTER_SERVER CLOISTER_CA CLOISTER_TOKEN CLOISTER_ACCESS_KEY CLOISTER_CONFIG

cleanup() {
	local rc=$?
	set +e
	for d in "${CL_DEV_DIRS[@]}"; do "$CLOISTER" dev stop --data "$d" >/dev/null 2>&1; done
	for p in "${CL_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait_for 10 gone "$p"
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$T"/*.log "$T"/*/*.log; do
			[ -f "$f" ] && { echo "--- $f (last 15 lines)"; tail -n 15 "$f"; }
		done
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# gone PID: the process has exited (a zombie counts as exited).
gone() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0; [[ $s == Z* ]]; }
step() { echo "== $*"; }

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
	local secs=$1; shift
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# start_dev [DIR]: a whole local instance through `cloister dev --detach`.
start_dev() {
	local dir=${1:-$T/dev}
	CL_DEV_DIRS+=("$dir")
	"$CLOISTER" dev --detach --data "$dir" --port 0 --json >"$T/dev-start.json" 2>"$T/dev-start.err" ||
		fail "cloister dev did not start: $(cat "$T/dev-start.err")"
	export CLOISTER_CONFIG="$dir/client.json"
	SERVER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$CLOISTER_CONFIG")
	CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca"])' "$CLOISTER_CONFIG")
	ADMIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$CLOISTER_CONFIG")
	HOST_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_id"])' "$T/dev-start.json")
}

# start_control DIR: a bare cloister-control on a free port.
start_control() {
	local dir=$1
	"$BIN/cloister-control" --data "$dir" --listen 127.0.0.1:0 >"$T/control.out" 2>>"$T/control.log" &
	CL_PIDS+=($!)
	local pid=$!
	wait_for 20 grep -q '^ca: ' "$T/control.out" || fail "cloister-control did not start"
	kill -0 "$pid" || fail "cloister-control exited"
	SERVER=$(awk '/^listening: /{print $2}' "$T/control.out")
	CA=$(awk '/^ca: /{print $2}' "$T/control.out")
	ADMIN=$(awk '/^admin-token: /{print $2}' "$T/control.out")
}

# start_host DIR [NAME]: a cloister-host joined to the control plane; waits until ready.
start_host() {
	local dir=$1 name=${2:-it-host}
	api "$ADMIN" POST /v1/hosts/join-tokens '{}'
	[ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "join token: $STATUS $BODY"
	local join
	join=$(jget 'j["token"]')
	CLOISTER_JOIN_TOKEN=$join "$BIN/cloister-host" --control "$SERVER" --ca "$CA" --data "$dir" --name "$name" \
		>"$T/host-$name.out" 2>>"$T/host-$name.log" &
	CL_PIDS+=($!)
	wait_for 30 grep -q '^host-id: ' "$T/host-$name.out" || fail "cloister-host did not register"
	HOST_ID=$(awk '/^host-id: /{print $2}' "$T/host-$name.out")
	wait_for 30 host_ready "$HOST_ID" || fail "host $HOST_ID not ready"
}

host_ready() {
	api "$ADMIN" GET /v1/hosts
	[ "$(jget "[h['state'] for h in j['items'] if h['id']=='$1'][0]")" = ready ]
}

# api TOKEN METHOD PATH [JSON] [ACCESS_KEY]: sets STATUS and BODY. TOKEN "" sends none.
api() {
	local tok=$1 m=$2 p=$3 body=${4:-} key=${5:-}
	local args=(-sS --cacert "$CA" -X "$m" -o - -w '\n%{http_code}')
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$key" ] && args+=(-H "X-Cloister-Access-Key: $key")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	BODY=$(curl "${args[@]}" "$SERVER$p") || fail "curl $m $p"
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

# jget EXPR: evaluates a Python expression on the JSON in $BODY (bound to j).
jget() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print($1)" <<<"$BODY"; }

# cli ARGS...: runs the CLI; sets RC, OUT (stdout) and ERR (stderr). Never fails by itself.
cli() {
	set +e
	"$CLOISTER" "$@" >"$T/cli.out" 2>"$T/cli.err"
	RC=$?
	set -e
	OUT=$(cat "$T/cli.out")
	ERR=$(cat "$T/cli.err")
}
# cli_ok ARGS...: runs the CLI and fails the test unless it exits 0.
cli_ok() {
	cli "$@"
	[ "$RC" = 0 ] || fail "cloister $* exited $RC: $ERR"
}
# expect_cli_error RC PATTERN: the last cli call exited RC with one "error: " line matching PATTERN.
expect_cli_error() {
	[ "$RC" = "$1" ] || fail "expected exit $1, got $RC (stdout: $OUT, stderr: $ERR)"
	[ "$(grep -c '^error: ' <<<"$ERR")" = 1 ] || fail "expected one error line, got: $ERR"
	grep -qE "^error: .*$2" <<<"$ERR" || fail "error does not match '$2': $ERR"
}

# pyjson EXPR: evaluates a Python expression on the JSON in $OUT (bound to j).
pyjson() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print($1)" <<<"$OUT"; }

# build_kvstore_image PATH: the kvstore example packed with `cloister image build`.
build_kvstore_image() {
	"$CLOISTER" image build -o "$1" --name kvstore --version 1.0.0 --entrypoint /app/kvstore \
		"$BUILD/examples/kvstore:app/kvstore" >/dev/null || fail "image build failed"
}

# kv_roundtrip ID REQUEST EXPECTED [ACCESS_KEY]: sends a request line and polls recv until
# the accumulated output contains EXPECTED.
kv_roundtrip() {
	local id=$1 req=$2 want=$3 got=""
	cli_ok enclave send "$id" --data "$req"$'\n'
	local deadline=$((SECONDS + 20))
	while [[ "$got" != *"$want"* ]]; do
		[ $SECONDS -lt $deadline ] || fail "no '$want' from $id after '$req' (got: '$got')"
		cli_ok enclave recv "$id" --wait 1000
		got+="$(cat "$T/cli.out")"$'\n'
	done
	KV_OUT=$got
}
