#!/usr/bin/env bash
# fw_docs.sh — the firmware docs cannot drift from the code: every `fw`
# command has its page in docs/cli/, every refusal reason is in
# docs/firmware-bundle.md, and the documented hex example
# (tests/fw/example-bundle.fw) still inspects and verifies.
set -euo pipefail
cd "$(dirname "$0")/../.."
C="$PWD/${BUILD:-build}/bin/cloister"
bad=0
for verb in keygen trust-root sign cosign inspect verify; do
	[ -f "docs/cli/fw-$verb.md" ] || { echo "missing docs/cli/fw-$verb.md"; bad=1; }
	"$C" fw help | grep "^  $verb " >/dev/null || { echo "fw help does not list $verb"; bad=1; }
done
names=$(sed -n 's/.*\[FW_[A-Z_]*\] = {"\([a-z_]*\)".*/\1/p' src/fw/verify_cose.c)
[ "$(wc -w <<<"$names")" -ge 20 ] || { echo "could not read the status names"; exit 1; }
for n in $names; do
	grep -q "| $n |" docs/firmware-bundle.md || { echo "reason $n not documented"; bad=1; }
done
T=$(mktemp -d /tmp/fw-docs.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$C" fw inspect --json tests/fw/example-bundle.fw >"$T/ex.json"
grep -q '"component": "0000:03:00.0"' "$T/ex.json"
"$C" fw trust-root sign --version 1 --threshold 1 --signer tests/fw/keys/fuzz-signer.pub \
	--key tests/fw/keys/fuzz-root.pem -o "$T/tr1.cbor" >/dev/null
"$C" fw verify --root tests/fw/keys/fuzz-root.pub --trust-root "$T/tr1.cbor" \
	--vendor 6ba7b810-9dad-11d1-80b4-00c04fd430c8 --class 2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55 \
	--component 0000:03:00.0 --counter 6 --now 1700000000 --out "$T/img" tests/fw/example-bundle.fw
[ "$(cat "$T/img")" = "hello, firmware!" ]
# The hex in the doc is the file's: check the first line of the example.
grep -q '^58 81 ' docs/firmware-bundle.md && [ "$(head -c 4 tests/fw/example-bundle.fw | xxd -p)" = 84015881 ]
[ $bad = 0 ] && echo "fw docs ok"
