#!/usr/bin/env bash
# host_remove.sh — `cloister host remove`: a host leaves the fleet.
#
#   cloister CLI / curl (admin) ──► cloister-control (poll 30 s) ◄── cloister-host H1 --data $WORK/host
#                                                                ◄── cloister-host H2 --data $WORK/host2 (later)
#
# H1 runs enclave A; with H1's agent paused (SIGSTOP) A gets a stop job and
# B is created (jobs left active). Removing H1: A and B end lost with those
# jobs failed, H1's token is refused (401, "removed from the fleet"), H1 is
# out of the host list and of placement; resumed, H1's agent destroys its
# sandboxes and exits with the clear message. H2, idle in a held sync,
# is answered at once when removed (its agent exits long before the 30 s
# hold). Also: the join token never on the agent's command line, from a file
# (a world-readable one refused) and from the environment (not inherited by
# the shims).
CTL_POLL_MS=30000
HOST_POLL_MS=30000
source "$(dirname "$0")/host_lib.sh"
# host_lib's fail, but first resume an agent this test stopped (SIGSTOP): the
# EXIT trap's SIGTERM and wait would never return for a stopped one.
fail() {
	[ -n "$HOST_PID" ] && kill -CONT "$HOST_PID" $(pgrep -P "$HOST_PID") 2>/dev/null
	echo "FAIL: $*"
	[ -f "$WORK/host.err" ] && { echo "--- host.err"; tail -n 25 "$WORK/host.err"; }
	[ -f "$WORK/ctl.err" ] && { echo "--- ctl.err"; tail -n 15 "$WORK/ctl.err"; }
	exit 1
}

ctl_start
export CLOISTER_SERVER=$URL CLOISTER_CA=$CA CLOISTER_TOKEN=$ADMIN
unset CLOISTER_CONFIG

# --- the join token: a world-readable file is refused, nothing registered ---
JT=$(join_token)
printf '%s\n' "$JT" >"$WORK/join.tok"
chmod 644 "$WORK/join.tok"
rc=0
timeout 20 "$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/leaky" --join-token-file "$WORK/join.tok" \
	>"$WORK/leaky.out" 2>"$WORK/leaky.err" || rc=$? # (accepted, it would run: the timeout ends it)
[ $rc != 0 ] || fail "a world-readable join token file was accepted"
grep -q 'other users may access it' "$WORK/leaky.err" || fail "unclear refusal: $(cat "$WORK/leaky.err")"
grep -qF "${JT##*_}" "$WORK/leaky.err" && fail "the join token was echoed"
[ ! -e "$WORK/leaky/host.json" ] || fail "a refused token file registered a host"
req GET /v1/hosts
[ "$(jget 'len(j["items"])')" = 0 ] || fail "a host registered: $BODY"

# --- the deprecated --join-token still works, warns, and is wiped from argv ---
JT0=$(join_token)
"$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/h0" --poll-timeout-ms "$HOST_POLL_MS" --join-token "$JT0" \
	>"$WORK/h0.out" 2>"$WORK/h0.err" &
HOST_PID=$! # the EXIT trap stops it if this part fails
wait_for 20 "H0 registered" grep -q '^host-id: ' "$WORK/h0.out"
H0=$(awk '/^host-id: /{print $2}' "$WORK/h0.out")
grep -q '^warning: --join-token is visible to every user' "$WORK/h0.err" || fail "no warning: $(cat "$WORK/h0.err")"
tr '\0' ' ' <"/proc/$HOST_PID/cmdline" >"$WORK/cmdline"
grep -qF "${JT0##*_}" "$WORK/cmdline" && fail "--join-token left in the agent's argv: $(cat "$WORK/cmdline")"
host_stop
req DELETE "/v1/hosts/$H0"
[ "$STATUS" = 200 ] || fail "remove H0: $STATUS $BODY"

# --- H1 joins with the token from a 0600 file: not on its command line ---
chmod 600 "$WORK/join.tok"
host_start --join-token-file "$WORK/join.tok"
H1=$HOST_ID
tr '\0' ' ' <"/proc/$HOST_PID/cmdline" >"$WORK/cmdline"
grep -qF "${JT##*_}" "$WORK/cmdline" && fail "the join token is on the agent's command line"
grep -q -- '--join-token-file' "$WORK/cmdline" || fail "cmdline not read: $(cat "$WORK/cmdline")"
wait_for 20 "H1 ready" host_is ready
image_upload
enclave_create a
A=$ENC
wait_for 60 "A running" enclave_is "$A" running
assert_running "$A"
H1_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_token"])' "$HDATA/host.json")

# --- pause H1's agent: a stop job on A and a create job for B stay active ---
# (cloister-host is a supervisor and its parts: stop them all, shims aside)
host_tree() { kill "$1" "$HOST_PID" $(pgrep -P "$HOST_PID"); }
host_tree -STOP
req POST "/v1/enclaves/$A/stop" -H "X-Cloister-Access-Key: ${KEYS[$A]}"
[ "$STATUS" = 202 ] || fail "stop A: $STATUS $BODY"
JOB_A=$(jget 'j["job"]["id"]')
enclave_create b
B=$ENC
JOB_B=$(jget 'j["job"]["id"]')

# --- remove H1 (the CLI asks for --yes when stdin is not a terminal) ---
rc=0
"$CLI_BIN" host remove "$H1" </dev/null >"$WORK/rm.out" 2>"$WORK/rm.err" || rc=$?
[ $rc = 2 ] || fail "host remove without --yes off a terminal: exit $rc"
grep -q -- '--yes' "$WORK/rm.err" || fail "unclear: $(cat "$WORK/rm.err")"
host_is ready || fail "a refused remove changed the host"
OUT=$("$CLI_BIN" host remove "$H1" --yes) || fail "host remove failed"
grep -q "^removed: $H1 (enclaves lost: 2" <<<"$OUT" || fail "host remove said: $OUT"

# its enclaves: lost, with their active jobs failed
for e in "$A" "$B"; do
	req GET "/v1/enclaves/$e"
	[ "$(jget 'j["state"]')" = lost ] || fail "enclave $e after host remove: $BODY"
	grep -q 'removed from the fleet' <<<"$(jget 'j["error"]')" || fail "enclave $e error: $BODY"
done
for j in "$JOB_A" "$JOB_B"; do
	req GET "/v1/jobs/$j"
	[ "$(jget 'j["state"]')" = failed ] || fail "job $j after host remove: $BODY"
	grep -q 'removed from the fleet' <<<"$(jget 'j["error"]')" || fail "job $j error: $BODY"
done
# only destroy is left for them
req POST "/v1/enclaves/$B/start" -H "X-Cloister-Access-Key: ${KEYS[$B]}"
[ "$STATUS" = 409 ] || fail "start on a lost enclave of a removed host: $STATUS $BODY"
# its token: refused, saying why
curl -sS --cacert "$CA" -o "$WORK/sync.out" -w '%{http_code}' -H "Authorization: Bearer $H1_TOKEN" \
	-H 'Content-Type: application/json' --data-binary '{"generation":0,"wait_ms":0}' "$URL/v1/hosts/$H1/sync" >"$WORK/sync.code"
[ "$(cat "$WORK/sync.code")" = 401 ] || fail "removed host's sync: $(cat "$WORK/sync.code") $(cat "$WORK/sync.out")"
grep -q 'this host was removed from the fleet' "$WORK/sync.out" || fail "401 message: $(cat "$WORK/sync.out")"
# out of the fleet's list (kept, readable, as removed) and out of placement
host_is absent || fail "H1 still listed: $(host_state)"
req GET "/v1/hosts?state=removed"
[ "$(jget "sorted(h['id'] for h in j['items']) == sorted(['$H0', '$H1'])")" = True ] || fail "removed list: $BODY"
req GET "/v1/hosts/$H1/fw"
[ "$STATUS" = 200 ] || fail "a removed host's firmware record is not readable: $STATUS"
json POST "/v1/hosts/$H1/power-cycle" '{}'
[ "$STATUS" = 409 ] || fail "a firmware op was queued for a removed host: $STATUS $BODY"
req GET "/v1/tokens?limit=500"
[ "$(jget "[t['state'] for t in j['items'] if t['host_id']=='$H1'][0]")" = revoked ] || fail "H1's token not revoked: $BODY"
json POST /v1/enclaves "{\"name\":\"c\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
[ "$STATUS" = 503 ] || fail "placement used a removed host: $STATUS $BODY"
grep -q 'no hosts registered' <<<"$BODY" || fail "placement saw the removed host: $BODY"
req DELETE "/v1/hosts/$H1"
[ "$STATUS" = 409 ] || fail "removing twice: $STATUS $BODY"

# --- resumed, H1's agent destroys its enclaves and stops, saying why ---
host_tree -CONT
agent_gone() { ! kill -0 "$HOST_PID" 2>/dev/null; }
wait_for 60 "H1's agent to stop" agent_gone
rc=0
wait "$HOST_PID" || rc=$?
HOST_PID=
[ $rc != 0 ] || fail "the removed host's agent exited 0"
grep -q '^error: this host was removed from the fleet' "$WORK/host.err" || fail "no clear message: $(tail -5 "$WORK/host.err")"
assert_gone "$A"
[ "$(sandbox_count)" = 0 ] || fail "sandboxes left on the removed host: $(ls "$HDATA/sandboxes")"
assert_no_stray_shims
# a lost enclave of a removed host is destroyed at once
enclave_destroy "$A"
wait_for 10 "A deleted" enclave_is "$A" absent

# --- H2 (token in the environment), idle in a held sync, removed ---
HDATA="$WORK/host2"
: >"$WORK/host.err"
host_start --join-token "$(join_token)"
H2=$HOST_ID
tr '\0' ' ' <"/proc/$HOST_PID/cmdline" >"$WORK/cmdline"
grep -q 'clj_' "$WORK/cmdline" && fail "the join token is on H2's command line"
grep -q 'CLOISTER_JOIN_TOKEN=clj_' "/proc/$HOST_PID/environ" && fail "the join token is still in H2's environment"
wait_for 20 "H2 ready" host_is ready
enclave_create d
D=$ENC
wait_for 60 "D running" enclave_is "$D" running
assert_running "$D"
grep -q 'CLOISTER_JOIN_TOKEN=clj_' "/proc/${SHIMPID[$D]}/environ" && fail "a shim inherited the join token"
waiters() { curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" | grep "^cloister_sync_waiters $1\$" >/dev/null; }
wait_for 20 "H2's sync held" waiters 1
req DELETE "/v1/hosts/$H2"
[ "$STATUS" = 200 ] || fail "remove H2: $STATUS $BODY"
[ "$(jget 'j["enclaves_lost"]')" = 1 ] && [ "$(jget 'j["token_revoked"]')" = True ] || fail "remove answer: $BODY"
# its held sync is answered now: the agent stops well inside the 30 s hold
wait_for 10 "H2's agent to stop (held sync answered)" agent_gone
wait "$HOST_PID" || true
HOST_PID=
grep -q '^error: this host was removed from the fleet' "$WORK/host.err" || fail "H2: no clear message"
assert_gone "$D"
waiters 0 || fail "a sync is still held for a removed host"
echo "host_remove: ok"
