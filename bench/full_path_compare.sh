#!/usr/bin/env bash
# bench/full_path_compare.sh BEFORE AFTER [R] — the full path beside the
# launch, for two git revisions on the same machine in the same minutes.
# Each revision is checked out in a temp worktree (git worktree add --detach)
# and built there (only what the two benches need); then for R rounds
# (default 3), for each tree in turn, it runs that tree's bench/full_path.sh
# and bench/launch.sh (its "pass 1", the same image) under `nice -n -20` when
# allowed, and prints one line per round per tree: full-path p50/p99, launch
# p50/p99 and full path minus launch. The worktrees are removed on exit.
# Needs root (launch.sh). The arguments may come from the environment
# instead (BEFORE, AFTER, R); also FULL_N, LAUNCH_N (enclaves per run, 200
# each), JOBS (make -j, 2).
# usage: bench/full_path_compare.sh BEFORE [AFTER] [R]   (AFTER: HEAD)
#   e.g. BEFORE=32fd6b6 AFTER=HEAD R=1 bench/full_path_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:-${BEFORE:-}}
AFTER=${2:-${AFTER:-HEAD}}
R=${3:-${R:-3}}
[ -n "$BEFORE" ] || { echo "usage: bench/full_path_compare.sh BEFORE [AFTER] [R]" >&2; exit 2; }
FULL_N=${FULL_N:-200}
LAUNCH_N=${LAUNCH_N:-200}
JOBS=${JOBS:-2}
[[ $R =~ ^[1-9][0-9]*$ ]] || { echo "R must be a whole number >= 1" >&2; exit 2; }
declare -A rev
for side in BEFORE AFTER; do
	rev[$side]=$(git rev-parse --verify --quiet "${!side}^{commit}") || { echo "not a revision: ${!side}" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/cloister-fpcmp.XXXXXX)
trees=()
cleanup() {
	for t in "${trees[@]}"; do
		git worktree remove --force "$t" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Raise the priority when this process may (root, or CAP_SYS_NICE).
NICE=()
if [ "$(nice -n -20 nice 2>/dev/null || echo 0)" -lt "$(nice)" ]; then
	NICE=(nice -n -20)
fi

targets=(build/bin/cloister-control build/bin/cloister-host build/bin/cloister build/bin/cloister-init
	build/bin/cloister-init-bundle build/examples/probe build/examples/kvstore build/bench/bench_launch
	build/bench/bench_full_path)
for side in BEFORE AFTER; do
	t="$tmp/$side"
	git worktree add --detach "$t" "${rev[$side]}" >/dev/null 2>&1
	trees+=("$t")
	echo "building $side (${rev[$side]:0:7}) in $t"
	make -C "$t" -j"$JOBS" "${targets[@]}" >"$tmp/$side.build.log" 2>&1 ||
		{ tail -20 "$tmp/$side.build.log" >&2; echo "build of $side failed" >&2; exit 1; }
done

echo "$(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"${NICE[*]:-no nice (not allowed)}, full path N=$FULL_N, launch N=$LAUNCH_N"
for ((r = 1; r <= R; r++)); do
	for side in BEFORE AFTER; do
		t="$tmp/$side"
		fp=$(cd "$t" && BUILD=build "${NICE[@]}" bench/full_path.sh "$FULL_N" | grep '^full path') ||
			{ echo "round $r: bench/full_path.sh of $side failed" >&2; exit 1; }
		ln=$(cd "$t" && "${NICE[@]}" bench/launch.sh build "$LAUNCH_N" | grep 'pass 1 .*cloister, same image') ||
			{ echo "round $r: bench/launch.sh of $side failed" >&2; exit 1; }
		# "full path (...), N enclaves: p50 X ms  p99 Y ms  max Z ms"
		read -r f50 f99 < <(sed -E 's/.*p50 ([0-9.]+) ms +p99 ([0-9.]+) ms.*/\1 \2/' <<<"$fp")
		# "  pass 1  cloister, same image   p50 X  p99 Y"
		read -r l50 l99 < <(sed -E 's/.*p50 +([0-9.]+) +p99 +([0-9.]+).*/\1 \2/' <<<"$ln")
		awk -v r="$r" -v s="$side" -v c="${rev[$side]:0:7}" -v f50="$f50" -v f99="$f99" \
			-v l50="$l50" -v l99="$l99" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
			printf "round %d %-6s %-9s full p50 %6.2f p99 %6.2f | launch p50 %6.2f p99 %6.2f | full-launch p50 %+6.2f p99 %+6.2f ms (load %s)\n",
				r, s, c, f50, f99, l50, l99, f50 - l50, f99 - l99, load }'
	done
done
