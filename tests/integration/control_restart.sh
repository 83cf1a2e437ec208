#!/usr/bin/env bash
# control_restart.sh — crash safety of the control plane:
#
#   curl burst ──HTTPS──► cloister-control ──kill -9──► restart on the same data dir
#
# Everything a client saw committed (201/202) survives a kill -9 taken in the
# middle of a burst of writes and of a held host sync; nothing is duplicated;
# the store passes SQLite's integrity check; the admin token is printed only
# on the very first start and keeps working afterwards.
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 2000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out.cur")
[ -n "$ADMIN" ] || fail "no admin token on first start"

as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":100000,"cpus":8}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
as "$TA" POST /v1/enclaves '{"name":"keep","image_id":"'"$IMG"'","memory_mib":64,"cpus":1,"min_level":"software"}'
expect 202; EID=$(jget 'j["enclave"]["id"]'); KEY=$(jget 'j["access_key"]'); JOB=$(jget 'j["job"]["id"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200; GEN=$(jget 'j["generation"]')

# A held sync is in flight while we kill: the restarted server must still
# know the host's generation (persisted), so the agent converges.
( as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":2000}" || true ) >/dev/null 2>&1 &
HELD=$!
# A burst of enclave creations; record which ones the server acknowledged.
burst() {
	for i in $(seq 1 40); do
		out=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
			--data-binary '{"name":"b'"$i"'","image_id":"'"$IMG"'","memory_mib":16,"cpus":1,"min_level":"software"}' \
			"$URL/v1/enclaves" 2>/dev/null) || out=000
		echo "b$i $out"
	done >"$WORK/burst.out"
}
burst &
BURST=$!
# Kill once some creations have been acknowledged (deadline 20 s).
deadline=$((SECONDS + 20))
until [ "$(grep -c ' 202$' "$WORK/burst.out" 2>/dev/null || true)" -ge 5 ]; do
	[ $SECONDS -lt $deadline ] || fail "burst made no progress"
	sleep 0.02
done
ctl_kill9
wait $BURST || true
wait $HELD || true
ACKED=$(grep -c ' 202$' "$WORK/burst.out" || true)
[ "$ACKED" -ge 5 ] || fail "fewer acknowledged creations than expected"

ctl_start --poll-timeout-ms 2000
grep -q '^admin-token:' "$WORK/ctl.out.cur" && fail "admin token printed again after restart"
[ "$(db 'PRAGMA integrity_check')" = ok ] || fail "store integrity"
SCHEMA=$(awk '/#define CTL_SCHEMA_VERSION/{print $3}' "$(dirname "$0")/../../src/control/store.h")
[ "$(db 'SELECT MAX(version) FROM schema_version')" = "$SCHEMA" ] || fail "schema version (want $SCHEMA)"
[ "$(db 'SELECT COUNT(*) FROM schema_version')" = "$SCHEMA" ] || fail "migrations re-applied"

# the old admin token still works; everything committed is there, once
as "$ADMIN" GET /v1/tenants; expect 200
[ "$(jget 'len([t for t in j["items"] if t["name"]=="acme"])')" = 1 ] || fail "tenant lost or duplicated"
as "$TA" GET "/v1/enclaves/$EID"; expect 200; [ "$(jget 'j["name"]')" = keep ] || fail "enclave lost"
as "$TA" GET "/v1/jobs/$JOB"; expect 200
for name in $(awk '$2 == "202" {print $1}' "$WORK/burst.out"); do
	[ "$(db "SELECT COUNT(*) FROM enclaves WHERE name='$name'")" = 1 ] || fail "acknowledged enclave $name lost"
	[ "$(db "SELECT COUNT(*) FROM jobs j JOIN enclaves e ON e.id=j.enclave_id WHERE e.name='$name'")" = 1 ] ||
		fail "job of $name lost or duplicated"
done
# every enclave row has exactly its create job (no half-committed creations)
[ "$(db 'SELECT COUNT(*) FROM enclaves e WHERE (SELECT COUNT(*) FROM jobs j WHERE j.enclave_id=e.id) != 1')" = 0 ] ||
	fail "enclave without exactly one job"

# the host re-syncs with the generation it had: the desired set is complete
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
[ "$(jget 'j["generation"]')" -ge "$GEN" ] || fail "generation went backwards"
N=$(db "SELECT COUNT(*) FROM enclaves WHERE host_id='$HID'")
[ "$(jget 'len(j["enclaves"])')" = "$N" ] || fail "desired set incomplete after restart"

# data ops still need the key, and the key still works
req POST "/v1/enclaves/$EID/stop" -H "Authorization: Bearer $TA"; expect 403 forbidden
req POST "/v1/enclaves/$EID/stop" -H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $KEY"; expect 202

kill -TERM "$CTL_PID"; wait "$CTL_PID" || fail "non-zero exit on SIGTERM"; CTL_PID=
echo "control_restart: all checks passed"
