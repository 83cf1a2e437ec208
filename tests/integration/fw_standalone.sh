#!/usr/bin/env bash
# fw_standalone.sh — libcloister-fw's verifier stands alone, as on a device.
#
#  1. Its sources (src/fw/verify_*.c) and the headers they may use
#     (fw_verify.h, verify_internal.h, fw_limits.h) are copied alone into an
#     empty directory and compiled freestanding (-ffreestanding -nostdinc):
#     the compiler's own <stdint.h>/<stddef.h>/<stdbool.h> and a <string.h>
#     that declares only mem*/strlen/strcmp. Any other include — a
#     src/common header (by any path), OpenSSL, jansson, <stdlib.h>, <stdio.h>
#     — fails to compile.
#  2. The public header alone compiles the same way.
#  3. tests/fw/fw_device.c, built with only -Isrc/fw, links against
#     BUILD/lib/libcloister-fw.a alone (the whole archive: every object's
#     references must resolve in libc) and parses the example bundle exactly
#     as `cloister fw inspect` reads it.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
T=$(mktemp -d /tmp/fw-standalone.XXXXXX)
trap 'rm -rf "$T"' EXIT
CC=${CC:-cc}

# 1. freestanding compile of the verifier with nothing else in reach
mkdir -p "$T/fw" "$T/libc"
cp src/fw/verify_*.c src/fw/verify_internal.h src/fw/fw_verify.h src/fw/fw_limits.h "$T/fw/"
cat >"$T/libc/string.h" <<'H'
/* The libc a device gives the verifier: six primitives, nothing more. */
#include <stddef.h>
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
H
freestanding=(-std=c11 -ffreestanding -nostdinc -isystem "$("$CC" -print-file-name=include)" -isystem "$T/libc"
	-I"$T/fw" -Wall -Wextra -Werror -Wno-unused-parameter -fsyntax-only)
n=0
for f in "$T"/fw/verify_*.c; do
	"$CC" "${freestanding[@]}" "$f"
	n=$((n + 1))
done
[ "$n" -ge 5 ] || { echo "expected the verifier's 5+ sources, found $n"; exit 1; }
echo "#include \"fw_verify.h\"" >"$T/hdr.c"
echo "int fw_standalone_probe(void) { return FW_MAX_SIGNERS; }" >>"$T/hdr.c"
"$CC" "${freestanding[@]}" "$T/hdr.c"
echo "verifier compiles freestanding from src/fw alone: $n sources and fw_verify.h"

# The check must be able to fail: a verifier source that reaches for
# Cloister's common code (by a path that works from src/fw) is refused.
cp "$T/fw/verify_cbor.c" "$T/fw/verify_probe.c"
sed -i '1i #include "../common/err.h"' "$T/fw/verify_probe.c"
if "$CC" "${freestanding[@]}" "$T/fw/verify_probe.c" 2>/dev/null; then
	echo "a common/ include was not caught"; exit 1
fi
sed -i '1s|.*|#include <stdlib.h>|' "$T/fw/verify_probe.c"
if "$CC" "${freestanding[@]}" "$T/fw/verify_probe.c" 2>/dev/null; then
	echo "a <stdlib.h> include was not caught"; exit 1
fi
rm -f "$T/fw/verify_probe.c"

# 3. a device program linked against the library alone
lib="$B/lib/libcloister-fw.a"
[ -f "$lib" ] || { echo "no $lib: build first"; exit 1; }
san=()
# (nm's output captured first: grep -q closing the pipe early would fail
# the pipeline under pipefail and hide a sanitizer build)
lib_syms=$(nm "$lib" 2>/dev/null || true)
if grep -q '__asan_' <<<"$lib_syms"; then san=(-fsanitize=address,undefined); fi
"$CC" -std=c11 -O1 -Wall -Wextra -Werror -Isrc/fw "${san[@]}" -o "$T/fw_device" tests/fw/fw_device.c \
	-Wl,--whole-archive "$lib" -Wl,--no-whole-archive
if nm -u "$T/fw_device" | grep -Ei 'cl_|EVP_|OPENSSL|json_|sqlite'; then
	echo "the device program references Cloister, OpenSSL, jansson or SQLite"; exit 1
fi
out=$("$T/fw_device" tests/fw/example-bundle.fw)
echo "$out"
want=$("$B/bin/cloister" fw inspect --json tests/fw/example-bundle.fw)
for k in component version channel sequence image_size; do
	v=$(jq -r ".$k" <<<"$want")
	grep -qx "$k $v" <<<"$out" || { echo "device read $k differently (CLI: $v)"; exit 1; }
done
grep -qx "signers $(jq '.signer_kids | length' <<<"$want")" <<<"$out"
grep -qx 'verify_without_trust bad_argument' <<<"$out"
grep -qx 'trust_without_ops bad_argument' <<<"$out"
# A refused bundle is reported as the verifier's reason.
head -c 40 tests/fw/example-bundle.fw >"$T/cut.fw"
if "$T/fw_device" "$T/cut.fw" >"$T/cut.out"; then echo "a truncated bundle parsed"; exit 1; fi
grep -qx 'refused truncated' "$T/cut.out" || { cat "$T/cut.out"; exit 1; }
echo "libcloister-fw.a links alone and reads the bundle as the CLI does"
