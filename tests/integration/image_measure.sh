#!/usr/bin/env bash
# image_measure.sh — `cloister image measure` and `cloister image sign` with
# the real binary, checked against an independent implementation of the
# registers (tests/unit/measure_ref.py, Python hashlib) and the shell's
# sha384sum; then a signed image through the control plane:
#
#   openssl (keys, certs) ─► cloister image sign ─► IMAGE.img ─► cloister image measure|inspect
#                                                         └─────► POST /v1/images (cloister-control, port 0)
#
# Checks: the registers printed (text and JSON; default and explicit init and
# init-bundle: PCR1 is cloister-init then cloister-init-bundle;
# PCR3/PCR4 with --tenant/--name/--host); image inspect's sha384 and pcr0;
# signing keeps PCR0/PCR2 and the body, sets PCR8 to the certificate's
# extend, changes the file's SHA-384, keeps the file mode, takes PEM and DER,
# re-signing replaces the section; a wrong key, a non-certificate, a P-256
# certificate and usage errors change nothing; tampered, truncated and
# trailing-garbage images are refused by inspect and measure; the control
# plane stores a signed image under its whole-file SHA-384 and refuses a
# tampered one (400 crypto).
source "$(dirname "$0")/control_lib.sh"
CLI="$BUILD/bin/cloister"
INIT="$BUILD/bin/cloister-init"
HELPER="$BUILD/bin/cloister-init-bundle"
REF="$(cd "$(dirname "$0")/../unit" && pwd)/measure_ref.py"
sha() { sha384sum "$1" | cut -d' ' -f1; }
Z=$(printf '%096d' 0)
ext_file() { # ext_file REG_HEX FILE: the register extended with FILE's bytes
	{ printf '%s' "$1" | xxd -r -p; sha384sum "$2" | cut -d' ' -f1 | xxd -r -p; } | sha384sum | cut -d' ' -f1
}
ext_str() { printf '%s' "$2" >"$WORK/ext.tmp"; ext_file "$1" "$WORK/ext.tmp"; }
run() { # run ARGS...: the CLI; sets RC, OUT, ERR
	set +e
	OUT=$("$CLI" "$@" 2>"$WORK/err"); RC=$?
	set -e
	ERR=$(cat "$WORK/err")
}
refuse() { # refuse RC TEXT ARGS...: the command fails with RC and one error line holding TEXT
	local want=$1 text=$2; shift 2
	run "$@"
	[ "$RC" = "$want" ] || fail "$* exited $RC (want $want): $OUT $ERR"
	[ "$(wc -l <<<"$ERR")" = 1 ] && [[ "$ERR" == "error: "*"$text"* ]] || fail "$*: error was: $ERR"
}

# ---- an image and its registers ----
printf '#!/bin/sh\necho hi\n' >"$WORK/hello"; chmod 755 "$WORK/hello"
printf 'k=v\n' >"$WORK/conf"
"$CLI" image build -o "$WORK/a.img" --name a --entrypoint /app/hello --arg -x --arg 'a b' \
	"$WORK/hello" "$WORK/conf:etc/conf" >/dev/null
read -r P0 P1 P2 P8 < <(python3 "$REF" image "$WORK/a.img" "$INIT" "$HELPER")
[ "$P8" = "$Z" ] || fail "reference: an unsigned image has a PCR8"
# PCR0 by the shell alone, too: extend of zeros with the whole (unsigned) file.
[ "$P0" = "$(ext_file "$Z" "$WORK/a.img")" ] || fail "reference and shell disagree on PCR0"
# PCR1 by the shell: zeros extended with cloister-init, then cloister-init-bundle.
[ "$P1" = "$(ext_file "$(ext_file "$Z" "$INIT")" "$HELPER")" ] || fail "reference and shell disagree on PCR1"

run image measure "$WORK/a.img"   # default init: the one beside the cloister binary
[ "$RC" = 0 ] || fail "measure: $ERR"
[ "$OUT" = "$(printf 'PCR0 %s\nPCR1 %s\nPCR2 %s' "$P0" "$P1" "$P2")" ] || fail "measure printed: $OUT"
run image measure "$WORK/a.img" --init "$INIT" --tenant ten-x --name web --host host-9 --json
[ "$RC" = 0 ] || fail "measure --json: $ERR"
BODY=$OUT
[ "$(jget 'sorted(j["pcrs"])')" = "['0', '1', '2', '3', '4']" ] || fail "registers in JSON: $OUT"
[ "$(jget 'j["pcrs"]["0"]')" = "$P0" ] && [ "$(jget 'j["pcrs"]["1"]')" = "$P1" ] &&
	[ "$(jget 'j["pcrs"]["2"]')" = "$P2" ] || fail "JSON registers: $OUT"
[ "$(jget 'j["pcrs"]["3"]')" = "$(ext_str "$(ext_str "$Z" ten-x)" web)" ] || fail "PCR3: $OUT"
[ "$(jget 'j["pcrs"]["4"]')" = "$(ext_str "$Z" host-9)" ] || fail "PCR4: $OUT"
run --json image measure "$WORK/a.img" --host host-9   # the global --json; PCR4 alone
BODY=$OUT
[ "$(jget 'sorted(j["pcrs"])')" = "['0', '1', '2', '4']" ] || fail "global --json: $OUT"
# Another init, another PCR1 (and nothing else); its helper is the one beside
# it unless --init-bundle names another, and another helper is another PCR1.
mkdir -p "$WORK/boot"
printf 'not the real init' >"$WORK/boot/init2"
refuse 1 "cannot read cloister-init-bundle" image measure "$WORK/a.img" --init "$WORK/boot/init2"
printf 'not the real helper' >"$WORK/boot/cloister-init-bundle"
run image measure "$WORK/a.img" --init "$WORK/boot/init2"
[ "$(sed -n 2p <<<"$OUT")" = "PCR1 $(ext_file "$(ext_file "$Z" "$WORK/boot/init2")" "$WORK/boot/cloister-init-bundle")" ] ||
	fail "--init (helper beside it): $OUT"
[ "$(sed -n 1p <<<"$OUT")" = "PCR0 $P0" ] || fail "--init changed PCR0"
run image measure "$WORK/a.img" --init "$INIT" --init-bundle "$WORK/boot/init2"
[ "$(sed -n 2p <<<"$OUT")" = "PCR1 $(ext_file "$(ext_file "$Z" "$INIT")" "$WORK/boot/init2")" ] || fail "--init-bundle: $OUT"
[ "$(sed -n 2p <<<"$OUT")" != "PCR1 $P1" ] || fail "another helper, the same PCR1"
[ "$(sed -n 3p <<<"$OUT")" = "PCR2 $P2" ] || fail "--init-bundle changed PCR2"
refuse 1 "cannot read cloister-init-bundle" image measure "$WORK/a.img" --init-bundle "$WORK/nope"

run --json image inspect "$WORK/a.img"
BODY=$OUT
[ "$(jget 'j["sha384"]')" = "$(sha "$WORK/a.img")" ] || fail "inspect sha384: $OUT"
[ "$(jget 'j["pcr0"]')" = "$P0" ] && [ "$(jget 'j["signed"]')" = False ] || fail "inspect pcr0/signed: $OUT"

refuse 2 "go together" image measure "$WORK/a.img" --tenant ten-x
refuse 2 "expected one IMAGE" image measure
refuse 1 "cannot read cloister-init" image measure "$WORK/a.img" --init "$WORK/nope"

# ---- signing ----
mkcert() { # mkcert NAME CURVE CN
	openssl req -x509 -newkey ec -pkeyopt "ec_paramgen_curve:$2" -nodes -keyout "$WORK/$1.key" \
		-out "$WORK/$1.pem" -subj "/CN=$3" -days 30 2>/dev/null
	openssl x509 -in "$WORK/$1.pem" -outform DER -out "$WORK/$1.der"
}
mkcert one secp384r1 "Signer One"
mkcert two secp384r1 "Signer Two"
mkcert p256 prime256v1 "Small Signer"
refuse 1 "bad magic" image measure "$WORK/one.key"
ASIZE=$(stat -c %s "$WORK/a.img")
cp "$WORK/a.img" "$WORK/s.img"; chmod 640 "$WORK/s.img"
run image sign "$WORK/s.img" --key "$WORK/one.key" --cert "$WORK/one.pem"
[ "$RC" = 0 ] || fail "sign: $ERR"
[ "$(stat -c %a "$WORK/s.img")" = 640 ] || fail "sign changed the mode to $(stat -c %a "$WORK/s.img")"
[ "$(stat -c %s "$WORK/s.img")" = $((ASIZE + 12 + $(stat -c %s "$WORK/one.der") + 96)) ] || fail "signed size"
head -c "$ASIZE" "$WORK/s.img" | cmp -s - "$WORK/a.img" || fail "signing changed the body"
[ "$(tail -c +$((ASIZE + 1)) "$WORK/s.img" | head -c 8)" = CLIMGSIG ] || fail "no section magic"
S8=$(ext_file "$Z" "$WORK/one.der")
grep -qx "signer: CN=Signer One" <<<"$OUT" && grep -qx "pcr8:   $S8" <<<"$OUT" || fail "sign printed: $OUT"
read -r Q0 Q1 Q2 Q8 < <(python3 "$REF" image "$WORK/s.img" "$INIT" "$HELPER")
[ "$Q0" = "$P0" ] && [ "$Q1" = "$P1" ] && [ "$Q2" = "$P2" ] && [ "$Q8" = "$S8" ] || fail "reference on the signed image"
run image measure "$WORK/s.img"
[ "$OUT" = "$(printf 'PCR0 %s\nPCR1 %s\nPCR2 %s\nPCR8 %s' "$P0" "$P1" "$P2" "$S8")" ] || fail "signed measure: $OUT"
run --json image inspect "$WORK/s.img"
BODY=$OUT
[ "$(jget 'j["sha384"]')" = "$(sha "$WORK/s.img")" ] && [ "$(sha "$WORK/s.img")" != "$(sha "$WORK/a.img")" ] ||
	fail "a signed image's sha384 is its whole file's: $OUT"
[ "$(jget 'j["pcr0"]')" = "$P0" ] && [ "$(jget 'j["signer"]')" = "CN=Signer One" ] &&
	[ "$(jget 'j["pcr8"]')" = "$S8" ] || fail "inspect of a signed image: $OUT"

# Re-signing (a DER certificate this time) replaces the section.
run image sign "$WORK/s.img" --key "$WORK/two.key" --cert "$WORK/two.der" --json
[ "$RC" = 0 ] || fail "re-sign: $ERR"
BODY=$OUT
[ "$(jget 'j["signer"]')" = "CN=Signer Two" ] && [ "$(jget 'j["pcr8"]')" = "$(ext_file "$Z" "$WORK/two.der")" ] &&
	[ "$(jget 'j["sha384"]')" = "$(sha "$WORK/s.img")" ] || fail "re-sign printed: $OUT"
[ "$(stat -c %s "$WORK/s.img")" = $((ASIZE + 12 + $(stat -c %s "$WORK/two.der") + 96)) ] || fail "re-signed size"

# Refusals leave the image as it was.
cp "$WORK/s.img" "$WORK/before.img"
refuse 1 "does not match the certificate" image sign "$WORK/s.img" --key "$WORK/one.key" --cert "$WORK/two.pem"
refuse 1 "not a PEM certificate" image sign "$WORK/s.img" --key "$WORK/one.key" --cert "$WORK/one.key"
refuse 1 "not a P-384" image sign "$WORK/s.img" --key "$WORK/p256.key" --cert "$WORK/p256.pem"
refuse 1 "not a DER X.509" image sign "$WORK/s.img" --key "$WORK/one.key" --cert "$WORK/conf"
refuse 1 "cannot read the certificate" image sign "$WORK/s.img" --key "$WORK/one.key" --cert "$WORK/nope.pem"
refuse 1 "bad magic" image sign "$WORK/one.key" --key "$WORK/one.key" --cert "$WORK/one.pem"
refuse 2 "expected IMAGE" image sign "$WORK/s.img" --key "$WORK/one.key"
cmp -s "$WORK/s.img" "$WORK/before.img" || fail "a refused sign changed the image"
[ -z "$(find "$WORK" -maxdepth 1 -name '*.tmp*' ! -name ext.tmp)" ] || fail "a refused sign left a temp file"

# Tampered, truncated, trailing garbage: refused by inspect and measure.
python3 - "$WORK/s.img" "$WORK/badsig.img" "$WORK/tampered.img" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
b = bytearray(d); b[-1] ^= 1
open(sys.argv[2], "wb").write(b)
t = bytearray(d); i = t.index(b'"name":"a"') + 8; t[i] = ord("b")
open(sys.argv[3], "wb").write(t)
PY
head -c -1 "$WORK/s.img" >"$WORK/short.img"
{ cat "$WORK/s.img"; printf 'x'; } >"$WORK/long.img"
for v in inspect measure; do
	refuse 1 "does not verify" image "$v" "$WORK/badsig.img"
	refuse 1 "does not verify" image "$v" "$WORK/tampered.img"
	refuse 1 "truncated" image "$v" "$WORK/short.img"
	refuse 1 "trailing data" image "$v" "$WORK/long.img"
done

# ---- the control plane takes a signed image, under its whole file's SHA-384 ----
ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; TEN=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN\",\"name\":\"ci\"}"; expect 201; TOK=$(jget 'j["token"]')
raw() { req POST /v1/images -H "Authorization: Bearer $TOK" -H 'Content-Type: application/octet-stream' --data-binary @"$1"; }
raw "$WORK/s.img"; expect 201
[ "$(jget 'j["sha384"]')" = "$(sha "$WORK/s.img")" ] || fail "stored digest: $BODY"
cmp -s "$WORK/s.img" "$WORK/data/images/by-digest/$(sha "$WORK/s.img")" || fail "stored bytes differ"
raw "$WORK/tampered.img"; expect 400 crypto
[[ "$(jget 'j["error"]["message"]')" == *"does not verify"* ]] || fail "tampered upload: $BODY"
raw "$WORK/long.img"; expect 400 invalid
echo "image_measure: ok"
