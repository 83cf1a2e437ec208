#!/usr/bin/env bash
# host_fw_update.sh — a valid firmware update end to end, and the refusals
# around it: a real control plane and a real agent started with --fw-root.
#   - the trust root (version 1, 2 of 3 signers, signed by the ROM root key)
#     reaches the NIC through POST /v1/hosts/{id}/fw/trust and is accepted;
#   - a bundle co-signed by 2 of the 3 signers, for the NIC's identity as
#     `cloister fw status --json` reports it, is installed inside the window:
#     status shows its version, sequence and slot; the audit has it;
#   - the same bundle again is refused (rollback), a bundle with only one
#     signature is refused (below_threshold), the GPU's bundle sent to the
#     NIC is refused (wrong_vendor/class/component: mix-and-match); each
#     refusal is in the audit with its reason and changes nothing;
#   - `cloister fw audit --verify` passes.
# Every push happens inside the 60 s mutability window that opens at the
# agent's first start; if the run gets close to its end (slow sanitized
# build), a `cloister host power-cycle` reopens it the production way.
#
#   cloister CLI / curl (admin) ──► cloister-control ◄── cloister-host --fw-root root.pub
source "$(dirname "$0")/host_lib.sh"

NIC=$FW_NIC NIC_VENDOR=$FW_NIC_VENDOR NIC_CLASS=$FW_NIC_CLASS
GPU=$FW_GPU GPU_VENDOR=$FW_GPU_VENDOR GPU_CLASS=$FW_GPU_CLASS

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY

# ---- keys, trust root and bundles: all made before the window opens ----
fw_keys
# sign OUT VENDOR CLASS COMPONENT VERSION SEQUENCE KEY...: bundle signed by the first key, co-signed by the rest.
sign() {
	local out=$1 v=$2 k=$3 comp=$4 ver=$5 seq=$6; shift 6
	"$CLI_BIN" fw sign --key "$1" --vendor "$v" --class "$k" --component "$comp" --version "$ver" \
		--sequence "$seq" --channel stable --image "$WORK/img.bin" -o "$out" >/dev/null || fail "fw sign $out"
	shift
	local key
	for key in "$@"; do "$CLI_BIN" fw cosign --key "$key" "$out" >/dev/null || fail "fw cosign $out"; done
}
sign "$WORK/good.fw" $NIC_VENDOR $NIC_CLASS $NIC 2.0.0 5 "$WORK/a.pem" "$WORK/c.pem"
sign "$WORK/one.fw" $NIC_VENDOR $NIC_CLASS $NIC 2.1.0 6 "$WORK/b.pem"
sign "$WORK/gpu.fw" $GPU_VENDOR $GPU_CLASS $GPU 9.0.0 7 "$WORK/a.pem" "$WORK/b.pem"

# ---- the agent: first start manufactures the devices and opens the window ----
fw_host_start

# The devices' identities, as the host reports them, are the ones signed for.
"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" || fail "fw status --json"
dev_field() { # dev_field ADDR FIELD: from $WORK/status.json
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print([d[sys.argv[3]] for d in j['devices'] if d['addr']==sys.argv[2]][0])" \
		"$WORK/status.json" "$1" "$2"
}
[ "$(dev_field $NIC vendor)" = $NIC_VENDOR ] && [ "$(dev_field $NIC class)" = $NIC_CLASS ] ||
	fail "NIC identity differs from the one signed for: $(cat "$WORK/status.json")"
[ "$(dev_field $GPU vendor)" = $GPU_VENDOR ] && [ "$(dev_field $GPU class)" = $GPU_CLASS ] ||
	fail "GPU identity differs from the one signed for: $(cat "$WORK/status.json")"
[ "$(dev_field $NIC trust_version)" = 0 ] || fail "NIC has a trust root before one was pushed"

# op_done OP: the host answered op OP (state no longer pending); BODY holds it.
op_done() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }

# ---- the trust root, through the control plane ----
ensure_window
TR_B64=$(base64 -w0 "$WORK/tr1.cbor")
json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$TR_B64\"}"
[ "$STATUS" = 202 ] || fail "POST fw/trust: $STATUS $BODY"
OP=$(jget 'j["op"]')
wait_for 30 "trust op $OP answered" op_done "$OP"
[ "$(jget 'j["state"]')" = ok ] || fail "trust root refused: $BODY"

# A trust document that is not one never reaches the host.
json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"not base64!\"}"
[ "$STATUS" = 400 ] || fail "POST fw/trust with junk: $STATUS $BODY"

# ---- the valid bundle: accepted and reported ----
# push_expect BUNDLE WANT: `fw push --wait` to the NIC; WANT is "accepted" or an ERE for the reason.
push_expect() {
	local rc=0
	ensure_window
	"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$1" >"$WORK/push.out" 2>"$WORK/push.err" || rc=$?
	if [ "$2" = accepted ]; then
		[ $rc = 0 ] && grep -q '^accepted (audit seq [0-9]*)' "$WORK/push.out" ||
			fail "push $1: exit $rc: $(cat "$WORK/push.out" "$WORK/push.err")"
	else
		[ $rc = 1 ] && grep -Eq "^refused: ($2)\$" "$WORK/push.out" ||
			fail "push $1: exit $rc, want refused: $2: $(cat "$WORK/push.out" "$WORK/push.err")"
		[ "$(wc -l <"$WORK/push.err")" = 1 ] && grep -q '^error: ' "$WORK/push.err" ||
			fail "push $1 stderr: $(cat "$WORK/push.err")"
		REASON=$(sed -n 's/^refused: //p' "$WORK/push.out")
	fi
}
push_expect "$WORK/good.fw" accepted

# The report that follows the install shows it (polled: the next sync).
NIC_NOW=
nic_is_v2() {
	"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" 2>/dev/null || return 1
	[ "$(dev_field $NIC version)" = 2.0.0 ] && [ "$(dev_field $NIC sequence)" = 5 ] &&
		[ "$(dev_field $NIC counter)" = 5 ] && [ "$(dev_field $NIC trust_version)" = 1 ]
}
wait_for 20 "NIC reported at 2.0.0 sequence 5" nic_is_v2
SLOT=$(dev_field $NIC active_slot)
[[ "$SLOT" =~ ^[ABab]$ ]] || fail "NIC has no active slot after the install: $(cat "$WORK/status.json")"
NIC_NOW="2.0.0 5 5 $SLOT 1"
out=$("$CLI_BIN" fw status --host "$HOST_ID") || fail "fw status: $out"
grep -Eq "^$NIC +nic +2\.0\.0 +5 +$SLOT +5 " <<<"$out" || fail "fw status table: $out"
[ -f "$HDATA/fw/devices/$NIC/trust-1" ] || fail "no trust-1 on the device"

# ---- refusals: rollback/replay, below threshold, mix-and-match ----
declare -A REFUSED # bundle version -> reason
push_expect "$WORK/good.fw" 'rollback|replay'
REFUSED[2.0.0]=$REASON
push_expect "$WORK/one.fw" below_threshold
REFUSED[2.1.0]=$REASON
# The GPU's bundle is valid for the GPU (signed 2 of 3) but names another device.
push_expect "$WORK/gpu.fw" 'wrong_vendor|wrong_class|wrong_component'
REFUSED[9.0.0]=$REASON

# Nothing changed: NIC as installed, GPU blank (state on the host, then the report).
nic_unchanged() {
	"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" 2>/dev/null || return 1
	[ "$(dev_field $NIC version) $(dev_field $NIC sequence) $(dev_field $NIC counter) $(dev_field $NIC active_slot) $(dev_field $NIC trust_version)" = "$NIC_NOW" ] &&
		[ "$(dev_field $GPU sequence)" = 0 ] && [ "$(dev_field $GPU counter)" = 0 ]
}
ls "$HDATA/fw/pending/$NIC"/* >/dev/null 2>&1 && fail "a refused push left a pending bundle"
nic_unchanged || fail "a refusal changed a device: $(cat "$WORK/status.json")"

# ---- the audit trail, as the host shipped it ----
audit_has() { # audit_has ERE: some record line of `fw audit` matches
	"$CLI_BIN" fw audit --host "$HOST_ID" >"$WORK/audit.out" 2>&1 && grep -Eq "$1" "$WORK/audit.out"
}
wait_for 20 "trust root accepted in the audit" audit_has " mgmt +trust_root +$NIC .* accepted "
wait_for 20 "update 2.0.0 accepted in the audit" audit_has " mgmt +update +$NIC +2\.0\.0 +accepted "
for v in 2.0.0 2.1.0 9.0.0; do
	wait_for 20 "refusal of $v (${REFUSED[$v]}) in the audit" \
		audit_has " mgmt +update +$NIC +${v//./\\.} +refused +${REFUSED[$v]} "
done
# Each refusal is there once, and nothing was accepted but the one install.
[ "$(grep -Ec " update .* accepted " "$WORK/audit.out")" = 1 ] || fail "want one accepted update: $(cat "$WORK/audit.out")"
[ "$(grep -Ec " update .* refused " "$WORK/audit.out")" = 3 ] || fail "want three refused updates: $(cat "$WORK/audit.out")"
out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify) || fail "fw audit --verify failed: $out"
grep -q '^chain verified: [0-9]* records$' <<<"$out" || fail "fw audit --verify: $out"

# Still as installed once the host has synced again after all of it.
T0=$(date +%s)
wait_for 20 "a sync after the audit check" host_synced_after "$T0"
nic_unchanged || fail "status changed after the refusals: $(cat "$WORK/status.json")"
echo "PASS host_fw_update"
