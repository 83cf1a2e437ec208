#!/usr/bin/env bash
# host_register.sh — a host joins with a one-time join token, shows up ready,
# keeps its identity across restarts without registering again, and a wrong,
# reused or missing join token fails with a clear error that changes nothing.
#
#   curl (admin) ──► cloister-control ◄── cloister-host --data $WORK/host
source "$(dirname "$0")/host_lib.sh"

ctl_start
JT=$(join_token)

# Bad flags: exit 2, one error line, nothing created.
rc=0
"$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/never" --cpus 0 2>"$WORK/bad.err" || rc=$?
[ $rc = 2 ] || fail "bad flag: exit $rc (want 2)"
grep -q '^error: --cpus' "$WORK/bad.err" || fail "bad flag: unclear error: $(cat "$WORK/bad.err")"
[ ! -e "$WORK/never" ] || fail "bad flag created the data dir"

# A fresh host without a join token: clear error, no registration.
rc=0
"$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/nojoin" 2>"$WORK/nojoin.err" || rc=$?
[ $rc != 0 ] || fail "started without host.json and without a join token"
grep -q 'join-token' "$WORK/nojoin.err" || fail "no-token error unclear: $(cat "$WORK/nojoin.err")"

# A wrong join token: refused with the control plane's reason, no host.json.
rc=0
CLOISTER_JOIN_TOKEN="clj_join-aaaaaaaaaaaaaaaaaaaa_00" "$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/wrong" \
	2>"$WORK/wrong.err" || rc=$?
[ $rc != 0 ] || fail "a wrong join token was accepted"
grep -q 'registration refused' "$WORK/wrong.err" || fail "wrong-token error unclear: $(cat "$WORK/wrong.err")"
[ ! -e "$WORK/wrong/host.json" ] || fail "a refused registration wrote host.json"

# Join.
host_start --join-token "$JT" --name test-host --zone z1 --latency db=250:2
ID1=$HOST_ID
[ -n "$ID1" ] || fail "no host id printed"
wait_for 20 "host ready" host_is ready
[ "$(stat -c %a "$HDATA/host.json")" = 600 ] || fail "host.json mode is $(stat -c %a "$HDATA/host.json")"
grep -q "$ID1" "$HDATA/host.json" || fail "host.json does not hold the host id"
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_token"])' "$HDATA/host.json")
[ -n "$TOKEN" ] || fail "host.json holds no token"
! grep -qF "$TOKEN" "$WORK/host.err" "$WORK/host.out" || fail "the host token reached the logs"
! grep -qF "${JT##*_}" "$WORK/host.err" "$WORK/host.out" || fail "the join token reached the logs"
req GET /v1/hosts
[ "$(jget "[h['name'] for h in j['items'] if h['id']=='$ID1'][0]")" = test-host ] || fail "name not registered: $BODY"
[ "$(jget "[h['zone'] for h in j['items'] if h['id']=='$ID1'][0]")" = z1 ] || fail "zone not registered: $BODY"
[ "$(jget "[h['level'] for h in j['items'] if h['id']=='$ID1'][0]")" = software ] || fail "level is not software"

# A second agent on the same data dir is refused.
rc=0
"$HOST_BIN" --control "$URL" --ca "$CA" --data "$HDATA" 2>"$WORK/second.err" || rc=$?
[ $rc != 0 ] || fail "a second agent ran on the same data dir"
grep -q 'another cloister-host' "$WORK/second.err" || fail "second agent error unclear: $(cat "$WORK/second.err")"

# SIGTERM: prompt clean exit.
host_stop

# Restart: same identity, no new host, no join token needed. The used join
# token on the command line is ignored, not re-sent.
host_start --join-token "$JT"
[ "$HOST_ID" = "$ID1" ] || fail "host id changed across restart: $ID1 -> $HOST_ID"
wait_for 20 "host ready after restart" host_is ready
req GET /v1/hosts
[ "$(jget 'len(j["items"])')" = 1 ] || fail "restart registered another host: $BODY"
host_stop

# The consumed join token cannot register another host.
rc=0
CLOISTER_JOIN_TOKEN=$JT "$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/reuse" 2>"$WORK/reuse.err" || rc=$?
[ $rc != 0 ] || fail "a used join token registered a second host"
grep -q 'registration refused' "$WORK/reuse.err" || fail "reuse error unclear: $(cat "$WORK/reuse.err")"
req GET /v1/hosts
[ "$(jget 'len(j["items"])')" = 1 ] || fail "host count changed: $BODY"

# A host that stops syncing goes lost; back, it is ready again.
host_start
wait_for 20 "host ready" host_is ready
host_kill9
wait_for 30 "host lost" host_is lost
host_start
wait_for 20 "host ready again" host_is ready
echo "PASS host_register"
