#!/usr/bin/env bash
# bench/fw_update.sh [BUILD] [N] — full firmware update latency through the
# real control plane and a real agent started with --fw-root:
#   POST /v1/hosts/{id}/fw/push  ->  the agent verifies the bundle (2 of 3
#   ES384 signatures, SHA-384 of the image), writes it to the inactive slot,
#   commits the state  ->  its result is visible in GET /v1/hosts/{id}/fw/ops/{op}.
# N updates (default 50) of the NIC with increasing sequence numbers, all
# inside the mutability window (a `cloister host power-cycle`, untimed,
# reopens it if the run gets near its end). The bundles are signed and
# co-signed before the agent starts (untimed). One HTTPS keep-alive
# connection; the op is polled every 1 ms, which also gives the moment it was
# first seen delivered to the agent (reported as its own p50). Prints one
# summary line.
#
# Image size: IMG_BYTES (default 700 KiB - 4 KiB = 712704 bytes, the largest
# that fits an inline base64 push), or BUNDLE_MIB=M for an M MiB image (up to
# 63): a bundle over 512 KiB is sent the way `cloister fw push` sends it, as
# an upload in 1 MiB parts (POST /v1/uploads, PUT .../parts/{n}) then
# {"device","upload"}; the timed latency then includes the upload, and the
# agent fetches the bundle by reference (data_ref). With BUNDLE_MIB the
# default N is 10. A 1 MiB bundle sent inline gets 413 (bodies are at most
# 1 MiB), which the script checks and reports.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${1:-${BUILD:-build}}
if [ -n "${BUNDLE_MIB:-}" ]; then
	IMG_BYTES=$((BUNDLE_MIB * 1048576 - 4096))
	N=${2:-10}
else
	N=${2:-50}
	IMG_BYTES=${IMG_BYTES:-712704}
fi
source tests/integration/host_lib.sh

NIC=0000:03:00.0
NIC_VENDOR=6ba7b810-9dad-11d1-80b4-00c04fd430c8
NIC_CLASS=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
for k in root a b c; do
	"$CLI_BIN" fw keygen --out "$WORK/$k.pem" --pub "$WORK/$k.pub" >/dev/null || fail "keygen $k"
done
"$CLI_BIN" fw trust-root sign --version 1 --threshold 2 --signer "$WORK/a.pub,$WORK/b.pub,$WORK/c.pub" \
	--key "$WORK/root.pem" -o "$WORK/tr1.cbor" >/dev/null || fail "trust-root sign"

# Untimed: N bundles, sequence 1..N, each with its own image, signed by a, co-signed by b.
mkdir -p "$WORK/b"
for i in $(seq 1 "$N"); do
	head -c "$IMG_BYTES" /dev/urandom >"$WORK/img.bin"
	"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC \
		--version "1.0.$i" --sequence "$i" --channel stable --image "$WORK/img.bin" -o "$WORK/b/$i.fw" >/dev/null ||
		fail "fw sign $i"
	"$CLI_BIN" fw cosign --key "$WORK/b.pem" "$WORK/b/$i.fw" >/dev/null || fail "fw cosign $i"
done
BUNDLE_BYTES=$(stat -c %s "$WORK/b/1.fw")
# A 1 MiB image, to show the API's answer (one signature only: were it ever
# accepted by the API, the device would refuse it and change nothing).
head -c $((1024 * 1024)) /dev/urandom >"$WORK/img1m.bin"
"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC \
	--version 9.9.9 --sequence 999999 --channel stable --image "$WORK/img1m.bin" -o "$WORK/1m.fw" >/dev/null ||
	fail "fw sign 1 MiB"

WINDOW_FROM=$SECONDS
JT=$(join_token)
host_start --join-token "$JT" --fw-root "$WORK/root.pub"
fw_reported() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["reported"]')" = True ]; }
wait_for 20 "firmware report" fw_reported

{ printf '{"device":"%s","bundle":"' $NIC; base64 -w0 "$WORK/1m.fw"; printf '"}'; } >"$WORK/1m.json"
req POST "/v1/hosts/$HOST_ID/fw/push" -H 'Content-Type: application/json' --data-binary "@$WORK/1m.json"
BIG_STATUS=$STATUS

json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$(base64 -w0 "$WORK/tr1.cbor")\"}"
[ "$STATUS" = 202 ] || fail "POST fw/trust: $STATUS $BODY"
OP=$(jget 'j["op"]')
op_done() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
wait_for 30 "trust op answered" op_done "$OP"
[ "$(jget 'j["state"]')" = ok ] || fail "trust root refused: $BODY"

# The driver asks for a power cycle (prints "cycle" on stdout, waits for a
# line on stdin) when fewer than 15 s of the window may be left.
export URL CA ADMIN HOST_ID NIC N WORK
cat >"$WORK/drv.py" <<'PY'
import base64, http.client, json, os, ssl, sys, time
url, ca, tok, host, dev, n, work = (os.environ[k] for k in ("URL", "CA", "ADMIN", "HOST_ID", "NIC", "N", "WORK"))
n = int(n)
# window age at start, in seconds (the shell's SECONDS clock, conservative)
win_start = time.monotonic() - (int(sys.argv[2]) - int(sys.argv[1]))
import hashlib
files = [open(f"{work}/b/{i}.fw", "rb").read() for i in range(1, n + 1)]
INLINE_MAX = 512 * 1024  # like `cloister fw push`: bigger bundles go as uploads
hp = url.split("://", 1)[1]
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection(hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1]), context=ctx)
H = {"Authorization": "Bearer " + tok}
def call(m, p, body=None, ctype="application/json"):
    h = dict(H)
    if body is not None:
        h["Content-Type"] = ctype
    conn.request(m, p, body=body, headers=h)
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")
lat, dl, cycles = [], [], 0
def push_body(data):
    if len(data) <= INLINE_MAX:
        return json.dumps({"device": dev, "bundle": base64.b64encode(data).decode()}).encode()
    st, j = call("POST", "/v1/uploads", json.dumps({"size": len(data), "sha384": hashlib.sha384(data).hexdigest()}).encode())
    if st != 201:
        sys.exit(f"upload: {st} {j}")
    for k in range(j["parts"]):
        part = data[k * j["part_size"]:(k + 1) * j["part_size"]]
        st, r = call("PUT", f"/v1/uploads/{j['id']}/parts/{k}", part, "application/octet-stream")
        if st != 200:
            sys.exit(f"upload part {k}: {st} {r}")
    return json.dumps({"device": dev, "upload": j["id"]}).encode()
for i, data in enumerate(files, 1):
    if time.monotonic() - win_start > 45:  # untimed power cycle reopens the window
        print("cycle", flush=True)
        sys.stdin.readline()
        win_start = time.monotonic() - 1
        cycles += 1
    t0 = time.monotonic()
    b = push_body(data)
    st, j = call("POST", f"/v1/hosts/{host}/fw/push", b)
    if st != 202:
        sys.exit(f"push {i}: {st} {j}")
    op = j["op"]
    td = None
    while True:
        st, j = call("GET", f"/v1/hosts/{host}/fw/ops/{op}")
        if st != 200:
            sys.exit(f"op {op}: {st} {j}")
        if td is None and j.get("delivered"):
            td = time.monotonic()
        if j["state"] != "pending":
            break
        time.sleep(0.001)
    t1 = time.monotonic()
    if j["state"] != "ok":
        sys.exit(f"update {i} (sequence {i}) not accepted: {j}")
    lat.append((t1 - t0) * 1000)
    dl.append(((td or t1) - t0) * 1000)
s = sorted(lat)
pct = lambda p: s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]
p50, p90, mx = pct(50), pct(90), s[-1]
s = sorted(dl)
print(f"done {len(lat)} {p50:.1f} {p90:.1f} {mx:.1f} {cycles} {pct(50):.1f}", flush=True)
PY
coproc DRV { python3 "$WORK/drv.py" "$WINDOW_FROM" "$SECONDS"; }
DRV_PID_SAVED=$DRV_PID
exec {DRV_OUT}<&"${DRV[0]}" {DRV_IN}>&"${DRV[1]}"
result=
while read -r line <&"$DRV_OUT"; do
	case $line in
	cycle)
		out=$("$CLI_BIN" host power-cycle "$HOST_ID" --wait) || fail "power-cycle: $out"
		echo ok >&"$DRV_IN"
		;;
	done*) result=$line ;;
	esac
done
wait "$DRV_PID_SAVED" || fail "driver failed"
read -r _ n p50 p90 max cycles dp50 <<<"$result"
# The last update is what the host reports.
nic_at_n() {
	req GET "/v1/hosts/$HOST_ID/fw"
	[ "$(jget "[d['sequence'] for d in j['devices'] if d['addr']=='$NIC'][0]")" = "$N" ]
}
wait_for 20 "NIC reported at sequence $N" nic_at_n
echo "fw_update: $n updates of a $((IMG_BYTES / 1024)) KiB image$([ "$BUNDLE_BYTES" -gt 524288 ] && echo ' (sent as an upload, fetched by reference)') (bundle $BUNDLE_BYTES B), push -> verified -> written -> op result: p50 ${p50} ms  p90 ${p90} ms  max ${max} ms  (delivered to the agent: p50 ${dp50} ms; power cycles: $cycles; 1 MiB bundle push: HTTP $BIG_STATUS)"
