#!/usr/bin/env bash
# attest_control.sh — a document over a chain the real control plane issued
# verifies with `cloister attest verify` (so the hosts CA and host leaves pass
# the verifier's strict X.509 checks), and --online follows the control
# plane's revocation: valid, then refused once the host is removed.
#
#   curl (admin, a fake host whose attestation key Python makes) ──HTTPS──► cloister-control
#   attest_tool sign (the host's key, the issued chain) ──► doc.cbor
#   cloister attest verify doc.cbor --root (GET /v1/ca) --online ──HTTPS──► cloister-control
source "$(dirname "$0")/control_lib.sh"
TOOL="$BUILD/tests/attest_tool" CLOISTER="$BUILD/bin/cloister"
[ -x "$TOOL" ] || fail "missing $TOOL"
ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")

REQ_OUT=$WORK/root.pem req GET /v1/ca; expect 200
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$(jget 'j["token"]')\",\"name\":\"h1\",\"capabilities\":{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":1024,\"cpus\":2}}"
expect 201
HID=$(jget 'j["host_id"]') HT=$(jget 'j["host_token"]')
# the host's attestation key and its proof of possession (ATTEST contract)
BODY_AK=$(python3 - "$WORK/host.pem" "$HID" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
k = ec.generate_private_key(ec.SECP384R1())
open(sys.argv[1], "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
point = k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
r, s = utils.decode_dss_signature(k.sign(b"cloister-attest-pop/1\0" + sys.argv[2].encode() + b"\0" + point,
                                         ec.ECDSA(hashes.SHA384())))
print(json.dumps({"public_key": base64.b64encode(point).decode(),
                  "proof": base64.b64encode(r.to_bytes(48, "big") + s.to_bytes(48, "big")).decode()}))
PY
)
as "$HT" POST "/v1/hosts/$HID/attestation-key" "$BODY_AK"; expect 200
SERIAL=$(jget 'j["serial"]')
jget 'j["certificate"]' | base64 -d >"$WORK/leaf.der"
jget 'j["cabundle"][0]' | base64 -d >"$WORK/root.der"
jget 'j["cabundle"][1]' | base64 -d >"$WORK/hosts.der"
"$TOOL" sign "$WORK/doc.cbor" "$WORK/host.pem" "$WORK/leaf.der" "$WORK/root.der" "$WORK/hosts.der"

verify() { # verify ARGS...: sets RC OUT ERR
	RC=0
	"$CLOISTER" attest verify "$WORK/doc.cbor" --root "$WORK/root.pem" "$@" >"$WORK/v.out" 2>"$WORK/v.err" || RC=$?
	OUT=$(cat "$WORK/v.out") ERR=$(cat "$WORK/v.err")
}
verify
[ "$RC" = 0 ] || fail "offline, the control plane's chain: exit $RC: $ERR"
grep -F "on host $HID" <<<"$OUT" >/dev/null || fail "the summary does not name the host: $OUT"
verify --online --server "$URL" --ca "$CA"
[ "$RC" = 0 ] || fail "online, valid: exit $RC: $ERR"
grep -F "serial $SERIAL, chain to the given root, valid on the control plane" <<<"$OUT" >/dev/null || fail "summary: $OUT"

as "$ADMIN" DELETE "/v1/hosts/$HID"; expect 200
verify
[ "$RC" = 0 ] || fail "offline, after the removal (no revocation check offline): exit $RC: $ERR"
verify --online --server "$URL" --ca "$CA"
[ "$RC" = 1 ] && [ "$ERR" = "error: attest verify: revoked failed: certificate $SERIAL is revoked, reason removed" ] ||
	fail "online after the host's removal: exit $RC: $ERR"
echo "attest_control: ok"
