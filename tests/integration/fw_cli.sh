#!/usr/bin/env bash
# fw_cli.sh — the `cloister fw` tools end to end: keygen, trust-root
# sign/rotate (the tool refuses a rotation a device would refuse), sign,
# cosign (also two at once), inspect, verify (accepted/refused with reason
# and exit code), revocation by rotation, rollback, mix-and-match, and an
# image encrypted to a device key. Every failure prints one error: line.
set -euo pipefail
cd "$(dirname "$0")/../.."
C="$PWD/${BUILD:-build}/bin/cloister"
T=$(mktemp -d /tmp/fw-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
V=6ba7b810-9dad-11d1-80b4-00c04fd430c8 K=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55 A=0000:03:00.0
fail() { echo "FAIL: $*"; exit 1; }
# expect_refused REASON CMD...: exit 1, stdout "refused: REASON", one error line.
expect_refused() {
	local want=$1; shift
	if "$@" >out.txt 2>err.txt; then fail "accepted, wanted $want: $*"; fi
	grep -qx "refused: $want" out.txt || { cat out.txt err.txt; fail "wanted refused: $want"; }
	[ "$(wc -l <err.txt)" = 1 ] && grep -q '^error: ' err.txt || { cat err.txt; fail "want one error line"; }
}
verify() { "$C" fw verify --root root.pub --vendor $V --class $K --component $A "$@"; }

for n in root a b c d dev; do "$C" fw keygen --out $n.pem --pub $n.pub >/dev/null; done
[ "$(stat -c %a a.pem)" = 600 ] || fail "private key not 0600"
if "$C" fw keygen --out a.pem 2>err.txt; then fail "keygen overwrote a key"; fi
grep -q '^error: .*refusing to overwrite' err.txt

"$C" fw trust-root sign --version 1 --threshold 2 --signer a.pub,b.pub,c.pub --key root.pem -o tr1.cbor
if "$C" fw trust-root sign --version 1 --threshold 0 --signer a.pub --key root.pem -o tr0.cbor 2>err.txt; then
	fail "k=0 trust root written"
fi
[ ! -e tr0.cbor ] || fail "tr0.cbor was written"
grep -q '^error: threshold' err.txt

head -c 70000 /dev/urandom >img.bin
"$C" fw sign --key a.pem --vendor $V --class $K --component $A --version 1.0 --sequence 5 \
	--channel stable --image img.bin -o b.fw >/dev/null
expect_refused below_threshold verify --trust-root tr1.cbor --counter 1 b.fw
# Two co-signers at once: the file lock serialises them, neither is lost.
"$C" fw cosign --key b.pem b.fw >/dev/null &
"$C" fw cosign --key c.pem b.fw >/dev/null
wait
[ "$("$C" fw inspect --json b.fw | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["signer_kids"]))')" = 3 ] \
	|| fail "concurrent cosign lost a signature"
if "$C" fw cosign --key b.pem b.fw 2>err.txt; then fail "same key co-signed twice"; fi
verify --trust-root tr1.cbor --counter 1 --out img.out b.fw | grep '^accepted: version 1.0 sequence 5' >/dev/null
cmp img.bin img.out
expect_refused rollback verify --trust-root tr1.cbor --counter 5 b.fw
expect_refused wrong_component "$C" fw verify --root root.pub --vendor $V --class $K --component 0000:04:00.0 \
	--trust-root tr1.cbor --counter 1 b.fw

# Rotation: drop c, add d. The tool refuses what a device would refuse.
if "$C" fw trust-root rotate --prev tr1.cbor --threshold 2 --signer a.pub,b.pub,d.pub --key d.pem,a.pem \
	-o tr2.cbor 2>err.txt; then fail "rotation with one old signer written"; fi
[ ! -e tr2.cbor ] || fail "tr2.cbor was written"
grep -q "^error: a device would refuse this rotation" err.txt
"$C" fw trust-root rotate --prev tr1.cbor --threshold 2 --signer a.pub,b.pub,d.pub --key a.pem,b.pem,d.pem \
	-o tr2.cbor >/dev/null
expect_refused revoked_signer verify --trust-root tr1.cbor,tr2.cbor --counter 1 b.fw
expect_refused bad_trust_root_chain verify --trust-root tr2.cbor --counter 1 b.fw
expect_refused trust_root_stale verify --trust-root tr1.cbor --trust-floor 2 --counter 1 b.fw

# Image encrypted to the device.
"$C" fw sign --key a.pem --vendor $V --class $K --component $A --version 1.1 --sequence 6 \
	--channel stable --encrypt-to dev.pub --image img.bin -o e.fw >/dev/null
"$C" fw cosign --key d.pem e.fw >/dev/null
"$C" fw inspect e.fw | grep 'encrypted *true' >/dev/null
expect_refused no_device_key verify --trust-root tr1.cbor,tr2.cbor --counter 1 e.fw
expect_refused decrypt_failed verify --trust-root tr1.cbor,tr2.cbor --counter 1 --device-key a.pem e.fw
verify --trust-root tr1.cbor,tr2.cbor --counter 1 --device-key dev.pem --out img2.out e.fw >/dev/null
cmp img.bin img2.out

# Bad input: clear errors, nothing written.
head -c 100 b.fw >trunc.fw
expect_refused truncated verify --trust-root tr1.cbor --counter 1 trunc.fw
if "$C" fw inspect trunc.fw 2>err.txt; then fail "inspect accepted a truncated bundle"; fi
grep -q '^error: .*truncated' err.txt
if "$C" fw sign --key a.pem --vendor nope --class $K --component $A --version 1 --sequence 1 --channel s \
	--image img.bin -o x.fw 2>err.txt; then fail "bad UUID accepted"; fi
[ ! -e x.fw ] || fail "x.fw was written"
grep -q '^error: bad UUID' err.txt
if "$C" fw frobnicate 2>err.txt; then fail "unknown verb"; fi
[ "$(wc -l <err.txt)" = 1 ]
echo "fw cli ok"
