#!/usr/bin/env bash
# control_privsep.sh — cloister-control's privilege separation (docs/monitor.md):
#
#   curl ──HTTPS──► worker (cl-worker: evhttp, TLS records, store)
#                     │ socketpair: SIGN_HANDSHAKE, GET_CERTS, HASH/VERIFY_SECRET
#                     ▼
#                   monitor (cl-monitor: DATA/keys)      both forked by the supervisor ($CTL_PID)
#
# Checks: the worker runs as its own uid (as root), undumpable, with
# no_new_privs and a seccomp filter; its memory (every readable mapping of
# /proc/PID/mem) holds no byte sequence of the CA's or the server's private
# scalar, nor a piece of either key file, nor of the raw secrets DATA/keys/pepper
# and DATA/keys/seal.key (the monitor keeps those in memfd_secret memory, which
# /proc/PID/mem cannot read: the scan is shown to find them in a process that
# holds them plainly), while the monitor's holds both private keys (the scan
# can find what is there); TLS 1.2 and 1.3 handshakes work (signed by the
# monitor). kill -9 of the worker: both parts come back on the same URL and a
# tenant created before is still there. kill -9 of the monitor: the worker
# stops serving (fail closed, logged) and both come back.
source "$(dirname "$0")/control_lib.sh"

ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201
TENANT=$(jget 'j["id"]')

has_tenant() { # the tenant committed before the kills is listed
	as "$ADMIN" GET "/v1/tenants?limit=500"; expect 200
	[ "$(jget "[t['id'] for t in j['items']].count('$TENANT')")" = 1 ] || fail "tenant $TENANT lost: $BODY"
}
# part PID NAME: the pid of the supervisor's child whose comm is NAME
part() { { ps -o pid=,comm= --ppid "$CTL_PID" || true; } | awk -v n="$1" '$2 == n {print $1}'; }
WORKER=$(part cl-worker) MONITOR=$(part cl-monitor)
[ -n "$WORKER" ] && [ -n "$MONITOR" ] || fail "no worker/monitor under $CTL_PID: $(ps -o pid=,comm= --ppid "$CTL_PID")"

# ---- the worker's walls
status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
if [ "$(id -u)" = 0 ]; then
	[ "$(status "$WORKER" Uid)" = $((0x3fffff02)) ] || fail "worker uid $(status "$WORKER" Uid), want $((0x3fffff02))"
	[ "$(status "$WORKER" CapEff)" = 0000000000000000 ] || [ "$(status "$WORKER" CapEff)" = 0000000000000004 ] ||
		fail "worker capabilities $(status "$WORKER" CapEff)" # at most CAP_DAC_READ_SEARCH (0700 parents)
	[ "$(status "$MONITOR" CapEff)" = 0000000000000000 ] || fail "monitor capabilities $(status "$MONITOR" CapEff)"
	[ "$(stat -c %u "/proc/$WORKER/mem")" = 0 ] || fail "worker is dumpable (its /proc/PID files belong to its uid)"
fi
[ "$(status "$WORKER" NoNewPrivs)" = 1 ] || fail "worker without no_new_privs"
[ "$(status "$WORKER" Seccomp)" = 2 ] || fail "worker without a seccomp filter"
# the allow-list and the one that narrows ioctl to FIONREAD
# the supervisor's deny-list, the worker's allow-list, its ioctl filter
[ "$(status "$WORKER" Seccomp_filters)" = 3 ] || fail "worker has $(status "$WORKER" Seccomp_filters) seccomp filters, want 3"
[ "$(status "$CTL_PID" NoNewPrivs)" = 1 ] && [ "$(status "$CTL_PID" Seccomp)" = 2 ] ||
	fail "the supervisor is not hardened: $(grep -E 'NoNewPrivs|Seccomp' "/proc/$CTL_PID/status" | tr '\n' ' ')"
[ "$(status "$MONITOR" Seccomp)" = 2 ] || fail "monitor without a seccomp filter"

# ---- TLS: both versions, the handshake signed by the monitor
req GET /healthz --tlsv1.3; expect 200
req GET /healthz --tlsv1.2 --tls-max 1.2; expect 200

# ---- memory: no private byte in the worker, all of them in the monitor
# scan PID: prints "found NAME FORM" for each needle seen in a readable mapping
scan() {
	python3 - "$1" "$WORK/data/keys/ca.key" "$WORK/data/keys/server.key" "$WORK/data/keys/pepper" \
		"$WORK/data/keys/seal.key" <<'PY'
import base64, re, subprocess, sys
pid = int(sys.argv[1])
needles = {}
for name, path in (("pepper", sys.argv[4]), ("seal", sys.argv[5])):
    raw = open(path, "rb").read()
    assert len(raw) == 32, path
    for i in range(0, 32 - 16 + 1, 8):  # any 16-byte window
        needles[(name, "raw", i)] = raw[i:i + 16]
for name, path in (("ca", sys.argv[2]), ("server", sys.argv[3])):
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    scalar = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))[-48:]
    assert len(scalar) == 48
    # big-endian (DER, files) and little-endian (OpenSSL BIGNUM limbs on this
    # machine); any 16-byte window of either counts
    for form, b in (("be", scalar), ("le", scalar[::-1])):
        for i in range(0, 48 - 16 + 1, 8):
            needles[(name, form, i)] = b[i:i + 16]
    # the file's base64 text where it encodes the scalar (16-character
    # pieces that do not cross a line break; the rest is public)
    lines = [l.strip() for l in open(path) if not l.startswith("-----")]
    der = base64.b64decode("".join(lines))
    off = der.find(scalar)
    lo, hi, pos = -(-off // 3) * 4, (off + 48) // 3 * 4, 0
    for l in lines:
        for i in range(max(lo, pos), min(hi, pos + len(l)) - 16 + 1, 4):
            needles[(name, "pem", i)] = l[i - pos:i - pos + 16].encode()
        pos += len(l)
found = set()
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if not perms.startswith("r"):
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        if hi - lo > 1 << 30:
            continue  # AddressSanitizer's shadow (terabytes, reserved): no heap lives there
        prev = b""
        for at in range(lo, hi, 1 << 24):  # 16 MiB at a time, overlapping by a needle
            try:
                mem.seek(at)
                chunk = mem.read(min(1 << 24, hi - at))
            except (OSError, OverflowError, ValueError):
                break  # [vvar] and friends
            data = prev + chunk
            for k, n in needles.items():
                if (k[0], k[1]) not in found and n in data:
                    found.add((k[0], k[1]))
            prev = chunk[-64:]
for name, form in sorted(found):
    print("found", name, form)
PY
}
# traffic first: handshakes and a hash, so the worker has done what it does
for v in 1.2 1.3; do req GET /healthz --tlsv$v --tls-max $v; expect 200; done
as "$ADMIN" GET /v1/tenants; expect 200
W=$(scan "$WORKER") || fail "cannot scan the worker's memory"
[ -z "$W" ] || fail "private key material in the worker's memory: $W"
M=$(scan "$MONITOR") || fail "cannot scan the monitor's memory"
grep -q '^found ca ' <<<"$M" && grep -q '^found server ' <<<"$M" ||
	fail "the scan does not find the keys in the monitor either (scan broken?): $M"
# the raw secrets: found where a process holds them plainly (the monitor's are
# in memfd_secret memory, out of the scan's reach by design)
python3 -c 'import sys, time
k = [open(p, "rb").read() for p in sys.argv[2:]]
open(sys.argv[1], "w").write("read")
time.sleep(60)' "$WORK/holder.ready" "$WORK/data/keys/pepper" "$WORK/data/keys/seal.key" &
HOLDER=$!
deadline=$((SECONDS + 10))
until [ -s "$WORK/holder.ready" ]; do
	[ $SECONDS -lt $deadline ] || fail "the holder did not read the key files"
	sleep 0.05
done
H=$(scan "$HOLDER") || fail "cannot scan the holder's memory"
kill "$HOLDER" 2>/dev/null || true
grep -q '^found pepper raw' <<<"$H" && grep -q '^found seal raw' <<<"$H" ||
	fail "the scan does not find the raw secrets where they are plainly held (scan broken?): $H"

# ---- kill -9 of the worker: both come back, same URL, committed state kept
kill -9 "$WORKER"
wait_new() { # wait_new OLD_WORKER: a new worker answering /healthz
	local deadline=$((SECONDS + 30)) w
	while :; do
		w=$(part cl-worker)
		if [ -n "$w" ] && [ "$w" != "$1" ] &&
			curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "$URL/healthz" 2>/dev/null | grep -q 200; then
			break
		fi
		[ $SECONDS -lt $deadline ] || fail "no new worker answering after killing $1"
		sleep 0.05
	done
}
wait_new "$WORKER"
NEWW=$(part cl-worker) NEWM=$(part cl-monitor)
[ "$NEWM" != "$MONITOR" ] || fail "the monitor of the killed worker was kept"
has_tenant
grep -q "the worker killed by signal 9" "$WORK/ctl.err" || fail "the worker's death is not logged"

# ---- kill -9 of the monitor: the worker stops serving (fail closed), both come back
WORKER=$NEWW MONITOR=$NEWM
kill -9 "$MONITOR"
deadline=$((SECONDS + 20))
while kill -0 "$WORKER" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "the worker kept running without its monitor"
	sleep 0.05
done
grep -q "the monitor killed by signal 9" "$WORK/ctl.err" || fail "the monitor's death is not logged"
wait_new "$WORKER"
[ "$(part cl-monitor)" != "$MONITOR" ] || fail "no new monitor"
has_tenant
req GET /healthz --tlsv1.3; expect 200
kill -0 "$CTL_PID" || fail "the supervisor died"
echo ok
