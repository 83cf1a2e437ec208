#!/usr/bin/env bash
# control_jobwait.sh — GET /v1/jobs/{id}?wait=SECONDS against cloister-control
# with a fake host (curl):
#
#   tenant curl ──GET /v1/jobs/J?wait=30 (parked)──► cloister-control ◄──POST sync── fake host (curl)
#
#   - a bad wait value is 400 and parks nothing; wait=0 answers at once;
#   - a parked wait is answered when the host's report finishes its job: with
#     state "succeeded" (curl gives up after 20 s of the 30 s wait, so a wait
#     that is not woken fails here);
#   - a wait that ends answers the job's current (not final) state;
#   - a tenant parks at most 64 waits: the 65th is 429 with Retry-After, while
#     another tenant still parks one; all of them are answered when the jobs
#     finish; `cloister enclave create --wait` at the cap follows its job
#     without a wait (its refused wait counted as a 429 in /metrics);
#   - kill -9 right after the host was sent a new enclave loses nothing: the
#     job's "delivered" mark (a commit without its own fsync) and every
#     earlier final state are there after the restart;
#   - a caller that goes away frees its wait;
#   - removing the host fails its enclaves' jobs: their waits answer "failed".
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 20000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tenants '{"name":"beta"}'; expect 201; BETA=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$BETA\",\"name\":\"ci\"}"; expect 201; TB=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":4096,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
mkimage "$WORK/hello.img"
upload() { # upload TOKEN: prints the image id
	req POST /v1/images -H "Authorization: Bearer $1" -H 'Content-Type: application/octet-stream' \
		--data-binary @"$WORK/hello.img"
	expect 201; jget 'j["id"]'
}
IMA=$(upload "$TA"); IMB=$(upload "$TB")
# create TOKEN IMAGE NAME: creates an enclave; sets EID and JOB
create() {
	as "$1" POST /v1/enclaves '{"name":"'$3'","image_id":"'$2'","memory_mib":32,"cpus":1,"min_level":"software"}'
	expect 202; EID=$(jget 'j["enclave"]["id"]'); JOB=$(jget 'j["job"]["id"]')
}
# report ID...: the fake host reports these enclaves running (one commit)
report() {
	local list= id
	for id in "$@"; do list+="${list:+,}{\"id\":\"$id\",\"state\":\"running\",\"memory_mib\":32}"; done
	as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":[$list]}"; expect 200
}
job_state() { as "$ADMIN" GET "/v1/jobs/$1"; expect 200; jget 'j["state"]'; }
job_waiters() {
	local b
	b=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics") || fail "GET /metrics"
	awk '/^cloister_job_waiters /{print $2}' <<<"$b"
}
waiters_are() { [ "$(job_waiters)" = "$1" ]; }
# park TOKEN JOB OUT: a 30 s wait in the background (curl gives up after 20 s);
# its "status body" lands in OUT
park() {
	(curl -sS --cacert "$CA" --max-time 20 -H "Authorization: Bearer $1" -o "$3.body" -w '%{http_code}' \
		"$URL/v1/jobs/$2?wait=30" >"$3.code" 2>"$3.err" || echo "curl failed: $(cat "$3.err")" >"$3.code") &
	PARKED+=($!)
}
PARKED=()
# answered OUT STATUS STATE: the parked wait saved in OUT got STATUS (and the job in STATE)
answered() {
	[ "$(cat "$1.code")" = "$2" ] || fail "parked wait $1: $(cat "$1.code") $(cat "$1.body" 2>/dev/null)"
	[ -z "${3:-}" ] || [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$1.body")" = "$3" ] ||
		fail "parked wait $1 answered $(cat "$1.body"), not $3"
}

create "$TA" "$IMA" e1; E1=$EID; J1=$JOB
[ "$(job_state "$J1")" = pending ] || fail "a new job is not pending"

# bad wait values: 400, nothing parked, the job unchanged
for w in abc -1 31 1.5 '' 9999 '%201' 1e1; do
	as "$TA" GET "/v1/jobs/$J1?wait=$w"; expect 400 invalid
	grep -q "wait must be whole seconds" <<<"$BODY" || fail "wait=$w: unclear error: $BODY"
done
[ "$(job_waiters)" = 0 ] || fail "a bad wait was parked"
# wait=0 (and no wait) answers at once with the current state; another tenant's job is 404
as "$TA" GET "/v1/jobs/$J1?wait=0"; expect 200; [ "$(jget 'j["state"]')" = pending ] || fail "wait=0: $BODY"
as "$TB" GET "/v1/jobs/$J1?wait=5"; expect 404 not_found
[ "$(job_waiters)" = 0 ] || fail "a wait on another tenant's job was parked"

# a wait that ends answers the current state (here: still pending)
as "$TA" GET "/v1/jobs/$J1?wait=1"; expect 200
[ "$(jget 'j["state"]')" = pending ] || fail "an ended wait did not answer the current state: $BODY"

# a parked wait is answered when the host's report finishes the job
park "$TA" "$J1" "$WORK/w1"
wait_for_waiters() {
	local deadline=$((SECONDS + 10))
	until waiters_are "$1"; do
		[ $SECONDS -lt $deadline ] || fail "job waiters never became $1 (now $(job_waiters))"
		sleep 0.05
	done
}
wait_for_waiters 1
report "$E1"
wait "${PARKED[@]}"; PARKED=()
answered "$WORK/w1" 200 succeeded
wait_for_waiters 0
# a final job answers at once, wait or not
as "$TA" GET "/v1/jobs/$J1?wait=30"; expect 200; [ "$(jget 'j["state"]')" = succeeded ] || fail "final: $BODY"

# per-tenant cap: 64 parked waits for acme; the 65th is 429; beta still parks one
create "$TA" "$IMA" e2; E2=$EID; J2=$JOB
create "$TB" "$IMB" b1; B1=$EID; JB=$JOB
for i in $(seq 1 64); do park "$TA" "$J2" "$WORK/cap$i"; done
wait_for_waiters 64
curl -sS --cacert "$CA" --max-time 20 -D "$WORK/429.hdr" -o "$WORK/429.body" -w '%{http_code}' -H "Authorization: Bearer $TA" \
	"$URL/v1/jobs/$J2?wait=30" >"$WORK/429.code" 2>/dev/null || true # parked and timed out: 000
STATUS=$(cat "$WORK/429.code"); BODY=$(cat "$WORK/429.body" 2>/dev/null || true); expect 429 too_many_requests
grep -qi '^Retry-After: ' "$WORK/429.hdr" || fail "429 without Retry-After: $(cat "$WORK/429.hdr")"
park "$TB" "$JB" "$WORK/beta"
wait_for_waiters 65
# `cloister enclave create --wait` at the tenant's cap: its job wait is refused
# (429, counted in /metrics) and it follows the job without one
count_429() {
	local b
	b=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics") || fail "GET /metrics"
	awk '/^cloister_http_requests_total\{status="429"\} /{print $2}' <<<"$b"
}
N429=$(count_429)
"$BUILD/bin/cloister" --server "$URL" --ca "$CA" --token "$TA" enclave create --image "$IMA" --name e5 \
	--memory 32M --wait --timeout 60 >"$WORK/cli.out" 2>"$WORK/cli.err" &
CLI_PID=$!
deadline=$((SECONDS + 20))
until [ "$(count_429)" -gt "$N429" ]; do
	kill -0 "$CLI_PID" 2>/dev/null || break
	[ $SECONDS -lt $deadline ] || fail "the CLI's job wait was never refused"
	sleep 0.05
done
[ "$(count_429)" -gt "$N429" ] || fail "the CLI's job wait was never refused: $(cat "$WORK/cli.err")"
as "$TA" GET /v1/enclaves; E5=$(jget '[e["id"] for e in j["items"] if e["name"] == "e5"][0]')
report "$E1" "$E2" "$B1" "$E5"
wait "$CLI_PID" || fail "CLI --wait at the cap failed: $(cat "$WORK/cli.err")"
grep -q "$E5" "$WORK/cli.out" || fail "CLI --wait printed no enclave: $(cat "$WORK/cli.out")"
wait "${PARKED[@]}"; PARKED=()
for i in $(seq 1 64); do answered "$WORK/cap$i" 200 succeeded; done
answered "$WORK/beta" 200 succeeded
wait_for_waiters 0

# kill -9 right after a host was sent a new enclave: the "delivered" mark (a
# commit without its own fsync) survives it, and so does everything committed
# before; the restarted server finishes the job from the host's report
create "$TA" "$IMA" e4; E4=$EID; J4=$JOB
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
[ "$(jget '[e["desired"] for e in j["enclaves"] if e["id"] == "'"$E4"'"]')" = "['running']" ] || fail "e4 not sent: $BODY"
[ "$(job_state "$J4")" = running ] || fail "a job sent to its host is not running"
ctl_kill9
ctl_start --poll-timeout-ms 20000
[ "$(db 'PRAGMA integrity_check')" = ok ] || fail "store damaged by kill -9"
as "$TA" GET "/v1/jobs/$J4"; expect 200
[ "$(jget 'j["state"], j["progress"]')" = "running 50" ] || fail "the delivered mark was lost at a kill -9: $BODY"
for j in "$J1" "$J2" "$JB"; do [ "$(job_state "$j")" = succeeded ] || fail "job $j lost its final state"; done
park "$TA" "$J4" "$WORK/afterkill"
wait_for_waiters 1
report "$E1" "$E2" "$B1" "$E5" "$E4"
wait "${PARKED[@]}"; PARKED=()
answered "$WORK/afterkill" 200 succeeded

# a caller that goes away frees its wait
create "$TA" "$IMA" e3; J3=$JOB
curl -sS --cacert "$CA" --max-time 1 -H "Authorization: Bearer $TA" "$URL/v1/jobs/$J3?wait=30" >/dev/null 2>&1 &&
	fail "a 30 s wait on a pending job answered within 1 s"
wait_for_waiters 0
[ "$(job_state "$J3")" = pending ] || fail "the job changed"

# removing the host fails its enclaves' jobs: their parked waits answer "failed"
park "$TA" "$J3" "$WORK/removed"
wait_for_waiters 1
as "$ADMIN" DELETE "/v1/hosts/$HID"; expect 200
wait "${PARKED[@]}"; PARKED=()
answered "$WORK/removed" 200 failed
echo "control_jobwait: OK"
