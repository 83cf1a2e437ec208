# host_lib.sh — helpers for the host agent's integration tests (host_*.sh,
# crash_*.sh; sourced). Not a test by itself: run directly it exits 0.
#
#   curl (admin token) ──► cloister-control (127.0.0.1:PORT, temp data dir)
#                                ▲ HTTPS long-poll sync
#                          cloister-host --data $WORK/host ──► shims ──► enclaves
#                         [cloister-host --data $WORK/host2: host2_start, a second
#                          host on the same machine, its own join token and id]
#
# Everything lives in a temp dir; the EXIT trap stops what the test started
# (by pid) and removes any sandbox the test left behind.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then echo "helpers for host_*.sh and crash_*.sh"; exit 0; fi
set -euo pipefail
: "${BUILD:?set BUILD to the build directory}"
BUILD=$(cd "$BUILD" && pwd)
CTL_BIN="$BUILD/bin/cloister-control"
HOST_BIN="$BUILD/bin/cloister-host"
CLI_BIN="$BUILD/bin/cloister"
for b in "$CTL_BIN" "$HOST_BIN"; do [ -x "$b" ] || { echo "missing $b"; exit 1; }; done
WORK=$(mktemp -d /tmp/cloister-host-test.XXXXXX)
HDATA="$WORK/host"
HDATA2="$WORK/host2" # host2_start's data dir
CTL_PID= HOST_PID= ADMIN= URL= CA= PORT= HOST_ID=
HOST2_PID= HOST2_ID=
CTL_POLL_MS=${CTL_POLL_MS:-2000}
HOST_POLL_MS=${HOST_POLL_MS:-1000}
ENCLAVES=() # every enclave id the test created
declare -A KEYS # enclave id -> access key

# Kills and removes every sandbox under $HDATA (cleanup only: tests assert
# the agent did this itself). Processes are found by the shim's pid file and
# the enclave's cgroups, i.e. only what this test started.
sandbox_scrub() {
	local d id cg p
	for d in "$HDATA"/sandboxes/*/ "$HDATA2"/sandboxes/*/; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		[ -f "$d/shim.pid" ] && kill -9 "$(cat "$d/shim.pid")" 2>/dev/null || true
		for cg in $(cgroup_dirs "$id"); do
			[ -f "$cg/freezer.state" ] && echo THAWED >"$cg/freezer.state" 2>/dev/null || true
			while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$cg/cgroup.procs"
			for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
		done
		rm -rf "$d"
	done
}

cleanup() {
	local rc=$?
	if [ -n "$HOST_PID" ]; then kill "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; fi
	if [ -n "$HOST2_PID" ]; then kill "$HOST2_PID" 2>/dev/null || true; wait "$HOST2_PID" 2>/dev/null || true; fi
	if [ -n "$CTL_PID" ]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
	sandbox_scrub
	if [ $rc -eq 0 ] || [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	[ -f "$WORK/host.err" ] && { echo "--- host.err"; tail -n 25 "$WORK/host.err"; }
	[ -f "$WORK/host2.err" ] && { echo "--- host2.err"; tail -n 25 "$WORK/host2.err"; }
	[ -f "$WORK/ctl.err" ] && { echo "--- ctl.err"; tail -n 15 "$WORK/ctl.err"; }
	exit 1
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD until it succeeds or the deadline passes.
wait_for() {
	local secs=$1 what=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		[ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for: $what"
		sleep 0.05
	done
}

# ctl_start: the first start picks a port below the kernel's ephemeral range
# (32768+: an outgoing connection of another test could take a port there
# while this control plane is down), later starts use the same port (the
# host's --control URL must stay valid). CTL_ARGS (an array) adds options.
# Sets URL, CA, PORT, CTL_PID; ADMIN on first start.
ctl_start() {
	local first=0 try
	[ -n "$PORT" ] || first=1
	for try in $(seq 1 20); do
		[ "$first" = 0 ] || PORT=$((10000 + RANDOM % 22000))
		ctl_start_once && return 0
		[ "$first" = 1 ] || fail "cloister-control exited during startup: $(tail -n 3 "$WORK/ctl.err")"
	done
	fail "cloister-control did not find a free port: $(tail -n 3 "$WORK/ctl.err")"
}
# ctl_start_once: one start on PORT; returns 1 when the port was in use.
ctl_start_once() {
	: >"$WORK/ctl.out.cur"
	local errs
	errs=0; [ -f "$WORK/ctl.err" ] && errs=$(wc -l <"$WORK/ctl.err")
	"$CTL_BIN" --data "$WORK/ctl" --listen "127.0.0.1:$PORT" --poll-timeout-ms "$CTL_POLL_MS" ${CTL_ARGS[@]+"${CTL_ARGS[@]}"} \
		>"$WORK/ctl.out.cur" 2>>"$WORK/ctl.err" &
	CTL_PID=$!
	local deadline=$((SECONDS + 20))
	until grep -q '^ca: ' "$WORK/ctl.out.cur"; do
		if ! kill -0 "$CTL_PID" 2>/dev/null; then
			wait "$CTL_PID" 2>/dev/null || true
			CTL_PID=
			tail -n "+$((errs + 1))" "$WORK/ctl.err" | grep -qi 'in use' && return 1
			fail "cloister-control exited during startup: $(tail -n 3 "$WORK/ctl.err")"
		fi
		[ $SECONDS -lt $deadline ] || fail "cloister-control did not start"
		sleep 0.05
	done
	URL=$(awk '/^listening: /{print $2}' "$WORK/ctl.out.cur")
	CA=$(awk '/^ca: /{print $2}' "$WORK/ctl.out.cur")
	PORT=${URL##*:}
	local a
	a=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out.cur")
	[ -n "$a" ] && ADMIN=$a
	[ -n "$ADMIN" ] || fail "no admin token"
}
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
# req METHOD PATH [curl args...]: admin request (REQ_TOKEN, when set, instead
# of the admin token); sets STATUS and BODY.
req() {
	local m=$1 p=$2 ct; shift 2
	mapfile -t ct < <(json_ct "$@")
	BODY=$(curl -sS --cacert "$CA" -X "$m" -H "Authorization: Bearer ${REQ_TOKEN:-$ADMIN}" -o - -w '\n%{http_code}' "${ct[@]}" "$@" \
		"$URL$p") || { STATUS=000; BODY=; return 0; }
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
json() { req "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3" "${@:4}"; }
# jget EXPR: Python expression on the JSON in $BODY (as j).
jget() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print($1)" <<<"$BODY"; }

join_token() {
	json POST /v1/hosts/join-tokens '{}'
	[ "$STATUS" = 201 ] || fail "join token: $STATUS $BODY"
	jget 'j["token"]'
}

# agent_launch DATA LOG PIDVAR IDVAR [--join-token T] [args...]: starts an
# agent on data dir DATA (stdout LOG.out, stderr appended to LOG.err), its pid
# in the variable named PIDVAR at once (the EXIT trap stops it), waits for
# "host-id:" and sets the variable named IDVAR. A join token goes to the agent
# in CLOISTER_JOIN_TOKEN, never on its command line (where every user of the
# machine sees it).
agent_launch() {
	local data=$1 log=$2 args=() jt=
	local -n pidv=$3 idv=$4
	shift 4
	while [ $# -gt 0 ]; do
		if [ "$1" = --join-token ]; then jt=$2; shift 2; else args+=("$1"); shift; fi
	done
	: >"$WORK/$log.out"
	CLOISTER_JOIN_TOKEN=$jt "$HOST_BIN" --control "$URL" --ca "$CA" --data "$data" --poll-timeout-ms "$HOST_POLL_MS" \
		${args[@]+"${args[@]}"} >"$WORK/$log.out" 2>>"$WORK/$log.err" &
	pidv=$!
	local deadline=$((SECONDS + 20))
	until grep -q '^host-id: ' "$WORK/$log.out"; do
		kill -0 "$pidv" 2>/dev/null || fail "cloister-host ($log) exited during startup"
		[ $SECONDS -lt $deadline ] || fail "cloister-host ($log) did not register"
		sleep 0.05
	done
	idv=$(awk '/^host-id: /{print $2}' "$WORK/$log.out")
}
# host_start [--join-token T] [args...]: the agent on $HDATA; sets HOST_PID, HOST_ID.
host_start() { agent_launch "$HDATA" host HOST_PID HOST_ID "$@"; }
# host2_start [--join-token T] [args...]: a second agent on the same machine
# and control plane: its own data dir ($HDATA2: its sandboxes, shim sockets,
# key holder, attestation key), its own join token (first start) and host id
# (HOST2_ID), its own name (host-b: the default is the machine's hostname),
# logs host2.out/host2.err. The agents share the machine's cgroup tree
# (cloister/<enclave id>): an enclave moving between them must be gone from
# one before the other launches it, as the tests wait for. Sets HOST2_PID.
host2_start() { agent_launch "$HDATA2" host2 HOST2_PID HOST2_ID --name host-b "$@"; }
host2_kill9() { kill -9 "$HOST2_PID"; wait "$HOST2_PID" 2>/dev/null || true; HOST2_PID=; }
host_kill9() { kill -9 "$HOST_PID"; wait "$HOST_PID" 2>/dev/null || true; HOST_PID=; }
host_stop() { # SIGTERM; the agent must exit 0 within 10 s
	kill -TERM "$HOST_PID"
	local deadline=$((SECONDS + 10))
	while kill -0 "$HOST_PID" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "cloister-host ignored SIGTERM"
		sleep 0.05
	done
	local rc=0
	wait "$HOST_PID" || rc=$?
	HOST_PID=
	[ $rc -eq 0 ] || fail "cloister-host exited $rc on SIGTERM"
}

host_state() { # host_state [ID]: prints the control plane's state of ID (default $HOST_ID)
	local id=${1:-$HOST_ID}
	req GET /v1/hosts
	[ "$STATUS" = 200 ] || { echo "?"; return; }
	jget "[h['state'] for h in j['items'] if h['id']=='$id'][0] if any(h['id']=='$id' for h in j['items']) else 'absent'"
}
host_is() { [ "$(host_state "${2:-$HOST_ID}")" = "$1" ]; } # host_is STATE [ID]
host_last_seen() { # epoch seconds of $HOST_ID's last sync
	req GET /v1/hosts
	jget "__import__('calendar').timegm(__import__('time').strptime([h['last_seen'] for h in j['items'] if h['id']=='$HOST_ID'][0], '%Y-%m-%dT%H:%M:%SZ'))"
}
# host_synced_after EPOCH: a sync reached the control plane after EPOCH, so
# the agent has applied every answer it got before that.
host_synced_after() { [ "$(host_last_seen)" -gt "$1" ]; }

# image_upload: builds an image of the static kvstore example and uploads it; sets IMAGE.
image_upload() {
	local app="$BUILD/examples/kvstore"
	[ -x "$app" ] || fail "missing $app"
	"$CLI_BIN" image build -o "$WORK/kv.img" --name kv --entrypoint /app/kvstore "$app" >/dev/null ||
		fail "cloister image build failed"
	req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/kv.img"
	[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
	IMAGE=$(jget 'j["id"]')
}

# image_upload_app APP NAME: builds an image of the static example
# $BUILD/examples/APP (entrypoint /app/APP) and uploads it in parts (SDK
# programs link libcrypto statically: more than a raw body's 1 MiB); sets IMAGE.
image_upload_app() {
	local app="$BUILD/examples/$1" size sha up n i
	[ -x "$app" ] || fail "missing $app"
	"$CLI_BIN" image build -o "$WORK/$2.img" --name "$2" --entrypoint "/app/$1" "$app" >/dev/null ||
		fail "cloister image build failed"
	size=$(stat -c %s "$WORK/$2.img")
	sha=$(sha384sum "$WORK/$2.img" | cut -d' ' -f1)
	json POST /v1/uploads "{\"size\":$size,\"sha384\":\"$sha\"}"
	[ "$STATUS" = 201 ] || fail "upload: $STATUS $BODY"
	up=$(jget 'j["id"]') n=$(jget 'j["parts"]')
	for ((i = 0; i < n; i++)); do
		dd if="$WORK/$2.img" of="$WORK/part" bs=1048576 skip=$i count=1 status=none
		req PUT "/v1/uploads/$up/parts/$i" -H 'Content-Type: application/octet-stream' \
			--data-binary @"$WORK/part"
		[ "$STATUS" = 200 ] || fail "upload part $i: $STATUS $BODY"
	done
	json POST /v1/images "{\"upload\":\"$up\"}"
	[ "$STATUS" = 201 ] || fail "image from upload: $STATUS $BODY"
	IMAGE=$(jget 'j["id"]')
}

# enclave_create NAME: POST /v1/enclaves; sets ENC (id). Does not wait.
enclave_create() {
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
	[ "$STATUS" = 202 ] || fail "create $1: $STATUS $BODY"
	ENC=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ENC")
	KEYS[$ENC]=$(jget 'j["access_key"]')
}
enclave_state() { # prints the state, or "absent" (404)
	req GET "/v1/enclaves/$1"
	if [ "$STATUS" = 404 ]; then echo absent; elif [ "$STATUS" = 200 ]; then jget 'j["state"]'; else echo "?$STATUS"; fi
}
enclave_is() { [ "$(enclave_state "$1")" = "$2" ]; }
enclave_destroy() {
	req DELETE "/v1/enclaves/$1" -H "X-Cloister-Access-Key: ${KEYS[$1]}"
	[ "$STATUS" = 202 ] || fail "destroy $1: $STATUS $BODY"
}

# ---- what exists on the host, from the host's own point of view ----

cgroup_dirs() { # cgroup dirs of enclave $1 (v1 controllers, v2 unified)
	local c
	for c in /sys/fs/cgroup/*/cloister/"$1" /sys/fs/cgroup/cloister/"$1"; do
		[ -d "$c" ] && echo "$c"
	done
	return 0
}
sandbox_count() { # entries under $HDATA/sandboxes
	local n=0 d
	for d in "$HDATA"/sandboxes/*; do [ -e "$d" ] && n=$((n + 1)); done
	echo $n
}
has_sandbox() { [ -d "$HDATA/sandboxes/$1" ]; }
# Shim processes of this data dir: `cloister-host --shim $HDATA ID|-`, run by
# root. The sandbox layer keeps a pool of pre-spawned spares (ID "-", at most
# SPARES per running agent); a spare gets assigned an enclave (its pid then
# sits in that sandbox's shim.pid) or exits when the agent that spawned it is
# gone. A spare's prepared sandbox is a clone of it that has not exec'd yet:
# same command line, but the enclave's unprivileged uid: not a shim.
SPARES=2 # CL_SANDBOX_POOL_SIZE
shim_pids() {
	local p args uid
	for p in /proc/[0-9]*; do
		args=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		[[ "$args" == *"--shim $HDATA "* ]] || continue
		uid=$(awk '/^Uid:/ {print $2}' "$p/status" 2>/dev/null) || continue
		[ "$uid" = 0 ] && echo "${p#/proc/}"
	done
	return 0
}
assigned_shim_pids() { cat "$HDATA"/sandboxes/*/shim.pid 2>/dev/null || true; }
unassigned_shims() { # shims that belong to no sandbox: spares or strays
	local n=0 p assigned
	assigned=" $(assigned_shim_pids | tr '\n' ' ') "
	for p in $(shim_pids); do [[ "$assigned" == *" $p "* ]] || n=$((n + 1)); done
	echo $n
}
declare -A SHIMPID # enclave id -> shim pid last seen running
shim_alive() { # shim_alive PID: PID is a live shim of this data dir
	[ -n "$1" ] && [[ " $(shim_pids | tr '\n' ' ') " == *" $1 "* ]]
}
cgroup_procs() { # processes in enclave $1's cgroups (0 when none)
	local n=0 c
	for c in $(cgroup_dirs "$1"); do
		[ -f "$c/cgroup.procs" ] && n=$((n + $(wc -l <"$c/cgroup.procs")))
	done
	echo $n
}

# assert_running ID: its sandbox, a live shim, live processes in its cgroups.
assert_running() {
	has_sandbox "$1" || fail "enclave $1 lost: no sandbox"
	local pid
	pid=$(cat "$HDATA/sandboxes/$1/shim.pid" 2>/dev/null) || fail "enclave $1: no shim.pid"
	shim_alive "$pid" || fail "enclave $1: its shim ($pid) is not running"
	SHIMPID[$1]=$pid
	[ "$(cgroup_procs "$1")" -ge 1 ] || fail "enclave $1: no processes in its cgroups"
}
# assert_gone ID: no sandbox dir, no cgroup dir, its last known shim dead.
assert_gone() {
	! has_sandbox "$1" || fail "enclave $1: sandbox dir left behind"
	[ -z "$(cgroup_dirs "$1")" ] || fail "enclave $1: cgroups left behind: $(cgroup_dirs "$1")"
	! shim_alive "${SHIMPID[$1]:-}" || fail "enclave $1: shim ${SHIMPID[$1]} left behind"
}
# assert_no_stray_shims: every shim belongs to a sandbox, but for at most
# SPARES spares while an agent runs (none once it is stopped).
no_stray_shims() { [ "$(unassigned_shims)" -le $([ -n "$HOST_PID" ] && echo $SPARES || echo 0) ]; }
assert_no_stray_shims() { wait_for 10 "stray shims to exit ($(unassigned_shims) unassigned)" no_stray_shims; }

# ---- firmware guard (host_fw_*.sh) ----
# The default devices' identities (src/fwguard/fwdev_host.c) and window.
FW_NIC=0000:03:00.0
FW_NIC_VENDOR=6ba7b810-9dad-11d1-80b4-00c04fd430c8
FW_NIC_CLASS=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55
FW_GPU=0000:65:00.0
FW_GPU_VENDOR=10de0000-6a1b-4c2e-9f11-5e37420010de
FW_GPU_CLASS=03020000-7c4d-4b8a-a219-0b556e210302
WINDOW_S=60      # the default window (docs/firmware-guard.md)
WINDOW_MARGIN=20 # power-cycle when fewer seconds than this may be left

# fw_keys: root key and signers a b c in $WORK, trust root v1 (2 of a,b,c) in
# $WORK/tr1.cbor, a 50 kB image in $WORK/img.bin.
fw_keys() {
	local k
	for k in root a b c; do
		"$CLI_BIN" fw keygen --out "$WORK/$k.pem" --pub "$WORK/$k.pub" >/dev/null || fail "keygen $k"
	done
	"$CLI_BIN" fw trust-root sign --version 1 --threshold 2 --signer "$WORK/a.pub,$WORK/b.pub,$WORK/c.pub" \
		--key "$WORK/root.pem" -o "$WORK/tr1.cbor" >/dev/null || fail "trust-root sign"
	head -c 50000 /dev/urandom >"$WORK/img.bin"
}

# fw_host_start: the agent with the guard (first start manufactures the
# devices and opens the window), then waits for its first firmware report.
fw_reported() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["reported"]')" = True ]; }
fw_host_start() {
	WINDOW_FROM=$SECONDS # taken before the start: a conservative estimate of the opening
	host_start --join-token "$(join_token)" --fw-root "$WORK/root.pub"
	wait_for 20 "firmware report" fw_reported
}

# ensure_window: power-cycles (the production way to reopen the window) when
# fewer than WINDOW_MARGIN seconds may be left of the current one.
ensure_window() {
	[ $((SECONDS - WINDOW_FROM)) -ge $((WINDOW_S - WINDOW_MARGIN)) ] || return 0
	echo "window nearly over after $((SECONDS - WINDOW_FROM))s: power-cycling"
	WINDOW_FROM=$SECONDS
	local out
	out=$("$CLI_BIN" host power-cycle "$HOST_ID" --wait) || fail "power-cycle: $out"
	grep -q '^accepted' <<<"$out" || fail "power-cycle: $out"
}

# host_up_attested [ARGS...]: a control plane and one joined host agent
# (ARGS to host_start), the CLI pointed at it as admin; returns once the host
# is ready and holds its attestation certificate.
host_up_attested() {
	ctl_start
	export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
	unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
	host_start --join-token "$(join_token)" "$@"
	wait_for 20 "host ready" host_is ready
	wait_for 20 "the attestation certificate" test -s "$HDATA/attest/cert.der"
}

# enclave_ask ID LINE: sends one line to the enclave's application (with its
# access key) and sets ANS to the first line it answers (deadline 20 s).
enclave_ask() {
	local id=$1 cmd=$2 got= deadline=$((SECONDS + 20)) data
	data=$(printf '%s\n' "$cmd" | base64 -w0)
	json POST "/v1/enclaves/$id/send" "{\"data\":\"$data\"}" -H "X-Cloister-Access-Key: ${KEYS[$id]}"
	[ "$STATUS" = 200 ] || fail "send '${cmd:0:80}': $STATUS $BODY"
	while [[ "$got" != *$'\n'* ]]; do
		[ $SECONDS -lt $deadline ] || fail "no answer to '${cmd:0:80}' (got '${got:0:200}')"
		json POST "/v1/enclaves/$id/recv" '{"max":65536,"wait_ms":1000}' -H "X-Cloister-Access-Key: ${KEYS[$id]}"
		[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
		got+=$(jget 'j["data"]' | base64 -d; echo x)
		got=${got%x}
	done
	ANS=${got%%$'\n'*}
}

# ---- provisioning (host_provision_*.sh) ----

# provision_setup NAME MEMORY_MIB: the control plane and host (attested), the
# root in $WORK/root.pem, the kvstore image, and an enclave NAME awaiting a
# bundle, running; sets ID, TENANT and P3 (its PCR3 as `cloister image
# measure --await-bundle` computes it).
provision_setup() {
	host_up_attested
	"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"
	image_upload
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":$2,\"cpus\":1,\"min_level\":\"software\",\"await_bundle\":true}"
	[ "$STATUS" = 202 ] || fail "create: $STATUS $BODY"
	ID=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ID")
	KEYS[$ID]=$(jget 'j["access_key"]')
	wait_for 60 "enclave running" enclave_is "$ID" running
	TENANT=$(req GET "/v1/enclaves/$ID"; jget 'j["tenant_id"]')
	P3=$("$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name "$1" --await-bundle --host "$HOST_ID" --json |
		python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])")
	[ -n "$P3" ] || fail "image measure"
}

# bundle_make ENTRYPOINT [BLOB_MIB]: $WORK/bundle.tar (ustar) with ENTRYPOINT as
# entrypoint and, when BLOB_MIB is given, data/blob of that many MiB of random
# bytes; sets SHA (its SHA-384) and P7 = extend(0, SHA), the PCR7 it installs as.
bundle_make() {
	local names=entrypoint
	rm -rf "$WORK/b"
	mkdir -p "$WORK/b"
	cp "$1" "$WORK/b/entrypoint"
	if [ -n "${2:-}" ]; then
		mkdir -p "$WORK/b/data"
		head -c $(($2 << 20)) /dev/urandom >"$WORK/b/data/blob"
		names="entrypoint data data/blob"
	fi
	python3 - "$WORK/bundle.tar" "$WORK/b" $names <<'PY'
import sys, tarfile, os
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for name in sys.argv[3:]:
        t.add(os.path.join(sys.argv[2], name), arcname=name, recursive=False)
PY
	SHA=$(sha384sum "$WORK/bundle.tar" | cut -d' ' -f1)
	P7=$(python3 -c "import hashlib,sys; print(hashlib.sha384(bytes(48)+bytes.fromhex(sys.argv[1])).hexdigest())" "$SHA")
}

# ---- measure on demand (host_measure*.sh) ----

# measure_doc ID KEY OUT.cbor: `cloister enclave measure` with a fresh nonce
# (access key KEY), the document verified against $WORK/root.pem with that
# nonce; sets PCR5 and PCR0 from it.
measure_doc() {
	local nonce
	nonce=$(openssl rand -hex 16)
	CLOISTER_ACCESS_KEY=$2 "$CLI_BIN" enclave measure "$1" --nonce "$nonce" --out "$3" >/dev/null ||
		fail "enclave measure: $?"
	"$CLI_BIN" attest verify "$3" --root "$WORK/root.pem" --nonce "$nonce" --json >"$WORK/v.json" 2>"$WORK/v.err" ||
		fail "verify: $(cat "$WORK/v.err")"
	PCR5=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['5'])" "$WORK/v.json")
	PCR0=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['0'])" "$WORK/v.json")
}

# ---- suspend and restore (enclave_suspend_*.sh) ----

# suspendable_create NAME MEMORY_MIB: a `"suspendable": true` enclave of
# $IMAGE; sets ENC (its id) and KEYS[ENC]; waits until it runs.
suspendable_create() {
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":$2,\"cpus\":1,\"min_level\":\"software\",\"suspendable\":true}"
	[ "$STATUS" = 202 ] || fail "create $1: $STATUS $BODY"
	ENC=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ENC")
	KEYS[$ENC]=$(jget 'j["access_key"]')
	wait_for 60 "enclave $1 running" enclave_is "$ENC" running
}
# job_ended JOB: the job succeeded or failed (sets JSTATE, JERROR).
job_ended() {
	req GET "/v1/jobs/$1"
	[ "$STATUS" = 200 ] || fail "job $1: $STATUS $BODY"
	JSTATE=$(jget 'j["state"]') JERROR=$(jget 'j["error"] or ""')
	[ "$JSTATE" = succeeded ] || [ "$JSTATE" = failed ]
}
# suspend_wait ID: POST .../suspend and waits for its job's end (JSTATE, JERROR).
suspend_wait() {
	json POST "/v1/enclaves/$1/suspend" '{}' -H "X-Cloister-Access-Key: ${KEYS[$1]}"
	[ "$STATUS" = 202 ] || fail "suspend $1: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 180 "suspend job $job ends" job_ended "$job"
}
# restore_wait ID [HOST]: POST .../restore (on HOST when given) and waits for
# its job's end (JSTATE, JERROR).
restore_wait() {
	local body='{}'
	[ -n "${2:-}" ] && body="{\"host\":\"$2\"}"
	json POST "/v1/enclaves/$1/restore" "$body" -H "X-Cloister-Access-Key: ${KEYS[$1]}"
	[ "$STATUS" = 202 ] || fail "restore $1: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 240 "restore job $job ends" job_ended "$job"
}
