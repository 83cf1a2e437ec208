#!/usr/bin/env bash
# fw_verify.sh — firmware verify throughput vs `openssl dgst -sha384`, side by
# side in one run over the same image files (1, 16, 63 MiB). Our figure is a
# full verification (parse, 2 ES384 signatures, copy + SHA-384 into the
# destination), in process. openssl's is measured over repeated runs of the
# command on the same (page-cached) file; its process start-up is measured on
# an empty file and reported (the "net" column subtracts it). The last two
# columns come from the bench binary itself: a plain EVP SHA-384 of the same
# buffer, interleaved round by round with the verifier (robust to a busy box).
# usage: bench/fw_verify.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}
BIN="$B/bench/bench_fw_verify"
[ -x "$BIN" ] || { echo "build $BIN first: make BUILD=$B $BIN"; exit 1; }
T=$(mktemp -d /tmp/fw-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
now() { date +%s%N; }
: >"$T/empty"
s=$(now); for _ in $(seq 20); do openssl dgst -sha384 "$T/empty" >/dev/null; done
startup_ns=$(( ($(now) - s) / 20 ))
printf 'openssl %s; dgst start-up %.1f ms\n' "$(openssl version | cut -d' ' -f1-2)" "$(echo "$startup_ns / 1000000" | bc -l)"
printf '%-8s %14s %16s %16s %8s %8s %16s %8s\n' size fw_verify openssl_dgst openssl_net ratio net evp_in_process ratio
for mib in 1 16 63; do # 63: images are at most 64 MiB - 64 KiB (src/fw/fw_limits.h)
	line=$("$BIN" "$mib" "$T/img$mib")
	ours=$(sed -n 's/^fw_verify [0-9]* MiB: \([0-9.]*\) MiB\/s.*/\1/p' <<<"$line")
	evp=$(sed -n 's/.*EVP sha384: \([0-9.]*\) MiB\/s.*/\1/p' <<<"$line")
	runs=$(( 256 / mib )); [ $runs -lt 4 ] && runs=4
	openssl dgst -sha384 "$T/img$mib" >/dev/null # page cache
	s=$(now); for _ in $(seq $runs); do openssl dgst -sha384 "$T/img$mib" >/dev/null; done
	ns=$(( ($(now) - s) / runs ))
	ossl=$(echo "$mib / ($ns / 1000000000)" | bc -l)
	# Start-up noise can exceed a 1 MiB hash: then there is no net figure.
	if [ $((ns - startup_ns)) -gt $((ns / 10)) ]; then
		ossl_net=$(echo "$mib / (($ns - $startup_ns) / 1000000000)" | bc -l)
	else
		ossl_net=0
	fi
	if [ "$ossl_net" = 0 ]; then net_txt="       n/a" net_ratio="n/a"; else
		net_txt=$(printf '%10.1f' "$ossl_net"); net_ratio=$(printf '%.2fx' "$(echo "$ours / $ossl_net" | bc -l)"); fi
	printf '%-8s %9.1f MiB/s %11.1f MiB/s %s MiB/s %7.2fx %8s %11.1f MiB/s %7.2fx\n' "${mib}MiB" "$ours" \
		"$ossl" "$net_txt" "$(echo "$ours / $ossl" | bc -l)" "$net_ratio" "$evp" "$(echo "$ours / $evp" | bc -l)"
	rm -f "$T/img$mib"
done
