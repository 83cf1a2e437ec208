#!/usr/bin/env bash
# e2e_dev.sh — `cloister dev` itself: first start writes client.json (0600)
# and keeps the admin token out of every log; a second instance on the same
# directory is refused; `dev stop` stops everything (no process left, not
# even the enclave); a restart keeps the database, the admin token and the
# host, and relaunches the enclave that should be running; a foreground
# instance stops cleanly on SIGINT. The enclaves are destroyed by the host
# agent's cleanup mode (`cloister-host --destroy-all`): the CLI binary holds
# no sandbox code at all.
source "$(dirname "$0")/lib.sh"

step "the CLI does not link the sandbox"
command -v nm >/dev/null || fail "nm (binutils) is needed"
nm "$CLOISTER" >"$T/cli.syms" || fail "nm $CLOISTER"
grep -E ' [TtDdBbRr] (cl_sandbox_|cl_cgroup_|cl_shim)' "$T/cli.syms" &&
	fail "the cloister binary contains sandbox code (see above)"
grep -E ' [Tt] cl_cli_connect$' "$T/cli.syms" >/dev/null || fail "nm shows no CLI symbols: the check above proves nothing"

DEV=$T/dev
# alive PID: the process exists and is not a zombie (this machine's init may not reap).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $s != Z* ]]; }
start_dev "$DEV"
step "first start: client.json and logs"
[ "$(stat -c %a "$DEV/client.json")" = 600 ] || fail "client.json mode $(stat -c %a "$DEV/client.json")"
[ -n "$ADMIN" ] || fail "no token in client.json"
for f in "$DEV"/*.log; do grep -qF "$ADMIN" "$f" && fail "admin token leaked into $f"; done
grep -q 'admin-token: (hidden)' "$DEV/control.log" || fail "control.log lacks the hidden token line"
SUP=$(cat "$DEV/dev.pid")
alive "$SUP" || fail "supervisor $SUP not running"
FIRST_HOST=$HOST_ID

step "a second instance on the same directory is refused"
cli dev --detach --data "$DEV" --port 0
expect_cli_error 1 "already running"

step "an enclave to survive the restart"
cli_ok --json token create --name d --new-tenant dev-tenant
TOKEN=$(pyjson 'j["token"]')
build_kvstore_image "$T/kv.img"
cli_ok --token "$TOKEN" enclave create --image "$T/kv.img" --name survivor --memory 16M --wait --json
ID=$(pyjson 'j["enclave"]["id"]')
KEY=$(pyjson 'j["access_key"]')
export CLOISTER_TOKEN=$TOKEN CLOISTER_ACCESS_KEY=$KEY
kv_roundtrip "$ID" "PUT a 1" "OK"
pgrep -f -- "--shim $DEV/host" >/dev/null || fail "no shim for the enclave"

step "the cleanup mode refuses while the agent runs"
set +e
"$BIN/cloister-host" --destroy-all --data "$DEV/host" >"$T/destroy.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "another cloister-host is using" "$T/destroy.out" || fail "--destroy-all beside a running agent: $rc $(cat "$T/destroy.out")"
pgrep -f -- "--shim $DEV/host" >/dev/null || fail "--destroy-all touched the running agent's enclave"

step "dev stop: nothing left running"
cli_ok dev stop --data "$DEV"
grep -qx "destroyed $ID" "$DEV/host.log" || fail "the host agent's cleanup did not destroy $ID: $(tail -n 5 "$DEV/host.log")"
grep -q "stopped" <<<"$OUT" || fail "dev stop said: $OUT"
wait_for 10 bash -c "! ps -o stat= -p $SUP | grep -qv Z" || fail "supervisor still running"
pgrep -f -- "--data $DEV/control" >/dev/null && fail "cloister-control still running"
pgrep -f -- "--data $DEV/host" >/dev/null && fail "cloister-host still running"
pgrep -f -- "--shim $DEV/host" >/dev/null && fail "an enclave shim is still running"
[ -e "$DEV/dev.pid" ] && fail "dev.pid left behind"
cli_ok dev stop --data "$DEV"
grep -q "not running" <<<"$OUT" || fail "second dev stop said: $OUT"

step "restart keeps database, token and host; the enclave runs again"
cli_ok dev --detach --data "$DEV" --port 0 --json
[ "$(pyjson 'j["host_id"]')" = "$FIRST_HOST" ] || fail "new host after restart: $OUT"
NEW_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$DEV/client.json")
[ "$NEW_TOKEN" = "$ADMIN" ] || fail "admin token changed on restart"
SERVER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$DEV/client.json")
cli_ok host list --json --token "$ADMIN"
[ "$(pyjson 'len(j["items"])')" = 1 ] || fail "hosts after restart: $OUT"
wait_for 60 bash -c "'$CLOISTER' enclave describe '$ID' --json | grep -q '\"state\": \"running\"'" ||
	fail "enclave not running again after restart"
kv_roundtrip "$ID" "STATS" "OK keys="
cli_ok enclave destroy "$ID" --wait

step "foreground instance: SIGINT stops everything"
cli_ok dev stop --data "$DEV"
"$CLOISTER" dev --data "$T/fg" --port 0 >"$T/fg.out" 2>"$T/fg.err" &
FG=$!
CL_PIDS+=("$FG")
wait_for 60 grep -q "Press Ctrl-C" "$T/fg.out" || fail "foreground dev did not start: $(cat "$T/fg.err")"
grep -q "export CLOISTER_CONFIG=$T/fg/client.json" "$T/fg.out" || fail "no export hint: $(cat "$T/fg.out")"
kill -INT "$FG"
wait_for 30 bash -c "! kill -0 $FG" || fail "foreground dev ignored SIGINT"
set +e
wait "$FG"
rc=$?
set -e
[ "$rc" = 0 ] || fail "foreground dev exited $rc: $(cat "$T/fg.err")"
pgrep -f -- "--data $T/fg/" >/dev/null && fail "children of the foreground dev still running"
grep -q "cloister dev: stopped" "$T/fg.err" || fail "no stop message: $(cat "$T/fg.err")"

step "a child that dies takes the instance down with one error"
start_dev "$T/crash"
CTL=$(pgrep -o -f -- "--data $T/crash/control") # the oldest: the supervisor (its monitor and worker share its command line)
kill -9 "$CTL"
wait_for 30 bash -c "! [ -e '$T/crash/dev.pid' ]" || fail "supervisor did not notice the dead control plane"
grep -q "error: cloister-control was killed by signal 9" "$T/crash/dev.log" || fail "dev.log: $(cat "$T/crash/dev.log")"
pgrep -f -- "--data $T/crash/host" >/dev/null && fail "host left running after the control plane died"

step "SIGKILL of the supervisor: its children stop too, and a restart works"
cli_ok dev --detach --data "$T/crash" --port 0
SUP=$(cat "$T/crash/dev.pid")
kill -9 "$SUP"
# ("[-]" keeps the pattern from matching the bash -c running pgrep.)
wait_for 30 bash -c "! pgrep -f -- '[-]-data $T/crash/control' && ! pgrep -f -- '[-]-data $T/crash/host'" ||
	fail "children outlived a killed supervisor"
cli_ok dev --detach --data "$T/crash" --port 0
cli_ok dev stop --data "$T/crash"

echo "PASS e2e_dev"
