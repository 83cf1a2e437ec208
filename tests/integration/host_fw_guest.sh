#!/usr/bin/env bash
# host_fw_guest.sh — the firmware guard's guest interface from inside a real
# enclave: a real control plane, a real agent started with --fw-root, and an
# enclave running examples/fwclient (one command per line on its stdin, one
# answer line on its stdout; see its header).
#   - the agent serves DATA/guest/ID/fw.sock, seen inside as /dev/cloister/fw.sock;
#   - LIST and READ answer with the devices' identities;
#   - a WRITE is refused "no_mapping", and the host's audit trail, as the
#     control plane stores it (`cloister fw audit`), then holds that record:
#     op guest_write, source guest, refused, no_mapping; the agent logged it
#     with the enclave id;
#   - the enclave cannot create a file in /dev/cloister (read-only mount);
#   - after an agent restart the running enclave reaches the new socket;
#   - destroying the enclave removes DATA/guest/ID;
#   - an agent started without --fw-root gives its enclaves no fw.sock (only
#     the secure module's nsm.sock, tests/integration/host_nsm.sh)
#     (a second host, in DATA = $WORK/plain).
# The devices' mutability window (60 s) is open after the first start and
# placement refuses the host until it closes: this test waits for it.
#
#   cloister CLI / curl (admin) ──► cloister-control ◄── cloister-host --fw-root root.pub
#                                                             │ DATA/guest/ID/fw.sock
#                                    enclave: fwclient ──► /dev/cloister/fw.sock (ro bind)
source "$(dirname "$0")/host_lib.sh"

NIC=0000:03:00.0
CLIENT="$BUILD/examples/fwclient"
[ -x "$CLIENT" ] || fail "missing $CLIENT"

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
"$CLI_BIN" fw keygen --out "$WORK/root.pem" --pub "$WORK/root.pub" >/dev/null || fail "keygen root"
"$CLI_BIN" image build -o "$WORK/fwclient.img" --name fwclient --entrypoint /app/fwclient "$CLIENT" >/dev/null ||
	fail "cloister image build failed"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/fwclient.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

JT=$(join_token)
host_start --join-token "$JT" --fw-root "$WORK/root.pub"
wait_for 20 "host ready" host_is ready
grep -q 'firmware guest interface on' "$WORK/host.err" || fail "the agent did not start the guest interface"
fw_eligible() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["eligible"]')" = True ]; }
wait_for 120 "the mutability window to close (host eligible)" fw_eligible

enclave_create fw1
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
[ -S "$HDATA/guest/$ID/fw.sock" ] || fail "no socket at DATA/guest/$ID/fw.sock"
K=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")

enclave_ask "$ID" LS
[ "$ANS" = "LS fw.sock nsm.sock" ] || fail "/dev/cloister holds: $ANS"
enclave_ask "$ID" MOUNT
[[ "$ANS" == "MOUNT ro,"* && "$ANS" == *nosuid* && "$ANS" == *nodev* && "$ANS" == *noexec* ]] ||
	fail "/dev/cloister mount options: $ANS"

enclave_ask "$ID" LIST
[[ "$ANS" == "OK {"* ]] || fail "LIST: $ANS"
python3 -c '
import json, sys
j = json.loads(sys.argv[1][3:])
devs = j["devices"]
assert len(devs) == 3, devs
for d in devs:
    assert set(d) == {"addr", "name", "vendor", "class", "version", "locked"}, d
assert sorted(d["name"] for d in devs) == ["bmc", "gpu", "nic"], devs
assert all(d["locked"] for d in devs), devs
' "$ANS" || fail "LIST answer: $ANS"
enclave_ask "$ID" "READ $NIC"
[[ "$ANS" == "OK {\"addr\":\"$NIC\""* ]] || fail "READ: $ANS"
enclave_ask "$ID" "READ 0000:99:00.0"
[[ "$ANS" == "ERR no_device "* ]] || fail "READ of a missing device: $ANS"
enclave_ask "$ID" "FLASH $NIC"
[[ "$ANS" == "ERR bad_request "* ]] || fail "unknown request: $ANS"

# A write: refused, audited (source guest), logged with the enclave id.
enclave_ask "$ID" "WRITE $NIC firmware 0x1000 deadbeef"
[[ "$ANS" == "ERR no_mapping "* ]] || fail "WRITE: $ANS"
SEQ=$(sed -n 's/.*(audited, seq \([0-9]*\)).*/\1/p' <<<"$ANS")
[ -n "$SEQ" ] || fail "WRITE answer names no audit record: $ANS"
grep -q "guest firmware write refused id=$ID device=$NIC region=firmware .*audit_seq=$SEQ" "$WORK/host.err" ||
	fail "the agent did not log the refused write with the enclave id"
guest_write_audited() {
	"$CLI_BIN" --json fw audit --host "$HOST_ID" >"$WORK/audit.json" 2>"$WORK/audit.err" || return 1
	python3 -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["seq"] == int(sys.argv[2])]
sys.exit(0 if recs and recs[0]["op"] == "guest_write" and recs[0]["source"] == "guest" and
         recs[0]["result"] == "refused" and recs[0]["reason"] == "no_mapping" and recs[0]["device"] == sys.argv[3] else 1)
' "$WORK/audit.json" "$SEQ" "$NIC"
}
wait_for 30 "guest_write refused no_mapping (source guest) in the control plane's audit" guest_write_audited
out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify) || fail "fw audit --verify: $out"
grep -q ' guest  *guest_write .*refused  *no_mapping ' <<<"$out" || fail "fw audit table lacks the guest write: $out"

# The enclave cannot write into /dev/cloister.
enclave_ask "$ID" TOUCH
[ "$ANS" = "TOUCH error=EROFS" ] || fail "creating a file in /dev/cloister: $ANS"
[ ! -e "$HDATA/guest/$ID/probe-file" ] || fail "the enclave created a file in its guest directory"

# Agent restart: the enclave keeps running and reaches the new socket.
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
host_stop
host_start --fw-root "$WORK/root.pub"
wait_for 20 "host ready again" host_is ready
[ "$(cat "$HDATA/sandboxes/$ID/shim.pid")" = "$SHIM" ] || fail "the restart relaunched the enclave"
enclave_ask "$ID" "READ $NIC"
[[ "$ANS" == "OK {\"addr\":\"$NIC\""* ]] || fail "READ after the agent restart: $ANS"

# Destroy: the guest directory goes with the enclave.
enclave_destroy "$ID"
wait_for 60 "enclave destroyed" enclave_is "$ID" absent
wait_for 20 "guest directory removed" bash -c "! test -e '$HDATA/guest/$ID'"
assert_gone "$ID"

# A host without --fw-root (a second host: the control plane keeps a host
# that once reported a guard ineligible until it reports one again): no
# fw.sock; /dev/cloister holds only the secure module's nsm.sock.
host_stop
OLD=$HOST_ID
old_lost() { [ "$(HOST_ID=$OLD host_state)" = lost ]; } # placement must not pick the stopped host
wait_for 60 "the stopped host to be marked lost" old_lost
HDATA="$WORK/plain"
: >"$WORK/host.err"
host_start --join-token "$(join_token)"
wait_for 20 "plain host ready" host_is ready
! grep -q 'firmware guest interface on' "$WORK/host.err" || fail "firmware guest interface started without --fw-root"
enclave_create plain
P=$ENC
wait_for 60 "plain enclave running" enclave_is "$P" running
enclave_ask "$P" LS
[ "$ANS" = "LS nsm.sock" ] || fail "/dev/cloister without the guard holds: $ANS"
enclave_ask "$P" CONNECT
[ "$ANS" = "CONNECT error=ENOENT" ] || fail "fw.sock reachable without the guard: $ANS"
[ ! -e "$HDATA/guest/$P/fw.sock" ] || fail "fw.sock was made without the guard"
enclave_destroy "$P"
wait_for 60 "plain enclave destroyed" enclave_is "$P" absent
host_stop
echo "PASS host_fw_guest"
