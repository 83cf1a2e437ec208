#!/usr/bin/env bash
# attest_verify.sh — `cloister attest verify` end to end on documents made by
# build/tests/attest_tool (Cloister's cl_att_build over a throw-away chain):
# a good document verifies (untagged, tagged, and as the JSON
# `cloister enclave attest` prints), and each check fails with its own
# "attest verify: <check> failed: ..." line and exit 1. --online asks a
# stand-in control plane (a small HTTPS server here, answering
# GET /v1/ca/certificates/{serial} from a table) and fails closed.
#
#   cloister ── HTTPS (127.0.0.1:port 0) ──> python3 stand-in, answers from $T/answers.json
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/tests/attest_tool"
[ -x "$TOOL" ] || fail "missing $TOOL"

# verify ARGS...: runs `cloister attest verify`; sets RC, OUT, ERR.
verify() {
	RC=0
	"$CLOISTER" attest verify "$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out") ERR=$(cat "$T/err")
}
# refused WANT ARGS...: exit 1 and the one error line WANT.
refused() {
	local want=$1; shift
	verify "$@"
	[ "$RC" = 1 ] || fail "attest verify $*: exit $RC, expected 1 ($ERR)"
	[ "$ERR" = "error: attest verify: $want" ] || fail "attest verify $*: '$ERR', expected 'error: attest verify: $want'"
}

D="$T/doc"
mkdir -p "$D" "$T/expired" "$T/plain"
"$TOOL" make "$D" --nonce 6e6f6e6365 --user-data hello --public-key
"$TOOL" make "$T/plain"
"$TOOL" make "$T/expired" --expired
pcr() { sed -n "s/^$1=//p" "$D/pcrs.txt"; }
SERIAL=$(cat "$D/serial.txt")

step "a good document verifies: untagged, tagged, inside JSON"
verify "$D/doc.cbor" --root "$D/root.pem" --pcr "2=$(pcr 2)" --pcr "4=$(pcr 4)" --nonce 6e6f6e6365
[ "$RC" = 0 ] || fail "good document: exit $RC: $ERR"
grep -x "verified: enc-test0000000000000001 on host host-test-1" <<<"$OUT" >/dev/null || fail "no verified line: $OUT"
grep -E "^  PCR2 \(match\) +$(pcr 2)$" <<<"$OUT" >/dev/null || fail "PCR2 not shown as matched: $OUT"
grep -x "  nonce         matches" <<<"$OUT" >/dev/null || fail "nonce not shown as matched: $OUT"
verify "$D/doc-tagged.cbor" --root "$D/root.pem"
[ "$RC" = 0 ] || fail "tagged document: exit $RC: $ERR"
printf '{"document":"%s","module_id":"enc-test0000000000000001"}\n' "$(base64 -w0 "$D/doc.cbor")" >"$D/doc.json"
openssl x509 -in "$D/root.pem" -outform DER -out "$D/root.crt"
verify "$D/doc.json" --root "$D/root.crt" --json
[ "$RC" = 0 ] || fail "JSON document, DER root: exit $RC: $ERR"
python3 - "$T/out" "$SERIAL" "$(pcr 15)" <<'PY' || fail "--json summary: $OUT"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["verified"] is True and j["certificate_serial"] == sys.argv[2], j
assert j["pcrs"]["15"] == sys.argv[3] and j["nonce"] == "6e6f6e6365" and j["online"] is None, j
assert j["user_data"] == "aGVsbG8=" and j["nonce_checked"] is False, j
PY

step "each check fails with its own line"
refused "signature failed: does not verify under the leaf's key" "$D/doc-tampered.cbor" --root "$D/root.pem"
refused "signature failed: does not verify under the leaf's key" "$D/doc-resigned.cbor" --root "$D/root.pem"
refused "root failed: cabundle[0] is not the trusted root certificate" "$D/doc.cbor" --root "$D/other-root.pem"
refused "chain failed: certificate has expired (depth 0)" "$T/expired/doc.cbor" --root "$T/expired/root.pem"
refused "pcr failed: PCR3 differs: expected 0202020202020202.. got 0303030303030303.." \
	"$D/doc.cbor" --root "$D/root.pem" --pcr "3=$(pcr 2)"
refused "nonce failed: the document's nonce is not the expected one" "$D/doc.cbor" --root "$D/root.pem" --nonce 6e6f6e63
refused "nonce failed: the document carries no nonce" "$T/plain/doc.cbor" --root "$T/plain/root.pem" --nonce 00
head -c 1000 "$D/doc.cbor" >"$D/truncated.cbor"
refused "format failed: payload: truncated" "$D/truncated.cbor" --root "$D/root.pem"
{ cat "$D/doc.cbor"; printf '\0'; } >"$D/trailing.cbor"
refused "format failed: COSE_Sign1: 1 trailing bytes" "$D/trailing.cbor" --root "$D/root.pem"

step "usage errors exit 2"
verify "$D/doc.cbor"
[ "$RC" = 2 ] || fail "no --root: exit $RC"
verify "$D/doc.cbor" --root "$D/root.pem" --pcr 16=00
[ "$RC" = 2 ] && grep -F "the index must be 0..15" <<<"$ERR" >/dev/null || fail "--pcr 16: exit $RC: $ERR"
verify "$D/doc.cbor" --root "$D/root.pem" --nonce xyz
[ "$RC" = 2 ] || fail "--nonce xyz: exit $RC: $ERR"

step "--online: the control plane's word on the certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null
answers() { printf '%s\n' "$1" >"$T/answers.json.tmp" && mv "$T/answers.json.tmp" "$T/answers.json"; }
answers "{\"$SERIAL\": {\"serial\": \"$SERIAL\", \"host\": \"host-test-1\", \"status\": \"valid\", \"not_after\": 1}}"
python3 - "$T" >"$T/stand-in.log" 2>&1 <<'PY' &
import http.server, json, os, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        table = json.load(open(os.path.join(d, "answers.json")))
        with open(os.path.join(d, "asked"), "a") as f:
            f.write(self.path + "\n")
        prefix = "/v1/ca/certificates/"
        a = table.get(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        body = json.dumps(a if a else {"error": {"code": "not_found", "message": "no such certificate"}}).encode()
        self.send_response(200 if a else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(d, "srv.pem"), os.path.join(d, "srv.key"))
s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(os.path.join(d, "port.tmp"), "w").write(str(s.server_address[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
s.serve_forever()
PY
CL_PIDS+=($!)
wait_for 10 test -s "$T/port" || fail "the stand-in control plane did not start"
ON=(--online --server "https://127.0.0.1:$(cat "$T/port")" --ca "$T/srv.pem")
verify "$D/doc.cbor" --root "$D/root.pem" "${ON[@]}"
[ "$RC" = 0 ] || fail "--online, valid: exit $RC: $ERR"
grep -F "valid on the control plane" <<<"$OUT" >/dev/null || fail "--online not in the summary: $OUT"
grep -x "/v1/ca/certificates/$SERIAL" "$T/asked" >/dev/null || fail "asked: $(cat "$T/asked")"
answers "{\"$SERIAL\": {\"serial\": \"$SERIAL\", \"status\": \"revoked\", \"reason\": \"lost\", \"revoked_at\": 1, \"not_after\": 1}}"
refused "revoked failed: certificate $SERIAL is revoked, reason lost" "$D/doc.cbor" --root "$D/root.pem" "${ON[@]}"
answers "{\"$SERIAL\": {\"serial\": \"$SERIAL\", \"status\": \"expired\", \"not_after\": 1}}"
refused "revoked failed: certificate $SERIAL is expired" "$D/doc.cbor" --root "$D/root.pem" "${ON[@]}"
answers "{}"
verify "$D/doc.cbor" --root "$D/root.pem" "${ON[@]}"
[ "$RC" = 1 ] && grep -F "attest verify: revoked failed: https://127.0.0.1:$(cat "$T/port") does not know certificate $SERIAL" <<<"$ERR" >/dev/null ||
	fail "--online, unknown serial: exit $RC: $ERR"
# an offline failure is reported before anything is asked
: >"$T/asked"
refused "signature failed: does not verify under the leaf's key" "$D/doc-tampered.cbor" --root "$D/root.pem" "${ON[@]}"
[ ! -s "$T/asked" ] || fail "a document that failed offline was asked about online"
verify "$D/doc.cbor" --root "$D/root.pem" --online --server "https://127.0.0.1:1" --ca "$T/srv.pem"
[ "$RC" = 1 ] && grep -F "attest verify: revoked failed: " <<<"$ERR" >/dev/null || fail "--online, no server: exit $RC: $ERR"
echo "attest_verify: ok"
