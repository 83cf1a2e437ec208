#!/usr/bin/env bash
# launch.sh — enclave launch latency (cl_sandbox_launch: created -> READY) side
# by side with bubblewrap starting the same static probe binary in comparable
# namespaces (--unshare-all --die-with-parent, tmpfs root, the binary
# bind-mounted, /proc, /dev, a readiness byte over a pipe). Both run in the same
# process, alternating, over N launches (default 200); prints p50/p99 and ratios.
# Needs root. usage: bench/launch.sh [BUILD_DIR] [N]   (default build, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}
N=${2:-200}
for f in "$B/bench/bench_launch" "$B/bin/cloister-host" "$B/bin/cloister-init" "$B/examples/probe"; do
	[ -x "$f" ] || { echo "build first: make BUILD=$B $B/bench/bench_launch $B/bin/cloister-host $B/bin/cloister-init $B/examples/probe"; exit 1; }
done
command -v bwrap >/dev/null || { echo "bwrap (bubblewrap) is required"; exit 1; }
echo "$(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(bwrap --version)"
"$B/bench/bench_launch" "$N"
