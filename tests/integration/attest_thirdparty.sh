#!/usr/bin/env bash
# attest_thirdparty.sh — documents made by Cloister's code (cl_att_build, via
# build/tests/attest_tool) verify with an implementation Cloister did not
# write: npm's cose-js (the COSE_Sign1 signature, untagged with defaultType
# 18), npm's cbor (the payload) and Node's crypto.X509Certificate (the
# chain to the pinned root): tests/thirdparty/verify.js, installed by
# tests/thirdparty/setup.sh (npm ci, pinned versions). The same verifier must
# REFUSE a tampered document, one re-signed with another key, another root
# and an expired leaf — and `cloister attest verify` must agree with it on
# every document. No registry means failure, not a skip.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOL="$BUILD/tests/attest_tool"
[ -x "$TOOL" ] || fail "missing $TOOL"

step "install the third-party verifier (npm ci)"
"$ROOT/tests/thirdparty/setup.sh" "$T/npm" >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; fail "npm ci failed: no third-party verifier"; }
node -e 'const v = require(process.argv[1] + "/node_modules/cose-js/package.json").version; if (v !== "0.9.0") process.exit(1)' "$T/npm" ||
	fail "cose-js 0.9.0 is not what was installed"

D="$T/doc"
mkdir -p "$D" "$T/expired"
"$TOOL" make "$D" --nonce 0123456789abcdef --user-data hello --public-key
"$TOOL" make "$T/expired" --expired
pcr() { sed -n "s/^$1=//p" "$D/pcrs.txt"; }

# both WANT DOC ROOT [ARGS...]: the third party says WANT ("ok ..." or
# "refused: ..."), and cloister agrees (exit 0 for ok, 1 for refused).
both() {
	local want=$1 doc=$2 root=$3; shift 3
	local got rc=0 crc=0
	got=$(node "$T/npm/verify.js" "$doc" "$root" "$@") || rc=$?
	[ "$got" = "$want" ] || fail "third party on $(basename "$doc"): '$got', expected '$want'"
	[[ "$want" == ok* ]] && [ "$rc" != 0 ] && fail "third party said ok but exited $rc"
	[[ "$want" == refused* ]] && [ "$rc" != 1 ] && fail "third party refused but exited $rc"
	"$CLOISTER" attest verify "$doc" --root "$root" "$@" >/dev/null 2>"$T/err" || crc=$?
	[ "$crc" = "$rc" ] || fail "cloister disagrees on $(basename "$doc") $*: exit $crc ($(cat "$T/err")), third party exit $rc"
}

step "the third party accepts our documents"
both "ok enc-test0000000000000001" "$D/doc.cbor" "$D/root.pem"
both "ok enc-test0000000000000001" "$D/doc-tagged.cbor" "$D/root.pem"
both "ok enc-test0000000000000001" "$D/doc.cbor" "$D/root.pem" --pcr "2=$(pcr 2)" --pcr "15=$(pcr 15)" --nonce 0123456789abcdef

step "and refuses what must be refused"
both "refused: signature: Signature missmatch" "$D/doc-tampered.cbor" "$D/root.pem"
both "refused: signature: Signature missmatch" "$D/doc-resigned.cbor" "$D/root.pem"
both "refused: cabundle[0] is not the trusted root" "$D/doc.cbor" "$D/other-root.pem"
both "refused: chain: certificate 2 is not valid now" "$T/expired/doc.cbor" "$T/expired/root.pem"
both "refused: pcr 2 differs" "$D/doc.cbor" "$D/root.pem" --pcr "2=$(pcr 3)"
both "refused: nonce differs" "$D/doc.cbor" "$D/root.pem" --nonce 0123456789abcdee

step "a byte changed anywhere in the signed payload is refused by both"
len=$(stat -c %s "$D/doc.cbor")
for off in 20 200 700 1500 $((len - 200)) $((len - 100)); do
	python3 - "$D/doc.cbor" "$T/flip.cbor" "$off" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[int(sys.argv[3])] ^= 0x01
open(sys.argv[2], "wb").write(b)
PY
	rc=0
	node "$T/npm/verify.js" "$T/flip.cbor" "$D/root.pem" >"$T/flip.out" 2>&1 || rc=$?
	[ "$rc" != 0 ] || fail "third party accepted a document with byte $off changed"
	"$CLOISTER" attest verify "$T/flip.cbor" --root "$D/root.pem" >/dev/null 2>&1 && fail "cloister accepted a document with byte $off changed"
done
echo "attest_thirdparty: ok"
