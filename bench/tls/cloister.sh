# shellcheck shell=bash disable=SC2034  # sets variables for the scripts that source it
# bench/tls/cloister.sh — sourced by bench/tls/run.sh and bench/tls/testssl.sh:
# starts Cloister's data plane with its key holder, as a host runs them, without a
# control plane.
#
# tests/tools/tls_dp_host forks a real key holder and a real data plane
# (cl_dataplane_main, walls up as in production) and plays the agent, driven line
# by line through a fifo. The key holder generates tls/bench:1 (P-256,
# tls-generate; the key never leaves it); the CA in DIR signs a leaf for that point
# with DIR/leaf.ext's extensions, subject CN=localhost and 30 days of life (as the
# monitor's CA issues guest leaves: docs/tls.md); the data plane gets the
# guest (leaf + CA, the backend, mode all) on a listener tls_dp_host opens on
# 127.0.0.1:0.
#
# cloister_start DIR CPU BACKEND: DIR holds ca.pem, ca.key and leaf.ext; CPU the
# core everything is pinned to (taskset is inherited by the forked key holder and
# data plane); BACKEND host:port of the plain HTTP server. Sets DP_PORT (the TLS
# port), DP_PID (data plane), KH_PID (key holder), appends tls_dp_host's pid to
# STARTED (the caller kills it by pid), and keeps fd 7 open on its stdin
# (cloister_stop closes it: tls_dp_host ends its parts and exits). Returns 3 when
# tls_dp_host is not built (WHY says so), 1 on another failure (on stderr).
# Needs BUILD (default build), run from the repository's top.

cloister_start() {
	local dir=$1 cpu=$2 backend=$3 host=${DP_HOST:-$PWD/${BUILD:-build}/tests/tls_dp_host} r
	[ -x "$host" ] || { WHY="$host missing: run make"; return 3; }
	mkdir -p "$dir/cloister"
	rm -f "$dir/cloister.in"
	mkfifo "$dir/cloister.in"
	taskset -c "$cpu" "$host" "$dir/cloister" <"$dir/cloister.in" >"$dir/cloister.out" 2>"$dir/cloister.stderr" &
	DP_HOST_PID=$!
	STARTED+=("$!")
	exec 7>"$dir/cloister.in"
	DP_LINES=0
	DP_DIR=$dir
	cloister_cmd generate "tls/bench:1" "$dir/cloister/pub.pem"
	[ "$R" = ok ] || { echo "cloister: generate: $R" >&2; return 1; }
	(cd "$dir" && openssl x509 -new -force_pubkey cloister/pub.pem -subj /CN=localhost -CA ca.pem -CAkey ca.key \
		-days 30 -extfile leaf.ext -out cloister/leaf.pem 2>/dev/null) || { echo "cloister: no leaf" >&2; return 1; }
	cat "$dir/cloister/leaf.pem" "$dir/ca.pem" >"$dir/cloister/chain.pem"
	cloister_cmd listen
	[[ $R == "port "* ]] || { echo "cloister: listen: $R" >&2; return 1; }
	DP_PORT=${R#port }
	cloister_cmd set bench 1 "$dir/cloister/chain.pem" "$backend" - all
	[ "$R" = ok ] || { echo "cloister: set: $R" >&2; return 1; }
	cloister_cmd pids
	r=$R
	DP_PID=$(sed -n 's/.*dataplane=\([0-9]*\).*/\1/p' <<<"$r")
	KH_PID=$(sed -n 's/.*keyholder=\([0-9]*\).*/\1/p' <<<"$r")
	if [ -z "$DP_PID" ] || [ -z "$KH_PID" ]; then echo "cloister: pids: $r" >&2; return 1; fi
}

cloister_cmd() { # CMD...: one command to tls_dp_host, its answer line in R (10 s at most)
	echo "$*" >&7
	DP_LINES=$((DP_LINES + 1))
	R=""
	for _ in $(seq 100); do
		if [ "$(wc -l <"$DP_DIR/cloister.out")" -ge "$DP_LINES" ]; then
			R=$(sed -n "${DP_LINES}p" "$DP_DIR/cloister.out")
			return 0
		fi
		sleep 0.1
	done
	echo "cloister: no answer to: $*" >&2
	return 1
}

cloister_stop() { # closes tls_dp_host's stdin: it ends the data plane and the key holder, waits for them, exits
	exec 7>&-
	wait "$DP_HOST_PID" 2>/dev/null || true
}
