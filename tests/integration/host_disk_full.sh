#!/usr/bin/env bash
# host_disk_full.sh — a host whose disk is full reports a launch failure at
# once, with its cause, and resumes when space is freed:
#
#   curl ──► cloister-control ──sync──► cloister-host --data HDATA (a 16 MiB tmpfs, filled up)
#                                           │ GET /v1/images/{id} (6 MiB) ──► cannot store it
#
# Checks: the create job fails promptly (not "running 50%" until a client
# times out) with "the host's disk is full" in the job's error; once the
# filler is removed, the failed enclave is launched again by the agent (it
# retries launches that failed for lack of space) and a new create succeeds.
source "$(dirname "$0")/host_lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (mounts a tmpfs)"
mkdir -p "$HDATA"
mount -t tmpfs -o size=16m,mode=0700 cloister-test "$HDATA" || fail "cannot mount a tmpfs"
disk_cleanup() {
	local rc=$?
	if [ -n "$HOST_PID" ]; then kill "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; HOST_PID=; fi
	sandbox_scrub
	umount "$HDATA" 2>/dev/null || umount -l "$HDATA" 2>/dev/null || true
	(exit $rc)
	cleanup
}
trap disk_cleanup EXIT
free_bytes() { df --output=avail -B1 "$HDATA" | tail -n 1 | tr -d ' '; }
sha() { sha384sum "$1" | cut -d' ' -f1; }

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready

# a 6 MiB image (kvstore + padding), sent as an upload in parts
head -c $((6 * 1048576)) /dev/urandom >"$WORK/pad"
"$CLI_BIN" image build -o "$WORK/big.img" --name big --entrypoint /app/kvstore "$BUILD/examples/kvstore" \
	"$WORK/pad:data/pad" >/dev/null || fail "image build"
SIZE=$(stat -c %s "$WORK/big.img")
json POST /v1/uploads "{\"size\":$SIZE,\"sha384\":\"$(sha "$WORK/big.img")\"}"
[ "$STATUS" = 201 ] || fail "upload: $STATUS $BODY"
UP=$(jget 'j["id"]'); N=$(jget 'j["parts"]')
for ((i = 0; i < N; i++)); do
	dd if="$WORK/big.img" of="$WORK/part" bs=1048576 skip=$i count=1 status=none
	req PUT "/v1/uploads/$UP/parts/$i" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/part"
	[ "$STATUS" = 200 ] || fail "part $i: $STATUS $BODY"
done
json POST /v1/images "{\"upload\":\"$UP\"}"
[ "$STATUS" = 201 ] || fail "image: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

# fill the host's disk: 2 MiB left, the image needs 6
dd if=/dev/zero of="$HDATA/filler" bs=1048576 count=$(($(free_bytes) / 1048576 - 2)) status=none 2>/dev/null || true
echo "host disk: $(free_bytes) bytes free"
[ "$(free_bytes)" -lt $((SIZE / 2)) ] || fail "the host's disk was not filled"

START=$SECONDS
enclave_create full1
E1=$ENC
json POST /v1/enclaves "{\"name\":\"probe-job\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
[ "$STATUS" = 202 ] || fail "create 2: $STATUS $BODY"
E2=$(jget 'j["enclave"]["id"]'); JOB2=$(jget 'j["job"]["id"]'); ENCLAVES+=("$E2"); KEYS[$E2]=$(jget 'j["access_key"]')
job_state() { req GET "/v1/jobs/$1"; [ "$STATUS" = 200 ] && jget 'j["state"]'; }
job_failed() { [ "$(job_state "$1")" = failed ]; }
wait_for 20 "the create job to fail with the host's cause" job_failed "$JOB2"
echo "create job failed after $((SECONDS - START)) s"
req GET "/v1/jobs/$JOB2"
grep -q "the host's disk is full: cannot store image $IMAGE" <<<"$BODY" || fail "job error lacks the cause: $BODY"
wait_for 20 "enclave marked failed" enclave_is "$E1" failed
req GET "/v1/enclaves/$E1"
grep -q "disk is full" <<<"$BODY" || fail "enclave error lacks the cause: $BODY"
grep -q 'launch failed.*disk is full' "$WORK/host.err" || fail "host log lacks the cause"
[ -z "$(find "$HDATA/images" -name '*.tmp.*')" ] || fail "a partial image file was left on the host"

# free the space: the agent launches the failed enclaves again, new creates work
rm -f "$HDATA/filler"
wait_for 60 "the failed enclave to run once space is back" enclave_is "$E1" running
wait_for 60 "the second failed enclave to run" enclave_is "$E2" running
assert_running "$E1"
enclave_create fresh
E3=$ENC
wait_for 60 "a new enclave running" enclave_is "$E3" running
req GET "/v1/enclaves/$E1"
[ "$(jget 'j["error"]')" = None ] || fail "the error stayed after the relaunch: $BODY"

for id in "$E1" "$E2" "$E3"; do enclave_destroy "$id"; done
for id in "$E1" "$E2" "$E3"; do wait_for 60 "enclave $id destroyed" enclave_is "$id" absent; done
host_stop
echo "PASS host_disk_full"
