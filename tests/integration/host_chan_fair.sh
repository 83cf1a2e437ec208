#!/usr/bin/env bash
# host_chan_fair.sh — one tenant cannot block every tenant's channel.
#
#   attacker (tenant A, 300 parked `recv wait_ms=30000`) ─┐
#                                                         ├─► cloister-control ──sync──► cloister-host ──► shim A ─► kvstore
#   victim (tenant B, send + recv round trips) ───────────┘     (budgets, cancel)     (event loop)      shim B ─► kvstore
#
# While A parks hundreds of recv waits, B's send/recv round trips keep
# succeeding (never 429/503/504; the latencies are printed, not asserted:
# timings belong in bench/chan_fair.sh). A is refused with 429 and
# Retry-After beyond its budget, at the control plane, and its own enclave
# keeps running (the agent uses at most 8 of its shim's 16 client slots, so
# its STATUS probe still gets through). Once A's callers are
# killed, their ops vanish at the control plane (cloister_ops_inflight), and
# at the host: the agent's shim connections for A's enclave close and its
# in-flight count drops to 0 — long before the 30 s waits would have ended.
#
# ROUNDS=N sets the victim's round trips per phase (default 20); the figures
# are printed as "victim round trip <phase>: n=.. p50=..ms p99=..ms max=..ms".
# 300 TLS handshakes keep the single-threaded control plane busy for a while
# (seconds under ASan on a loaded machine): let a host go 15 s without a sync
# before it counts as lost.
CTL_POLL_MS=${CTL_POLL_MS:-5000}
# The attacker, the victim and the host all connect from 127.0.0.1: lift the
# per-address connection cap (128, tested in control_flood.sh) so that this
# test measures the operation budgets, not the connection cap.
CTL_ARGS=(--max-connections-per-ip 1024)
source "$(dirname "$0")/host_lib.sh"

ROUNDS=${ROUNDS:-20}
ATTACK=${ATTACK:-300}
BUDGET_HOST=64 # CTL_OPS_TENANT_HOST_MAX (src/control/control.h)

# ---- a small HTTPS client: the attacker's parked waits and the victim's round trips ----
cat >"$WORK/chan.py" <<'PY'
import asyncio, base64, http.client, json, ssl, sys, time

url, ca = sys.argv[2], sys.argv[3]
host, port = url.split("//")[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=ca)

async def park(i, enc, token, key, wait_ms, out, opening):
    body = json.dumps({"max": 4096, "wait_ms": wait_ms}).encode()
    head = (f"POST /v1/enclaves/{enc}/recv HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nX-Cloister-Access-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        async with opening:  # a few handshakes at a time: the attack is the parked waits
            r, w = await asyncio.open_connection(host, int(port), ssl=ctx)
            w.write(head + body)
            await w.drain()
        status = int((await r.readline()).split()[1])
        headers = {}
        while True:
            line = (await r.readline()).decode().strip()
            if not line:
                break
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        data = json.loads(await r.readexactly(int(headers.get("content-length", "0"))) or b"{}")
        err = data.get("error", {})
        out.write(f"{status} retry_after={headers.get('retry-after', '-')} code={err.get('code', '-')} "
                  f"msg={err.get('message', '-')!r}\n")
    except Exception as e:  # noqa: BLE001 — reported, the test decides
        out.write(f"000 error={e!r}\n")
    out.flush()
    await asyncio.Event().wait()  # keep the connection until killed

async def attack(enc, token, key, n):
    opening = asyncio.Semaphore(20)
    await asyncio.gather(*(park(i, enc, token, key, 30000, sys.stdout, opening) for i in range(n)))

def victim(enc, token, key, rounds, tag):
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
    hdr = {"Authorization": "Bearer " + token, "X-Cloister-Access-Key": key, "Content-Type": "application/json"}
    def call(verb, body):
        conn.request("POST", f"/v1/enclaves/{enc}/{verb}", json.dumps(body), hdr)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            print(f"victim: {verb} answered {r.status}: {data.decode(errors='replace')}")
            sys.exit(1)
        return json.loads(data)
    lat = []
    for i in range(rounds):
        want = f"OK {tag}{i}\n"
        t0 = time.monotonic()
        call("send", {"data": base64.b64encode(f"PUT k {tag}{i}\nGET k\n".encode()).decode()})
        got = ""
        while want not in got:
            if time.monotonic() - t0 > 30:
                print(f"victim: no reply {want!r} after 30 s (got {got!r})")
                sys.exit(1)
            got += base64.b64decode(call("recv", {"max": 4096, "wait_ms": 2000})["data"]).decode()
        lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"victim round trip {tag}: n={len(lat)} p50={pct(0.50):.1f}ms p99={pct(0.99):.1f}ms max={lat[-1]:.1f}ms")

if sys.argv[1] == "attack":
    asyncio.run(attack(sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])))
else:
    victim(sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]), sys.argv[8])
PY

# as_tenant TOKEN METHOD PATH [curl args...]: like req, with a tenant's token.
as_tenant() {
	local t=$1 m=$2 p=$3; shift 3
	BODY=$(curl -sS --cacert "$CA" -X "$m" -H "Authorization: Bearer $t" -o - -w '\n%{http_code}' "$@" "$URL$p") ||
		{ STATUS=000; BODY=; return 0; }
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
# tenant NAME: creates a tenant with a token, its image and a running kvstore
# enclave; sets T_TOKEN, T_ENC, T_KEY.
tenant() {
	json POST /v1/tenants "{\"name\":\"$1\"}"
	[ "$STATUS" = 201 ] || fail "tenant $1: $STATUS $BODY"
	local tid
	tid=$(jget 'j["id"]')
	json POST /v1/tokens "{\"tenant_id\":\"$tid\",\"name\":\"$1\"}"
	[ "$STATUS" = 201 ] || fail "token $1: $STATUS $BODY"
	T_TOKEN=$(jget 'j["token"]')
	as_tenant "$T_TOKEN" POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/kv.img"
	[ "$STATUS" = 201 ] || fail "image $1: $STATUS $BODY"
	local img
	img=$(jget 'j["id"]')
	as_tenant "$T_TOKEN" POST /v1/enclaves -H 'Content-Type: application/json' --data-binary \
		"{\"name\":\"$1\",\"image_id\":\"$img\",\"memory_mib\":32,\"cpus\":1,\"min_level\":\"software\"}"
	[ "$STATUS" = 202 ] || fail "enclave $1: $STATUS $BODY"
	T_ENC=$(jget 'j["enclave"]["id"]')
	T_KEY=$(jget 'j["access_key"]')
	ENCLAVES+=("$T_ENC")
}
metric() { # metric NAME: its value in /metrics
	curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
ops_inflight_is() { [ "$(metric cloister_ops_inflight)" = "$1" ]; }
# Connections the agent holds to enclave $1's shim (accepted sockets bound to its shim.sock).
shim_conns() { ss -xH src "$HDATA/sandboxes/$1/shim.sock" 2>/dev/null | grep -vc LISTEN || true; }
shim_conns_is() { [ "$(shim_conns "$1")" = "$2" ]; }
shim_conns_some() { [ "$(shim_conns "$1")" -ge 1 ]; }
host_ops_idle() { grep 'channel ops in flight' "$WORK/host.err" | tail -n 1 | grep -q 'in flight n=0"'; }
count() { grep -c "$1" "$WORK/attack.out" || true; }

ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
"$CLI_BIN" image build -o "$WORK/kv.img" --name kv --entrypoint /app/kvstore "$BUILD/examples/kvstore" >/dev/null ||
	fail "image build"
tenant attacker
A_TOKEN=$T_TOKEN A_ENC=$T_ENC A_KEY=$T_KEY
tenant victim
B_TOKEN=$T_TOKEN B_ENC=$T_ENC B_KEY=$T_KEY
wait_for 60 "attacker's enclave running" enclave_is "$A_ENC" running
wait_for 60 "victim's enclave running" enclave_is "$B_ENC" running

echo "== the victim alone"
python3 "$WORK/chan.py" victim "$URL" "$CA" "$B_ENC" "$B_TOKEN" "$B_KEY" "$ROUNDS" alone ||
	fail "victim round trips failed without any attack"

echo "== the attacker parks $ATTACK recv waits"
python3 "$WORK/chan.py" attack "$URL" "$CA" "$A_ENC" "$A_TOKEN" "$A_KEY" "$ATTACK" >"$WORK/attack.out" 2>&1 &
ATTACK_PID=$!
refused_all() { [ "$(count '^429 ')" -ge $((ATTACK - BUDGET_HOST)) ]; }
wait_for 120 "$((ATTACK - BUDGET_HOST)) of the attacker's waits refused" refused_all
wait_for 20 "the attacker's waits parked in its enclave's shim" shim_conns_some "$A_ENC"
wait_for 20 "the control plane holding the attacker's budget" ops_inflight_is "$BUDGET_HOST"
[ "$(count '^429 ')" = $((ATTACK - BUDGET_HOST)) ] || fail "429s: $(count '^429 '), want $((ATTACK - BUDGET_HOST))"
[ "$(grep -vc '^429 ' "$WORK/attack.out")" = 0 ] || fail "attacker's parked waits answered early: $(grep -v '^429 ' "$WORK/attack.out" | sort | uniq -c | head)"
grep '^429 ' "$WORK/attack.out" | grep -qv 'retry_after=1 code=too_many_requests' &&
	fail "a 429 without Retry-After or code: $(grep '^429 ' "$WORK/attack.out" | grep -v 'retry_after=1' | head -n 1)"
grep '^429 ' "$WORK/attack.out" | grep -q "msg='host:" && fail "refused by the host, not by the control plane's budget"
echo "attacker: $(count '^429 ') refused with 429 (Retry-After: 1), $BUDGET_HOST parked; shim connections: $(shim_conns "$A_ENC")"

echo "== the victim while the attacker's waits are parked"
python3 "$WORK/chan.py" victim "$URL" "$CA" "$B_ENC" "$B_TOKEN" "$B_KEY" "$ROUNDS" attacked ||
	fail "victim round trips failed while the attacker's waits were parked"
kill -0 "$ATTACK_PID" 2>/dev/null || fail "attacker client ended early: $(tail -n 3 "$WORK/attack.out")"
[ "$(grep -vc '^429 ' "$WORK/attack.out")" = 0 ] || fail "attacker's parked waits ended early"
# The parked waits leave room in the attacker's shim (16 clients) for the
# agent's STATUS probe: a full shim would look dead and its enclave be destroyed.
[ "$(shim_conns "$A_ENC")" -le 8 ] || fail "$(shim_conns "$A_ENC") connections to one shim (at most 8)"
enclave_is "$A_ENC" running || fail "the attacker's enclave is $(enclave_state "$A_ENC") under its own waits"

echo "== the attacker's callers go away"
kill -9 "$ATTACK_PID"
wait "$ATTACK_PID" 2>/dev/null || true
wait_for 10 "the attacker's ops gone at the control plane" ops_inflight_is 0
wait_for 10 "the attacker's shim connections closed" shim_conns_is "$A_ENC" 0
wait_for 10 "the agent's ops in flight back to 0" host_ops_idle

echo "== the attacker's budget is free again"
as_tenant "$A_TOKEN" POST "/v1/enclaves/$A_ENC/send" -H "X-Cloister-Access-Key: $A_KEY" \
	-H 'Content-Type: application/json' --data-binary "{\"data\":\"$(printf 'PUT a 1\n' | base64 -w0)\"}"
[ "$STATUS" = 200 ] || fail "attacker's send after its callers left: $STATUS $BODY"
as_tenant "$A_TOKEN" POST "/v1/enclaves/$A_ENC/recv" -H "X-Cloister-Access-Key: $A_KEY" \
	-H 'Content-Type: application/json' --data-binary '{"max":4096,"wait_ms":5000}'
[ "$STATUS" = 200 ] || fail "attacker's recv after its callers left: $STATUS $BODY"
[ "$(jget 'j["data"]' | base64 -d)" = OK ] || fail "attacker's recv: $BODY"

host_stop
echo "PASS host_chan_fair"
