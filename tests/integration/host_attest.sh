#!/usr/bin/env bash
# host_attest.sh — attestation end to end with a real control plane and host:
#
#   cloister enclave attest ──► cloister-control ──op "attest"──► agent ──sign──► key holder
#   cloister attest verify doc.cbor --root (cloister ca get) --pcr N=(cloister image measure)
#
#   - at start the key holder makes the attestation key and the agent stores the
#     control plane's certificate for it (DATA/attest, 0644); the key file is the
#     key holder's (DATA/keys/attest.key, 0600);
#   - the enclave's registers are recorded at launch (DATA/pcrs/ID.json), reported
#     (describe's "pcrs") and equal what `cloister image measure` computes from the
#     image, the init binary, the tenant, the name and the host id;
#   - a document fetched with a nonce verifies offline against the root with every
#     expected register and the nonce, and online (certificate valid); a wrong PCR,
#     a wrong nonce fail naming the check;
#   - an agent killed -9 and restarted adopts the enclave and still attests it with
#     the same registers and the same certificate (not asked for again);
#   - after `host remove` the certificate is revoked: --online fails `revoked`.
source "$(dirname "$0")/host_lib.sh"

host_up_attested

# ---- the key and the certificate ----
[ "$(stat -c %a "$HDATA/attest/cert.der") $(stat -c %a "$HDATA/attest/bundle.der")" = "644 644" ] ||
	fail "DATA/attest modes: $(ls -l "$HDATA/attest")"
[ "$(stat -c %a "$HDATA/keys/attest.key")" = 600 ] || fail "attest.key: $(stat -c %a "$HDATA/keys/attest.key")"
SERIAL=$(openssl x509 -inform DER -in "$HDATA/attest/cert.der" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
openssl x509 -inform DER -in "$HDATA/attest/cert.der" -noout -subject | grep -q "CN *= *$HOST_ID" ||
	fail "the leaf is not for $HOST_ID: $(openssl x509 -inform DER -in "$HDATA/attest/cert.der" -noout -subject)"
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"

# ---- an enclave and its registers ----
image_upload
enclave_create kv
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
[ -s "$HDATA/pcrs/$ID.json" ] || fail "no registers recorded for $ID"
req GET "/v1/enclaves/$ID"
TENANT=$(jget 'j["tenant_id"]')
[ -n "$TENANT" ] || fail "describe has no tenant: $BODY"
"$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name kv --host "$HOST_ID" --json >"$WORK/m.json" ||
	fail "image measure"
pcr() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['$1'])" "$WORK/m.json"; }
P0=$(pcr 0) P1=$(pcr 1) P2=$(pcr 2) P3=$(pcr 3) P4=$(pcr 4)
described() { req GET "/v1/enclaves/$ID"; [ "$(jget 'j.get("pcrs", {}).get("0")')" = "$P0" ]; }
wait_for 20 "describe's pcrs" described
for n in 1 2 3 4; do
	v=P$n
	[ "$(jget "j['pcrs']['$n']")" = "${!v}" ] || fail "describe's PCR$n differs from image measure: $BODY"
done
cmp <(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))" \
	"$HDATA/pcrs/$ID.json") <(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['pcrs'], sort_keys=True))" \
	"$WORK/m.json") >/dev/null || fail "DATA/pcrs/$ID.json differs from image measure"

# ---- a document ----
attest() { "$CLI_BIN" enclave attest "$ID" --nonce "$1" --out "$2" >/dev/null || fail "enclave attest: $?"; }
verify() { "$CLI_BIN" attest verify "$@" >"$WORK/v.out" 2>"$WORK/v.err"; }
NONCE=$(openssl rand -hex 16)
attest "$NONCE" "$WORK/doc.cbor"
ALL=(--pcr "0=$P0" --pcr "1=$P1" --pcr "2=$P2" --pcr "3=$P3" --pcr "4=$P4")
verify "$WORK/doc.cbor" --root "$WORK/root.pem" "${ALL[@]}" --nonce "$NONCE" ||
	fail "verify: $(cat "$WORK/v.err")"
grep -q verified "$WORK/v.out" || fail "verify said: $(cat "$WORK/v.out")"
verify "$WORK/doc.cbor" --root "$WORK/root.pem" --pcr "0=$P0" --nonce "$NONCE" --online ||
	fail "verify --online: $(cat "$WORK/v.err")"
BAD=$(python3 -c "import sys; h=sys.argv[1]; print(('0' if h[0]!='0' else '1')+h[1:])" "$P0")
verify "$WORK/doc.cbor" --root "$WORK/root.pem" --pcr "0=$BAD" --nonce "$NONCE" && fail "a wrong PCR0 verified"
grep -q 'pcr failed' "$WORK/v.err" || fail "wrong PCR0: $(cat "$WORK/v.err")"
verify "$WORK/doc.cbor" --root "$WORK/root.pem" --pcr "0=$P0" --nonce "00$NONCE" && fail "a wrong nonce verified"
grep -q 'nonce failed' "$WORK/v.err" || fail "wrong nonce: $(cat "$WORK/v.err")"

# ---- an agent killed and restarted: adopted, same registers, same certificate ----
host_kill9
host_start
wait_for 20 "host ready again" host_is ready
grep -q "adopted enclave id=$ID" "$WORK/host.err" || fail "the enclave was not adopted"
NONCE2=$(openssl rand -hex 8)
attest "$NONCE2" "$WORK/doc2.cbor"
verify "$WORK/doc2.cbor" --root "$WORK/root.pem" "${ALL[@]}" --nonce "$NONCE2" ||
	fail "verify after a restart: $(cat "$WORK/v.err")"
S2=$(openssl x509 -inform DER -in "$HDATA/attest/cert.der" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
[ "$S2" = "$SERIAL" ] || fail "a restart asked for a new certificate: $SERIAL -> $S2"

# ---- removed: the certificate is revoked ----
"$CLI_BIN" host remove "$HOST_ID" --yes >/dev/null || fail "host remove"
req GET "/v1/ca/certificates/$SERIAL"
[ "$STATUS" = 200 ] || fail "certificate status: $STATUS $BODY"
[ "$(jget 'j["status"]')" = revoked ] && [ "$(jget 'j["reason"]')" = removed ] || fail "after host remove: $BODY"
verify "$WORK/doc.cbor" --root "$WORK/root.pem" --pcr "0=$P0" --online && fail "--online accepted a removed host's document"
grep -q 'revoked failed' "$WORK/v.err" || fail "--online after remove: $(cat "$WORK/v.err")"
echo "host_attest: ok"
