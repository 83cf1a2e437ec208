#!/usr/bin/env bash
# tests/run.sh BUILD_DIR... — runs the whole suite against each build directory:
# unit tests (BUILD/tests/test_*), fuzz corpus replays (BUILD/fuzz/fuzz_* over
# fuzz/corpus/NAME/), and integration scripts (tests/integration/*.sh, run with
# BUILD=dir). Prints one line per test and ends with "N passed, N failed".
# TESTS=pattern limits the run to tests whose name matches the pattern.
#
# A failure is a failure: only the tests named in tests/flaky-allowlist.txt
# (flakiness with a known cause outside Cloister, documented there) get one
# retry. The allow-list, and which of its tests needed the retry, are
# printed at the end.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 failures=() retried=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/cloister-tests.XXXXXX")

# The allow-list: "NAME  # cause" lines, NAME without the build directory
# (integration/foo, unit/test_bar). An entry without a cause is an error.
# FLAKY_ALLOWLIST=file replaces it (tests/integration/test_runner.sh).
allowlist=${FLAKY_ALLOWLIST:-tests/flaky-allowlist.txt}
declare -A allowed=()
allow_lines=() allow_errors=()
if [ -f "$allowlist" ]; then
	while IFS= read -r line || [ -n "$line" ]; do
		read -r entry _ <<<"${line%%#*}"
		[ -n "$entry" ] || continue
		cause=${line#*#}
		if [[ "$line" != *#* ]] || [ -z "${cause// /}" ]; then
			allow_errors+=("$entry: no known cause given")
			continue
		fi
		allowed[$entry]=1
		allow_lines+=("$entry  #$cause")
	done <"$allowlist"
fi

# run NAME CMD... — runs one test with a 600 s timeout. A test on the
# allow-list that fails is run once more (its first log kept and shown).
run() { # run NAME CMD...
	local name=$1; shift
	if [ -n "${TESTS:-}" ] && [[ "$name" != *${TESTS}* ]]; then return; fi
	local log="$logdir/$(echo "$name" | tr '/ ' '__').log" start=$SECONDS ok=0
	if timeout 600 "$@" >"$log" 2>&1; then
		ok=1
	elif [ -n "${allowed[${name#*/}]:-}" ]; then
		mv "$log" "$log.first"
		printf 'RETRY %-59s (allow-listed; first attempt failed; log: %s)\n' "$name" "$log.first"
		tail -n 15 "$log.first" | sed 's/^/    | /'
		retried+=("$name")
		if timeout 600 "$@" >"$log" 2>&1; then ok=1; fi
	fi
	if [ "$ok" = 1 ]; then
		passed=$((passed + 1)); printf 'PASS %-60s %3ss\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1)); failures+=("$name"); printf 'FAIL %-60s %3ss\n' "$name" $((SECONDS - start))
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
}

for build in "$@"; do
	tag=$(basename "$build")
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		run "$tag/unit/$(basename "$t")" "$t"
	done
	for f in "$build"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		n=$(basename "$f")
		[ -d "fuzz/corpus/${n#fuzz_}" ] || { run "$tag/fuzz/$n" false; continue; }
		run "$tag/fuzz/$n" "$f" "fuzz/corpus/${n#fuzz_}"
	done
	for s in tests/integration/*.sh; do
		[ -f "$s" ] || continue
		case "$s" in *lib.sh) continue ;; esac
		run "$tag/integration/$(basename "$s" .sh)" env BUILD="$build" bash "$s"
	done
done

for e in "${allow_errors[@]}"; do
	failed=$((failed + 1)); failures+=("$allowlist: $e"); echo "FAIL $allowlist: $e"
done
if ((${#allow_lines[@]})); then
	echo "flaky allow-list ($allowlist): retried once on failure:"; printf '  %s\n' "${allow_lines[@]}"
else
	echo "flaky allow-list ($allowlist): empty: no test is retried"
fi
if ((${#retried[@]})); then
	echo "needed the retry:"; printf '  %s\n' "${retried[@]}"
fi
if ((${#failures[@]})); then
	echo "failed:"; printf '  %s\n' "${failures[@]}"
	echo "logs in $logdir"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
