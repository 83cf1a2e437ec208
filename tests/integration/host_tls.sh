#!/usr/bin/env bash
# host_tls.sh — `cloister tls enable` end to end (docs/tls.md), with a real
# control plane (monitor CA), a real host (agent, key holder, data plane) and
# a network enclave:
#
#   python ssl client ──TLS (SNI = the cert's DNS name)──► 127.0.0.1:EPHEMERAL
#     (trusts only the root of `cloister ca get`)          (the agent's listener,
#                                                            served by the data plane)
#                                                                 │ cleartext
#                                                                 ▼
#                                             enclave ADDR:8080 (probe "listen 8080 TOKEN")
#
#   - `cloister tls enable ID --insecure reject` prints the six steps, exits 0;
#   - `cloister tls status ID` shows enabled and the endpoint, GET .../tls too;
#   - the client verifies the chain and the name and reads the guest's token
#     through the data plane (a plain TCP client gets no token: not cleartext);
#   - rotate: a new generation on the same endpoint (the listener is kept);
#   - disable: the endpoint refuses connections; the data plane's counters,
#     logged as the guest leaves it, show the two full handshakes.
source "$(dirname "$0")/host_lib.sh"
command -v ip >/dev/null || { echo "SKIP: no ip(8)"; exit 0; }
POOL="10.78.$((RANDOM % 256)).0/24"

ctl_start
host_start --join-token "$(join_token)" --guest-pool "$POOL" --tls-listen 127.0.0.1
wait_for 20 "host ready" host_is ready

PROBE="$BUILD/examples/probe"
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" >/dev/null ||
	fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
"$CLI_BIN" enclave create --image "$IMAGE" --name web --network --expose 8080 --json >"$WORK/e.json" ||
	fail "enclave create --network --expose 8080: $(cat "$WORK/e.json")"
E=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['enclave']['id'])" "$WORK/e.json")
ENCLAVES+=("$E")
KEYS[$E]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['access_key'])" "$WORK/e.json")
export CLOISTER_ACCESS_KEY=${KEYS[$E]} # the TLS of an enclave with an access key needs it
tls_json() { req GET "/v1/enclaves/$E/tls" -H "X-Cloister-Access-Key: ${KEYS[$E]}"; }
wait_for 60 "enclave running" enclave_is "$E" running
has_address() { req GET "/v1/enclaves/$E"; [ "$(jget '(j["network"] or {}).get("address") or ""')" != "" ]; }
wait_for 20 "the enclave's address reported" has_address
ADDR=$(req GET "/v1/enclaves/$E"; jget 'j["network"]["address"]')

TOKEN="tok-$RANDOM$RANDOM"
enclave_ask "$E" "listen 8080 $TOKEN"
[ "$ANS" = "listen ok" ] || fail "listen: $ANS"
tcp_read() { # tcp_read HOST PORT: the first line sent, cleartext (3 s at most)
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.makefile().readline().strip())
PY
}
answers() { [ "$(tcp_read "$ADDR" 8080 2>/dev/null)" = "$TOKEN" ]; }
wait_for 10 "the guest answers on $ADDR:8080" answers

# the root a tenant trusts
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "cloister ca get"

# enable: the six steps, exit 0
"$CLI_BIN" tls enable "$E" --insecure reject >"$WORK/enable.out" 2>&1 || fail "tls enable: $(cat "$WORK/enable.out")"
for s in key_generated certificate_requested certificate_issued delivered acknowledged enabled; do
	grep -q "$s" "$WORK/enable.out" || fail "tls enable did not print step $s: $(cat "$WORK/enable.out")"
done
"$CLI_BIN" tls status "$E" >"$WORK/status.out" 2>&1 || fail "tls status: $(cat "$WORK/status.out")"
grep -q '^state: *enabled$' "$WORK/status.out" || fail "tls status: $(cat "$WORK/status.out")"
tls_json
[ "$STATUS" = 200 ] || fail "GET tls: $STATUS $BODY"
[ "$(jget 'len(j["endpoints"])')" = 1 ] || fail "GET tls: not one endpoint: $BODY"
EP=$(jget 'j["endpoints"][0]')
[[ "$EP" == 127.0.0.1:* ]] || fail "endpoint $EP is not on --tls-listen 127.0.0.1"
EPORT=${EP##*:}
grep -q "^endpoints: *$EP$" "$WORK/status.out" || fail "tls status does not show $EP: $(cat "$WORK/status.out")"
NAME=$(jget '[n for n in j["certificate"]["sans"] if n.endswith(".cloister.internal")][0]')
GEN1=$(jget 'j["generation"]')

# tls_get NAME: the guest's first line through TLS, verified against the root
tls_get() {
	python3 - "$WORK/root.pem" "$1" "$EPORT" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])  # verify chain and name
with socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname=sys.argv[2]) as s:
        print(s.makefile().readline().strip())
PY
}
got=$(tls_get "$NAME" 2>"$WORK/tls.err") || fail "TLS to $EP as $NAME: $(tail -n 3 "$WORK/tls.err")"
[ "$got" = "$TOKEN" ] || fail "through the data plane: '$got' (want $TOKEN)"
# the name is verified: another name fails; the endpoint speaks no cleartext
if tls_get "other.example" >/dev/null 2>&1; then fail "a wrong server name verified"; fi
[ "$(tcp_read 127.0.0.1 "$EPORT" 2>/dev/null)" != "$TOKEN" ] || fail "the endpoint passed cleartext"

# rotate: a new generation, the same endpoint
"$CLI_BIN" tls rotate "$E" >"$WORK/rotate.out" 2>&1 || fail "tls rotate: $(cat "$WORK/rotate.out")"
tls_json
[ "$(jget 'j["generation"]')" -gt "$GEN1" ] || fail "rotate: generation $(jget 'j["generation"]') after $GEN1"
[ "$(jget 'j["endpoints"]')" = "['$EP']" ] || fail "rotate moved the endpoint: $BODY"
got=$(tls_get "$NAME" 2>"$WORK/tls.err") || fail "TLS after the rotation: $(tail -n 3 "$WORK/tls.err")"
[ "$got" = "$TOKEN" ] || fail "after the rotation: '$got'"

# disable: the endpoint refuses; the counters as the guest left the data plane
"$CLI_BIN" tls disable "$E" >"$WORK/disable.out" 2>&1 || fail "tls disable: $(cat "$WORK/disable.out")"
refused() {
	python3 - "$EPORT" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
PY
}
wait_for 10 "the endpoint refuses" refused
tls_json
[ "$(jget 'j["state"]')" = disabled ] && [ "$(jget 'j["endpoints"]')" = "[]" ] || fail "after disable: $BODY"
left() { grep -q "tls: guest=$E gen=[0-9]* leaves the data plane" "$WORK/host.err"; }
wait_for 10 "the data plane's counters logged" left
line=$(grep "tls: guest=$E gen=[0-9]* leaves the data plane" "$WORK/host.err" | tail -n 1)
[[ "$line" == *" handshakes_full=2 "* && "$line" == *" handshakes_resumed=0 "* ]] ||
	fail "counters: want 2 full handshakes (one per generation), no resumed: $line"

enclave_destroy "$E"
wait_for 30 "enclave gone" enclave_is "$E" absent
echo "PASS"
