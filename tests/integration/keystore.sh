#!/usr/bin/env bash
# keystore.sh — examples/keystore (the seed's key service) in a real enclave,
# driven over its channel, checked from outside with keystore-user, openssl
# and python3 cryptography (tests/unit/wrap_kat.py):
#
#   cloister-control ◄── cloister-host ──► enclave: /app/keystore (libcloister-enclave)
#        ▲ POST /v1/enclaves/ID/send "create k1" ...   ▲ its keys: locked memory only
#        └ POST /v1/enclaves/ID/recv "ok created k1 PUB" ...
#
#   - the happy path: create, public, attest (the document verifies under the
#     control plane's root with the image's PCRs and the nonce, user_data =
#     SHA-384 of the key's DER), sign (openssl and keystore-user verify it),
#     trust a user, export to it (keystore-user and python unwrap the same
#     scalar; its public half is the key's);
#   - an export to an untrusted key, and to a user no longer trusted, refused;
#   - malformed lines, oversized fields, unknown names: an error line each,
#     and the keys and users are what they were; the 17th key is refused;
#   - the private scalar (taken from the user's unwrapped copy) is in no recv
#     output before the export, nor in the host's or control plane's data
#     directories and logs (raw, hex or base64).
source "$(dirname "$0")/host_lib.sh"

USER_BIN="$BUILD/examples/keystore-user"
[ -x "$USER_BIN" ] || fail "missing $USER_BIN"
ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
wait_for 20 "the attestation certificate" test -s "$HDATA/attest/cert.der"

image_upload_app keystore ks
enclave_create ks
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
has_pcrs() { req GET "/v1/enclaves/$ID"; [ "$(jget 'j.get("pcrs", {}).get("0", "")')" != "" ]; }
wait_for 20 "describe's pcrs" has_pcrs
PCRS=()
for i in 0 1 2 3 4; do PCRS+=(--pcr "$i=$(jget "j['pcrs']['$i']")"); done
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"

# ask LINE: one request line to the keystore; ANS = its answer line. Every
# answer is also kept in $WORK/recv.log (what a channel reader has seen).
ask() {
	local got= deadline=$((SECONDS + 20)) data
	data=$(printf '%s\n' "$1" | base64 -w0)
	json POST "/v1/enclaves/$ID/send" "{\"data\":\"$data\"}" -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
	[ "$STATUS" = 200 ] || fail "send: $STATUS $BODY"
	while [[ "$got" != *$'\n'* ]]; do
		[ $SECONDS -lt $deadline ] || fail "no answer from the keystore to '${1:0:60}' (got '${got:0:200}')"
		json POST "/v1/enclaves/$ID/recv" '{"max":65536,"wait_ms":1000}' -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
		[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
		got+=$(jget 'j["data"]' | base64 -d; echo x)
		got=${got%x}
	done
	[ "${got#*$'\n'}" = "" ] || fail "more than one answer line to '${1:0:60}': ${got:0:300}"
	ANS=${got%$'\n'}
	printf '%s\n' "$ANS" >>"$WORK/recv.log"
}
expect_ok() { # expect_ok LINE PREFIX
	ask "$1"
	[[ "$ANS" == "$2"* ]] || fail "'${1:0:60}': expected '$2...', got '${ANS:0:200}'"
}
expect_error() { # expect_error LINE CODE
	ask "$1"
	[[ "$ANS" == "error $2:"* ]] || fail "'${1:0:60}': expected 'error $2:', got '${ANS:0:200}'"
}

openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/alice.pem" 2>/dev/null || fail "openssl ecparam"
openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/mallory.pem" 2>/dev/null || fail "openssl ecparam"
ALICE=$(openssl pkey -in "$WORK/alice.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
MALLORY=$(openssl pkey -in "$WORK/mallory.pem" -pubout -outform DER 2>/dev/null | base64 -w0)

# ---- create, public ----
expect_ok "create k1" "ok created k1 "
PUB=${ANS##* }
expect_ok "public k1" "ok public k1 $PUB"
[ "$ANS" = "ok public k1 $PUB" ] || fail "public: $ANS"
base64 -d <<<"$PUB" >"$WORK/k1.der" || fail "public key not base64"
openssl pkey -pubin -inform DER -in "$WORK/k1.der" -noout -text 2>/dev/null | grep -q "NIST CURVE: P-384" ||
	fail "the public key is not P-384"

# ---- attest: the key's public half bound into a verified document ----
NONCE=$(openssl rand -hex 16)
expect_ok "attest k1 $NONCE" "ok attest k1 "
base64 -d <<<"${ANS##* }" >"$WORK/doc" || fail "document not base64"
OUT=$("$CLI_BIN" attest verify "$WORK/doc" --root "$WORK/root.pem" "${PCRS[@]}" --nonce "$NONCE" --json) ||
	fail "attest verify: $OUT"
UD=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user_data"])' "$OUT")
[ "$UD" = "$(openssl dgst -sha384 -binary "$WORK/k1.der" | base64 -w0)" ] ||
	fail "user_data is not SHA-384 of the public key: $UD"

# ---- sign: verified outside, by openssl and by keystore-user ----
head -c 3000 /dev/urandom >"$WORK/msg"
expect_ok "sign k1 $(base64 -w0 "$WORK/msg")" "ok sign k1 "
SIG=${ANS##* }
base64 -d <<<"$SIG" >"$WORK/sig"
openssl dgst -sha384 -verify "$WORK/k1.der" -keyform DER -signature "$WORK/sig" "$WORK/msg" >/dev/null ||
	fail "openssl does not verify the signature"
"$USER_BIN" verify --public "$PUB" --message "$WORK/msg" --signature "$SIG" >/dev/null || fail "keystore-user verify"
printf 'x' >>"$WORK/msg"
"$USER_BIN" verify --public "$PUB" --message "$WORK/msg" --signature "$SIG" >/dev/null 2>&1 &&
	fail "a signature verified over another message"

# ---- export: refused to an untrusted key, then to alice once trusted ----
expect_error "export k1 $ALICE" untrusted
ask users
[ "$ANS" = "ok users 0" ] || fail "users before trust: $ANS"
expect_ok "trust alice $ALICE" "ok trusted alice "
[ "${ANS##* }" = "$(base64 -d <<<"$ALICE" | sha384sum | cut -d' ' -f1)" ] || fail "trust fingerprint: $ANS"
expect_error "export k1 $MALLORY" untrusted
cp "$WORK/recv.log" "$WORK/recv-before-export.log"
expect_ok "export k1 $ALICE" "ok export k1 "
printf '%s\n' "$ANS" >"$WORK/export.txt"
"$USER_BIN" unwrap --key "$WORK/mallory.pem" --wrapped "$WORK/export.txt" >/dev/null 2>&1 &&
	fail "mallory unwrapped alice's copy"
"$USER_BIN" unwrap --key "$WORK/alice.pem" --wrapped "$WORK/export.txt" --out "$WORK/k1.pem" --expect-public "$PUB" \
	>"$WORK/unwrap.out" || fail "keystore-user unwrap"
[ "$(cat "$WORK/unwrap.out")" = "public: $PUB" ] || fail "unwrap: $(cat "$WORK/unwrap.out")"
[ "$(openssl pkey -in "$WORK/k1.pem" -pubout -outform DER | base64 -w0)" = "$PUB" ] ||
	fail "the unwrapped key's public half is not k1's"
# an independent implementation of the wrap opens the same 48 bytes
base64 -d <<<"${ANS##* }" >"$WORK/wrapped"
python3 "$(dirname "$0")/../unit/wrap_kat.py" open "$WORK/alice.pem" "$WORK/wrapped" cloister-keystore-wrap-v1 \
	>"$WORK/scalar" || fail "python could not unwrap"
[ "$(stat -c %s "$WORK/scalar")" = 48 ] || fail "the unwrapped scalar is $(stat -c %s "$WORK/scalar") bytes"
openssl pkey -in "$WORK/k1.pem" -text -noout 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
h = "".join(re.search(r"priv:\n((?:\s+[0-9a-f:]+\n)+)", t).group(1).split()).replace(":", "")
h = h[-96:].rjust(96, "0")
sys.exit(0 if bytes.fromhex(h) == open(sys.argv[1], "rb").read() else 1)' "$WORK/scalar" ||
	fail "keystore-user and python unwrapped different keys"
# the user's copy signs like the key inside: the key really left only to alice
printf 'proof' >"$WORK/m2"
openssl dgst -sha384 -sign "$WORK/k1.pem" -out "$WORK/s2" "$WORK/m2" || fail "sign with the copy"
"$USER_BIN" verify --public "$PUB" --message "$WORK/m2" --signature "$(base64 -w0 "$WORK/s2")" >/dev/null ||
	fail "the copy's signature does not verify under k1"

# ---- malformed lines: an error each, nothing changed ----
long=$(printf 'a%.0s' {1..33})
big=$(head -c 4097 /dev/zero | base64 -w0)
huge=$(head -c 9000 /dev/zero | tr '\0' 'a')
expect_error "bogus k1" bad_request
expect_error "create" bad_request
expect_error "create bad/name" bad_request
expect_error "create $long" bad_request
expect_error "create  k2" bad_request
expect_error "create k2 " bad_request
expect_error "create k2 extra" bad_request
expect_error "sign k1 not-base64!" bad_request
expect_error "sign k1 $big" bad_request
expect_error "sign k1 QUJD=" bad_request
expect_error "attest k1 zz" bad_request
expect_error "attest k1 $(head -c 513 /dev/zero | xxd -p | tr -d '\n')" bad_request
expect_error "trust bob QUJD" bad_request
expect_error "trust bob ${ALICE%?}" bad_request
expect_error "trust bob $(base64 -d <<<"$ALICE" | head -c 100 | base64 -w0)" bad_request
expect_error "export k1 QUJD" bad_request
expect_error "$huge" bad_request
expect_error "create k1" exists
expect_error "trust alice2 $ALICE" exists
expect_error "trust alice $MALLORY" exists
expect_error "sign k9 QUJD" not_found
expect_error "export k9 $ALICE" not_found
expect_error "untrust bob" not_found
expect_ok "keys" "ok keys 1 k1"
[ "$ANS" = "ok keys 1 k1" ] || fail "keys changed: $ANS"
ask users
[ "$ANS" = "ok users 1 alice" ] || fail "users changed: $ANS"
expect_ok "public k1" "ok public k1 $PUB"

# ---- caps: 16 keys ----
for i in $(seq 2 16); do expect_ok "create k$i" "ok created k$i "; done
expect_error "create k17" full
expect_ok "keys" "ok keys 16 "

# ---- untrust: alice gets nothing more ----
expect_ok "untrust alice" "ok untrusted alice"
expect_error "export k1 $ALICE" untrusted
ask users
[ "$ANS" = "ok users 0" ] || fail "users after untrust: $ANS"

# ---- the scalar: in no recv output before the export, nowhere on disk or in a log ----
python3 - "$WORK/scalar" "$WORK/recv-before-export.log" "$HDATA" "$WORK/ctl" "$WORK"/*.err "$WORK"/*.out \
	"$WORK"/ctl.out.cur <<'PY' || fail "the private key was found outside the enclave"
import base64, os, sys
d = open(sys.argv[1], "rb").read()
needles = [d, d.hex().encode(), d.hex().upper().encode(), base64.b64encode(d)]
bad = 0
def scan(p):
    global bad
    try:
        b = open(p, "rb").read()
    except OSError:
        return
    for n in needles:
        if n in b:
            print("FOUND in", p); bad = 1
for a in sys.argv[2:]:
    if os.path.isdir(a):
        for root, _, files in os.walk(a):
            for f in files:
                p = os.path.join(root, f)
                if os.path.isfile(p) and not os.path.islink(p):
                    scan(p)
    else:
        scan(a)
sys.exit(bad)
PY
# the enclave's own logs (its stderr): the start line, no key
req GET "/v1/enclaves/$ID/logs" -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
[ "$STATUS" = 200 ] || fail "logs: $STATUS $BODY"
jget 'j["data"]' | base64 -d >"$WORK/enclave.log"
grep -q "keystore: ready" "$WORK/enclave.log" || fail "the enclave's logs: $(head -c 300 "$WORK/enclave.log")"
python3 - "$WORK/scalar" "$WORK/enclave.log" <<'PY' || fail "the private key is in the enclave's logs"
import base64, sys
d = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
sys.exit(1 if any(n in b for n in (d, d.hex().encode(), base64.b64encode(d))) else 0)
PY
echo "keystore: ok"
