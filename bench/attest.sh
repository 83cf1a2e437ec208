#!/usr/bin/env bash
# attest.sh — attestation documents signed and verified per second on one
# core, beside `openssl speed -seconds 3 ecdsap384` in the same run (both
# pinned to the same CPU with taskset). The target: documents signed at
# >= 0.8x OpenSSL's raw ECDSA P-384 sign rate (a document costs one sign;
# the rest is CBOR encoding and one SHA-384). A verification costs three
# ECDSA P-384 verifies (the hosts CA's and the leaf's certificates, then the
# COSE signature) plus X509_verify_cert's work: its ratio is reported against
# a third of OpenSSL's raw verify rate. Both sides count CPU time, not wall
# time (`openssl speed` divides by user CPU time unless -elapsed; the bench
# by its process CPU time), so other load on the machine does not skew the
# ratio.
# usage: bench/attest.sh [BUILD_DIR] [SECONDS]   (default build, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}
S=${2:-3}
BIN="$B/bench/bench_attest"
[ -x "$BIN" ] || { echo "build $BIN first: make BUILD=$B $BIN"; exit 1; }
CPU=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')
pin() { taskset -c "$CPU" "$@"; }
echo "openssl $(openssl version | cut -d' ' -f2); one core (CPU $CPU); $S s per measurement"
speed=$(pin openssl speed -seconds "$S" ecdsap384 2>/dev/null | grep 'ecdsa (nistp384)' | tail -n 1)
read -r o_sign o_verify < <(awk '{print $(NF-1), $NF}' <<<"$speed")
ours=$(pin "$BIN" "$S")
echo "$ours" | sed 's/^/  bench_attest: /'
get() { sed -n "s/^$1: \([0-9.]*\).*/\1/p" <<<"$ours"; }
d_sign=$(get doc_sign) d_verify=$(get doc_verify) r_sign=$(get raw_sign)
printf '%-34s %12s %12s %8s\n' measurement ours openssl ratio
printf '%-34s %9.1f/s %9.1f/s %7.2fx\n' "documents signed vs ecdsap384 sign" "$d_sign" "$o_sign" "$(echo "$d_sign / $o_sign" | bc -l)"
printf '%-34s %9.1f/s %9.1f/s %7.2fx\n' "in-process raw sign vs openssl" "$r_sign" "$o_sign" "$(echo "$r_sign / $o_sign" | bc -l)"
printf '%-34s %9.1f/s %9.1f/s %7.2fx\n' "documents verified vs verify/3" "$d_verify" "$(echo "$o_verify / 3" | bc -l)" \
	"$(echo "$d_verify / ($o_verify / 3)" | bc -l)"
printf '%-34s %9.1f/s %9.1f/s %7.2fx\n' "documents verified vs verify" "$d_verify" "$o_verify" "$(echo "$d_verify / $o_verify" | bc -l)"
ratio=$(echo "$d_sign / $o_sign" | bc -l)
if [ "$(echo "$ratio >= 0.8" | bc -l)" = 1 ]; then echo "target (sign >= 0.8x openssl): met"; else echo "target (sign >= 0.8x openssl): NOT met"; fi
