#!/usr/bin/env bash
# bench/run.sh — runs every benchmark against BUILD (default build), in sequence.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
echo "== placement";      "$BUILD/bench/bench_placement"
echo "== key holder";     "$BUILD/bench/bench_keyholder"
echo "== tls sniffer";    "$BUILD/bench/bench_tls_sniff"
echo "== api describe";   "$BUILD/bench/bench_api"
echo "== launch";         bench/launch.sh "$BUILD" 200
echo "== full path";      bench/full_path.sh 200
echo "== firmware verify"; bench/fw_verify.sh "$BUILD"
echo "== firmware update"; bench/fw_update.sh "$BUILD" 50
echo "== attestation documents"; bench/attest.sh "$BUILD" 3
echo "== channel fairness"; bench/chan_fair.sh "$BUILD" 200
echo "== connection flood"; bench/flood.sh "$BUILD" 200
echo "== provisioning"; bench/provision.sh "$BUILD" 100 5
echo "== suspend/restore, enclave half"; bench/suspend_crypto.sh "$BUILD" 64 10
echo "== suspend/restore, sandboxes"; bench/suspend.sh "$BUILD" 64 5
echo "== suspend/restore, through the control plane"; bench/suspend_api.sh "$BUILD" 64 10
if command -v haproxy >/dev/null && command -v nginx >/dev/null && command -v hitch >/dev/null && command -v stunnel >/dev/null && command -v wrk >/dev/null; then
	echo "== TLS terminators side by side"; bench/tls/run.sh 10
else
	echo "== TLS terminators side by side: skipped (run bench/tls/deps.sh first)"
fi
