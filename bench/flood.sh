#!/usr/bin/env bash
# bench/flood.sh [BUILD] [N] — /healthz latency with and without a connection
# flood. N requests (default 200), each on a new TLS connection from
# 127.0.0.1 (tests/flood_client.py probe: connect + handshake + request +
# reply), first against an idle control plane, then while
# tests/flood_client.py floods it from 127.0.0.2 and .4-.8 with 1,500
# connections that send nothing and 100 that drip a header byte every 2 s,
# each reopened 2 s after the server closes it — the flood of
# tests/integration/control_flood.sh, against the same limits
# (--max-connections 256 --max-connections-per-ip 256). Prints p50/p99/max
# of each run, and the control plane's CPU (cores) and open descriptors
# during the flood.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${1:-${BUILD:-build}}
N=${2:-200}
source tests/integration/control_lib.sh
FLOOD=(python3 tests/flood_client.py)
FLOOD_PID=
stop_flood() { if [ -n "$FLOOD_PID" ]; then kill "$FLOOD_PID" 2>/dev/null || true; wait "$FLOOD_PID" 2>/dev/null || true; FLOOD_PID=; fi; }
trap 'stop_flood; cleanup' EXIT
ctl_start --max-connections 256 --max-connections-per-ip 256 --header-timeout-s 30
PORT=${URL##*:}
"${FLOOD[@]}" probe --port "$PORT" --count 20 >/dev/null # warm-up
IDLE=$({ "${FLOOD[@]}" probe --port "$PORT" --count "$N" || true; } | tail -n 1)
"${FLOOD[@]}" flood --port "$PORT" --bind 127.0.0.2,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8 \
	--silent 1500 --drip 100 --drip-interval 2 --reopen --reopen-delay 2 --status "$WORK/flood.json" >/dev/null 2>&1 &
FLOOD_PID=$!
deadline=$((SECONDS + 60))
# ... until it has opened all its connections and reopened a first wave of them
until python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["opened"]["silent"] < 2500)' \
	"$WORK/flood.json" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "the flood did not start"
	sleep 0.2
done
WPID=$(ctl_worker) # the worker serves the connections
CPU0=$(awk '{print $14 + $15}' "/proc/$WPID/stat"); T0=$EPOCHREALTIME
FLOODED=$({ "${FLOOD[@]}" probe --port "$PORT" --count "$N" || true; } | tail -n 1) # ok=K/N: closed ones count
CPU1=$(awk '{print $14 + $15}' "/proc/$WPID/stat"); T1=$EPOCHREALTIME
FDS=$(find "/proc/$WPID/fd" -mindepth 1 -maxdepth 1 | wc -l)
OPENED=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["opened"]["silent"] + s["opened"]["drip"])' "$WORK/flood.json")
stop_flood
printf '/healthz, new TLS connection per request, N=%s (ms)\n' "$N"
printf '  idle:   %s\n' "$IDLE"
printf '  flood:  %s\n' "$FLOODED"
awk -v c0="$CPU0" -v c1="$CPU1" -v t0="$T0" -v t1="$T1" -v hz="$(getconf CLK_TCK)" -v fds="$FDS" -v op="$OPENED" \
	'BEGIN { printf "  control plane during the flood: %.3f core, %d descriptors (cap 256); flood connections opened: %d\n", (c1 - c0) / hz / (t1 - t0), fds, op }'
