#!/usr/bin/env bash
# host_ops.sh — channel ops and enclave changes through the agent: send and
# recv reach the application (kvstore) and come back, logs come from the shim's
# ring, stop/start freeze and thaw, resize changes the memory limit, and an op
# for an enclave that does not answer fails cleanly.
#
#   curl ──► cloister-control ──sync ops──► cloister-host ──► shim ──► kvstore
source "$(dirname "$0")/host_lib.sh"

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
image_upload
enclave_create kv
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
K=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")
b64() { printf '%s' "$1" | base64 -w0; }

# send + recv: the application answers through the agent's workers.
json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(b64 $'PUT greeting hello world\n')\"}" "${K[@]}"
[ "$STATUS" = 200 ] || fail "send: $STATUS $BODY"
[ "$(jget 'j["sent"]')" = 25 ] || fail "send: wrong byte count: $BODY"
got=
deadline=$((SECONDS + 20))
while [[ "$got" != *$'OK\n'* ]]; do
	[ $SECONDS -lt $deadline ] || fail "recv: no reply from the application (got '$got')"
	json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":1000}' "${K[@]}"
	[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
	got+=$(jget 'j["data"]' | base64 -d; echo x)
	got=${got%x}
done
json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(b64 $'GET greeting\n')\"}" "${K[@]}"
[ "$STATUS" = 200 ] || fail "send 2: $STATUS $BODY"
got=
deadline=$((SECONDS + 20))
while [[ "$got" != *$'\n'* ]]; do
	[ $SECONDS -lt $deadline ] || fail "recv 2: no reply (got '$got')"
	json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":1000}' "${K[@]}"
	[ "$STATUS" = 200 ] || fail "recv 2: $STATUS $BODY"
	got+=$(jget 'j["data"]' | base64 -d; echo x)
	got=${got%x}
done
[ "$got" = $'OK hello world\n' ] || fail "GET returned '$got'"

# logs come back (whatever the application wrote to stderr; may be empty).
req GET "/v1/enclaves/$ID/logs" "${K[@]}"
[ "$STATUS" = 200 ] || fail "logs: $STATUS $BODY"
jget 'j["data"]' | base64 -d >/dev/null || fail "logs: data is not base64"

# stop -> frozen; start -> running again, same sandbox (no relaunch).
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
json POST "/v1/enclaves/$ID/stop" '{}' "${K[@]}"
[ "$STATUS" = 202 ] || [ "$STATUS" = 200 ] || fail "stop: $STATUS $BODY"
wait_for 30 "enclave stopped" enclave_is "$ID" stopped
json POST "/v1/enclaves/$ID/start" '{}' "${K[@]}"
[ "$STATUS" = 202 ] || [ "$STATUS" = 200 ] || fail "start: $STATUS $BODY"
wait_for 30 "enclave running again" enclave_is "$ID" running
[ "$(cat "$HDATA/sandboxes/$ID/shim.pid")" = "$SHIM" ] || fail "start relaunched the enclave"

# resize: the agent applies the new limit.
json POST "/v1/enclaves/$ID/resize" '{"memory_mib":96}' "${K[@]}"
[ "$STATUS" = 202 ] || [ "$STATUS" = 200 ] || fail "resize: $STATUS $BODY"
mem_is() { req GET "/v1/enclaves/$ID"; [ "$(jget 'j["memory_mib"]')" = 96 ] && [ "$(jget 'j["state"]')" = running ]; }
wait_for 30 "memory 96 MiB" mem_is
for cg in $(cgroup_dirs "$ID"); do
	if [ -f "$cg/memory.limit_in_bytes" ]; then
		[ "$(cat "$cg/memory.limit_in_bytes")" = $((96 << 20)) ] || fail "v1 limit is $(cat "$cg/memory.limit_in_bytes")"
	elif [ -f "$cg/memory.max" ]; then
		[ "$(cat "$cg/memory.max")" = $((96 << 20)) ] || fail "v2 limit is $(cat "$cg/memory.max")"
	fi
done

# SIGTERM leaves the enclave running; the restarted agent adopts it (same
# shim, its buffered state intact: the stored key is still there).
host_stop
kill -0 "$SHIM" || fail "SIGTERM of the agent killed the enclave's shim"
host_start
wait_for 20 "host ready" host_is ready
[ "$(cat "$HDATA/sandboxes/$ID/shim.pid")" = "$SHIM" ] || fail "restart relaunched the enclave"
json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(b64 $'GET greeting\n')\"}" "${K[@]}"
[ "$STATUS" = 200 ] || fail "send after restart: $STATUS $BODY"
got=
deadline=$((SECONDS + 20))
while [[ "$got" != *$'\n'* ]]; do
	[ $SECONDS -lt $deadline ] || fail "recv after restart: no reply (got '$got')"
	json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":1000}' "${K[@]}"
	[ "$STATUS" = 200 ] || fail "recv after restart: $STATUS $BODY"
	got+=$(jget 'j["data"]' | base64 -d; echo x)
	got=${got%x}
done
[ "$got" = $'OK hello world\n' ] || fail "after restart GET returned '$got'"

# A tampered image cache is detected and fetched again before the next launch.
IMG_FILE="$HDATA/images/$IMAGE.img"
[ -f "$IMG_FILE" ] || fail "image not cached at $IMG_FILE"
printf 'tampered' >"$IMG_FILE"
enclave_create kv2
ID2=$ENC
wait_for 60 "second enclave running" enclave_is "$ID2" running
cmp -s "$IMG_FILE" "$WORK/kv.img" || fail "tampered image cache was not replaced"
enclave_destroy "$ID2"
wait_for 60 "second enclave destroyed" enclave_is "$ID2" absent

enclave_destroy "$ID"
wait_for 60 "enclave destroyed" enclave_is "$ID" absent
wait_for 20 "sandbox removed" bash -c "! test -d '$HDATA/sandboxes/$ID'"
assert_gone "$ID"
assert_gone "$ID2"
[ "$(sandbox_count)" = 0 ] || fail "sandboxes left: $(ls "$HDATA/sandboxes")"
host_stop
echo "PASS host_ops"
