#!/usr/bin/env bash
# control_attest.sh — the hosts CA, host attestation certificates,
# revocation and attestation requests on the control plane, with curl as
# the admin, a tenant and fake hosts (whose attestation keys Python makes):
#
#   curl (admin / tenant / fake hosts) ──HTTPS──► cloister-control (port 0, temp dir)
#                                                   worker ──ISSUE_HOST_CERT──► monitor (hosts CA key)
#
# Checks GET /v1/ca[/hosts][?format=der], POST /v1/hosts/{id}/attestation-key
# (every refusal: auth, content type, bad point, bad proof, a proof for another
# host, oversized fields), the certificates' extensions and chain with
# openssl, GET /v1/ca/certificates/{serial} through replace, remove and lost,
# the sync answer's attestation_serial, tenant and name, the enclave
# report's pcrs in describe, and POST /v1/enclaves/{id}/attestation relayed
# as an `attest` op to the fake host. Last, a root from before the hosts CA
# (pathlen:0) is re-issued with the same key at start.
source "$(dirname "$0")/control_lib.sh"

# A host is lost after 3 x the poll timeout without a sync: the longest one
# keeps the fake hosts ready however slow a (sanitized, loaded) run is; the
# lost check at the end restarts the server with a short one.
ctl_start --poll-timeout-ms 600000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
ROOT=$WORK/data/ca.pem HOSTS=$WORK/data/hosts-ca.pem

# key HOST_ID NAME [PROOF_HOST_ID]: a P-384 key in $WORK/NAME.pem; prints
# {"public_key":..., "proof":...} with a proof made for PROOF_HOST_ID (default HOST_ID).
key() {
	python3 - "$WORK/$2.pem" "$1" "${3:-$1}" <<'PY'
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
path, host, proof_host = sys.argv[1:4]
if os.path.exists(path):
    k = serialization.load_pem_private_key(open(path, "rb").read(), None)
else:
    k = ec.generate_private_key(ec.SECP384R1())
    open(path, "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
point = k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
msg = b"cloister-attest-pop/1\0" + proof_host.encode() + b"\0" + point
r, s = utils.decode_dss_signature(k.sign(msg, ec.ECDSA(hashes.SHA384())))
proof = r.to_bytes(48, "big") + s.to_bytes(48, "big")
print(json.dumps({"public_key": base64.b64encode(point).decode(), "proof": base64.b64encode(proof).decode()}))
PY
}
# with FIELD VALUE JSON: JSON with FIELD set to VALUE (a Python expression on the old value v)
with() { python3 -c 'import base64,json,sys; j=json.loads(sys.argv[3]); v=j.get(sys.argv[1]); j[sys.argv[1]]=eval(sys.argv[2]); print(json.dumps(j))' "$1" "$2" "$3"; }
b64() { python3 -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; }

# ---- the CA certificates: public, PEM or DER
REQ_OUT=$WORK/root.pem req GET /v1/ca; expect 200
cmp -s "$WORK/root.pem" "$ROOT" || fail "GET /v1/ca is not DATA/ca.pem"
CT=$(curl -sS --cacert "$CA" -o /dev/null -w '%{content_type}' "$URL/v1/ca")
[ "$CT" = application/x-pem-file ] || fail "GET /v1/ca content type: $CT"
REQ_OUT=$WORK/root.der req GET '/v1/ca?format=der'; expect 200
cmp -s "$WORK/root.der" <(openssl x509 -in "$ROOT" -outform der) || fail "GET /v1/ca?format=der"
REQ_OUT=$WORK/hosts.pem req GET /v1/ca/hosts; expect 200
cmp -s "$WORK/hosts.pem" "$HOSTS" || fail "GET /v1/ca/hosts is not DATA/hosts-ca.pem"
REQ_OUT=$WORK/hosts.der req GET '/v1/ca/hosts?format=der'; expect 200
cmp -s "$WORK/hosts.der" <(openssl x509 -in "$HOSTS" -outform der) || fail "GET /v1/ca/hosts?format=der"
req GET '/v1/ca?format=txt'; expect 400 invalid
req POST /v1/ca -d '{}'; expect 405 method_not_allowed
req GET /v1/ca/nosuch; expect 404 not_found
# root: pathlen 1 (room for the hosts CA, nothing deeper); hosts CA: pathlen 0, signs certificates only
openssl x509 -in "$ROOT" -noout -text >"$WORK/root.txt"
grep -q 'CA:TRUE, pathlen:1' "$WORK/root.txt" || fail "root basicConstraints: $(cat "$WORK/root.txt")"
openssl x509 -in "$HOSTS" -noout -text >"$WORK/hosts.txt"
grep -A1 'Basic Constraints: critical' "$WORK/hosts.txt" | grep -q 'CA:TRUE, pathlen:0' || fail "hosts CA basicConstraints"
grep -A1 'Key Usage: critical' "$WORK/hosts.txt" | grep -qx ' *Certificate Sign, CRL Sign' || fail "hosts CA keyUsage"
grep -q 'Subject: O = Cloister, CN = Cloister hosts CA' "$WORK/hosts.txt" || fail "hosts CA subject"
grep -q 'NIST CURVE: P-384' "$WORK/hosts.txt" || fail "hosts CA key is not P-384"
openssl verify -CAfile "$ROOT" "$HOSTS" >/dev/null || fail "hosts CA does not verify under the root"
[ "$(stat -c %a "$WORK/data/keys/hosts-ca.key")" = 600 ] || fail "hosts-ca.key not 0600"

# ---- a tenant, an image, two fake hosts
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201; OTHER=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"ci\"}"; expect 201; TO=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
register() {
	as "$ADMIN" POST /v1/hosts/join-tokens; expect 201
	req POST /v1/hosts/register --data-binary "{\"join_token\":\"$(jget 'j["token"]')\",\"name\":\"$1\",\"capabilities\":$CAPS}"
	expect 201
}
register h1; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
register h2; HID2=$(jget 'j["host_id"]'); HT2=$(jget 'j["host_token"]')
sync() { as "$1" POST "/v1/hosts/$2/sync" "{\"generation\":0,\"wait_ms\":0${3:-}}"; expect 200; }
sync "$HT" "$HID"
[ "$(jget 'j["attestation_serial"]')" = None ] || fail "attestation_serial before any certificate: $BODY"

# ---- POST /v1/hosts/{id}/attestation-key: refusals first; none may issue anything
GOOD=$(key "$HID" k1)
AK=/v1/hosts/$HID/attestation-key
req POST "$AK" --data-binary "$GOOD"; expect 401 unauthorized
as "$HT2" POST "$AK" "$GOOD"; expect 403 forbidden      # another host's token
as "$TA" POST "$AK" "$GOOD"; expect 403 forbidden       # a tenant
as "$ADMIN" POST "$AK" "$GOOD"; expect 403 forbidden    # even the admin: only the host holds its key
req POST "$AK" -H "Authorization: Bearer $HT" -H 'Content-Type: text/plain' --data-binary "$GOOD"; expect 415 unsupported_media_type
as "$HT" POST "$AK" "$(with proof '"AAAA"' "$GOOD")"; expect 400 invalid                   # 3 bytes
as "$HT" POST "$AK" "$(with public_key 'v[:-4]' "$GOOD")"; expect 400 invalid             # 94 bytes
as "$HT" POST "$AK" "$(with public_key '"A"*5000' "$GOOD")"; expect 400 invalid           # oversized
as "$HT" POST "$AK" "$(with proof '"!"*128' "$GOOD")"; expect 400 invalid                  # not base64
as "$HT" POST "$AK" "$(with extra 1 "$GOOD")"; expect 400 invalid                          # unknown field
as "$HT" POST "$AK" '{"proof":"AAAA"}'; expect 400 invalid
# a compressed point's prefix, and a point off the curve: the monitor refuses
as "$HT" POST "$AK" "$(with public_key 'base64.b64encode(b"\x02"+base64.b64decode(v)[1:]).decode()' "$GOOD")"
expect 400 crypto
as "$HT" POST "$AK" "$(with public_key 'base64.b64encode(base64.b64decode(v)[:-1]+bytes([base64.b64decode(v)[-1]^1])).decode()' "$GOOD")"
expect 400 crypto
# a proof with one bit flipped, a proof made for another host id, another key's proof
as "$HT" POST "$AK" "$(with proof 'base64.b64encode(bytes([base64.b64decode(v)[0]^1])+base64.b64decode(v)[1:]).decode()' "$GOOD")"
expect 400 crypto
grep -q "cloister-attest-pop/1" <<<"$BODY" || fail "the refusal does not say what the proof signs: $BODY"
as "$HT" POST "$AK" "$(key "$HID" k1 "$HID2")"; expect 400 crypto
OTHERKEY=$(key "$HID" k9)
as "$HT" POST "$AK" "$(with proof "\"$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["proof"])' "$OTHERKEY")\"" "$GOOD")"
expect 400 crypto
[ "$(db 'SELECT COUNT(*) FROM host_certs')" = 0 ] || fail "a refused request recorded a certificate"
grep -q 'refused.*issue-host-cert' "$WORK/ctl.err" || fail "the monitor did not log its refusals"

# ---- issued: the leaf, its extensions, its chain
as "$HT" POST "$AK" "$GOOD"; expect 200
S1=$(jget 'j["serial"]'); NA=$(jget 'j["not_after"]')
[[ "$S1" =~ ^[1-9a-f][0-9a-f]{0,39}$ ]] || fail "serial: $S1"
NOW=$(date +%s)
[ $((NA - NOW)) -gt $((364 * 86400)) ] && [ $((NA - NOW)) -le $((366 * 86400)) ] || fail "not_after $NA is not a year on"
jget 'j["certificate"]' | base64 -d >"$WORK/leaf1.der"
jget 'j["cabundle"][0]' | base64 -d | cmp -s - "$WORK/root.der" || fail "cabundle[0] is not the root"
jget 'j["cabundle"][1]' | base64 -d | cmp -s - "$WORK/hosts.der" || fail "cabundle[1] is not the hosts CA"
[ "$(jget 'len(j["cabundle"])')" = 2 ] || fail "cabundle length"
openssl x509 -inform der -in "$WORK/leaf1.der" -out "$WORK/leaf1.pem"
openssl x509 -in "$WORK/leaf1.pem" -noout -text >"$WORK/leaf.txt"
grep -q "Subject: O = Cloister, CN = $HID\$" "$WORK/leaf.txt" || fail "leaf subject: $(grep Subject: "$WORK/leaf.txt")"
grep -q 'Issuer: O = Cloister, CN = Cloister hosts CA' "$WORK/leaf.txt" || fail "leaf issuer"
grep -A1 'Basic Constraints: critical' "$WORK/leaf.txt" | grep -qx ' *CA:FALSE' || fail "leaf basicConstraints"
grep -A1 'Key Usage: critical' "$WORK/leaf.txt" | grep -qx ' *Digital Signature' || fail "leaf keyUsage: $(cat "$WORK/leaf.txt")"
grep -q 'Extended Key Usage\|Subject Alternative Name' "$WORK/leaf.txt" && fail "leaf carries an EKU or a SAN"
[ "$(openssl x509 -in "$WORK/leaf1.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" = "$S1" ] || fail "serial differs from the certificate's"
cmp -s <(openssl x509 -in "$WORK/leaf1.pem" -noout -pubkey) <(openssl pkey -in "$WORK/k1.pem" -pubout) || fail "leaf key is not the host's"
openssl verify -CAfile "$ROOT" -untrusted "$HOSTS" "$WORK/leaf1.pem" >/dev/null || fail "chain does not verify"
# pathlen:0 holds: a "CA" made with the leaf's key cannot extend the chain
openssl verify -CAfile "$ROOT" "$WORK/leaf1.pem" >/dev/null 2>&1 && fail "leaf verifies without the intermediate"
grep -q "host attestation certificate issued host=$HID serial=$S1" "$WORK/ctl.err" || fail "issue not logged"
grep -q 'BEGIN EC PRIVATE\|BEGIN PRIVATE' <<<"$BODY" && fail "private key in the answer"

# ---- status: public, by serial (any case, leading zeros)
req GET "/v1/ca/certificates/$S1"; expect 200
[ "$(jget 'j["status"]+" "+j["host"]+" "+str(j["not_after"])')" = "valid $HID $NA" ] || fail "status: $BODY"
[ "$(jget '"reason" in j or "revoked_at" in j')" = False ] || fail "a valid certificate has a reason: $BODY"
req GET "/v1/ca/certificates/00${S1^^}"; expect 200; [ "$(jget 'j["serial"]')" = "$S1" ] || fail "canonical serial"
req GET /v1/ca/certificates/abcdef; expect 404 not_found
req GET /v1/ca/certificates/not-hex; expect 404 not_found
req GET "/v1/ca/certificates/$(printf 'a%.0s' {1..90})"; expect 404 not_found
sync "$HT" "$HID"; [ "$(jget 'j["attestation_serial"]')" = "$S1" ] || fail "sync attestation_serial: $BODY"

# ---- the same key again: a new serial, the old one stays valid
as "$HT" POST "$AK" "$GOOD"; expect 200; S2=$(jget 'j["serial"]')
[ "$S2" != "$S1" ] || fail "same serial twice"
req GET "/v1/ca/certificates/$S1"; expect 200; [ "$(jget 'j["status"]')" = valid ] || fail "same key revoked the old: $BODY"
sync "$HT" "$HID"; [ "$(jget 'j["attestation_serial"]')" = "$S2" ] || fail "newest serial: $BODY"
# a new key: every older certificate of the host is replaced
as "$HT" POST "$AK" "$(key "$HID" k2)"; expect 200; S3=$(jget 'j["serial"]')
for s in "$S1" "$S2"; do
	req GET "/v1/ca/certificates/$s"; expect 200
	[ "$(jget 'j["status"]+" "+j["reason"]')" = "revoked replaced" ] || fail "new key did not replace $s: $BODY"
	[ "$(jget 'j["revoked_at"]')" -ge "$NOW" ] || fail "revoked_at: $BODY"
done
req GET "/v1/ca/certificates/$S3"; expect 200; [ "$(jget 'j["status"]')" = valid ] || fail "new certificate: $BODY"
sync "$HT" "$HID"; [ "$(jget 'j["attestation_serial"]')" = "$S3" ] || fail "serial after replace: $BODY"
as "$ADMIN" GET /v1/hosts; expect 200
[ "$(jget '" ".join(str(h["attestation_serial"]) for h in sorted(j["items"], key=lambda h: h["name"]))')" = "$S3 None" ] ||
	fail "host list attestation_serial: $BODY"

# ---- enclaves: the desired set names tenant and name; pcrs shown in describe
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
as "$ADMIN" DELETE "/v1/hosts/$HID2"; expect 200     # one host left: placement is h1
E='"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"'
as "$TA" POST /v1/enclaves '{"name":"pub",'"$E"'}'; expect 202; EID=$(jget 'j["enclave"]["id"]')
[ "$(jget '" ".join(j["enclave"]["policy"]["untrusted"])')" = "describe list attest" ] || fail "default policy: $BODY"
as "$TA" POST /v1/enclaves '{"name":"priv",'"$E"',"policy":{"untrusted":["describe"]}}'; expect 202
PID=$(jget 'j["enclave"]["id"]'); PKEY=$(jget 'j["access_key"]')
sync "$HT" "$HID"
[ "$(jget '" ".join(sorted(e["tenant"]+"/"+e["name"] for e in j["enclaves"]))')" = "$ACME/priv $ACME/pub" ] || fail "tenant/name in the desired set: $BODY"
P0=$(printf 'a%.0s' {1..96}) P3=$(printf '0123456789abcdef%.0s' {1..6})
REP="{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64,\"pcrs\":{\"0\":\"$P0\",\"3\":\"$P3\"}}"
sync "$HT" "$HID" ",\"enclaves\":[$REP]"
as "$TA" GET "/v1/enclaves/$EID"; expect 200
[ "$(jget 'j["pcrs"]["0"]+" "+j["pcrs"]["3"]+" "+str(len(j["pcrs"]))')" = "$P0 $P3 2" ] || fail "describe pcrs: $BODY"
for bad in '{"16":"'"$P0"'"}' '{"01":"'"$P0"'"}' '{"0":"'"${P0^^}"'"}' '{"0":"'"${P0:1}"'"}' '{"0":1}' '[]'; do
	as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"pcrs\":$bad}]}"
	expect 400 invalid
done
as "$TA" GET "/v1/enclaves/$EID"; expect 200; [ "$(jget 'j["pcrs"]["0"]')" = "$P0" ] || fail "a refused sync changed pcrs"
as "$TA" GET "/v1/enclaves/$PID"; expect 200; [ "$(jget 'j["pcrs"]')" = '{}' ] || fail "pcrs of an unreported enclave: $BODY"

# ---- POST /v1/enclaves/{id}/attestation: an attest op the fake host answers
AT=/v1/enclaves/$EID/attestation
as "$TA" POST "$AT" '{"nonce":"abc"}'; expect 400 invalid                          # odd length
as "$TA" POST "$AT" '{"nonce":"zz"}'; expect 400 invalid                           # not hex
as "$TA" POST "$AT" "{\"nonce\":\"$(printf 'ab%.0s' {1..513})\"}"; expect 400 invalid   # 513 bytes
# public_key and user_data are the enclave's to set (its nsm.sock), never a caller's
for b in '{"public_key":"BAEC"}' '{"user_data":"aGVsbG8="}' '{"nonce":"00","public_key":null}'; do
	as "$TA" POST "$AT" "$b"; expect 400 invalid
	grep -q "set from inside the enclave" <<<"$BODY" || fail "refusal of $b does not say why: $BODY"
done
as "$TA" POST "$AT" '{"bogus":1}'; expect 400 invalid
req POST "$AT" -H "Authorization: Bearer $TA" -H 'Content-Type: text/plain' -d '{}'; expect 415 unsupported_media_type
req POST "$AT" -d '{}'; expect 401 unauthorized
as "$TO" POST "$AT" '{}'; expect 404 not_found                                     # another tenant
as "$TA" POST "/v1/enclaves/$PID/attestation" '{}'; expect 403 forbidden          # its policy: key needed
# attest ID BODY [curl args]: posts in the background; the answer lands in $WORK/att.out
attest() {
	local id=$1 body=$2; shift 2
	( req POST "/v1/enclaves/$id/attestation" -H "Authorization: Bearer $TA" "$@" --data-binary "$body"
	  echo "$STATUS $BODY" >"$WORK/att.out" ) &
	ATTESTER=$!
}
# take_op: syncs (deadline 15 s) until an attest op arrives; sets OP and BODY to it
take_op() {
	local deadline=$((SECONDS + 15))
	OP=
	until [ -n "$OP" ]; do
		[ $SECONDS -lt $deadline ] || fail "the attest op never reached the host"
		as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":500}'; expect 200
		OP=$(jget 'next((o["op"] for o in j["ops"] if o["kind"] == "attest"), "")')
	done
	BODY=$(jget 'json.dumps(next(o for o in j["ops"] if o["kind"] == "attest"))')
}
NONCE=00112233445566778899aabbccddeeff
attest "$EID" "{\"nonce\":\"$NONCE\"}"
take_op
[ "$(jget 'j["enclave"]+" "+j["tenant"]+" "+j["nonce"]+" "+str("user_data" in j)+" "+str("public_key" in j)')" = \
  "$EID $ACME $(b64 $NONCE) False False" ] || fail "attest op fields: $BODY"
DOC=$(head -c 700 /dev/urandom | base64 -w0)
as "$HT" POST "/v1/hosts/$HID/ops/$OP" "{\"ok\":true,\"data\":\"$DOC\"}"; expect 200
wait $ATTESTER
[ "$(cat "$WORK/att.out")" = "200 {\"document\":\"$DOC\"}" ] || fail "attestation answer: $(cut -c1-300 "$WORK/att.out")"
# a host without a certificate yet: 503 with its reason
attest "$EID" '{}'
take_op
[ "$(jget '"nonce" in j or "user_data" in j')" = False ] || fail "absent fields sent: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$OP" '{"ok":false,"error":"no attestation certificate yet","reason":"no_certificate"}'
expect 200
wait $ATTESTER
grep -q '^503 .*"code":"unavailable".*no attestation certificate' "$WORK/att.out" || fail "no_certificate: $(cat "$WORK/att.out")"
# the private enclave with its access key
attest "$PID" '{"nonce":"0a"}' -H "X-Cloister-Access-Key: $PKEY"
take_op
[ "$(jget 'j["enclave"]+" "+j["nonce"]')" = "$PID Cg==" ] || fail "keyed attest op: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$OP" "{\"ok\":true,\"data\":\"$DOC\"}"; expect 200
wait $ATTESTER
grep -q '^200 ' "$WORK/att.out" || fail "keyed attestation: $(cut -c1-200 "$WORK/att.out")"

# ---- the CLI: cloister ca get, cloister enclave attest (the fake host answers)
CLI=$BUILD/bin/cloister
cli() { "$CLI" --server "$URL" --ca "$CA" --token "$TA" "$@"; }
cli ca get -o "$WORK/cli-root.pem" >"$WORK/cli.out" || fail "ca get -o: $(cat "$WORK/cli.out")"
cmp -s "$WORK/cli-root.pem" "$ROOT" || fail "ca get -o wrote something else"
FP=$(openssl x509 -in "$ROOT" -noout -fingerprint -sha256 | cut -d= -f2)
grep -q "sha256 $FP" "$WORK/cli.out" || fail "ca get fingerprint: $(cat "$WORK/cli.out") want $FP"
cli ca get | cmp -s - "$ROOT" || fail "ca get to stdout"
cli ca get --hosts | cmp -s - "$HOSTS" || fail "ca get --hosts"
[ "$(cli --json ca get | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["sha256"], j["subject"])')" =   "$FP /O=Cloister/CN=Cloister local CA" ] || fail "ca get --json"
set +e
cli enclave attest "$EID" --nonce xyz >/dev/null 2>"$WORK/cli.err"; rc=$?
set -e
[ $rc = 2 ] && grep -q -- '--nonce must be hex' "$WORK/cli.err" || fail "attest --nonce xyz: $rc $(cat "$WORK/cli.err")"
set +e
cli enclave attest "$EID" --public-key AAEC >/dev/null 2>"$WORK/cli.err"; rc=$?
set -e
[ $rc = 2 ] || fail "attest --public-key was accepted: $rc $(cat "$WORK/cli.err")"
cli enclave attest "$EID" --nonce "$NONCE" --out "$WORK/doc.cbor" >"$WORK/cli.out" 2>&1 &
CLIPID=$!
take_op
[ "$(jget 'j["nonce"]+" "+str("user_data" in j)')" = "$(b64 $NONCE) False" ] || fail "CLI attest op: $BODY"
as "$HT" POST "/v1/hosts/$HID/ops/$OP" "{\"ok\":true,\"data\":\"$DOC\"}"; expect 200
wait $CLIPID || fail "enclave attest: $(cat "$WORK/cli.out")"
cmp -s "$WORK/doc.cbor" <(base64 -d <<<"$DOC") || fail "enclave attest --out did not write the document"
cli enclave attest "$EID" >"$WORK/cli.out" 2>&1 &
CLIPID=$!
take_op
as "$HT" POST "/v1/hosts/$HID/ops/$OP" '{"ok":false,"error":"no attestation certificate yet","reason":"no_certificate"}'
set +e
wait $CLIPID; rc=$?
set -e
[ $rc = 1 ] && grep -q 'no attestation certificate yet (HTTP 503)' "$WORK/cli.out" || fail "enclave attest failure: $rc $(cat "$WORK/cli.out")"

# ---- removal revokes: h3 certified, then removed
register h3; HID3=$(jget 'j["host_id"]'); HT3=$(jget 'j["host_token"]')
as "$HT3" POST "/v1/hosts/$HID3/attestation-key" "$(key "$HID3" k3)"; expect 200; S4=$(jget 'j["serial"]')
as "$ADMIN" DELETE "/v1/hosts/$HID3"; expect 200
[ "$(jget 'j["certificates_revoked"]')" = 1 ] || fail "remove answer: $BODY"
req GET "/v1/ca/certificates/$S4"; expect 200
[ "$(jget 'j["status"]+" "+j["reason"]+" "+j["host"]')" = "revoked removed $HID3" ] || fail "removed host's certificate: $BODY"
"$CLI" --server "$URL" --ca "$CA" --token "$ADMIN" host list --state removed >"$WORK/hosts.out"
grep "^$HID3 " "$WORK/hosts.out" | grep -q ' -$' || fail "host list shows a serial for a removed host: $(cat "$WORK/hosts.out")"
"$CLI" --server "$URL" --ca "$CA" --token "$ADMIN" host list >"$WORK/hosts.out"
grep "^$HID " "$WORK/hosts.out" | grep -q " $S3\$" || fail "host list ATTEST_SERIAL: $(cat "$WORK/hosts.out")"
as "$HT3" POST "/v1/hosts/$HID3/attestation-key" "$(key "$HID3" k3)"; expect 401 unauthorized

# ---- lost: revoked with the host; back from lost it must ask again
ctl_kill9
ctl_start --poll-timeout-ms 3000 # lost after 9 s without a sync
deadline=$((SECONDS + 40))
until req GET "/v1/ca/certificates/$S3" && [ "$(jget 'j["status"]')" = revoked ]; do
	[ $SECONDS -lt $deadline ] || fail "a lost host's certificate was never revoked: $BODY"
	sleep 0.1
done
[ "$(jget 'j["reason"]')" = lost ] || fail "lost reason: $BODY"
as "$ADMIN" GET '/v1/hosts?state=lost'; expect 200; [ "$(jget 'j["items"][0]["id"]')" = "$HID" ] || fail "host not lost: $BODY"
K2=$(key "$HID" k2)
sync "$HT" "$HID"
[ "$(jget 'j["attestation_serial"]')" = None ] || fail "a host back from lost still has a serial: $BODY"
as "$HT" POST "$AK" "$K2"; expect 200; S5=$(jget 'j["serial"]')
sync "$HT" "$HID"; [ "$(jget 'j["attestation_serial"]')" = "$S5" ] || fail "serial after lost: $BODY"
req GET "/v1/ca/certificates/$S3"; expect 200; [ "$(jget 'j["reason"]')" = lost ] || fail "a revocation was undone: $BODY"

# ---- a root from before the hosts CA (pathlen:0): re-issued with the same key
ctl_kill9
openssl req -x509 -new -key "$WORK/data/keys/ca.key" -subj '/O=Cloister/CN=Cloister local CA' -days 30 -sha384 \
	-addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
	-out "$WORK/old-root.pem" 2>/dev/null
cp "$WORK/old-root.pem" "$ROOT"
rm -f "$WORK/data/keys/hosts-ca.pem" "$HOSTS"
ctl_start --poll-timeout-ms 20000
grep -q 'root certificate re-issued with the same key: pathlen 0 -> 1' "$WORK/ctl.err" || fail "root re-issue not logged"
grep -q 'CA:TRUE, pathlen:1' <(openssl x509 -in "$ROOT" -noout -text) || fail "root still pathlen 0"
cmp -s <(openssl x509 -in "$ROOT" -noout -pubkey) <(openssl x509 -in "$WORK/old-root.pem" -noout -pubkey) || fail "root key changed"
# clients holding the old root still trust the server
curl -sS --cacert "$WORK/old-root.pem" "$URL/healthz" >/dev/null || fail "the old root no longer verifies the server"
openssl verify -CAfile "$ROOT" -untrusted "$HOSTS" "$WORK/leaf1.pem" >/dev/null || fail "chain under the re-issued root"
echo "PASS control_attest"
