#!/usr/bin/env bash
# init_reproducible.sh — cloister-init and cloister-init-bundle (its
# provisioning helper) are PCR1 (docs/measurements.md), so the same source
# must give the same binaries wherever they are built. Copies what their
# build reads (the Makefile, VERSION, src/init, src/common/frame.*,
# src/common/bundle.*, src/common/state.*, src/common/err.h; libcrypto.a is the system's) into
# two directories of different names and depths, outside any git checkout
# (so the revision the Makefile asks git for differs from this checkout's),
# builds only the two there with the real Makefile rules, and checks that
# each pair is byte for byte $BUILD's and that `cloister image measure
# --init` gives the same PCR1 for all three (the helper beside each init).
# Cheap: two static programs, compiled twice (a few seconds), so it runs in
# the suite. Also: cloister-init links no libcrypto (its size stays small).
#
#   $T/a/cloister/            ─┐
#   $T/b/some/deeper/checkout ─┼─ make BUILD=out out/bin/cloister-init{,-bundle} ─► PCR1 ─► all equal
#   $BUILD/bin/cloister-init* ─┘
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BUILD:=build}"
CLI="$BUILD/bin/cloister"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$CLI" ] && [ -x "$BUILD/bin/cloister-init" ] && [ -x "$BUILD/bin/cloister-init-bundle" ] || fail "build first ($BUILD)"
T=$(mktemp -d /tmp/cloister-initrepro.XXXXXX)
trap 'rm -rf "$T"' EXIT

copy_tree() { # copy_tree DIR: the files the cloister-init rule reads
	mkdir -p "$1/src/common"
	cp Makefile VERSION "$1/"
	cp -r src/init "$1/src/"
	cp src/common/frame.c src/common/frame.h src/common/bundle.c src/common/bundle.h src/common/rawio.c \
		src/common/rawio.h src/common/state.c src/common/state.h src/common/err.h "$1/src/common/"
}
build_in() { # build_in DIR: builds DIR/out/bin/cloister-init{,-bundle} with the Makefile's own rules
	make -s -C "$1" BUILD=out out/bin/cloister-init out/bin/cloister-init-bundle >"$T/make.log" 2>&1 ||
		{ cat "$T/make.log"; fail "make in $1"; }
	[ -x "$1/out/bin/cloister-init" ] && [ -x "$1/out/bin/cloister-init-bundle" ] || fail "not both built in $1"
}
A="$T/a/cloister"
B="$T/b/some/deeper/checkout-with-a-longer-name"
copy_tree "$A"
copy_tree "$B"
build_in "$A"
build_in "$B"

# Each binary the same in all three places (a difference names its file).
for f in cloister-init cloister-init-bundle; do
	cmp -s "$A/out/bin/$f" "$B/out/bin/$f" || { { cmp -l "$A/out/bin/$f" "$B/out/bin/$f" | head -5 || true; }; fail "$f built in two directories differs"; }
	cmp -s "$A/out/bin/$f" "$BUILD/bin/$f" || fail "$f built outside the checkout differs from $BUILD's"
done
# Any image will do: PCR1 depends only on the two binaries.
printf '#!/bin/sh\n' >"$T/app"; chmod 755 "$T/app"
"$CLI" image build -o "$T/x.img" --name x --entrypoint /app/app "$T/app" >/dev/null
pcr1() { "$CLI" image measure "$T/x.img" --init "$1" | awk '$1 == "PCR1" {print $2}'; }
P_A=$(pcr1 "$A/out/bin/cloister-init")
P_B=$(pcr1 "$B/out/bin/cloister-init")
P_BUILD=$(pcr1 "$BUILD/bin/cloister-init")
[ -n "$P_A" ] || fail "no PCR1 printed"
[ "$P_A" = "$P_B" ] || {
	{ cmp -l "$A/out/bin/cloister-init" "$B/out/bin/cloister-init" | head -5 || true; }
	fail "cloister-init built in two directories differs: PCR1 $P_A vs $P_B"
}
[ "$P_A" = "$P_BUILD" ] || fail "cloister-init built outside the checkout differs from $BUILD's: PCR1 $P_A vs $P_BUILD"
# The copies had no git revision to embed: neither may the real ones.
for f in cloister-init cloister-init-bundle; do
	! grep -a -q "revision" "$BUILD/bin/$f" || fail "$BUILD/bin/$f embeds a git revision"
done
# Every launch copies cloister-init into the sandbox: it links no libcrypto
# (the helper does), so it stays small.
! grep -a -q "OpenSSL" "$BUILD/bin/cloister-init" || fail "$BUILD/bin/cloister-init links libcrypto"
grep -a -q "OpenSSL" "$BUILD/bin/cloister-init-bundle" || fail "the OpenSSL check finds nothing in the helper (check broken?)"
[ "$(stat -c %s "$BUILD/bin/cloister-init")" -lt $((1 << 20)) ] ||
	fail "$BUILD/bin/cloister-init is $(stat -c %s "$BUILD/bin/cloister-init") bytes (want < 1 MiB)"
echo "init_reproducible: ok (PCR1 $P_A)"
