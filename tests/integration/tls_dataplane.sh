#!/usr/bin/env bash
# tls_dataplane.sh — the host's TLS data plane (docs/tls.md "Keyless signing",
# "The session table"), with a real key holder and real walls:
#
#   curl / openssl s_client / python ──TLS──► data plane ──cleartext──► http.server
#        (test CA's chain, 127.0.0.1)          (cl_dataplane_main,        (the "guest")
#                                                seccomp + Landlock)
#                                                   │ role tls: sign tls/g1:<gen>
#                                                   ▼
#                                               key holder (keys in memory)
#
# tests/tools/tls_dp_host plays the agent: it has the key holder generate
# tls/g1:1, hands the data plane a listening socket and the chain a test CA
# (made here with the openssl CLI) issued for that point. Checked: curl gets
# the guest's page over TLS; resumption (TLS 1.2 tickets, TLS 1.2 session ids,
# TLS 1.3 tickets) is counted as resumed and asks the key holder for nothing;
# a resumed handshake completes while the key holder is stopped mid-sign (the
# loop is not blocked by a signature in flight); TLS 1.1 refused; garbage and
# a slowloris client ended (with their log line and counter) while a
# concurrent good connection carries on; a key the key holder lacks fails the
# handshake (never cleartext); rotation keeps an established connection;
# --mode auto terminates a ClientHello and passes or resets cleartext per the
# insecure rule; ticket keys rotate (an old ticket stops resuming); the
# per-guest connection cap resets the connection over it; header marking
# (one mark after the request line, forged ones stripped, pipelined heads
# each marked, a 15 KB head whole, a smuggling head answered 400 and never
# forwarded, a guest without a header untouched); bad configurations are
# refused; remove closes the listener.
source "$(dirname "$0")/lib.sh"

HS_MS=1500 # handshake deadline for this run: the slowloris check waits for it
mkdir -p "$T/host" "$T/www"
echo "hello-from-guest" >"$T/www/index.html"

step "a key holder and a data plane"
coproc DPH {
	DP_HANDSHAKE_MS=$HS_MS DP_MAX_CONNS_GUEST=8 DP_SIGN_TIMEOUT_MS=10000 \
		exec "$BUILD/tests/tls_dp_host" "$T/host" 2>"$T/dp.log"
}
DPH1=$DPH_PID
CL_PIDS+=("$DPH_PID")
# dp CMD...: one command to the tool, its answer line in R.
dp() {
	echo "$*" >&"${DPH[1]}"
	IFS= read -r -t 15 R <&"${DPH[0]}" || fail "no answer from tls_dp_host to: $*"
}
stats() { dp stats "$1"; [[ $R == connections=* ]] || fail "stats $1: $R"; STATS=$R; }
field() { sed -n "s/.*\<$1=\([0-9]*\).*/\1/p" <<<"$STATS"; }
expect_field() { # expect_field NAME VALUE
	[ "$(field "$1")" = "$2" ] || fail "$1 is $(field "$1"), expected $2 ($STATS)"
}
dp pids
KH_PID=$(sed -n 's/keyholder=\([0-9]*\).*/\1/p' <<<"$R")

dp generate "tls/g1:1" "$T/pub1.pem"
[ "$R" = ok ] || fail "generate: $R"

step "a test CA issues the guest's certificate for the key holder's point"
cd "$T"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -subj /CN=dataplane-test-ca -days 1 -out ca.pem 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >ext
issue() { # issue PUB OUT
	openssl x509 -new -force_pubkey "$1" -subj /CN=localhost -CA ca.pem -CAkey ca.key -days 1 \
		-extfile ext -out leaf.tmp 2>/dev/null
	cat leaf.tmp ca.pem >"$2"
}
issue pub1.pem chain1.pem

python3 -u -m http.server -b 127.0.0.1 0 -d www >http.log 2>&1 &
CL_PIDS+=($!)
wait_for 20 grep -q 'port [0-9]' http.log || fail "backend did not start"
BACKEND=127.0.0.1:$(sed -n 's/.* port \([0-9]*\) .*/\1/p' http.log | head -1)

step "refused configurations change nothing"
echo "not a certificate" >junk.pem
dp set g1 1 "$T/junk.pem" "$BACKEND"
[ "$R" = "error crypto" ] || fail "a junk chain: $R"
dp set g1 1 "$T/chain1.pem" "nowhere"
[ "$R" = "error invalid" ] || fail "a bad backend: $R"
dp set "../g1" 1 "$T/chain1.pem" "$BACKEND"
[ "$R" = "error invalid" ] || fail "a bad id: $R"
dp stats g1
[ "$R" = "error not_found" ] || fail "a refused guest exists: $R"

dp listen
PORT=${R#port }
dp set g1 1 "$T/chain1.pem" "$BACKEND"
[ "$R" = ok ] || fail "set: $R"
URL=https://localhost:$PORT/

step "curl through the data plane"
[ "$(curl -sS --cacert ca.pem "$URL")" = hello-from-guest ] || fail "curl did not get the guest's page"
stats g1
expect_field full 1
expect_field signs 1
expect_field resumed 0
[ "$(field bytes_out)" -gt 16 ] || fail "no bytes counted out: $STATS"

step "resumption never reaches the key holder"
sc() { openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile ca.pem "$@" 2>&1; }
for mode in "-tls1_2" "-tls1_2 -no_ticket"; do
	# shellcheck disable=SC2086
	out=$(sc $mode -reconnect </dev/null)
	[ "$(grep -c '^Reused, TLSv1.2' <<<"$out")" = 5 ] || fail "s_client $mode -reconnect: not resumed"
	grep 'Verify return code: 0' <<<"$out" >/dev/null || fail "s_client $mode: chain not verified"
done
# TLS 1.3: the tickets come after the handshake; -reconnect would not wait.
sleep 0.5 | sc -tls1_3 -sess_out s13.pem >/dev/null
sleep 0.5 | sc -tls1_3 -sess_in s13.pem | grep '^Reused, TLSv1.3' >/dev/null || fail "TLS 1.3 ticket not resumed"
stats g1
expect_field full 4     # curl, one per -reconnect run, the TLS 1.3 -sess_out
STATS_FULL=4
expect_field resumed 11 # 5 + 5 + 1
expect_field signs "$STATS_FULL"

step "a resumed handshake completes while a full one waits for the key holder"
kill -STOP "$KH_PID"
curl -sS --cacert ca.pem "$URL" >curl-stopped.out 2>&1 &
CURL_PID=$!
# (no `fail` inside a wait_for condition: its message would be swallowed)
active_one() {
	echo "stats g1" >&"${DPH[1]}"
	IFS= read -r -t 2 STATS <&"${DPH[0]}" && [ "$(field active)" -ge 1 ]
}
wait_for 10 active_one || fail "the full handshake did not start, or the loop is blocked in it"
sleep 0.5 | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile ca.pem \
	-tls1_3 -sess_in s13.pem 2>&1 | grep '^Reused, TLSv1.3' >/dev/null ||
	{ kill -CONT "$KH_PID"; fail "the loop was blocked by a signature in flight"; }
kill -CONT "$KH_PID"
wait "$CURL_PID" || fail "the paused full handshake did not complete"
[ "$(cat curl-stopped.out)" = hello-from-guest ] || fail "paused curl: $(cat curl-stopped.out)"
stats g1
expect_field full $((STATS_FULL + 1))
expect_field signs $((STATS_FULL + 1))
expect_field resumed 12

step "TLS 1.1 refused, with a log line and a count"
if sc -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null >tls11.out; then fail "TLS 1.1 accepted"; fi
stats g1
expect_field fail_handshake 1
grep -E "tls: guest=g1 peer=127\.0\.0\.1:[0-9]+ handshake failed: unsupported protocol" dp.log >/dev/null ||
	fail "no log line for TLS 1.1"

step "garbage and a slowloris client, beside a good connection"
# good.py: a TLS connection made now, used after the hostile ones.
cat >good.py <<'EOF'
import os, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
open("good.ready", "w").close()
while not os.path.exists("good.go"):
    time.sleep(0.05)
s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.split(b"\r\n\r\n", 1)[1].decode().strip())
EOF
cat >hostile.py <<'EOF'
import os, socket, sys, time
kind, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
# garbage: one whole handshake record, a ClientHello of random bytes (it
# fails at once); slowloris: four bytes of a record header, then nothing.
hello = b"\x16\x03\x01\x10\x00" + b"\x01\x00\x0f\xfc" + os.urandom(4092)
s.sendall(hello if kind == "garbage" else b"\x16\x03\x01\x02")
s.settimeout(20)
t = time.monotonic()
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
except TimeoutError:
    sys.exit("still open after 20 s")
print("closed after %.1f s" % (time.monotonic() - t))
EOF
python3 good.py "$PORT" ca.pem >good.out 2>&1 &
GOOD_PID=$!
wait_for 10 test -f good.ready || fail "the good connection did not start"
python3 hostile.py garbage "$PORT" >garbage.out 2>&1 || fail "garbage: $(cat garbage.out)"
python3 hostile.py slowloris "$PORT" >slow.out 2>&1 || fail "slowloris: $(cat slow.out)"
touch good.go
wait "$GOOD_PID" || fail "the good connection failed: $(cat good.out)"
[ "$(cat good.out)" = hello-from-guest ] || fail "good connection: $(cat good.out)"
stats g1
expect_field fail_handshake 2 # TLS 1.1, garbage
expect_field fail_timeout 1   # slowloris
grep -E "tls: guest=g1 peer=127\.0\.0\.1:[0-9]+ handshake timeout" dp.log >/dev/null || fail "no slowloris log line"
grep -E "closed after" slow.out >/dev/null || fail "slowloris: $(cat slow.out)"

step "a key the key holder lacks: the handshake fails, nothing in clear"
dp listen
PORT2=${R#port }
dp set g2 1 "$T/chain1.pem" "$BACKEND" # g1's chain, but slot tls/g2:1 does not exist
[ "$R" = ok ] || fail "set g2: $R"
if curl -sS --cacert ca.pem "https://localhost:$PORT2/" >g2.out 2>&1; then fail "g2 served without its key"; fi
grep hello g2.out >/dev/null && fail "g2 passed cleartext"
stats g2
expect_field fail_sign 1
expect_field full 0

step "rotation: a new key and chain for new handshakes, the established connection kept"
rm -f good.ready good.go
python3 good.py "$PORT" ca.pem >good2.out 2>&1 &
GOOD_PID=$!
wait_for 10 test -f good.ready || fail "the good connection did not start"
dp generate "tls/g1:2" "$T/pub2.pem"
[ "$R" = ok ] || fail "generate gen 2: $R"
issue pub2.pem chain2.pem
dp set g1 2 "$T/chain2.pem" "$BACKEND"
[ "$R" = ok ] || fail "set gen 2: $R"
want=$(openssl x509 -in chain2.pem -noout -serial)
got=$(sc </dev/null | openssl x509 -noout -serial)
[ "$got" = "$want" ] || fail "after rotation the data plane serves $got, not $want"
[ "$(curl -sS --cacert ca.pem "$URL")" = hello-from-guest ] || fail "curl after rotation"
touch good.go
wait "$GOOD_PID" || fail "the connection made before rotation failed: $(cat good2.out)"
[ "$(cat good2.out)" = hello-from-guest ] || fail "pre-rotation connection: $(cat good2.out)"

step "auto mode: a ClientHello is terminated, anything else goes by the insecure rule"
dp set g1 2 "$T/chain2.pem" "$BACKEND" - auto allow
[ "$R" = ok ] || fail "set auto allow: $R"
[ "$(curl -sS --cacert ca.pem "$URL")" = hello-from-guest ] || fail "auto: TLS not terminated"
[ "$(curl -sS "http://127.0.0.1:$PORT/")" = hello-from-guest ] || fail "auto allow: cleartext not passed"
stats g1
expect_field insecure_passed 1
dp set g1 2 "$T/chain2.pem" "$BACKEND" - auto reject
[ "$R" = ok ] || fail "set auto reject: $R"
if curl -sS "http://127.0.0.1:$PORT/" >plain.out 2>&1; then fail "auto reject: cleartext passed"; fi
grep hello plain.out >/dev/null && fail "auto reject: the guest's page went out in clear"
[ "$(curl -sS --cacert ca.pem "$URL")" = hello-from-guest ] || fail "auto reject: TLS not terminated"
stats g1
expect_field insecure_passed 1
expect_field fail_insecure 1
grep -E "tls: guest=g1 peer=127\.0\.0\.1:[0-9]+ not TLS \(.*\): insecure rejected" dp.log >/dev/null ||
	fail "no log line for the rejected cleartext"

step "the per-guest connection cap resets the connection over it"
cat >cap.py <<'EOF'
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(5)
try:
    print("closed" if extra.recv(1) == b"" else "data") # a handshake timeout would close, not reset
except ConnectionResetError:
    print("reset")
EOF
stats g1
before=$(field fail_limit)
[ "$(python3 cap.py "$PORT")" = reset ] || fail "the ninth connection was not refused"
stats g1
expect_field fail_limit $((before + 1))

step "header marking: the guest sees one mark, never a forged one"
# echo.py: the guest; answers each request (pipelined too) with the head it
# received; every byte it receives is also appended to echo.raw.
cat >echo.py <<'EOF2'
import socket, sys, threading
srv = socket.create_server(("127.0.0.1", 0))
raw = open(sys.argv[1], "ab", buffering=0)
lock = threading.Lock()
def recv(s, buf):
    d = s.recv(65536)
    with lock:
        raw.write(d)
    return d
def serve(s):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = recv(s, buf)
            if not d:
                return s.close()
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        n, close = 0, False
        for l in head.split(b"\r\n")[1:]:
            k, _, v = l.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
            if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
                close = True
        while len(buf) < n:
            d = recv(s, buf)
            if not d:
                return s.close()
            buf += d
        body, buf = buf[:n], buf[n:]
        out = head + b"\r\n\r\n" + body
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
        if close:
            return s.close()
print("port", srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF2
# tlsraw.py PORT CA: sends stdin's bytes over TLS as one write, prints all it
# gets until the data plane (or the guest) closes.
cat >tlsraw.py <<'EOF2'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
s.sendall(sys.stdin.buffer.read())
s.settimeout(10)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except (ConnectionResetError, ssl.SSLError):
    pass
sys.stdout.buffer.write(data)
EOF2
python3 -u echo.py echo.raw >echo.log 2>&1 &
CL_PIDS+=($!)
wait_for 20 grep -q '^port ' echo.log || fail "echo backend did not start"
ECHO=127.0.0.1:$(sed -n 's/^port //p' echo.log)
dp set g1 2 "$T/chain2.pem" "$ECHO" Content-Length
[ "$R" = "error invalid" ] || fail "a framing field as the marking header: $R"
dp set g1 2 "$T/chain2.pem" "$ECHO" X-Mark
[ "$R" = ok ] || fail "set with a header: $R"
MARK_RE='^X-Mark: TLSv1\.3; TLS_[A-Z0-9_]*; -'$'\r''$'
curl -sS --http1.1 --tlsv1.3 --cacert ca.pem -H "X-Mark: TLSv1.3; forged; admin" -H "x_mark: admin" \
	-H "X-Other: kept" "$URL" >mark1.out || fail "curl with a header: $(cat mark1.out)"
[ "$(grep -c "$MARK_RE" mark1.out)" = 1 ] || fail "not exactly one mark: $(cat -A mark1.out)"
sed -n 2p mark1.out | grep -q "$MARK_RE" || fail "the mark is not right after the request line: $(cat mark1.out)"
grep -qi 'forged\|admin' mark1.out && fail "a forged mark reached the guest: $(cat mark1.out)"
grep -q '^X-Other: kept' mark1.out || fail "another field was lost: $(cat mark1.out)"

step "header marking: pipelined requests each marked, a body untouched"
printf 'GET /a HTTP/1.1\r\nHost: x\r\nX-Mark: forged\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\nX-Mark: in-body\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	python3 tlsraw.py "$PORT" ca.pem >pipe.out
[ "$(grep -c '^HTTP/1.1 200 OK' pipe.out)" = 3 ] || fail "pipelined: not three answers: $(cat -A pipe.out)"
[ "$(grep -c "$MARK_RE" pipe.out)" = 3 ] || fail "pipelined: not three marks: $(cat -A pipe.out)"
grep -q forged pipe.out && fail "pipelined: a forged mark reached the guest"
grep -q '^X-Mark: in-body$' pipe.out || fail "pipelined: the body was changed: $(cat -A pipe.out)"

step "header marking: keep-alive requests each marked; a head of exactly 16 KiB passes whole"
curl -sS --http1.1 --cacert ca.pem -H "X-Mark: forged" "$URL" "$URL" >keep.out || fail "curl, two requests"
[ "$(grep -c "$MARK_RE" keep.out)" = 2 ] || fail "keep-alive: not two marks: $(cat -A keep.out)"
grep -q forged keep.out && fail "keep-alive: a forged mark reached the guest"
# The bound counts the request line and the final empty line: 16384 in all.
python3 -c '
import sys
h = b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
pad = 16384 - len(h) - 4
sys.stdout.buffer.write(h + b"a" * pad + b"\r\n\r\n")' >big.req
[ "$(stat -c %s big.req)" = 16384 ] || fail "big.req is not 16384 bytes"
timeout 15 python3 tlsraw.py "$PORT" ca.pem <big.req >big.out || fail "the 16 KiB head: no answer"
[ "$(grep -c "$MARK_RE" big.out)" = 1 ] || fail "the 16 KiB head is not marked once: $(head -c 300 big.out)"
grep -q "^X-Big: a*"$'\r''$' big.out || fail "the 16 KiB head's field was cut"
[ "$(grep -c '^HTTP/1.1 200 OK' big.out)" = 1 ] || fail "the 16 KiB head: no answer: $(head -c 300 big.out)"

step "header marking: a smuggling head (Transfer-Encoding with Content-Length) gets 400, never forwarded"
stats g1
http_before=$(field fail_http)
printf 'POST /smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n' |
	python3 tlsraw.py "$PORT" ca.pem >smuggle.out
head -1 smuggle.out | grep -q '^HTTP/1.1 400 Bad Request'$'\r''$' || fail "smuggling: no 400: $(cat -A smuggle.out)"
grep -qi '^Connection: close' smuggle.out || fail "smuggling: no Connection: close: $(cat -A smuggle.out)"
grep -q smuggle echo.raw && fail "smuggling: the refused head reached the guest"
stats g1
expect_field fail_http $((http_before + 1))
grep -E "tls: guest=g1 peer=127\.0\.0\.1:[0-9]+ mark: .*Transfer-Encoding" dp.log >/dev/null ||
	fail "smuggling: no log line: $(grep mark: dp.log)"

step "header marking, auto mode: cleartext the insecure rule passes is marked none, a forged mark stripped"
dp set g1 2 "$T/chain2.pem" "$ECHO" X-Mark auto allow
[ "$R" = ok ] || fail "set auto allow with a header: $R"
curl -sS --http1.1 -H "X-Mark: TLSv1.3; forged; admin" "http://127.0.0.1:$PORT/" >plainmark.out || fail "curl in clear"
[ "$(grep -c '^X-Mark: none; none; -'$'\r''$' plainmark.out)" = 1 ] || fail "cleartext: not marked none: $(cat -A plainmark.out)"
grep -q forged plainmark.out && fail "cleartext: a forged mark reached the guest"
[ "$(grep -c "$MARK_RE" <(curl -sS --http1.1 --cacert ca.pem "$URL"))" = 1 ] || fail "auto: TLS not marked"

step "a guest without a header: the client's own field reaches it untouched"
dp set g1 2 "$T/chain2.pem" "$ECHO" -
[ "$R" = ok ] || fail "set without a header: $R"
curl -sS --http1.1 --cacert ca.pem -H "X-Mark: mine" "$URL" >nomark.out || fail "curl without marking"
grep -q '^X-Mark: mine'$'\r''$' nomark.out || fail "unmarked guest: the client's field changed: $(cat -A nomark.out)"
grep -q 'TLSv1' nomark.out && fail "unmarked guest: a mark was added"

step "remove closes the listener and forgets the guest"
dp remove g1
[ "$R" = ok ] || fail "remove: $R"
if curl -sS --cacert ca.pem "$URL" >/dev/null 2>&1; then fail "served after remove"; fi
dp stats g1
[ "$R" = "error not_found" ] || fail "stats after remove: $R"

step "the data plane exits when the agent's channel closes"
dp quit
[ "$R" = "exit dataplane=0 keyholder=0" ] || fail "exit: $R"
wait_for 10 gone "$DPH1" || fail "tls_dp_host did not exit"

step "ticket keys rotate: a ticket stops resuming once its key is rotated out"
mkdir -p "$T/host2"
coproc DPH {
	DP_TICKET_ROTATE_S=2 exec "$BUILD/tests/tls_dp_host" "$T/host2" 2>"$T/dp2.log"
}
CL_PIDS+=("$DPH_PID")
dp generate "tls/g1:1" "$T/pub3.pem"
[ "$R" = ok ] || fail "generate: $R"
issue pub3.pem chain3.pem
dp listen
PORT=${R#port }
dp set g1 1 "$T/chain3.pem" "$BACKEND"
[ "$R" = ok ] || fail "set: $R"
sc -tls1_2 -sess_out s12.pem </dev/null >/dev/null
sc -tls1_2 -sess_in s12.pem </dev/null | grep '^Reused, TLSv1.2' >/dev/null || fail "the new ticket did not resume"
new_handshake() { sc -tls1_2 -sess_in s12.pem </dev/null | grep '^New, TLSv1.2' >/dev/null; }
wait_for 15 new_handshake || fail "a ticket still resumes after two rotations"
dp quit
echo "PASS tls_dataplane"
