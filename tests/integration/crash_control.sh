#!/usr/bin/env bash
# crash_control.sh — kill -9 the control plane while an enclave is being
# created and while one is being destroyed; the host keeps its enclaves
# running while the control plane is down, and once it is back (same port,
# same data) every committed enclave runs exactly once and every destroyed
# one left nothing behind.
#
#   curl (admin) ──► cloister-control (killed -9, restarted) ◄── cloister-host
source "$(dirname "$0")/host_lib.sh"

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
image_upload

LIVE=() GONE=()
port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
check_all() {
	local id
	for id in "${LIVE[@]}"; do assert_running "$id"; done
	for id in "${GONE[@]}"; do assert_gone "$id"; done
	[ "$(sandbox_count)" = "${#LIVE[@]}" ] || fail "$(sandbox_count) sandboxes, want ${#LIVE[@]}: $(ls "$HDATA/sandboxes")"
	assert_no_stray_shims
}

enclave_create base
BASE=$ENC
wait_for 60 "base running" enclave_is "$BASE" running
LIVE+=("$BASE")
BASE_SHIM=$(cat "$HDATA/sandboxes/$BASE/shim.pid")

# kill -9 during create: right after the API committed it, and while the
# host is launching it (its sandbox dir exists).
n=0
for when in api dir 0.1; do
	n=$((n + 1))
	enclave_create "c$n"
	id=$ENC
	case $when in
	api) ;;
	dir) wait_for 30 "sandbox dir of $id" has_sandbox "$id" ;;
	*) sleep "$when" ;;
	esac
	seen=$(grep -c 'control plane unreachable' "$WORK/host.err" || true)
	ctl_kill9
	# Control plane down: once the agent has noticed, it still keeps what runs.
	wait_for 30 "the agent to notice" bash -c "[ \$(grep -c 'control plane unreachable' '$WORK/host.err') -gt $seen ]"
	assert_running "$BASE"
	kill -0 "$HOST_PID" || fail "the agent died with the control plane"
	ctl_start
	wait_for 60 "$id running after control crash ($when)" enclave_is "$id" running
	LIVE+=("$id")
	check_all
done

# kill -9 during destroy: right after the API accepted it, and once the host
# has removed the sandbox (its report may not have reached the store).
n=0
for when in api gone 0.05; do
	n=$((n + 1))
	id=${LIVE[1]}
	enclave_destroy "$id"
	case $when in
	api) ;;
	gone) wait_for 30 "sandbox of $id removed" bash -c "! test -d '$HDATA/sandboxes/$id'" ;;
	*) sleep "$when" ;;
	esac
	ctl_kill9
	# the old worker winds down (a report's fdatasync, its answers) before it
	# lets go of the port, as any restart waits for it
	wait_for 20 "the old worker to let go of port $PORT" port_closed
	LIVE=("${LIVE[0]}" "${LIVE[@]:2}")
	GONE+=("$id")
	ctl_start
	wait_for 60 "$id gone after control crash ($when)" enclave_is "$id" absent
	wait_for 20 "$id sandbox removed" bash -c "! test -d '$HDATA/sandboxes/$id'"
	check_all
done
[ "$(cat "$HDATA/sandboxes/$BASE/shim.pid")" = "$BASE_SHIM" ] || fail "base enclave was relaunched"
wait_for 20 "host ready" host_is ready

for id in "${LIVE[@]}"; do enclave_destroy "$id"; done
for id in "${LIVE[@]}"; do wait_for 60 "$id destroyed" enclave_is "$id" absent; GONE+=("$id"); done
LIVE=()
wait_for 20 "all sandboxes removed" bash -c "[ -z \"\$(ls -A '$HDATA/sandboxes' 2>/dev/null)\" ]"
check_all
host_stop
assert_no_stray_shims
[ -z "$(shim_pids)" ] || fail "shims left: $(shim_pids)"
echo "PASS crash_control"
