#!/usr/bin/env bash
# crash_host.sh — kill -9 the host agent while it creates and while it
# destroys enclaves, restart it, and check that no enclave is lost, none is
# duplicated and nothing is left behind (sandbox dirs, cgroups, processes).
#
#   curl (admin) ──► cloister-control ◄── cloister-host (killed -9, restarted)
#                                               └─► shims + enclaves (survive the agent)
source "$(dirname "$0")/host_lib.sh"

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
image_upload

# check_all: every live enclave runs exactly once; destroyed ones left nothing.
LIVE=() GONE=()
check_all() {
	local id
	for id in "${LIVE[@]}"; do assert_running "$id"; done
	for id in "${GONE[@]}"; do assert_gone "$id"; done
	[ "$(sandbox_count)" = "${#LIVE[@]}" ] || fail "$(sandbox_count) sandboxes, want ${#LIVE[@]}: $(ls "$HDATA/sandboxes")"
	assert_no_stray_shims
}

# A baseline enclave that must survive every agent crash untouched.
enclave_create base
BASE=$ENC
wait_for 60 "base running" enclave_is "$BASE" running
LIVE+=("$BASE")
BASE_SHIM=$(cat "$HDATA/sandboxes/$BASE/shim.pid")

# kill -9 during create, at several points: right after the API accepted it
# (the agent may not have heard yet), as soon as its sandbox dir appears
# (launch in progress), and at a few short delays.
n=0
for when in api dir 0.05 0.2 0.5; do
	n=$((n + 1))
	enclave_create "c$n"
	id=$ENC
	case $when in
	api) ;;
	dir) wait_for 30 "sandbox dir of $id" has_sandbox "$id" ;;
	*) sleep "$when" ;;
	esac
	host_kill9
	host_start
	[ "$HOST_ID" != "" ] || fail "no host id after restart"
	wait_for 60 "$id running after agent crash ($when)" enclave_is "$id" running
	LIVE+=("$id")
	check_all
done
[ "$(cat "$HDATA/sandboxes/$BASE/shim.pid")" = "$BASE_SHIM" ] || fail "base enclave was relaunched"

# kill -9 during destroy, at several points.
n=0
for when in api 0.02 0.1 0.3; do
	n=$((n + 1))
	id=${LIVE[1]}
	enclave_destroy "$id"
	case $when in
	api) ;;
	*) sleep "$when" ;;
	esac
	host_kill9
	LIVE=("${LIVE[0]}" "${LIVE[@]:2}")
	GONE+=("$id")
	host_start
	wait_for 60 "$id gone after agent crash ($when)" enclave_is "$id" absent
	wait_for 20 "$id sandbox removed" bash -c "! test -d '$HDATA/sandboxes/$id'"
	check_all
done

# A shim killed while the agent is down: the restarted agent destroys the
# dead sandbox and, the enclave being still desired, launches it again once.
id=${LIVE[1]}
host_kill9
kill -9 "$(cat "$HDATA/sandboxes/$id/shim.pid")"
host_start
wait_for 60 "$id relaunched after its shim died" bash -c "test -f '$HDATA/sandboxes/$id/shim.pid' && kill -0 \$(cat '$HDATA/sandboxes/$id/shim.pid') 2>/dev/null"
wait_for 60 "$id running again" enclave_is "$id" running
check_all

# A shim killed while the agent runs: the agent destroys what is left of the
# sandbox and reports the enclave failed; it does not relaunch it on its own.
enclave_create victim
VICTIM=$ENC
wait_for 60 "victim running" enclave_is "$VICTIM" running
kill -9 "$(cat "$HDATA/sandboxes/$VICTIM/shim.pid")"
wait_for 30 "victim reported failed" enclave_is "$VICTIM" failed
wait_for 20 "victim sandbox removed" bash -c "! test -d '$HDATA/sandboxes/$VICTIM'"
assert_gone "$VICTIM"
t0=$(date +%s)
wait_for 30 "a later sync" host_synced_after "$t0" # any relaunch would have happened by now
assert_gone "$VICTIM"
enclave_destroy "$VICTIM"
wait_for 60 "victim destroyed" enclave_is "$VICTIM" absent
GONE+=("$VICTIM")
check_all

# Destroy the rest through the API; the host must clean everything.
for id in "${LIVE[@]}"; do enclave_destroy "$id"; done
for id in "${LIVE[@]}"; do wait_for 60 "$id destroyed" enclave_is "$id" absent; GONE+=("$id"); done
LIVE=()
wait_for 20 "all sandboxes removed" bash -c "[ -z \"\$(ls -A '$HDATA/sandboxes' 2>/dev/null)\" ]"
check_all
host_stop
assert_no_stray_shims
[ -z "$(shim_pids)" ] || fail "shims left: $(shim_pids)"
echo "PASS crash_host"
