#!/usr/bin/env bash
# host_fw_encrypted.sh — a firmware bundle encrypted to one device, end to
# end, with a real control plane and a real agent started with --fw-root:
#   - `cloister fw status --device-key ADDR --out FILE` writes the NIC's and
#     the GPU's public keys (PEM) as the host reported them; they differ;
#   - `cloister fw sign --encrypt-to nic.pub` makes a bundle whose image is
#     not in clear; `cloister fw push --wait` installs it on the NIC;
#     status shows its version and sequence;
#   - a bundle with the GPU's identity but encrypted to the NIC's key is
#     refused by the GPU (decrypt_failed) and audited; the GPU stays blank;
#   - the devices' private keys are nowhere in the control plane's data nor
#     in what `fw status --json` returns.
# Pushes happen inside the 60 s window that opens at the agent's first start;
# near its end a `cloister host power-cycle` reopens it.
source "$(dirname "$0")/host_lib.sh"

NIC=$FW_NIC NIC_VENDOR=$FW_NIC_VENDOR NIC_CLASS=$FW_NIC_CLASS
GPU=$FW_GPU GPU_VENDOR=$FW_GPU_VENDOR GPU_CLASS=$FW_GPU_CLASS

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
fw_keys
fw_host_start

# ---- the devices' public keys, from the host's report ----
out=$("$CLI_BIN" fw status --host "$HOST_ID" --device-key $NIC --out "$WORK/nic.pub") || fail "fw status --device-key: $out"
grep -q "^wrote the device key of $NIC to " <<<"$out" || fail "fw status --device-key said: $out"
"$CLI_BIN" fw status --host "$HOST_ID" --device-key $GPU >"$WORK/gpu.pub" || fail "fw status --device-key GPU"
for f in nic gpu; do
	head -n1 "$WORK/$f.pub" | grep -qx -- '-----BEGIN PUBLIC KEY-----' || fail "$f.pub is not a PEM public key: $(cat "$WORK/$f.pub")"
done
cmp -s "$WORK/nic.pub" "$WORK/gpu.pub" && fail "the NIC and the GPU report the same device key"
# An unknown device has no key: one error line, exit 1.
rc=0
"$CLI_BIN" fw status --host "$HOST_ID" --device-key 0000:99:00.0 >/dev/null 2>"$WORK/err" || rc=$?
[ $rc = 1 ] && grep -q '^error: .*no device key' "$WORK/err" || fail "unknown device key: exit $rc: $(cat "$WORK/err")"
# The --json answer carries the same key.
"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" || fail "fw status --json"
python3 - "$WORK/status.json" "$WORK/nic.pub" "$NIC" <<'EOF' || fail "device_key in --json differs from --device-key"
import json, sys
j = json.load(open(sys.argv[1]))
k = [d.get("device_key") for d in j["devices"] if d["addr"] == sys.argv[3]][0]
sys.exit(0 if k == open(sys.argv[2]).read() else 1)
EOF

# ---- bundles: to the NIC's key; the GPU's identity to the NIC's key ----
sign_enc() { # sign_enc OUT VENDOR CLASS COMPONENT VERSION SEQUENCE TO.pub
	"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor "$2" --class "$3" --component "$4" --version "$5" \
		--sequence "$6" --channel stable --image "$WORK/img.bin" --encrypt-to "$7" -o "$1" >/dev/null ||
		fail "fw sign --encrypt-to $1"
	"$CLI_BIN" fw cosign --key "$WORK/b.pem" "$1" >/dev/null || fail "fw cosign $1"
}
sign_enc "$WORK/nic.fw" $NIC_VENDOR $NIC_CLASS $NIC 3.0.0 5 "$WORK/nic.pub"
sign_enc "$WORK/gpu.fw" $GPU_VENDOR $GPU_CLASS $GPU 9.0.0 5 "$WORK/nic.pub"
python3 - "$WORK/img.bin" "$WORK/nic.fw" <<'EOF' || fail "the encrypted bundle holds the image in clear"
import sys
img, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
sys.exit(1 if img[:64] in b or img[-64:] in b else 0)
EOF

op_done() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
TR_B64=$(base64 -w0 "$WORK/tr1.cbor")
for dev in $NIC $GPU; do
	ensure_window
	json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$dev\",\"document\":\"$TR_B64\"}"
	[ "$STATUS" = 202 ] || fail "POST fw/trust $dev: $STATUS $BODY"
	OP=$(jget 'j["op"]')
	wait_for 30 "trust op $OP answered" op_done "$OP"
	[ "$(jget 'j["state"]')" = ok ] || fail "trust root refused on $dev: $BODY"
done

# ---- the NIC installs its bundle ----
ensure_window
out=$("$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/nic.fw" 2>&1) || fail "push to the NIC: $out"
grep -q '^accepted (audit seq [0-9]*)' <<<"$out" || fail "push to the NIC: $out"
dev_field() {
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print([d.get(sys.argv[3], '') for d in j['devices'] if d['addr']==sys.argv[2]][0])" \
		"$WORK/status.json" "$1" "$2"
}
nic_is_v3() {
	"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" 2>/dev/null || return 1
	[ "$(dev_field $NIC version)" = 3.0.0 ] && [ "$(dev_field $NIC sequence)" = 5 ] && [ "$(dev_field $NIC booted)" = True ]
}
wait_for 20 "NIC reported at 3.0.0 sequence 5" nic_is_v3

# ---- the GPU cannot decrypt a bundle encrypted to the NIC ----
ensure_window
rc=0
"$CLI_BIN" fw push --host "$HOST_ID" --device $GPU --wait "$WORK/gpu.fw" >"$WORK/push.out" 2>"$WORK/push.err" || rc=$?
[ $rc = 1 ] && grep -qx 'refused: decrypt_failed' "$WORK/push.out" ||
	fail "push to the GPU: exit $rc: $(cat "$WORK/push.out" "$WORK/push.err")"
audit_has() { "$CLI_BIN" fw audit --host "$HOST_ID" >"$WORK/audit.out" 2>&1 && grep -Eq "$1" "$WORK/audit.out"; }
wait_for 20 "GPU refusal in the audit" audit_has " mgmt +update +$GPU +9\.0\.0 +refused +decrypt_failed "
wait_for 20 "NIC install in the audit" audit_has " mgmt +update +$NIC +3\.0\.0 +accepted "
"$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" || fail "fw status --json"
[ "$(dev_field $GPU sequence)" = 0 ] && [ "$(dev_field $GPU counter)" = 0 ] || fail "the GPU changed: $(cat "$WORK/status.json")"

# ---- the private keys stay in the host's key holder (its files 0600, never in the control plane) ----
for dev in $NIC $GPU; do
	[ "$(stat -c %a "$HDATA/keys/dev/$dev.key")" = 600 ] || fail "$dev key is not 0600"
	[ ! -e "$HDATA/fw/devices/$dev/devkey" ] || fail "$dev has a key file in the device model"
done
python3 - "$HDATA/keys/dev" "$WORK/ctl" "$WORK/status.json" "$WORK/audit.out" <<'EOF' || fail "a device private key left the host"
import os, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
secrets = []
for f in os.listdir(sys.argv[1]):
    k = load_pem_private_key(open(os.path.join(sys.argv[1], f), "rb").read(), None)
    d = k.private_numbers().private_value.to_bytes(48, "big")
    secrets += [d, d[:16], d.hex().encode(), d.hex().upper().encode()]
paths = sys.argv[3:]
for root, _, files in os.walk(sys.argv[2]):
    paths += [os.path.join(root, f) for f in files]
for p in paths:
    data = open(p, "rb").read()
    for s in secrets:
        if s in data:
            print("private key material in", p)
            sys.exit(1)
EOF
echo "PASS host_fw_encrypted"
