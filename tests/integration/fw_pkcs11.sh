#!/usr/bin/env bash
# fw_pkcs11.sh — signing with a key that never leaves a PKCS#11 token:
# SoftHSM2 token, P-384 key made on the token with pkcs11-tool, `pkcs11:` URIs
# through OpenSSL's pkcs11 engine (libengine-pkcs11-openssl). The bundle and
# a trust-root rotation signed on the token verify with our verifier and with
# the external python check.
set -euo pipefail
cd "$(dirname "$0")/../.."
C="$PWD/${BUILD:-build}/bin/cloister"
MOD=/usr/lib/softhsm/libsofthsm2.so
for t in softhsm2-util pkcs11-tool; do command -v $t >/dev/null || { echo "missing $t (scripts/install-deps.sh)"; exit 1; }; done
[ -f $MOD ] || { echo "missing $MOD"; exit 1; }
T=$(mktemp -d /tmp/fw-pkcs11.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >softhsm2.conf
export SOFTHSM2_CONF="$T/softhsm2.conf" CLOISTER_PKCS11_MODULE=$MOD
softhsm2-util --init-token --free --label fw --pin 1234 --so-pin 5678 >/dev/null
pkcs11-tool --module $MOD --login --pin 1234 --keypairgen --key-type EC:secp384r1 --id 01 --label hsmsigner >/dev/null
PKCS11_MODULE_PATH=$MOD openssl pkey -engine pkcs11 -inform engine -pubin \
	-in "pkcs11:token=fw;object=hsmsigner;type=public" -out hsm.pub 2>/dev/null
URI="pkcs11:token=fw;object=hsmsigner;type=private;pin-value=1234"
V=6ba7b810-9dad-11d1-80b4-00c04fd430c8 K=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55
"$C" fw keygen --out root.pem --pub root.pub >/dev/null
"$C" fw keygen --out a.pem --pub a.pub >/dev/null
"$C" fw trust-root sign --version 1 --threshold 1 --signer a.pub --key root.pem -o tr1.cbor >/dev/null
# Rotate to {a, hsm}, k = 2, signed by a (old threshold) and the token (new).
"$C" fw trust-root rotate --prev tr1.cbor --threshold 2 --signer a.pub,hsm.pub --key a.pem --key "$URI" -o tr2.cbor
head -c 4096 /dev/urandom >img.bin
"$C" fw sign --key "$URI" --vendor $V --class $K --component 0000:03:00.0 --version 1 --sequence 2 \
	--channel stable --image img.bin -o b.fw
"$C" fw verify --root root.pub --trust-root tr1.cbor,tr2.cbor --vendor $V --class $K --component 0000:03:00.0 \
	--counter 1 b.fw >out.txt 2>&1 && { cat out.txt; echo "one signer met k = 2"; exit 1; }
grep -qx 'refused: below_threshold' out.txt
"$C" fw cosign --key a.pem b.fw
"$C" fw verify --root root.pub --trust-root tr1.cbor,tr2.cbor --vendor $V --class $K --component 0000:03:00.0 \
	--counter 1 b.fw
/usr/bin/python3 "$OLDPWD/tests/fw/cose_verify.py" bundle b.fw hsm.pub a.pub
# A wrong PIN is a clear error, not a crash.
if "$C" fw cosign --key "pkcs11:token=fw;object=hsmsigner;type=private;pin-value=0000" b.fw 2>err.txt; then
	echo "wrong PIN signed"; exit 1
fi
# (libp11 itself prints its own diagnostics on stderr; ours is the one error: line)
[ "$(grep -c "^error: " err.txt)" = 1 ] || { cat err.txt; exit 1; }
echo "pkcs11 ok"
