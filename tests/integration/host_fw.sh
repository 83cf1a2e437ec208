#!/usr/bin/env bash
# host_fw.sh — the firmware guard end to end: a real control plane and a real
# agent started with --fw-root (keys from `cloister fw keygen`).
#   - right after the first start the devices' mutability window is open:
#     the host reports window_open, is NOT eligible, and an enclave create
#     fails 503 naming the reason;
#   - `cloister fw status` shows the three default devices;
#   - `cloister fw push --wait` of a bundle the device cannot accept is
#     refused with its reason (exit 1, one error line), changes nothing, and
#     is in the audit trail the host shipped; `fw audit --verify` passes;
#   - `cloister host power-cycle --wait` is accepted and audited as power_on.
# (Installing a valid bundle needs a trust-root document on the device, which
# the control plane cannot push yet: tests/unit/test_agent_fw.c covers it.)
#
#   cloister CLI (admin) ──► cloister-control ◄── cloister-host --fw-root root.pub
source "$(dirname "$0")/host_lib.sh"

NIC=0000:03:00.0
NIC_VENDOR=6ba7b810-9dad-11d1-80b4-00c04fd430c8
NIC_CLASS=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
"$CLI_BIN" fw keygen --out "$WORK/root.pem" --pub "$WORK/root.pub" >/dev/null || fail "keygen root"
"$CLI_BIN" fw keygen --out "$WORK/evil.pem" --pub "$WORK/evil.pub" >/dev/null || fail "keygen evil"

# A bad --fw-root fails at start and manufactures nothing.
JT=$(join_token)
rc=0
CLOISTER_JOIN_TOKEN=$JT "$HOST_BIN" --control "$URL" --ca "$CA" --data "$WORK/badroot" \
	--fw-root "$WORK/missing.pub" >"$WORK/badroot.out" 2>"$WORK/badroot.err" || rc=$?
[ $rc != 0 ] || fail "started with a missing --fw-root key"
grep -q '^error: cannot open the firmware guard' "$WORK/badroot.err" || fail "unclear error: $(cat "$WORK/badroot.err")"
[ ! -e "$WORK/badroot/fw/devices" ] || fail "a failed start manufactured devices"

JT=$(join_token)
host_start --join-token "$JT" --fw-root "$WORK/root.pub"
wait_for 20 "host ready" host_is ready
[ -f "$HDATA/fw/devices/$NIC/rom" ] || fail "no device model under DATA/fw"

# The first report: window open, not eligible.
fw_reported() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["reported"]')" = True ]; }
wait_for 20 "firmware report" fw_reported
[ "$(jget 'j["window_open"]')" = True ] || fail "window not open after the first start: $BODY"
[ "$(jget 'j["eligible"]')" = False ] || fail "eligible with its window open: $BODY"
[ "$(jget 'len(j["devices"])')" = 3 ] || fail "want 3 devices: $BODY"

out=$("$CLI_BIN" fw status --host "$HOST_ID") || fail "fw status failed"
grep -q "eligible no" <<<"$out" || fail "fw status: $out"
for d in "$NIC  nic" "0000:65:00.0  gpu" "0000:01:00.0  bmc"; do
	grep -q "^$d " <<<"$out" || fail "fw status lacks '$d': $out"
done
grep -q "open (" <<<"$out" || fail "fw status shows no open window: $out"

# Placement refuses the host while its window is open.
image_upload
json POST /v1/enclaves "{\"name\":\"w\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
[ "$STATUS" = 503 ] || fail "enclave create on a host with an open window: $STATUS $BODY"
grep -q "eligible" <<<"$BODY" || fail "503 does not name the reason: $BODY"

# A bundle the device does not trust: refused, audited, nothing changed.
printf 'evil firmware' >"$WORK/evil.img"
"$CLI_BIN" fw sign --key "$WORK/evil.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC \
	--version 6.6.6 --sequence 9 --channel stable --image "$WORK/evil.img" -o "$WORK/evil.fw" >/dev/null ||
	fail "fw sign"
rc=0
"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/evil.fw" >"$WORK/push.out" 2>"$WORK/push.err" || rc=$?
[ $rc = 1 ] || fail "refused push: exit $rc (want 1): $(cat "$WORK/push.out" "$WORK/push.err")"
grep -q '^refused: [a-z_]' "$WORK/push.out" || fail "push output: $(cat "$WORK/push.out")"
REASON=$(sed -n 's/^refused: //p' "$WORK/push.out")
[ "$(wc -l <"$WORK/push.err")" = 1 ] && grep -q '^error: ' "$WORK/push.err" || fail "push stderr: $(cat "$WORK/push.err")"
req GET "/v1/hosts/$HOST_ID/fw"
[ "$(jget "[d['sequence'] for d in j['devices'] if d['addr']=='$NIC'][0]")" = 0 ] || fail "refused push changed the NIC: $BODY"

# The refusal is in the audit trail the host shipped (polled: the next sync).
audit_has_refusal() {
	"$CLI_BIN" fw audit --host "$HOST_ID" >"$WORK/audit.out" 2>&1 &&
		grep -q " update .* 6.6.6 .*refused  *$REASON " "$WORK/audit.out"
}
wait_for 20 "refused update in the audit" audit_has_refusal
out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify) || fail "fw audit --verify failed: $out"
grep -q '^chain verified: [0-9]* records$' <<<"$out" || fail "fw audit --verify: $out"
grep -q ' manufacture ' <<<"$out" || fail "no manufacture record: $out"

# A malformed push never reaches the host.
printf 'not a bundle' >"$WORK/junk.fw"
rc=0
"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC "$WORK/junk.fw" >/dev/null 2>"$WORK/junk.err" || rc=$?
[ $rc = 1 ] && grep -q '^error: .*bundle' "$WORK/junk.err" || fail "junk push: exit $rc $(cat "$WORK/junk.err")"

# Power cycle through the control plane: accepted and audited.
out=$("$CLI_BIN" host power-cycle "$HOST_ID" --wait) || fail "power-cycle failed: $out"
grep -q '^accepted' <<<"$out" || fail "power-cycle: $out"
power_on_audited() {
	"$CLI_BIN" fw audit --host "$HOST_ID" >"$WORK/audit.out" 2>&1 && grep -q ' mgmt  *power_on ' "$WORK/audit.out"
}
wait_for 20 "power_on in the audit" power_on_audited
"$CLI_BIN" fw audit --host "$HOST_ID" --verify >/dev/null || fail "chain broken after the power cycle"

# Clear-quarantine needs a reason (usage error), and is accepted with one.
rc=0
"$CLI_BIN" host clear-quarantine "$HOST_ID" 2>"$WORK/cq.err" || rc=$?
[ $rc = 2 ] || fail "clear-quarantine without --reason: exit $rc"
out=$("$CLI_BIN" host clear-quarantine "$HOST_ID" --reason "checked by the test" --wait) || fail "clear: $out"
grep -q '^accepted' <<<"$out" || fail "clear-quarantine: $out"

# The guard survives an agent restart; a later --fw-root does not rewrite the ROM.
ROM=$(sha256sum "$HDATA/fw/devices/$NIC/rom")
host_stop
host_start --fw-root "$WORK/evil.pub"
wait_for 20 "host ready again" host_is ready
[ "$(sha256sum "$HDATA/fw/devices/$NIC/rom")" = "$ROM" ] || fail "a restart rewrote the ROM"
"$CLI_BIN" fw audit --host "$HOST_ID" --verify >/dev/null || fail "chain broken after a restart"

# A host without --fw-root reports no guard (eligible) and refuses firmware ops.
host_stop
HDATA="$WORK/plain"
JT=$(join_token)
host_start --join-token "$JT"
wait_for 20 "plain host ready" host_is ready
[ ! -e "$HDATA/fw" ] || fail "a host without --fw-root created DATA/fw"
out=$("$CLI_BIN" fw status --host "$HOST_ID") || fail "fw status (plain): $out"
grep -q "reports no firmware guard" <<<"$out" || fail "fw status (plain): $out"
rc=0
"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/evil.fw" >"$WORK/plain.out" 2>"$WORK/plain.err" || rc=$?
[ $rc = 1 ] && grep -q 'no firmware guard' "$WORK/plain.err" || fail "push to a plain host: exit $rc $(cat "$WORK/plain.out" "$WORK/plain.err")"
echo "PASS host_fw"
