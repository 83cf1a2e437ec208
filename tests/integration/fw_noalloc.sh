#!/usr/bin/env bash
# fw_noalloc.sh — the firmware verifier (src/fw/verify_*.c) must not
# allocate: its objects may reference only an allow-list of external symbols
# (mem*/str* primitives and the sanitizer/stack-protector runtime). Any
# malloc/calloc/realloc/free/strdup, stdio or OpenSSL reference fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
objs=$(ls "$B"/obj/fw/verify_*.o)
[ -n "$objs" ] || { echo "no verifier objects in $B/obj/fw"; exit 1; }
allowed='^(memcpy|memset|memmove|memcmp|strcmp|strlen|__stack_chk_fail|__memcpy_chk|__memset_chk|__memmove_chk|__asan_.*|__ubsan_.*|__sanitizer_.*|__sancov.*|__tsan_.*|_GLOBAL_OFFSET_TABLE_)$'
# fw_* functions are fine only if the verifier objects define them themselves.
defined=$(nm --defined-only $objs | awk 'NF == 3 {print $3}' | sort -u)
bad=0
for o in $objs; do
	for s in $(nm -u "$o" | awk '{print $2}'); do
		if ! [[ $s =~ $allowed ]] && ! grep -qx "$s" <<<"$defined"; then
			echo "$(basename "$o"): references $s"
			bad=1
		fi
	done
done
# The allow-list itself must catch an allocation: check the checker.
for s in malloc calloc realloc free strdup; do
	if [[ $s =~ $allowed ]]; then echo "allow-list admits $s"; exit 1; fi
done
# Bounded stack: no function with a dynamic frame, none above 8 KiB.
T=$(mktemp -d /tmp/fw-stack.XXXXXX)
trap 'rm -rf "$T"' EXIT
for f in src/fw/verify_*.c; do
	cc -std=c11 -O2 -Isrc/fw -fstack-usage -c "$f" -o "$T/$(basename "$f" .c).o"
done
sort -t$'\t' -k2 -n "$T"/*.su | tail -3
if grep -E "dynamic$" "$T"/*.su; then echo "dynamic stack frames in the verifier"; bad=1; fi
max=$(awk '{print $(NF-1)}' "$T"/*.su | sort -n | tail -1)
echo "largest verifier stack frame: $max bytes"
[ "$max" -le 8192 ] || { echo "stack frame over 8 KiB"; bad=1; }
[ $bad = 0 ] && echo "verifier objects reference no allocator: $(echo $objs | wc -w) files"
