#!/usr/bin/env bash
# host_nsm.sh — the secure module from inside enclaves (docs/guest-interface.md,
# "The secure module"; docs/sdk.md), with a real control plane and agent
# started WITHOUT --fw-root:
#
#   curl (admin) ──► cloister-control ◄── cloister-host ──► guest interface process
#                                              │ gate: attest (key holder signs), seal key
#        enclave A: nsmprobe (libcloister-enclave) ──► /dev/cloister/nsm.sock
#        enclave B: nsmprobe                       ──► its own /dev/cloister/nsm.sock
#
#   - every enclave has /dev/cloister holding only nsm.sock (no firmware guard);
#   - a document asked from inside carries exactly the nonce, user_data and
#     public_key asked (absent ones null), names the enclave, and
#     `cloister attest verify` accepts it against the root;
#   - the outside route refuses public_key/user_data (400, says why);
#   - SEAL_KEY: the same label gives the same key, another label another;
#     a re-created enclave of the same image, tenant and name gets the same
#     key; another image, another tenant another; seal/unseal round trip,
#     another enclave cannot unseal;
#   - an enclave cannot reach another enclave's socket, and what it asks is
#     always attributed to itself;
#   - malformed frames are answered bad_request; requests beyond the
#     enclave's bucket are answered rate_limited.
source "$(dirname "$0")/host_lib.sh"

host_up_attested
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"

image_upload_app nsmprobe nsm
IMG1=$IMAGE
enclave_create a
A=$ENC
enclave_create b
B=$ENC
wait_for 60 "enclave a running" enclave_is "$A" running
wait_for 60 "enclave b running" enclave_is "$B" running

# ---- /dev/cloister: only the secure module without a firmware guard ----
[ -S "$HDATA/guest/$A/nsm.sock" ] || fail "no socket at DATA/guest/$A/nsm.sock"
[ ! -e "$HDATA/guest/$A/fw.sock" ] || fail "fw.sock without a firmware guard"
enclave_ask "$A" LS
[ "$ANS" = "LS nsm.sock" ] || fail "/dev/cloister holds: $ANS"

# ---- ATTEST from inside: exactly what was asked ----
openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/k.pem" 2>/dev/null || fail "openssl ecparam"
PUB=$(openssl pkey -in "$WORK/k.pem" -pubout -outform DER 2>/dev/null | xxd -p | tr -d '\n')
NONCE=$(openssl rand -hex 32)
UD=$(printf 'user data from inside' | xxd -p | tr -d '\n')
enclave_ask "$A" "ATTEST $NONCE $UD $PUB"
[[ "$ANS" == "ATTEST ok "* ]] || fail "ATTEST: $ANS"
base64 -d <<<"${ANS#ATTEST ok }" >"$WORK/doc-a.cbor" || fail "document not base64"
"$CLI_BIN" --json attest verify "$WORK/doc-a.cbor" --root "$WORK/root.pem" --nonce "$NONCE" >"$WORK/v.json" ||
	fail "attest verify refused the enclave's document: $(cat "$WORK/v.json")"
python3 - "$WORK/v.json" "$A" "$NONCE" "$UD" "$PUB" <<'PY' || fail "document fields: $(cat "$WORK/v.json")"
import base64, json, sys
j = json.load(open(sys.argv[1]))
assert j["module_id"] == sys.argv[2], j["module_id"]
assert j["nonce"] == sys.argv[3], (j["nonce"], sys.argv[3])  # verify prints the nonce as hex
assert base64.b64decode(j["user_data"]).hex() == sys.argv[4]
assert base64.b64decode(j["public_key"]).hex() == sys.argv[5]
PY
# absent fields are null
enclave_ask "$A" "ATTEST - - -"
[[ "$ANS" == "ATTEST ok "* ]] || fail "ATTEST without fields: $ANS"
base64 -d <<<"${ANS#ATTEST ok }" >"$WORK/doc-a2.cbor"
"$CLI_BIN" --json attest verify "$WORK/doc-a2.cbor" --root "$WORK/root.pem" >"$WORK/v2.json" || fail "verify 2"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["public_key"] is None and j["user_data"] is None and j["nonce"] is None, j' \
	"$WORK/v2.json" || fail "absent fields not null: $(cat "$WORK/v2.json")"
# the caps, checked inside the enclave's library and again at the socket
enclave_ask "$A" "ATTEST $(head -c 513 /dev/zero | xxd -p | tr -d '\n') - -"
[[ "$ANS" == "ATTEST error 1 "* ]] || fail "a 513-byte nonce: $ANS"
enclave_ask "$A" "RAW 00000805$(printf '01%.0s' {1..5})"      # a frame announcing 2053 bytes, cut short: EOF
[ "$ANS" = "RAW closed" ] || fail "a truncated frame was answered: $ANS"
enclave_ask "$A" "RAW 00000000"
[ "$ANS" = "RAW status=1 len=11" ] || fail "an empty frame: $ANS"   # "empty frame"
enclave_ask "$A" "RAW 0000100001"
[[ "$ANS" == "RAW status=1 "* ]] || fail "an oversized frame: $ANS"
enclave_ask "$A" "RAW 0000000109"
[[ "$ANS" == "RAW status=1 "* ]] || fail "an unknown type: $ANS"
enclave_ask "$A" "RAW 0000000a01000201020000000000"
[[ "$ANS" == "RAW status=1 "* ]] || fail "trailing bytes: $ANS"

# ---- the outside route takes only a nonce ----
json POST "/v1/enclaves/$A/attestation" "{\"nonce\":\"$NONCE\",\"public_key\":\"$(base64 -w0 <<<x)\"}"
[ "$STATUS" = 400 ] && grep -q "set from inside the enclave" <<<"$BODY" || fail "outside public_key: $STATUS $BODY"
json POST "/v1/enclaves/$A/attestation" '{"user_data":"aGk="}'
[ "$STATUS" = 400 ] || fail "outside user_data: $STATUS $BODY"
"$CLI_BIN" enclave attest "$A" --nonce "$NONCE" --out "$WORK/doc-out.cbor" >/dev/null || fail "enclave attest"
"$CLI_BIN" --json attest verify "$WORK/doc-out.cbor" --root "$WORK/root.pem" --nonce "$NONCE" >"$WORK/v3.json" ||
	fail "verify outside document"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["user_data"] is None and j["module_id"] == sys.argv[2], j' \
	"$WORK/v3.json" "$A" || fail "outside document: $(cat "$WORK/v3.json")"

# ---- one enclave cannot reach another's socket; requests are its own ----
enclave_ask "$A" "CONNECT $HDATA/guest/$B/nsm.sock"
[ "$ANS" = "CONNECT error=ENOENT" ] || fail "enclave a reached b's socket path: $ANS"
enclave_ask "$A" "CONNECT $HDATA/guest/$A/nsm.sock"
[ "$ANS" = "CONNECT error=ENOENT" ] || fail "the host path is visible inside: $ANS"
enclave_ask "$A" "CONNECT /dev/cloister/$B/nsm.sock"
[ "$ANS" = "CONNECT error=ENOENT" ] || fail "b's socket is under a's /dev/cloister: $ANS"
enclave_ask "$A" "CONNECT /dev/cloister/../$B/nsm.sock"
[ "$ANS" = "CONNECT error=ENOENT" ] || fail "b's socket reached through ..: $ANS"
enclave_ask "$B" "ATTEST $NONCE - -"
base64 -d <<<"${ANS#ATTEST ok }" >"$WORK/doc-b.cbor"
"$CLI_BIN" --json attest verify "$WORK/doc-b.cbor" --root "$WORK/root.pem" >"$WORK/vb.json" || fail "verify b"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["module_id"] == sys.argv[2], j' \
	"$WORK/vb.json" "$B" || fail "b's document names another enclave: $(cat "$WORK/vb.json")"

# ---- SEAL_KEY: bound to the host, the tenant, the image and the label ----
sealkey() { # sealkey ID LABEL: sets KEY
	enclave_ask "$1" "SEALKEY $2"
	[[ "$ANS" == "SEALKEY ok "* ]] || fail "SEALKEY $2 in $1: $ANS"
	KEY=${ANS#SEALKEY ok }
	[ ${#KEY} = 64 ] || fail "a sealing key of ${#KEY} hex digits"
}
sealkey "$A" l1; KA1=$KEY
sealkey "$A" l1; [ "$KEY" = "$KA1" ] || fail "the same label gave another key"
sealkey "$A" l2; [ "$KEY" != "$KA1" ] || fail "another label gave the same key"
sealkey "$B" l1; KB1=$KEY
[ "$KB1" != "$KA1" ] || fail "another enclave (name b: another PCR3) got a's key"
grep -q "generated the host's sealing secret" "$WORK/host.err" || fail "the key holder did not log the secret's creation"
KF=$(find "$HDATA/keys" -name 'seal.key')
[ -n "$KF" ] && [ "$(stat -c %a "$KF")" = 600 ] || fail "the sealing secret is not a 0600 file in the key directory"
grep -qi "$KA1" "$WORK/host.err" && fail "a sealing key is in the agent's log"
# the derivation, recomputed from the secret's file (readable here: the test is root) with
# the tenant and registers the control plane shows: HKDF-SHA384 as documented
req GET "/v1/enclaves/$A"
TEN=$(jget 'j["tenant_id"]') PCRS=$(jget '"".join(j["pcrs"].get(str(i), "0" * 96) for i in range(4))')
python3 - "$KF" "$TEN" "$PCRS" l1 "$KA1" <<'PY' || fail "the sealing key is not HKDF-SHA384(secret, cloister-seal/1 0 tenant 0 PCR0..3 label)"
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
ikm = key.private_numbers().private_value.to_bytes(48, "big")
info = b"cloister-seal/1\0" + sys.argv[2].encode() + b"\0" + bytes.fromhex(sys.argv[3]) + sys.argv[4].encode()
got = HKDF(algorithm=hashes.SHA384(), length=32, salt=bytes(48), info=info).derive(ikm)
sys.exit(0 if got.hex() == sys.argv[5] else 1)
PY
# seal / unseal inside
enclave_ask "$A" "SEAL l1 $(printf 'sealed by a' | xxd -p)"
[[ "$ANS" == "SEAL ok "* ]] || fail "SEAL: $ANS"
BLOB=${ANS#SEAL ok }
enclave_ask "$A" "UNSEAL l1 $BLOB"
[ "$ANS" = "UNSEAL ok $(printf 'sealed by a' | xxd -p)" ] || fail "UNSEAL: $ANS"
enclave_ask "$A" "UNSEAL l2 $BLOB"
[[ "$ANS" == "UNSEAL error 6 "* ]] || fail "unsealed under another label: $ANS"
enclave_ask "$B" "UNSEAL l1 $BLOB"
[[ "$ANS" == "UNSEAL error 6 "* ]] || fail "another enclave unsealed a's blob: $ANS"
# the same image, tenant and name again (a destroyed enclave re-created): the same key
enclave_destroy "$A"
wait_for 60 "enclave a destroyed" enclave_is "$A" absent
enclave_create a
A2=$ENC
wait_for 60 "enclave a again running" enclave_is "$A2" running
sealkey "$A2" l1
[ "$KEY" = "$KA1" ] || fail "the re-created enclave (same image, tenant, name) got another key"
enclave_ask "$A2" "UNSEAL l1 $BLOB"
[ "$ANS" = "UNSEAL ok $(printf 'sealed by a' | xxd -p)" ] || fail "the re-created enclave cannot unseal: $ANS"
# ---- the secure module's rate: per enclave, at the gate ----
enclave_ask "$B" "BURST 60"
LIM=$(sed -n 's/.*limited=\([0-9]*\).*/\1/p' <<<"$ANS")
OTH=$(sed -n 's/.*other=\([0-9]*\).*/\1/p' <<<"$ANS")
[ "${LIM:-0}" -ge 1 ] && [ "$OTH" = 0 ] || fail "60 requests at once were not limited: $ANS"
sealkey "$A2" l1 # another enclave's bucket is its own
[ "$KEY" = "$KA1" ] || fail "a's key after b's burst"

enclave_destroy "$A2"
wait_for 60 "enclave a destroyed again" enclave_is "$A2" absent
# another image (another PCR0), same tenant and name
image_upload_app nsmprobe nsm-other
enclave_create a
A3=$ENC
wait_for 60 "enclave a (other image) running" enclave_is "$A3" running
sealkey "$A3" l1
[ "$KEY" != "$KA1" ] || fail "another image got the same key"
enclave_destroy "$A3"
wait_for 60 "enclave a (other image) destroyed" enclave_is "$A3" absent
# another tenant, the same image bytes and name
json POST /v1/tenants '{"name":"other"}'
[ "$STATUS" = 201 ] || fail "tenant: $STATUS $BODY"
json POST /v1/tokens "{\"tenant_id\":\"$(jget 'j["id"]')\",\"name\":\"o\"}"
[ "$STATUS" = 201 ] || fail "token: $STATUS $BODY"
REQ_TOKEN=$(jget 'j["token"]')
image_upload_app nsmprobe nsm
enclave_create a
A4=$ENC
wait_for 60 "the other tenant's enclave running" enclave_is "$A4" running
sealkey "$A4" l1
[ "$KEY" != "$KA1" ] || fail "another tenant got the same key"
enclave_ask "$A4" "UNSEAL l1 $BLOB"
[[ "$ANS" == "UNSEAL error 6 "* ]] || fail "another tenant unsealed: $ANS"
enclave_destroy "$A4"
unset REQ_TOKEN

echo "host_nsm: ok"
