#!/usr/bin/env bash
# control_sync.sh — the host sync long-poll with a fake host (curl) against
# cloister-control (20 s poll timeout, so syncs really are held):
#   - a held sync whose client went away is dropped (connection close callback);
#   - an op whose answer may have been lost is sent again until the host
#     answers, and a sync superseded by a newer one is answered without ops;
#   - every change for a host wakes its held sync: enclave create, stop, start,
#     resize, a channel op (send), destroy, a firmware op (power-cycle). Each
#     held sync would wait 20 s; held_answer (control_lib.sh) fails unless the
#     answer came in under 10 s, so these fail when ctl_sync_wake does nothing;
#   - the security level is pinned by the join token at registration.
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 20000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200; GEN=$(jget 'j["generation"]')
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
as "$TA" POST /v1/enclaves '{"name":"e1","image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"}'; expect 202
EID=$(jget 'j["enclave"]["id"]'); KEY=$(jget 'j["access_key"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}]}"
expect 200; GEN=$(jget 'j["generation"]')
K=(-H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $KEY")
# waiters N: polls /metrics (deadline 10 s) until N host syncs are held
waiters() {
	local deadline=$((SECONDS + 10))
	until as "$ADMIN" GET /metrics; grep -q "^cloister_sync_waiters $1\$" <<<"$BODY"; do
		[ $SECONDS -lt $deadline ] || fail "sync waiters never became $1"
		sleep 0.05
	done
}
# a held sync whose client went away is dropped (connection close callback)
curl -sS --cacert "$CA" --max-time 1 -H "Authorization: Bearer $HT" -H 'Content-Type: application/json' \
	--data-binary "{\"generation\":$GEN,\"wait_ms\":20000}" "$URL/v1/hosts/$HID/sync" >/dev/null 2>&1 &&
	fail "a sync held 20 s answered within 1 s"
waiters 0
# an op whose answer may have been lost is sent again until the host answers;
# a sync superseded by a newer one of the same host is answered without ops
( req POST "/v1/enclaves/$EID/send" "${K[@]}" --data-binary '{"data":"YWdhaW4="}'; echo "$STATUS $BODY" >"$WORK/send2.out" ) &
SENDER=$!
deadline=$((SECONDS + 15)); OP2=
until [ -n "$OP2" ]; do
	[ $SECONDS -lt $deadline ] || fail "send op never reached the host"
	as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":500}"; expect 200
	OP2=$(jget '" ".join(o["op"] for o in j["ops"])')
done
held_sync "$HID" "$HT" "{\"generation\":$GEN,\"wait_ms\":20000}"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0}"; expect 200
[ "$(jget '[o["op"] for o in j["ops"]]')" = "['$OP2']" ] || fail "op not sent again: $BODY"
[ "$(jget 'j["ops"][0]["data"]')" = YWdhaW4= ] || fail "op data sent again: $BODY"
held_answer; expect 200   # answered by the newer sync, not by its 20 s deadline
[ "$(jget 'len(j["ops"])')" = 0 ] || fail "superseded sync got ops: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$OP2" '{"ok":true}'; expect 200
wait $SENDER
[ "$(cat "$WORK/send2.out")" = '200 {"sent":5}' ] || fail "send again: $(cat "$WORK/send2.out")"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0}"; expect 200
[ "$(jget 'len(j["ops"])')" = 0 ] || fail "answered op sent again: $BODY"

# every change for a host wakes its held sync (answered well before its 20 s wait)
RUN_E1="{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}"
hsync() { # hsync [W1-REPORT]: a held sync reporting e1 running (and w1 as given)
	held_sync "$HID" "$HT" "{\"generation\":$GEN,\"wait_ms\":20000,\"enclaves\":[$RUN_E1${1:+,$1}]}"
}
desired() { jget '[(e["desired"], e["memory_mib"]) for e in j["enclaves"] if e["id"] == "'"$W1"'"]'; }
W1=
hsync
as "$TA" POST /v1/enclaves '{"name":"w1","image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"}'; expect 202
W1=$(jget 'j["enclave"]["id"]'); KW=(-H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $(jget 'j["access_key"]')")
held_answer; expect 200
[ "$(desired)" = "[('running', 64)]" ] || fail "create: held sync not woken with the new enclave: $BODY"
[ "$(jget 'j["generation"]')" -gt "$GEN" ] || fail "create: generation not bumped: $BODY"; GEN=$(jget 'j["generation"]')
hsync "{\"id\":\"$W1\",\"state\":\"running\",\"memory_mib\":64}"
req POST "/v1/enclaves/$W1/stop" "${KW[@]}"; expect 202
held_answer; expect 200
[ "$(desired)" = "[('stopped', 64)]" ] || fail "stop: held sync not woken with the change: $BODY"; GEN=$(jget 'j["generation"]')
hsync "{\"id\":\"$W1\",\"state\":\"stopped\",\"memory_mib\":64}"
req POST "/v1/enclaves/$W1/start" "${KW[@]}"; expect 202
held_answer; expect 200
[ "$(desired)" = "[('running', 64)]" ] || fail "start: held sync not woken with the change: $BODY"; GEN=$(jget 'j["generation"]')
hsync "{\"id\":\"$W1\",\"state\":\"running\",\"memory_mib\":64}"
req POST "/v1/enclaves/$W1/resize" "${KW[@]}" --data-binary '{"memory_mib":128}'; expect 202
held_answer; expect 200
[ "$(desired)" = "[('running', 128)]" ] || fail "resize: held sync not woken with the change: $BODY"; GEN=$(jget 'j["generation"]')
RUN_W1="{\"id\":\"$W1\",\"state\":\"running\",\"memory_mib\":128}"
hsync "$RUN_W1"
( req POST "/v1/enclaves/$W1/send" "${KW[@]}" --data-binary '{"data":"d2FrZQ=="}'; echo "$STATUS $BODY" >"$WORK/send3.out" ) &
SENDER=$!
held_answer; expect 200
[ "$(jget '[(o["kind"], o["enclave"], o["data"]) for o in j["ops"]]')" = "[('send', '$W1', 'd2FrZQ==')]" ] \
	|| fail "send: held sync not woken with the op: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$(jget 'j["ops"][0]["op"]')" '{"ok":true}'; expect 200
wait $SENDER
[ "$(cat "$WORK/send3.out")" = '200 {"sent":4}' ] || fail "send: $(cat "$WORK/send3.out")"
hsync "$RUN_W1"
req DELETE "/v1/enclaves/$W1" "${KW[@]}"; expect 202
held_answer; expect 200
[ "$(desired)" = "[]" ] && [ "$(jget '[e["id"] for e in j["enclaves"]]')" = "['$EID']" ] \
	|| fail "destroy: held sync not woken without the enclave: $BODY"; GEN=$(jget 'j["generation"]')
hsync
as "$ADMIN" POST "/v1/hosts/$HID/power-cycle" '{}'; expect 202; PC=$(jget 'j["op"]')
held_answer; expect 200
[ "$(jget '[o["op"] for o in j["firmware_ops"] if o["kind"] == "power_cycle"]')" = "['$PC']" ] \
	|| fail "power-cycle: held sync not woken with the op: $BODY"; GEN=$(jget 'j["generation"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[$RUN_E1],\"results\":[{\"op\":\"$PC\",\"ok\":true}]}"
expect 200; GEN=$(jget 'j["generation"]')
[ "$(db "SELECT COUNT(*) FROM enclaves WHERE id='$W1'")" = 0 ] || fail "destroyed w1 not deleted once unreported"

# the security level is pinned by the join token at registration
lvcaps() { echo "{\"backends\":[\"process\"],\"level\":\"$1\",\"memory_mib\":1024,\"cpus\":2}"; }
as "$ADMIN" POST /v1/hosts/join-tokens '{"level":"diamond"}'; expect 400 invalid
as "$ADMIN" POST /v1/hosts/join-tokens '{"level":"tpm","x":1}'; expect 400 invalid
as "$ADMIN" POST /v1/hosts/join-tokens '{}'; expect 201; [ "$(jget 'j["level"]')" = software ] || fail "default level: $BODY"
J0=$(jget 'j["token"]')
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$J0\",\"name\":\"h2\",\"capabilities\":$(lvcaps sgx)}"
expect 400 invalid; grep -q 'above what the join token admits' <<<"$BODY" || fail "level refusal message: $BODY"
as "$ADMIN" POST /v1/hosts/join-tokens '{"level":"sev-snp"}'; expect 201; J2=$(jget 'j["token"]')
for lv in sgx tdx; do
	req POST /v1/hosts/register --data-binary "{\"join_token\":\"$J2\",\"name\":\"h2\",\"capabilities\":$(lvcaps $lv)}"
	expect 400 invalid
done
[ "$(db "SELECT COUNT(*) FROM hosts WHERE name='h2'")" = 0 ] || fail "refused registration created a host"
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$J2\",\"name\":\"h2\",\"capabilities\":$(lvcaps tpm)}"
expect 201; H2=$(jget 'j["host_id"]'); T2=$(jget 'j["host_token"]')   # below the admitted level: kept
[ "$(db "SELECT level FROM hosts WHERE id='$H2'")" = tpm ] || fail "registered level"
as "$T2" POST "/v1/hosts/$H2/sync" "{\"generation\":0,\"wait_ms\":0,\"capabilities\":$(lvcaps sgx)}"; expect 200
[ "$(db "SELECT level FROM hosts WHERE id='$H2'")" = tpm ] || fail "sync changed the pinned level"
grep -q "sync level ignored host=$H2 claimed=sgx pinned=tpm" "$WORK/ctl.err" || fail "ignored level not logged"
as "$TA" POST /v1/enclaves '{"name":"e2","image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"sgx"}'
expect 503 unavailable
as "$TA" POST /v1/enclaves '{"name":"e2","image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"tpm"}'; expect 202
[ "$(jget 'j["enclave"]["host_id"]')" = "$H2" ] || fail "tpm enclave not on the tpm host: $BODY"

echo "control_sync: ok"
