#!/usr/bin/env bash
# suspend.sh — suspend + restore of MIB MiB of an enclave's state through
# real sandboxes (build/bench/bench_sandbox_state: KEYGEN, the state key
# wrapped to the enclave's key, SUSPEND streamed out; a sandbox awaiting a
# restore, RESTORE + STATE until its entrypoint runs), p50 over N runs,
# beside `openssl speed -evp aes-256-gcm` (16 KiB blocks, one core) in the
# same run, with the ratio. The sandboxes alone: the same end to end through
# the control plane and agent (routes, blob store, documents) is
# bench/suspend_api.sh.
# Needs root. usage: bench/suspend.sh [BUILD_DIR] [MIB] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}
MIB=${2:-64}
N=${3:-5}
[ -x "$BUILD/bench/bench_sandbox_state" ] || { echo "build first: make $BUILD/bench/bench_sandbox_state"; exit 1; }
out=$("$BUILD/bench/bench_sandbox_state" "$MIB" "$N")
echo "$out" | grep -v '^STATE_MBPS'
state=$(echo "$out" | awk '/^STATE_MBPS/{print $2}')
aes=$(openssl speed -seconds 3 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM|^aes-256-gcm/{v=$NF; sub(/k$/, "", v); print v / 1000}')
[ -n "$aes" ] || { echo "cannot read openssl speed's AES-256-GCM rate"; exit 1; }
echo "openssl speed -evp aes-256-gcm (16 KiB blocks): ${aes} MB/s"
awk -v s="$state" -v a="$aes" 'BEGIN{printf "ratio: suspend+restore (sandboxes, %s MiB) %.1f MB/s / AES-256-GCM %.1f MB/s = %.3fx\n", "'"$MIB"'", s, a, s/a}'
