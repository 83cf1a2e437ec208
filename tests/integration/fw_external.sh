#!/usr/bin/env bash
# fw_external.sh — a Cloister bundle's and trust root's COSE_Sign1 blocks
# verified by code Cloister did not write: tests/fw/cose_verify.py (Debian's
# python3-cbor2 + python3-cryptography, Sig_structure per RFC 9052). Also
# checks that a tampered signature fails there, so the check can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
C="$PWD/${BUILD:-build}/bin/cloister"
PY=/usr/bin/python3
CHECK="$PWD/tests/fw/cose_verify.py"
T=$(mktemp -d /tmp/fw-external.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
V=6ba7b810-9dad-11d1-80b4-00c04fd430c8 K=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55
for n in root a b; do "$C" fw keygen --out $n.pem --pub $n.pub >/dev/null; done
"$C" fw trust-root sign --version 1 --threshold 2 --signer a.pub,b.pub --key root.pem -o tr1.cbor >/dev/null
head -c 100000 /dev/urandom >img.bin
"$C" fw sign --key a.pem --vendor $V --class $K --component 0000:03:00.0 --version 1.2.3 \
	--sequence 7 --channel stable --use-before 4102444800 --image img.bin -o b.fw >/dev/null
"$C" fw cosign --key b.pem b.fw >/dev/null

$PY "$CHECK" bundle b.fw a.pub b.pub | tee out.txt
[ "$(grep -c 'ES384 signature valid' out.txt)" = 2 ]
$PY "$CHECK" trust-root tr1.cbor root.pub
# Our verifier agrees.
"$C" fw verify --root root.pub --trust-root tr1.cbor --vendor $V --class $K --component 0000:03:00.0 \
	--counter 6 b.fw

# Tamper with the last byte of the first signature: python must refuse it.
off=$($PY - <<'PY'
import cbor2
d = open("b.fw", "rb").read()
fmt, man, blocks, img = cbor2.loads(d)
print(d.index(blocks[0][3]) + 95)
PY
)
cp b.fw bad.fw
printf '\x00' | dd of=bad.fw bs=1 seek="$off" conv=notrunc status=none
cmp -s b.fw bad.fw && printf '\x01' | dd of=bad.fw bs=1 seek="$off" conv=notrunc status=none
if $PY "$CHECK" bundle bad.fw a.pub b.pub; then echo "tampered bundle passed the external check"; exit 1; fi
if "$C" fw verify --root root.pub --trust-root tr1.cbor --vendor $V --class $K --component 0000:03:00.0 \
	--counter 6 bad.fw 2>/dev/null; then echo "tampered bundle accepted"; exit 1; fi
echo "external check ok"
