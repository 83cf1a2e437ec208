#!/usr/bin/env bash
# test_runner.sh — tests/run.sh itself: a failure is a failure, and only a
# test named in the flaky allow-list gets one retry. A fake build directory
# holds three "unit tests": test_ok passes, test_flaky_a and test_flaky_b
# fail on their first run and pass on the second. With test_flaky_a on the
# allow-list, the run must retry it (PASS after RETRY), fail test_flaky_b
# without a retry, print the allow-list and who needed the retry, and end
# "2 passed, 1 failed" with a non-zero status. An entry without a cause is
# refused (counted as a failure).
set -euo pipefail
cd "$(dirname "$0")/../.."
W=$(mktemp -d /tmp/cloister-runner-test.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TMPDIR="$W" # the inner runs keep their logs under $W
fail() { echo "FAIL: $*"; echo "--- run.sh output:"; cat "$W/out" 2>/dev/null || true; exit 1; }
mkdir -p "$W/b/tests"
printf '#!/bin/sh\nexit 0\n' >"$W/b/tests/test_ok"
for t in test_flaky_a test_flaky_b; do # fails once, then passes (its own counter file)
	printf '#!/bin/sh\nf=%s\n[ -e "$f" ] && exit 0\n: >"$f"\necho "first run fails"\nexit 1\n' "$W/$t.ran" >"$W/b/tests/$t"
done
chmod +x "$W"/b/tests/*
printf '# header comment\nunit/test_flaky_a   # a cause outside Cloister\n' >"$W/allow"

rc=0
FLAKY_ALLOWLIST="$W/allow" TESTS=unit/test_ ./tests/run.sh "$W/b" >"$W/out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "run.sh exited 0 with a failed test"
[ "$(tail -n 1 "$W/out")" = "2 passed, 1 failed" ] || fail "last line"
grep -q '^RETRY b/unit/test_flaky_a ' "$W/out" || fail "allow-listed test not retried"
grep -q '^PASS b/unit/test_flaky_a ' "$W/out" || fail "allow-listed test did not pass on its retry"
grep -q '^RETRY b/unit/test_flaky_b ' "$W/out" && fail "a test not on the allow-list was retried"
grep -q '^FAIL b/unit/test_flaky_b ' "$W/out" || fail "failure of a test not on the allow-list hidden"
grep -q '^PASS b/unit/test_ok ' "$W/out" || fail "passing test"
grep -A1 '^flaky allow-list' "$W/out" | grep -q 'unit/test_flaky_a  # a cause outside Cloister' ||
	fail "allow-list not printed"
grep -A1 '^needed the retry:' "$W/out" | grep -q 'b/unit/test_flaky_a' || fail "retried tests not printed"

# an allow-list entry without a cause is refused
rm -f "$W"/*.ran
printf 'unit/test_flaky_a\n' >"$W/allow"
rc=0
FLAKY_ALLOWLIST="$W/allow" TESTS=unit/test_ok ./tests/run.sh "$W/b" >"$W/out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "an allow-list entry without a cause was accepted"
grep -q 'unit/test_flaky_a: no known cause given' "$W/out" || fail "entry without a cause not named"
[ "$(tail -n 1 "$W/out")" = "1 passed, 1 failed" ] || fail "last line with a bad allow-list"

# the empty allow-list (only comments) retries nothing and says so
printf '# nothing\n' >"$W/allow"
rc=0
FLAKY_ALLOWLIST="$W/allow" TESTS=unit/test_flaky ./tests/run.sh "$W/b" >"$W/out" 2>&1 || rc=$?
[ "$(tail -n 1 "$W/out")" = "0 passed, 2 failed" ] || fail "empty allow-list: a failing test passed"
grep -q '^RETRY' "$W/out" && fail "empty allow-list: a test was retried"
grep -q 'empty: no test is retried' "$W/out" || fail "empty allow-list not printed"
echo "test_runner: ok"
