#!/usr/bin/env bash
# host_wake.sh — the real agent's long poll is woken by the control plane.
# Both sides poll for 20 s (as under `cloister dev`), so a change that only
# rode the next poll would take up to 20 s; every step below must finish in
# under 10 s (half the poll), timed from its request:
#   - create: the host is sent the enclave (its job turns "running");
#   - stop freezes the enclave, start thaws it;
#   - send and recv reach the application (kvstore) and come back;
#   - destroy removes it (the agent reports it gone, the row is deleted).
# These fail when ctl_sync_wake does nothing, or when the agent does not hold
# a new sync right after each answer. (Functional checks with a wide margin,
# not latency measurements: bench/ has those.)
#
#   curl ──► cloister-control ══ held sync (20 s) ══ cloister-host ──► shim ──► kvstore
CTL_POLL_MS=20000 HOST_POLL_MS=20000
source "$(dirname "$0")/host_lib.sh"
WAKE_S=10 # half the poll

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
image_upload
job_sent() { req GET "/v1/jobs/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
enclave_create kv
ID=$ENC
wait_for $WAKE_S "the create to reach the host (job sent)" job_sent "$(jget 'j["job"]["id"]')"
wait_for 60 "enclave running" enclave_is "$ID" running
K=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")

json POST "/v1/enclaves/$ID/stop" '{}' "${K[@]}"
[ "$STATUS" = 202 ] || fail "stop: $STATUS $BODY"
wait_for $WAKE_S "enclave stopped (woken)" enclave_is "$ID" stopped
json POST "/v1/enclaves/$ID/start" '{}' "${K[@]}"
[ "$STATUS" = 202 ] || fail "start: $STATUS $BODY"
wait_for $WAKE_S "enclave running again (woken)" enclave_is "$ID" running

# send, then recv until the answer: each request rides a wake-up
start=$SECONDS
json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(printf 'PUT k v\n' | base64 -w0)\"}" "${K[@]}"
[ "$STATUS" = 200 ] || fail "send: $STATUS $BODY"
[ $((SECONDS - start)) -lt $WAKE_S ] || fail "send took $((SECONDS - start)) s: not woken"
got=
until [[ "$got" == *$'\n'* ]]; do
	[ $((SECONDS - start)) -lt $WAKE_S ] || fail "no reply within ${WAKE_S}s (got '$got'): not woken"
	json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":500}' "${K[@]}"
	[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
	got+=$(jget 'j["data"]' | base64 -d; echo x)
	got=${got%x}
done
[ "$got" = $'OK\n' ] || fail "PUT answered '$got'"

enclave_destroy "$ID"
wait_for $WAKE_S "enclave destroyed (woken)" enclave_is "$ID" absent
wait_for 10 "sandbox removed" eval '! has_sandbox "$ID"'
echo "host_wake: ok"
