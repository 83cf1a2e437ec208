#!/usr/bin/env bash
# chan_fair.sh — one tenant's channel round trip (send "PUT k v / GET k" to the
# kvstore example, then recv until "OK v" comes back: control plane -> host
# agent -> shim -> enclave and back) p50/p99 over N round trips (default 200),
# alone and while another tenant parks 300 `recv wait_ms=30000` on the same
# host. The scenario is tests/integration/host_chan_fair.sh's (which checks
# correctness); this prints its timings. Needs root.
# usage: bench/chan_fair.sh [BUILD_DIR] [N]   (default build, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}
N=${2:-200}
for f in "$B/bin/cloister-control" "$B/bin/cloister-host" "$B/bin/cloister-init" "$B/bin/cloister-init-bundle" "$B/examples/kvstore"; do
	[ -x "$f" ] || { echo "build first: make BUILD=$B"; exit 1; }
done
echo "$(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $N round trips per phase"
out=$(ROUNDS=$N BUILD=$B bash tests/integration/host_chan_fair.sh 2>&1) || {
	echo "$out" | tail -n 30
	exit 1
}
grep -E '^(victim round trip|attacker:)' <<<"$out"
