#!/usr/bin/env bash
# suspend_crypto.sh — the enclave's half of suspend + restore of MIB MiB of
# state (build/bench/bench_state: tar + AES-256-GCM seal into memory, then
# decrypt + tag + extract), p50 over N runs, beside `openssl speed -evp
# aes-256-gcm` (16 KiB blocks, one core) in the same run, with the ratio.
# Not yet the end-to-end bench/suspend.sh of docs/suspend.md (no control
# plane, agent or frames: those are not built yet).
# usage: bench/suspend_crypto.sh [BUILD_DIR] [MIB] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}
MIB=${2:-64}
N=${3:-10}
[ -x "$BUILD/bench/bench_state" ] || { echo "build first: make $BUILD/bench/bench_state"; exit 1; }
out=$("$BUILD/bench/bench_state" "$MIB" "$N")
echo "$out" | grep -v '^STATE_MBPS'
state=$(echo "$out" | awk '/^STATE_MBPS/{print $2}')
aes=$(openssl speed -seconds 3 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM|^aes-256-gcm/{v=$NF; sub(/k$/, "", v); print v / 1000}')
[ -n "$aes" ] || { echo "cannot read openssl speed's AES-256-GCM rate"; exit 1; }
echo "openssl speed -evp aes-256-gcm (16 KiB blocks): ${aes} MB/s"
awk -v s="$state" -v a="$aes" 'BEGIN{printf "ratio: suspend+restore (enclave half) %.1f MB/s / AES-256-GCM %.1f MB/s = %.3fx\n", s, a, s/a}'
