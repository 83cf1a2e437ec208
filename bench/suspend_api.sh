#!/usr/bin/env bash
# suspend_api.sh — suspend and restore end to end through the control plane
# (docs/suspend.md): a real cloister-control and host agent (the integration
# tests' tests/integration/host_lib.sh), a --suspendable enclave (the probe,
# memory_mib 1024: its /tmp, a quarter, holds the state three times) whose
# /tmp holds MIB MiB of random bytes (getrandom, written by the application
# itself). Times, N times each, over one kept-alive HTTPS connection:
#   suspend  POST /v1/enclaves/{id}/suspend -> its job succeeded (blob stored,
#            enclave suspended)
#   restore  POST /v1/enclaves/{id}/restore -> its job succeeded (enclave
#            running, its state back)
# (the job awaited with GET /v1/jobs/{id}?wait=30, answered when it ends; the
# old sandbox's removal after a suspend is waited for outside the timings),
# prints p50/p90 of each, MB/s of suspend+restore p50, `openssl speed -evp
# aes-256-gcm` (16 KiB blocks, one core) run in the same minutes, and the
# ratio. The state's SHA-384 is checked after the last restore. Needs root.
# usage: [nice -n -20] bench/suspend_api.sh [BUILD_DIR] [MIB] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}
MIB=${2:-64}
N=${3:-10}
export BUILD
for b in bin/cloister-control bin/cloister-host bin/cloister examples/probe; do
	[ -x "$BUILD/$b" ] || { echo "build first: make ($BUILD/$b missing)"; exit 1; }
done
source tests/integration/host_lib.sh
host_up_attested >/dev/null

"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$BUILD/examples/probe" \
	>/dev/null || fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')
MEM=$(((MIB * 3 + 1) * 4 + 64)) # /tmp is a quarter of the memory: 3x the state + 1 MiB, and room
[ $MEM -ge 1024 ] || MEM=1024
suspendable_create bench "$MEM"
ID=$ENC
enclave_ask "$ID" "fillrandom /tmp/state.bin $MIB"
[ "$ANS" = "fillrandom /tmp/state.bin 0" ] || fail "cannot write the state: '$ANS'"
init_pid() { pgrep -P "$(cat "$HDATA/sandboxes/$ID/shim.pid")" | head -1; }
STATE_FILE() { echo "/proc/$(init_pid)/root/tmp/state.bin"; }
SUM0=$(sha384sum "$(STATE_FILE)" | cut -d' ' -f1)
[ "$(stat -c %s "$(STATE_FILE)")" = $((MIB << 20)) ] || fail "the state is not $MIB MiB"

echo "suspend/restore through the control plane: $MIB MiB of random state in /tmp, memory_mib $MEM, N=$N"
python3 - "$URL" "$CA" "$ADMIN" "$ID" "${KEYS[$ID]}" "$HDATA" "$N" "$MIB" >"$WORK/times" <<'PY'
import http.client, json, os, ssl, sys, time, urllib.parse
url, ca, admin, eid, akey, hdata, n, mib = sys.argv[1:9]
n, mib = int(n), int(mib)
u = urllib.parse.urlparse(url)
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=120)
H = {"Authorization": "Bearer " + admin, "X-Cloister-Access-Key": akey, "Content-Type": "application/json"}

def call(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=H if body is not None else {k: v for k, v in H.items() if k != "Content-Type"})
    r = conn.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None

def op(verb):
    t0 = time.monotonic()
    st, b = call("POST", "/v1/enclaves/%s/%s" % (eid, verb), {})
    if st != 202:
        sys.exit("%s: %d %s" % (verb, st, b))
    job = b["job"]["id"]
    while True:
        st, j = call("GET", "/v1/jobs/%s?wait=30" % job)
        if st != 200:
            sys.exit("job %s: %d %s" % (job, st, j))
        if j["state"] in ("succeeded", "failed"):
            break
    t = time.monotonic() - t0
    if j["state"] != "succeeded":
        sys.exit("%s failed: %s" % (verb, j.get("error")))
    return t

def wait_until(cond, what, secs=60):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.02)

def state():
    st, e = call("GET", "/v1/enclaves/" + eid)
    return e["state"]

for i in range(n):
    ts = op("suspend")
    if state() != "suspended":
        sys.exit("not suspended after a suspend")
    wait_until(lambda: not os.path.isdir(os.path.join(hdata, "sandboxes", eid)), "the sandbox removed")
    tr = op("restore")
    if state() != "running":
        sys.exit("not running after a restore")
    print("%.6f %.6f" % (ts, tr), flush=True)
PY
[ "$(wc -l <"$WORK/times")" = "$N" ] || fail "only $(wc -l <"$WORK/times") of $N runs"
SUM1=$(sha384sum "$(STATE_FILE)" | cut -d' ' -f1)
[ "$SUM1" = "$SUM0" ] || fail "the state changed across $N suspend/restore cycles"
echo "state intact after $N cycles (SHA-384 ${SUM0:0:16}...)"
aes=$(openssl speed -seconds 3 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM|^aes-256-gcm/{v=$NF; sub(/k$/, "", v); print v / 1000}')
[ -n "$aes" ] || fail "cannot read openssl speed's AES-256-GCM rate"
python3 - "$WORK/times" "$MIB" "$aes" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
mib, aes = int(sys.argv[2]), float(sys.argv[3])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
s = [r[0] * 1000 for r in rows]
r = [r[1] * 1000 for r in rows]
print("suspend (API -> job done):    p50 %.1f ms  p90 %.1f ms  (min %.1f, max %.1f)" % (pct(s, 50), pct(s, 90), min(s), max(s)))
print("restore (API -> running):     p50 %.1f ms  p90 %.1f ms  (min %.1f, max %.1f)" % (pct(r, 50), pct(r, 90), min(r), max(r)))
mb = mib * 1048576 / 1e6
both = (pct(s, 50) + pct(r, 50)) / 1000
rate = mb / both
print("suspend+restore p50 %.1f ms: %.1f MB/s (%d MiB)" % (both * 1000, rate, mib))
print("openssl speed -evp aes-256-gcm (16 KiB blocks): %.1f MB/s" % aes)
print("ratio: suspend+restore through the control plane %.1f MB/s / AES-256-GCM %.1f MB/s = %.3fx" % (rate, aes, rate / aes))
PY
