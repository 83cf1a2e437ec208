#!/usr/bin/env bash
# broker.sh — the key broker end to end with a real control plane and host
# (docs/broker.md), every release going through an enclave that runs
# examples/broker-client (libcloister-enclave):
#
#   cloister secret put ──► cloister-control (secrets, policy, audit)
#   cloister secret release --challenge ─► nonce ─► enclave send "nonce HEX"
#   enclave: key pair, cle_attest(nonce, its public key) ─► recv "document B64"
#   POST .../release {document} ─► verified, bound ─► wrapped to the document's key
#   enclave send "wrapped B64" ─► enclave: cle_unwrap ─► recv "sha384 HEX" (never the secret)
#
#   - the happy path: the digest the enclave prints is the put value's; a
#     document carrying a key of ours (put there from inside) is unwrapped by
#     an independent implementation (python3 cryptography, tests/unit/wrap_kat.py);
#   - every refusal is 403 with its reason: a reused nonce and an expired one
#     (stale_nonce), a document of another enclave (wrong_enclave), a policy
#     PCR the enclave does not have (pcr_mismatch), a document asked from
#     inside without a public key (no_public_key), a key that is not a P-384
#     point (bad_public_key), a tampered document (bad_document), a removed
#     host's document (host_revoked); a document carrying another public key
#     than the enclave's: the release succeeds, the unwrap inside fails;
#   - release attempts are limited to 30 a minute per secret (429);
#   - another tenant can neither see, change, delete the secret nor register
#     one for our enclave;
#   - policy changes, releases and refusals are in the secret's events; list
#     never shows the value, nor do the control plane's logs.
source "$(dirname "$0")/host_lib.sh"

host_up_attested

image_upload_app broker-client bc
enclave_create kv
ID=$ENC
enclave_create kv2
ID2=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
wait_for 60 "enclave 2 running" enclave_is "$ID2" running
has_pcrs() { req GET "/v1/enclaves/$ID"; [ "$(jget 'j.get("pcrs", {}).get("0", "")')" != "" ]; }
wait_for 20 "describe's pcrs" has_pcrs
P0=$(jget 'j["pcrs"]["0"]') P4=$(jget 'j["pcrs"]["4"]')
BAD=$(python3 -c "import sys; h=sys.argv[1]; print(('0' if h[0]!='0' else '1')+h[1:])" "$P0")

openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/k.pem" 2>/dev/null || fail "openssl ecparam"
openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/k2.pem" 2>/dev/null || fail "openssl ecparam"
KHEX=$(openssl pkey -in "$WORK/k.pem" -pubout -outform DER 2>/dev/null | xxd -p | tr -d '\n')
K2HEX=$(openssl pkey -in "$WORK/k2.pem" -pubout -outform DER 2>/dev/null | xxd -p | tr -d '\n')
MARK="broker-marker-$(openssl rand -hex 8)"
{ printf '%s' "$MARK"; head -c 200 /dev/urandom; } >"$WORK/value.bin"
B64=$(base64 -w0 "$WORK/value.bin")
DIGEST=$(sha384sum "$WORK/value.bin" | cut -d' ' -f1)

# ---- put, list (never the value) ----
"$CLI_BIN" secret put s1 --enclave "$ID" --value-file "$WORK/value.bin" --pcr "0=$P0" --pcr "4=$P4" >/dev/null ||
	fail "secret put"
"$CLI_BIN" secret put s1 --enclave "$ID" --value-file "$WORK/value.bin" --pcr "0=$P0" 2>"$WORK/e" &&
	fail "a second secret s1 was accepted"
grep -q "exists" "$WORK/e" || fail "duplicate put: $(cat "$WORK/e")"
json POST /v1/secrets "{\"name\":\"s0\",\"value\":\"$B64\",\"enclave\":\"$ID\",\"policy\":{\"pcrs\":{}}}"
[ "$STATUS" = 400 ] || fail "an empty policy: $STATUS $BODY"
req GET /v1/secrets
[ "$STATUS" = 200 ] || fail "list: $STATUS $BODY"
[ "$(jget '[s["name"] for s in j["items"]]')" = "['s1']" ] || fail "list: $BODY"
[ "$(jget 'j["items"][0]["policy"]["pcrs"]["0"]')" = "$P0" ] || fail "list policy: $BODY"
grep -qF "$B64" <<<"$BODY" && fail "list shows the value"
"$CLI_BIN" secret list | grep -q "^s1 " || fail "secret list: $("$CLI_BIN" secret list 2>&1)"

# ---- another tenant sees none of it ----
json POST /v1/tenants '{"name":"other"}'
[ "$STATUS" = 201 ] || fail "tenant: $STATUS $BODY"
OTHER_TENANT=$(jget 'j["id"]')
json POST /v1/tokens "{\"tenant_id\":\"$OTHER_TENANT\",\"name\":\"o\"}"
[ "$STATUS" = 201 ] || fail "token: $STATUS $BODY"
OTHER=$(jget 'j["token"]')
other() { # other METHOD PATH [body]
	BODY=$(curl -sS --cacert "$CA" -X "$1" -H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' \
		-o - -w '\n%{http_code}' ${3:+--data-binary "$3"} "$URL$2")
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
other GET /v1/secrets
[ "$STATUS" = 200 ] && [ "$(jget 'len(j["items"])')" = 0 ] || fail "another tenant lists: $STATUS $BODY"
other PUT /v1/secrets/s1/policy "{\"pcrs\":{\"0\":\"$BAD\"}}"
[ "$STATUS" = 404 ] || fail "another tenant changed the policy: $STATUS $BODY"
other GET /v1/secrets/s1/events
[ "$STATUS" = 200 ] && [ "$(jget 'len(j["items"])')" = 0 ] || fail "another tenant reads the events: $STATUS $BODY"
other DELETE /v1/secrets/s1
[ "$STATUS" = 404 ] || fail "another tenant deleted: $STATUS $BODY"
other POST /v1/secrets "{\"name\":\"s9\",\"value\":\"$B64\",\"enclave\":\"$ID\",\"policy\":{\"pcrs\":{\"0\":\"$P0\"}}}"
[ "$STATUS" = 404 ] || fail "another tenant registered a secret for our enclave: $STATUS $BODY"

# ---- the release, through the enclave ----
challenge() { # sets NONCE
	NONCE=$("$CLI_BIN" secret release s1 --challenge) || fail "secret release --challenge"
	[ ${#NONCE} = 64 ] || fail "nonce: $NONCE"
}
# in_enclave ENCLAVE OUT [nonce|nokey] [KEYHEX]: the enclave attests with $NONCE
# (and its own key, none, or KEYHEX); the document goes to OUT
in_enclave() {
	enclave_ask "$1" "${3:-nonce} $NONCE${4:+ $4}"
	[[ "$ANS" == "document "* ]] || fail "the enclave made no document: $ANS"
	base64 -d <<<"${ANS#document }" >"$2" || fail "document not base64"
}
release() { # release DOCFILE: sets STATUS, BODY (no token: the document is the credential)
	local d
	d=$(base64 -w0 "$1")
	BODY=$(curl -sS --cacert "$CA" -X POST -H 'Content-Type: application/json' -o - -w '\n%{http_code}' \
		--data-binary "{\"document\":\"$d\"}" "$URL/v1/secrets/s1/release")
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
refused() { # refused REASON
	[ "$STATUS" = 403 ] || fail "expected a refusal $1: $STATUS $BODY"
	[ "$(jget 'j["error"]["reason"]')" = "$1" ] || fail "expected reason $1: $BODY"
}
# unwrap_inside ENCLAVE WRAPPED_B64: the enclave unwraps; ANS = its answer
unwrap_inside() { enclave_ask "$1" "wrapped $2"; }

# the happy path: the CLI presents the document, the enclave unwraps and
# shows only the digest of what it got
challenge
in_enclave "$ID" "$WORK/doc0"
W=$("$CLI_BIN" secret release s1 --document "$WORK/doc0") || fail "secret release --document"
unwrap_inside "$ID" "$W"
[ "$ANS" = "sha384 $DIGEST" ] || fail "the enclave unwrapped something else: $ANS (want $DIGEST)"
grep -qF "$MARK" <<<"$W" && fail "the wrapped secret shows the value"

# by hand, with a key of ours put in the document from inside: an
# independent implementation unwraps the exact bytes
challenge
in_enclave "$ID" "$WORK/doc1" nonce "$KHEX"
release "$WORK/doc1"
[ "$STATUS" = 200 ] || fail "release by hand: $STATUS $BODY"
jget 'j["wrapped"]' | base64 -d >"$WORK/wrapped"
python3 "$(dirname "$0")/../unit/wrap_kat.py" open "$WORK/k.pem" "$WORK/wrapped" >"$WORK/got2.bin" ||
	fail "python could not unwrap"
cmp "$WORK/value.bin" "$WORK/got2.bin" || fail "python unwrapped other bytes"

# ---- refusals ----
release "$WORK/doc1"
refused stale_nonce # reused
challenge
in_enclave "$ID" "$WORK/doc2"
sqlite3 -cmd ".timeout 10000" "$WORK/ctl/db/control.db" "UPDATE secret_challenges SET expires_at=1 WHERE nonce='$NONCE'" ||
	fail "sqlite3 update"
release "$WORK/doc2"
refused stale_nonce # expired
grep -q expired <<<"$BODY" || fail "expired: $BODY"
challenge
in_enclave "$ID2" "$WORK/doc3"
release "$WORK/doc3"
refused wrong_enclave
challenge
in_enclave "$ID" "$WORK/doc4" nokey
release "$WORK/doc4"
refused no_public_key
challenge
in_enclave "$ID" "$WORK/doc4b" nonce "04$(printf '01%.0s' {1..96})"
release "$WORK/doc4b"
refused bad_public_key # 97 bytes, but not a point on P-384
challenge
in_enclave "$ID" "$WORK/doc5"
python3 - "$WORK/doc5" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "wb").write(bytes(b))
PY
release "$WORK/doc5"
refused bad_document
# a document carrying another key than the enclave's: released, but nothing opens inside
challenge
in_enclave "$ID" "$WORK/doc5b" nonce "$K2HEX"
release "$WORK/doc5b"
[ "$STATUS" = 200 ] || fail "release to another key: $STATUS $BODY"
unwrap_inside "$ID" "$(jget 'j["wrapped"]')"
[[ "$ANS" == "error "*"does not open"* ]] || fail "a secret wrapped to another key was unwrapped: $ANS"
# a wrong PCR in the policy; the change is audited
"$CLI_BIN" secret policy s1 --pcr "0=$BAD" >/dev/null || fail "secret policy"
challenge
in_enclave "$ID" "$WORK/doc6"
"$CLI_BIN" secret release s1 --document "$WORK/doc6" >/dev/null 2>"$WORK/e" && fail "released against a wrong PCR0"
grep -q "pcr_mismatch" "$WORK/e" || fail "pcr: $(cat "$WORK/e")"
"$CLI_BIN" secret policy s1 --pcr "0=$P0" --pcr "4=$P4" >/dev/null || fail "secret policy back"
challenge
in_enclave "$ID" "$WORK/doc7"
W=$("$CLI_BIN" secret release s1 --document "$WORK/doc7") || fail "release after the policy is back"
unwrap_inside "$ID" "$W"
[ "$ANS" = "sha384 $DIGEST" ] || fail "release after the policy is back: $ANS"

# ---- the events ----
req GET /v1/secrets/s1/events
[ "$STATUS" = 200 ] || fail "events: $STATUS $BODY"
KINDS=$(jget '" ".join(e["kind"] + ("/" + e["reason"] if e.get("reason") else "") for e in j["items"])')
want="created released released refused/stale_nonce refused/stale_nonce refused/wrong_enclave refused/no_public_key"
want+=" refused/bad_public_key refused/bad_document released policy refused/pcr_mismatch policy released"
[ "$KINDS" = "$want" ] || fail "events: $KINDS"
[ "$(jget '[e["detail"] for e in j["items"] if e["kind"] == "policy"][0]')" != "" ] || fail "policy event detail: $BODY"
req GET "/v1/secrets/s1/events?limit=2"
[ "$(jget 'len(j["items"])')" = 2 ] && [ "$(jget 'j["next"]')" != None ] || fail "events page: $BODY"

# ---- a removed host: its documents are refused ----
challenge
in_enclave "$ID" "$WORK/doc8"
"$CLI_BIN" host remove "$HOST_ID" --yes >/dev/null || fail "host remove"
release "$WORK/doc8"
refused host_revoked

# ---- the value is nowhere in the control plane's logs ----
for f in "$WORK"/ctl.err "$WORK"/ctl.out.cur; do
	grep -qF -e "$MARK" -e "$B64" "$f" && fail "the value is in $f"
done

# ---- release attempts are rate-limited per secret (30 a minute) ----
printf 'not a document' >"$WORK/junk"
for i in $(seq 1 40); do
	release "$WORK/junk"
	[ "$STATUS" = 429 ] && break
	refused bad_document
done
[ "$STATUS" = 429 ] || fail "40 release attempts in a row were not limited"
req GET "/v1/secrets/s1/events?limit=500"
[ "$(jget 'len([e for e in j["items"] if e["kind"] in ("released", "refused")])')" = 30 ] ||
	fail "limited after other than 30 attempts: $i"

# ---- rm ----
"$CLI_BIN" secret rm s1 >/dev/null || fail "secret rm"
req GET /v1/secrets
[ "$(jget 'len(j["items"])')" = 0 ] || fail "list after rm: $BODY"
req POST /v1/secrets/s1/challenge -d '{}'
[ "$STATUS" = 404 ] || fail "challenge after rm: $STATUS $BODY"
echo "broker: ok"
