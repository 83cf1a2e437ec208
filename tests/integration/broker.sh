#!/usr/bin/env bash
# broker.sh — the key broker end to end with a real control plane and host
# (docs/broker.md):
#
#   cloister secret put ──► cloister-control (secrets, policy, audit)
#   POST .../challenge ─► nonce ─► cloister enclave attest --nonce --public-key-file
#   POST .../release {document} ─► verified, bound ─► wrapped to the document's key
#
#   - the happy path releases the exact bytes (unwrapped by the CLI, and by an
#     independent implementation: python3 cryptography, tests/unit/wrap_kat.py);
#   - every refusal is 403 with its reason: a reused nonce and an expired one
#     (stale_nonce), a document for another enclave (wrong_enclave), a policy
#     PCR the enclave does not have (pcr_mismatch), no public key
#     (no_public_key), a key that is not a P-384 point (bad_public_key), a
#     tampered document (bad_document), a removed host's
#     document (host_revoked); a document carrying another public key than the
#     unwrap key's: the release succeeds, the unwrap fails;
#   - release attempts are limited to 30 a minute per secret (429);
#   - another tenant can neither see, change, delete the secret nor register
#     one for our enclave;
#   - policy changes, releases and refusals are in the secret's events; list
#     never shows the value, nor do the control plane's logs.
source "$(dirname "$0")/host_lib.sh"

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
wait_for 20 "the attestation certificate" test -s "$HDATA/attest/cert.der"

image_upload
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
MARK="broker-marker-$(openssl rand -hex 8)"
{ printf '%s' "$MARK"; head -c 200 /dev/urandom; } >"$WORK/value.bin"
B64=$(base64 -w0 "$WORK/value.bin")

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

# ---- the happy path: the exact bytes ----
"$CLI_BIN" secret release s1 --key "$WORK/k.pem" --out "$WORK/got.bin" 2>"$WORK/e" || fail "release: $(cat "$WORK/e")"
cmp "$WORK/value.bin" "$WORK/got.bin" || fail "the released secret differs"

# by hand, unwrapped by an independent implementation
challenge() { # sets NONCE
	req POST /v1/secrets/s1/challenge -d '{}'
	[ "$STATUS" = 200 ] || fail "challenge: $STATUS $BODY"
	NONCE=$(jget 'j["nonce"]')
	[ ${#NONCE} = 64 ] || fail "nonce: $BODY"
}
attest() { # attest ENCLAVE OUT [args]
	"$CLI_BIN" enclave attest "$1" --nonce "$NONCE" --out "$2" "${@:3}" >/dev/null || fail "enclave attest $1"
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
challenge
attest "$ID" "$WORK/doc1" --public-key-file "$WORK/k.pem"
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
attest "$ID" "$WORK/doc2" --public-key-file "$WORK/k.pem"
sqlite3 -cmd ".timeout 10000" "$WORK/ctl/db/control.db" "UPDATE secret_challenges SET expires_at=1 WHERE nonce='$NONCE'" ||
	fail "sqlite3 update"
release "$WORK/doc2"
refused stale_nonce # expired
grep -q expired <<<"$BODY" || fail "expired: $BODY"
challenge
attest "$ID2" "$WORK/doc3" --public-key-file "$WORK/k.pem"
release "$WORK/doc3"
refused wrong_enclave
challenge
attest "$ID" "$WORK/doc4"
release "$WORK/doc4"
refused no_public_key
challenge
attest "$ID" "$WORK/doc4b" --public-key "$(python3 -c 'import base64; print(base64.b64encode(b"\x04" + b"\x01" * 96).decode())')"
release "$WORK/doc4b"
refused bad_public_key # 97 bytes, but not a point on P-384
challenge
attest "$ID" "$WORK/doc5" --public-key-file "$WORK/k.pem"
python3 - "$WORK/doc5" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "wb").write(bytes(b))
PY
release "$WORK/doc5"
refused bad_document
# a document carrying another key than the unwrap key's: nothing opens
"$CLI_BIN" secret release s1 --key "$WORK/k.pem" --public-key-file "$WORK/k2.pem" >"$WORK/got3.bin" 2>"$WORK/e" &&
	fail "a secret wrapped to another key was unwrapped"
grep -q "does not open" "$WORK/e" || fail "other key: $(cat "$WORK/e")"
[ -s "$WORK/got3.bin" ] && fail "bytes were written after a failed unwrap"
# a wrong PCR in the policy; the change is audited
"$CLI_BIN" secret policy s1 --pcr "0=$BAD" >/dev/null || fail "secret policy"
"$CLI_BIN" secret release s1 --key "$WORK/k.pem" >/dev/null 2>"$WORK/e" && fail "released against a wrong PCR0"
grep -q "pcr_mismatch" "$WORK/e" || fail "pcr: $(cat "$WORK/e")"
"$CLI_BIN" secret policy s1 --pcr "0=$P0" --pcr "4=$P4" >/dev/null || fail "secret policy back"
"$CLI_BIN" secret release s1 --key "$WORK/k.pem" >"$WORK/got4.bin" || fail "release after the policy is back"
cmp "$WORK/value.bin" "$WORK/got4.bin" || fail "release after the policy is back: other bytes"

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
attest "$ID" "$WORK/doc6" --public-key-file "$WORK/k.pem"
"$CLI_BIN" host remove "$HOST_ID" --yes >/dev/null || fail "host remove"
release "$WORK/doc6"
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
