#!/usr/bin/env bash
# control_api.sh — the control plane's HTTPS API end to end, with curl as the
# tenant, the admin and a fake host:
#
#   curl (admin / tenant / fake host) ──HTTPS──► cloister-control (port 0, temp dir)
#
# Checks every endpoint's happy path and its refusals (401/403/404/400/409/413/503),
# and that failed requests change nothing in the store.
source "$(dirname "$0")/control_lib.sh"

# A host is lost after 3 x the poll timeout without a sync: with a short one,
# any slow step on a loaded machine lost the fake host mid-test. The lost
# check at the end restarts the server with 1000 ms instead.
ctl_start --poll-timeout-ms 20000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
[[ "$ADMIN" == clt_* ]] || fail "no admin token printed"
# As root DATA is root:worker 0710 (the worker's uid enters it), else 0700;
# DATA/keys is the monitor's alone (docs/monitor.md)
[ "$(stat -c %a "$WORK/data")" = "$([ "$(id -u)" = 0 ] && echo 710 || echo 700)" ] || fail "data dir mode"
[ "$(stat -c %a "$WORK/data/keys")" = 700 ] || fail "keys dir not 0700"
[ "$(stat -c %a "$WORK/data/keys/ca.key")" = 600 ] || fail "keys/ca.key not 0600"
openssl x509 -in "$CA" -noout -text | grep 'NIST CURVE: P-384' >/dev/null || fail "CA is not P-384"
grep -q "$ADMIN" "$WORK/ctl.err" && fail "admin token leaked into the log"
[ "$(db 'PRAGMA journal_mode')" = wal ] || fail "store not in WAL mode"

# health needs no token; metrics an admin (or metrics) token (control_tokens.sh)
req GET /healthz; expect 200; [ "$(jget 'j["status"]')" = ok ] || fail healthz
as "$ADMIN" GET /metrics; expect 200; grep -q '^cloister_hosts{state="ready"} 0' <<<"$BODY" || fail "metrics: $BODY"

# authentication
req GET /v1/tenants; expect 401 unauthorized
as "clt_tok-nope_deadbeef" GET /v1/tenants; expect 401 unauthorized
as "${ADMIN%?}x" GET /v1/tenants; expect 401 unauthorized
as garbage GET /v1/tenants; expect 401 unauthorized

# tenants
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201; OTHER=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 409 conflict
as "$ADMIN" POST /v1/tenants '{"name":"Acme"}'; expect 400 invalid
as "$ADMIN" POST /v1/tenants '{"name":"acme2","extra":1}'; expect 400 invalid
as "$ADMIN" POST /v1/tenants '{"name":'; expect 400 invalid
as "$ADMIN" POST /v1/tenants '[1,2]'; expect 400 invalid
as "$ADMIN" POST /v1/tenants '{"name":"a","name":"b"}'; expect 400 invalid
python3 -c 'print("{\"name\":\"" + "a"*(1<<20) + "\"}")' >"$WORK/big.json"
req POST /v1/tenants -H "Authorization: Bearer $ADMIN" --data-binary @"$WORK/big.json"; expect 413 too_large
[ "$(db 'SELECT COUNT(*) FROM tenants')" = 3 ] || fail "failed requests changed tenants"
as "$ADMIN" GET /v1/tenants; expect 200; [ "$(jget 'len(j["items"])')" = 3 ] || fail "tenant list"

# tokens
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"ci\"}"; expect 201; TO=$(jget 'j["token"]')
as "$TA" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci2\"}"; expect 201
as "$TA" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"x\"}"; expect 403 forbidden
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-nosuch","name":"x"}'; expect 404 not_found
as "$TA" GET /v1/tenants; expect 403 forbidden
db 'SELECT hash FROM tokens' | grep "${TA##*_}" >/dev/null && fail "token secret stored in clear"

# join + register + sync as a fake host
as "$TA" POST /v1/hosts/join-tokens; expect 403 forbidden
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2,"zone":"z1","features":{"seccomp":true},"latency":[{"resource":"db","latency_us":100,"hops":1}]}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":99999999999,\"cpus\":2}}"
expect 400 invalid
req POST /v1/hosts/register --data-binary "{\"join_token\":\"clj_join-nosuch_00\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 401 unauthorized
[ "$(db 'SELECT COUNT(*) FROM hosts')" = 0 ] || fail "failed registration created a host"
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h2\",\"capabilities\":$CAPS}"
expect 401 unauthorized   # join tokens are one-time
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0,"enclaves":[],"results":[],"capabilities":'"$CAPS"'}'
expect 200; GEN=$(jget 'j["generation"]')
as "$TA" POST "/v1/hosts/$HID/sync" '{"generation":0}'; expect 403 forbidden
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":"x"}'; expect 400 invalid
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"enclaves":[{"id":"enc-x","state":"weird"}]}'; expect 400 invalid
as "$ADMIN" GET /v1/hosts; expect 200
[ "$(jget 'j["items"][0]["state"]')" = ready ] || fail "host not ready: $BODY"
[ "$(jget 'j["items"][0]["memory_free_mib"]')" = 1024 ] || fail "memory_free_mib: $BODY"

# hb: a heartbeat sync from the fake host
hb() { as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200; }

# images
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
[ "$(jget 'j["sha384"]')" = "$(sha384sum "$WORK/hello.img" | cut -d' ' -f1)" ] || fail "image digest"
[ -f "$WORK/data/images/by-digest/$(jget 'j["sha384"]')" ] || fail "image file not stored by its digest"
printf 'CLIMAGE1\0\0\0\4junk' >"$WORK/bad.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/bad.img"
expect 400 invalid
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' --data-binary @"$WORK/hello.img"
expect 400 invalid
[ "$(db 'SELECT COUNT(*) FROM images')" = 1 ] || fail "bad images stored"
as "$TA" GET /v1/images; expect 200; [ "$(jget 'len(j["items"])')" = 1 ] || fail "image list"
as "$TO" GET /v1/images; expect 200; [ "$(jget 'len(j["items"])')" = 0 ] || fail "other tenant sees images"

# enclaves: validation, placement refusal, creation
E='"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"'
for bad in '{"name":"e1",'"$E"',"memory_mib":8}' '{"name":"e1",'"${E/\"memory_mib\":64/\"memory_mib\":70000}"'}' \
	'{"name":"e1",'"${E/\"cpus\":1/\"cpus\":65}"'}' '{"name":"E1",'"$E"'}' '{"name":"e1",'"$E"',"bogus":1}' \
	'{"name":"e1",'"${E/software/diamond}"'}' '{"name":"e1",'"$E"',"policy":{"untrusted":["fly"]}}' \
	'{"name":"e1",'"${E/\"memory_mib\":64/\"memory_mib\":\"64\"}"'}'; do
	as "$TA" POST /v1/enclaves "$bad"; expect 400 invalid
done
hb
as "$TA" POST /v1/enclaves '{"name":"e1",'"${E/software/sgx}"'}'; expect 503 unavailable
grep -q sgx <<<"$BODY" || fail "503 does not name the unmet constraint: $BODY"
as "$TA" POST /v1/enclaves '{"name":"e1",'"$E"',"near":[{"resource":"db","latency_us":10}]}'; expect 503 unavailable
as "$TO" POST /v1/enclaves '{"name":"e1",'"$E"'}'; expect 404 not_found   # not its image
[ "$(db 'SELECT COUNT(*) FROM enclaves')" = 0 ] || fail "failed creates left enclaves"
[ "$(db 'SELECT COUNT(*) FROM jobs')" = 0 ] || fail "failed creates left jobs"
hb
as "$TA" POST /v1/enclaves '{"name":"e1",'"$E"',"near":[{"resource":"db","latency_us":500}]}'; expect 202
EID=$(jget 'j["enclave"]["id"]'); KEY=$(jget 'j["access_key"]'); JOB=$(jget 'j["job"]["id"]')
[[ "$KEY" == clk_* ]] || fail "no access key"
grep -q "${KEY#clk_}" "$WORK/ctl.err" && fail "access key leaked into the log"
as "$TA" POST /v1/enclaves '{"name":"e1",'"$E"'}'; expect 409 conflict
as "$TA" GET "/v1/jobs/$JOB"; expect 200; [ "$(jget 'j["state"]')" = pending ] || fail "job: $BODY"

# the host's sync answers at once with the new generation and the desired set
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":5000,\"enclaves\":[]}"; expect 200
[ "$(jget 'j["generation"]')" -gt "$GEN" ] || fail "generation not bumped"
GEN=$(jget 'j["generation"]')
[ "$(jget 'j["enclaves"][0]["id"]')" = "$EID" ] || fail "desired set: $BODY"
[ "$(jget 'j["enclaves"][0]["desired"]')" = running ] || fail "desired state: $BODY"
REQ_OUT="$WORK/fetched.img" req GET "/v1/images/$IMG" -H "Authorization: Bearer $HT"; expect 200
cmp -s "$WORK/fetched.img" "$WORK/hello.img" || fail "fetched image differs"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}]}"
expect 200
as "$TA" GET "/v1/jobs/$JOB"; expect 200; [ "$(jget 'j["state"]')" = succeeded ] || fail "job not done: $BODY"
as "$TA" GET "/v1/enclaves/$EID"; expect 200; [ "$(jget 'j["state"]')" = running ] || fail "state: $BODY"

# access: same tenant without key (policy), other tenant (404), admin (metadata only)
as "$TA" GET "/v1/enclaves"; expect 200; [ "$(jget 'len(j["items"])')" = 1 ] || fail "list: $BODY"
as "$TO" GET "/v1/enclaves"; expect 200; [ "$(jget 'len(j["items"])')" = 0 ] || fail "other tenant lists it"
as "$TO" GET "/v1/enclaves/$EID"; expect 404 not_found
as "$TO" DELETE "/v1/enclaves/$EID"; expect 404 not_found
as "$TA" POST "/v1/enclaves/$EID/stop" '{}'; expect 403 forbidden
req POST "/v1/enclaves/$EID/stop" -H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: clk_forged"; expect 403 forbidden
as "$ADMIN" GET "/v1/enclaves/$EID"; expect 200
as "$ADMIN" GET "/v1/enclaves"; expect 200; [ "$(jget 'len(j["items"])')" = 1 ] || fail "admin list"
req POST "/v1/enclaves/$EID/send" -H "Authorization: Bearer $ADMIN" --data-binary '{"data":"aGk="}'; expect 403 forbidden
grep -q 'denied reason=no-access-key' "$WORK/ctl.err" || fail "denial not logged"
as "$TA" GET "/v1/enclaves/enc-nosuch"; expect 404 not_found
as "$TA" GET "/v1/enclaves?limit=0"; expect 400 invalid
as "$TA" GET "/v1/enclaves?limit=501"; expect 400 invalid
as "$TA" GET "/v1/jobs/job-nosuch"; expect 404 not_found
as "$TO" GET "/v1/jobs/$JOB"; expect 404 not_found

hb
K=(-H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $KEY")
# send relayed through sync (the send may wake a held sync or ride the next
# one: the wake-up itself is checked in control_sync.sh)
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0}"; expect 200
( req POST "/v1/enclaves/$EID/send" "${K[@]}" --data-binary '{"data":"aGVsbG8="}'; echo "$STATUS $BODY" >"$WORK/send.out" ) &
SENDER=$!
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":900}"; expect 200
OPS=$(jget 'len(j["ops"])')
if [ "$OPS" = 0 ]; then # the send had not arrived yet: poll again (deadline via wait_ms)
	as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":900}"; expect 200
fi
OP=$(jget 'j["ops"][0]["op"]'); [ "$(jget 'j["ops"][0]["kind"]')" = send ] || fail "op: $BODY"
[ "$(jget 'j["ops"][0]["data"]')" = aGVsbG8= ] || fail "op data: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$OP" '{"ok":true}'; expect 200
wait $SENDER
[ "$(cat "$WORK/send.out")" = '200 {"sent":5}' ] || fail "send: $(cat "$WORK/send.out")"
as "$HT" POST "/v1/hosts/$HID/ops/$OP" '{"ok":true}'; expect 404 not_found
req POST "/v1/enclaves/$EID/send" "${K[@]}" --data-binary '{"data":"not base64!"}'; expect 400 invalid

# recv answered through a sync's "results"; logs answered with a host failure
( req POST "/v1/enclaves/$EID/recv" "${K[@]}" --data-binary '{"max":16,"wait_ms":100}'; echo "$STATUS $BODY" >"$WORK/recv.out" ) &
RECVER=$!
( REQ_OUT= req GET "/v1/enclaves/$EID/logs" "${K[@]}"; echo "$STATUS $BODY" >"$WORK/logs.out" ) &
LOGGER=$!
deadline=$((SECONDS + 15)); ROP=; LOP=
until [ -n "$ROP" ] && [ -n "$LOP" ]; do
	[ $SECONDS -lt $deadline ] || fail "recv/logs ops never reached the host"
	as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":500}"; expect 200
	[ "$(jget 'all(o["max"] == 16 for o in j["ops"] if o["kind"] == "recv")')" = True ] || fail "recv max: $BODY"
	for k in $(jget '" ".join(o["kind"]+"="+o["op"] for o in j["ops"])'); do
		case $k in recv=*) ROP=${k#recv=} ;; logs=*) LOP=${k#logs=} ;; esac
	done
done
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"results\":[{\"op\":\"$ROP\",\"ok\":true,\"data\":\"b3V0\"}]}"
expect 200
as "$HT" POST "/v1/hosts/$HID/ops/$LOP" '{"ok":false,"error":"shim\u0007 gone"}'; expect 200
wait $RECVER $LOGGER
[ "$(cat "$WORK/recv.out")" = '200 {"data":"b3V0"}' ] || fail "recv: $(cat "$WORK/recv.out")"
grep -q '^503 .*"code":"unavailable".*host: shim? gone' "$WORK/logs.out" || fail "logs failure: $(cat "$WORK/logs.out")"
as "$HT" POST "/v1/hosts/$HID/ops/$LOP" '{"ok":"yes"}'; expect 400 invalid

hb
# resize and stop: jobs complete when the host reports the new state
req POST "/v1/enclaves/$EID/resize" "${K[@]}" --data-binary '{"memory_mib":99999}'; expect 400 invalid
req POST "/v1/enclaves/$EID/resize" "${K[@]}" --data-binary '{"memory_mib":2048}'; expect 503 unavailable
req POST "/v1/enclaves/$EID/resize" "${K[@]}" --data-binary '{"memory_mib":128}'; expect 202; RJ=$(jget 'j["job"]["id"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":128}]}"
expect 200; GEN=$(jget 'j["generation"]'); [ "$(jget 'j["enclaves"][0]["memory_mib"]')" = 128 ] || fail "resize desired"
as "$TA" GET "/v1/jobs/$RJ"; [ "$(jget 'j["state"]')" = succeeded ] || fail "resize job: $BODY"
req POST "/v1/enclaves/$EID/stop" "${K[@]}"; expect 202; SJ=$(jget 'j["job"]["id"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"stopped\",\"memory_mib\":128}]}"
expect 200; GEN=$(jget 'j["generation"]'); [ "$(jget 'j["enclaves"][0]["desired"]')" = stopped ] || fail "stop desired"
as "$TA" GET "/v1/jobs/$SJ"; [ "$(jget 'j["state"]')" = succeeded ] || fail "stop job: $BODY"

# destroy: the enclave leaves the desired set, the job ends when the host no longer reports it
req DELETE "/v1/enclaves/$EID" "${K[@]}"; expect 202; DJ=$(jget 'j["job"]["id"]')
req DELETE "/v1/enclaves/$EID" "${K[@]}"; expect 409 conflict
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"stopped\"}]}"
expect 200; [ "$(jget 'len(j["enclaves"])')" = 0 ] || fail "destroyed enclave still desired: $BODY"
as "$TA" GET "/v1/jobs/$DJ"; [ "$(jget 'j["state"]')" != succeeded ] || fail "destroy done too early"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[]}"; expect 200
as "$TA" GET "/v1/jobs/$DJ"; [ "$(jget 'j["state"]')" = succeeded ] || fail "destroy job: $BODY"
as "$TA" GET "/v1/enclaves/$EID"; expect 404 not_found

as "$ADMIN" GET /metrics; grep -q '^cloister_http_requests_total{status="403"}' <<<"$BODY" || fail "metrics statuses"

# a host that stops syncing is marked lost (3 x the poll timeout: restarted with 1000 ms)
ctl_kill9
ctl_start --poll-timeout-ms 1000
as "$ADMIN" GET /v1/hosts; expect 200
deadline=$((SECONDS + 15))
until as "$ADMIN" GET /v1/hosts && [ "$(jget 'j["items"][0]["state"]')" = lost ]; do
	[ $SECONDS -lt $deadline ] || fail "host never marked lost"
	sleep 0.2
done
as "$ADMIN" GET /metrics; grep -q '^cloister_hosts{state="lost"} 1' <<<"$BODY" || fail "metrics lost host"

# clean shutdown on SIGTERM
kill -TERM "$CTL_PID"; wait "$CTL_PID" || fail "non-zero exit on SIGTERM"; CTL_PID=
echo "control_api: all checks passed"
