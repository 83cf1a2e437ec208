#!/usr/bin/env bash
# bench/tls/run.sh [SECONDS] — TLS terminators side by side, in one run, one table.
#
# Each proxy in turn (haproxy, nginx, hitch, stunnel; Cloister's data plane with its
# key holder: see start_cloister) terminates TLS on 127.0.0.1 in front of the
# same plain HTTP backend, with the same certificate (ECDSA P-256 leaf + CA, made
# here), pinned to one core (PROXY_CPU, default 0) while the load tools and the
# backend share the other (LOAD_CPU, default 1):
#
#   load (LOAD_CPU)            proxy (PROXY_CPU)            backend (LOAD_CPU)
#   bench_tls_handshakes ─TLS─► haproxy|nginx|hitch|... ─plain─► nginx :BP  "/" 128 B
#   wrk (keep-alive, bulk) ─TLS─►                                         "/1m" 1 MiB
#   wrk (Connection: close) ─plain─► proxy, client mode ─TLS, verified─► origin nginx :OP
#
# Figures per proxy, each phase SECONDS long (default 10):
#   hs      new full TLS 1.3 handshakes/s (a GET each, then close; none resumed:
#           bench/bench_tls_handshakes checks) and the proxy's CPU µs per handshake
#   ka      keep-alive requests/s (wrk, 1 thread, KA_CONNS=50), p99, CPU µs per request
#   bulk    MiB/s of 1 MiB responses (wrk, BULK_CONNS=8), CPU µs per MiB
#   out     outbound: plain request in, the proxy originates TLS to an origin with the
#           peer's chain and name verified and no session reuse (haproxy, nginx, stunnel
#           client mode; hitch has no client mode): requests/s and CPU µs per originated
#           handshake; the origin logs whether each handshake was resumed (must be 0)
#   rss     the proxy's resident memory: the largest VmRSS sum seen while under load
#           (sampled every 0.2 s) and the sum of VmHWM at the end, in MB
# CPU is the proxy's own: utime+stime from /proc/PID/stat of every process of the
# proxy (all threads included), read before and after each phase — never derived
# from the rate. "busy" is that CPU over the phase's wall time: a proxy below ~95 %
# was not saturated (on two cores the load side saturates first; on a machine shared
# with other work, the wake-up latency of both sides limits the rate too), so its
# rate says little and its CPU per operation is the figure to compare. On a shared
# machine, `nice -n -20 bench/tls/run.sh` keeps the figures steadier.
#
# Needs bench/tls/deps.sh (haproxy nginx hitch stunnel4 wrk) and `make` (for
# build/bench/bench_tls_handshakes and build/tests/tls_dp_host). Env: BUILD, DP_HOST, PROXIES ("haproxy nginx hitch
# stunnel cloister"), PROXY_CPU, LOAD_CPU, KA_CONNS, BULK_CONNS, HS_CONNS (32),
# HS_TLS (1.3 or 1.2), OUT_CONNS (32), SECONDS_EACH (the argument's default), KEEP=1
# keeps the work directory (configs, logs, the load tools' output).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
D=${1:-${SECONDS_EACH:-10}}
PROXIES=${PROXIES:-"haproxy nginx hitch stunnel cloister"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KA_CONNS=${KA_CONNS:-50}
BULK_CONNS=${BULK_CONNS:-8}
HS_CONNS=${HS_CONNS:-32}
HS_TLS=${HS_TLS:-1.3}
OUT_CONNS=${OUT_CONNS:-32}
HS_DIR=$PWD/$BUILD/bench
HS=${HS:-$HS_DIR/bench_tls_handshakes}
TICK=$(getconf CLK_TCK)

for t in haproxy nginx hitch stunnel wrk openssl taskset python3; do
	command -v "$t" >/dev/null || { echo "run.sh: $t missing: run bench/tls/deps.sh" >&2; exit 2; }
done
[ -x "$HS" ] || { echo "run.sh: $HS missing: run make" >&2; exit 2; }

# This script, its samplers and everything it starts stay on LOAD_CPU; pin()
# moves only the proxy under test to PROXY_CPU.
taskset -p -c "$LOAD_CPU" $$ >/dev/null
W=$(mktemp -d /tmp/cl-tlsbench.XXXXXX)
chmod 755 "$W"
STARTED=() # every pid this script started, killed (by pid) on exit
cleanup() {
	local p
	for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- helpers

free_ports() { # N -> N free TCP ports on 127.0.0.1
	python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

wait_port() { # PORT: until something accepts on it, 10 s at most
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "run.sh: nothing listens on port $1" >&2
	return 1
}

pin() { # CPU NAME CMD...: starts CMD on CPU in the background (its output in
	# $W/NAME.stderr), records its pid in LAST
	taskset -c "$1" "${@:3}" >"$W/$2.stderr" 2>&1 &
	LAST=$!
	STARTED+=("$LAST")
}

tree() { # PID...: those pids and all their descendants
	ps -e -o pid=,ppid= | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
		{ parent[$1] = $2 }
		END { do { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
		      for (p in keep) print p }'
}

cpu_ticks() { # utime+stime of the processes in ROOTS' trees (threads included)
	local p sum=0 f
	for p in $(tree "${ROOTS[@]}"); do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

mem_kb() { # FIELD (VmRSS|VmHWM): its sum over ROOTS' trees, in kB
	local p sum=0 v
	for p in $(tree "${ROOTS[@]}"); do
		v=$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null) || true
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

now() { date +%s.%N; }

wait_for_line() { # FILE REGEX: until a line of FILE matches, 10 s at most
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "run.sh: no line matching '$2' in $1" >&2
	return 1
}

probe() { # PORT: what a default client negotiates there (protocol, suite, group)
	openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$W/ca.pem" -brief </dev/null 2>&1 |
		awk -F': ' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 } /Peer Temp Key|Server Temp Key/ { k = $2; sub(/,.*/, "", k) }
			/^Verification: OK/ { v = "verified" } END { printf "%s %s %s %s", p, c, k, v ? v : "NOT VERIFIED" }'
}

# measure NAME CMD...: runs CMD (the load) on LOAD_CPU, with the proxy's CPU read
# before and after and its RSS sampled meanwhile; sets CPU_US (µs of proxy CPU),
# WALL (s) and leaves CMD's output in $W/NAME.out.
measure() {
	local name=$1 c0 c1 t0 t1 lp rss
	shift
	c0=$(cpu_ticks); t0=$(now)
	taskset -c "$LOAD_CPU" "$@" >"$W/$name.out" 2>"$W/$name.err" &
	lp=$!
	while kill -0 "$lp" 2>/dev/null; do
		rss=$(mem_kb VmRSS)
		[ "$rss" -gt "$RSS_MAX" ] && RSS_MAX=$rss
		sleep 0.2
	done
	wait "$lp" || echo "run.sh: $name: load tool failed: $(head -c 300 "$W/$name.err")" >&2
	c1=$(cpu_ticks); t1=$(now)
	CPU_US=$(( (c1 - c0) * 1000000 / TICK ))
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# wrk_get FILE FIELD: reqs (requests), secs, p99_ms, errs (socket errors + non-2xx)
wrk_get() {
	awk -v want="$2" '
		/requests in/ { reqs = $1; secs = $4; sub(/s,$/, "", secs) }
		$1 == "99%" { v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
			p99 = (u == "us") ? v / 1000 : (u == "ms") ? v : (u == "s") ? v * 1000 : v * 60000 }
		/Socket errors/ { for (i = 3; i <= NF; i++) { x = $i; sub(/,/, "", x); if (x ~ /^[0-9]+$/) errs += x } }
		/Non-2xx/ { errs += $NF }
		END { if (want == "reqs") print reqs + 0; else if (want == "secs") print secs + 0;
		      else if (want == "p99_ms") printf "%.2f\n", p99; else print errs + 0 }' "$1"
}

per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else printf "-" }'; } # A/B, or -
busy() { awk -v c="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.0f%%", c / 1e4 / w; else printf "-" }'; }

# ---------------------------------------------------------------- certificate

cd "$W"
mkdir www tmp
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-days 2 -subj /CN=cloister-bench-ca -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
	-subj /CN=localhost 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext \
	-out leaf.pem 2>/dev/null
cat leaf.pem ca.pem >chain.pem          # what every proxy serves: leaf, then the CA
cat leaf.key chain.pem >combined.pem    # haproxy and hitch want key and chain in one file
chmod 644 ./*.pem ./*.key
head -c 128 /dev/zero | tr '\0' x >www/small
head -c 1048576 /dev/urandom >www/1m
cd - >/dev/null

read -r BP OP PP XP <<<"$(free_ports 4)" # backend, origin, proxy (TLS in), proxy (plain in, outbound)

# ---------------------------------------------------------------- backend and origin (LOAD_CPU)

# As root, nginx's workers stay root (to read the work directory) and hitch drops
# to its package's user after loading the certificate (it insists on a drop).
if [ "$(id -u)" = 0 ]; then NGINX_USER="user root root;"; HITCH_USER='user = "_hitch"'; else NGINX_USER=""; HITCH_USER=""; fi

nginx_conf() { # NAME BODY: an nginx configuration in $W/NAME.conf around BODY (http{} contents)
	cat >"$W/$1.conf" <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $W/$1.pid;
error_log $W/$1.log warn;
events { worker_connections 8000; }
http {
	access_log off;
	client_body_temp_path $W/tmp/$1-body;
	proxy_temp_path $W/tmp/$1-proxy;
	fastcgi_temp_path $W/tmp/$1-fcgi;
	uwsgi_temp_path $W/tmp/$1-uwsgi;
	scgi_temp_path $W/tmp/$1-scgi;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	sendfile on;
	tcp_nopush on;
$2
}
EOF
}

nginx_conf backend "	server {
		listen 127.0.0.1:$BP reuseport backlog=4096;
		root $W/www;
		location = / { default_type text/plain; try_files /small =404; }
		location = /1m { default_type application/octet-stream; }
	}"
nginx_conf origin "	log_format reused \$ssl_session_reused;
	server {
		listen 127.0.0.1:$OP ssl backlog=4096;
		ssl_certificate $W/chain.pem;
		ssl_certificate_key $W/leaf.key;
		access_log $W/origin.access reused;
		root $W/www;
		location = / { default_type text/plain; try_files /small =404; }
	}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
pin "$LOAD_CPU" backend nginx -e "$W/backend.log" -p "$W" -c "$W/backend.conf"
pin "$LOAD_CPU" origin nginx -e "$W/origin.log" -p "$W" -c "$W/origin.conf"
wait_port "$BP"
wait_port "$OP"

# ---------------------------------------------------------------- the proxies
# start_NAME: starts NAME on PROXY_CPU terminating TLS on $PP in front of $BP and,
# where it can, originating verified TLS from $XP to the origin $OP; sets ROOTS to
# the pids whose process trees make up the proxy (all their CPU and memory is
# counted) and OUT=1 when it has the outbound direction. Returns 3 when NAME
# cannot run here (the row says why).

start_haproxy() {
	cat >"$W/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn 8000
	ssl-default-bind-options ssl-min-ver TLSv1.2
	ssl-server-verify required
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend tls_in
	bind 127.0.0.1:$PP ssl crt $W/combined.pem
	default_backend plain
backend plain
	http-reuse always
	server b 127.0.0.1:$BP
frontend plain_in
	bind 127.0.0.1:$XP
	default_backend tls_out
backend tls_out
	option httpclose
	http-reuse never
	server o 127.0.0.1:$OP ssl verify required ca-file $W/ca.pem verifyhost localhost sni str(localhost) no-ssl-reuse
EOF
	pin "$PROXY_CPU" haproxy haproxy -db -f "$W/haproxy.cfg"
	ROOTS=("$LAST"); OUT=1
}

start_nginx() {
	nginx_conf proxy "	upstream plain { server 127.0.0.1:$BP; keepalive 64; }
	server {
		listen 127.0.0.1:$PP ssl backlog=4096;
		ssl_certificate $W/chain.pem;
		ssl_certificate_key $W/leaf.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / {
			proxy_pass http://plain;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
			proxy_max_temp_file_size 0;
		}
	}
	server {
		listen 127.0.0.1:$XP backlog=4096;
		location / {
			proxy_pass https://127.0.0.1:$OP;
			proxy_ssl_verify on;
			proxy_ssl_trusted_certificate $W/ca.pem;
			proxy_ssl_name localhost;
			proxy_ssl_server_name on;
			proxy_ssl_session_reuse off;
		}
	}"
	pin "$PROXY_CPU" nginx nginx -e "$W/proxy.log" -p "$W" -c "$W/proxy.conf"
	ROOTS=("$LAST"); OUT=1
}

start_hitch() {
	mkdir -p "$W/ocsp"
	cat >"$W/hitch.conf" <<EOF
frontend = "[127.0.0.1]:$PP"
backend = "[127.0.0.1]:$BP"
pem-file = "$W/combined.pem"
workers = 1
daemon = off
$HITCH_USER
log-level = 1
tls-protos = TLSv1.2 TLSv1.3
backlog = 4096
ocsp-dir = "$W/ocsp"
EOF
	pin "$PROXY_CPU" hitch hitch --config="$W/hitch.conf"
	ROOTS=("$LAST"); OUT=0 # hitch only terminates: no client mode
}

start_stunnel() {
	cat >"$W/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
output = $W/stunnel.log
[tls_in]
accept = 127.0.0.1:$PP
connect = 127.0.0.1:$BP
cert = $W/chain.pem
key = $W/leaf.key
sslVersionMin = TLSv1.2
[tls_out]
client = yes
accept = 127.0.0.1:$XP
connect = 127.0.0.1:$OP
CAfile = $W/ca.pem
verifyChain = yes
checkHost = localhost
sni = localhost
sessionResume = no
EOF
	pin "$PROXY_CPU" stunnel stunnel "$W/stunnel.conf"
	ROOTS=("$LAST"); OUT=1
}

# start_cloister: Cloister's data plane (cloister-host part "tls": cl_dataplane_main
# in src/tls/, docs/tls.md) with its key holder, started by cloister_start
# (bench/tls/cloister.sh: tests/tools/tls_dp_host) with a leaf the bench CA signs
# for the key holder's point (same subject, SANs and extensions as the peers'
# leaf: an equivalent certificate), in front of 127.0.0.1:BP; its listener's port
# becomes PP for this row. Outbound is not built in the data plane: OUT=0, '-'.
#
# ROOTS names the data plane AND the key holder: every full handshake's
# signature is made in the key holder, so its CPU is added to the data plane's
# (cpu_ticks sums every process of every root), and so is its memory. The
# driver's own process (the parent, idle) is left out. taskset is inherited by
# the forked parts, so the key holder shares PROXY_CPU with the data plane: one
# core against one core.
source bench/tls/cloister.sh
start_cloister() {
	cloister_start "$W" "$PROXY_CPU" "127.0.0.1:$BP" || return $?
	PP_PEERS=$PP
	PP=$DP_PORT
	ROOTS=("$DP_PID" "$KH_PID")
	OUT=0 # the data plane terminates only: outbound (client mode) is not built
}
stop_cloister() { cloister_stop; PP=$PP_PEERS; }

# ---------------------------------------------------------------- the run

echo "bench/tls: ${D}s per phase; proxy on CPU $PROXY_CPU, load and backend on CPU $LOAD_CPU; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3); $(hitch --version 2>&1 | head -1); $(stunnel -version 2>&1 | grep -m1 '^stunnel' | cut -d' ' -f1-2); $(openssl version | cut -d' ' -f1-2); certificate ECDSA P-256"
# The machine's speed in the same run, on the proxies' core: what one full
# handshake's two main operations cost there (a P-256 signature, an X25519 exchange).
speed=$(taskset -c "$PROXY_CPU" openssl speed -seconds 1 ecdsap256 ecdhx25519 2>/dev/null |
	awk '/ecdsa \(nistp256\)/ { s = $(NF-1) } /ecdh \(X25519\)/ { x = $NF }
		END { printf "P-256 sign %.0f/s (%.1f µs), X25519 %.0f/s (%.1f µs)", s, 1e6 / s, x, 1e6 / x }')
echo "  openssl speed on CPU $PROXY_CPU: $speed"
ROWS=()
DETAIL=()
NEGOTIATED=()
cpu_line() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat; }
read -r TOTAL0 STEAL0 <<<"$(cpu_line)"
for name in $PROXIES; do
	ROOTS=(); OUT=0; WHY=""; RSS_MAX=0
	st=0
	"start_$name" || st=$?
	if [ "$st" = 3 ]; then
		ROWS+=("$(printf '%-9s %s' "$name" "— $WHY")")
		continue
	fi
	[ "$st" = 0 ] || { echo "run.sh: start_$name failed" >&2; exit 1; }
	{ wait_port "$PP" && { [ "$OUT" = 0 ] || wait_port "$XP"; }; } ||
		{ echo "run.sh: $name did not start:" >&2; tail -5 "$W/$name.stderr" >&2; exit 1; }
	NEGOTIATED+=("$(printf '%-9s %s' "$name" "$(probe "$PP")")")
	# warm-up, not measured: first connections, lazily built state, page faults
	wrk -t1 -c "$KA_CONNS" -d 1s "https://127.0.0.1:$PP/" >"$W/warm.out" 2>&1 || true

	measure hs "$HS" --port "$PP" --ca "$W/ca.pem" --name localhost --conns "$HS_CONNS" --seconds "$D" --tls "$HS_TLS"
	hs_n=$(sed -n 's/.*handshakes=\([0-9]*\).*/\1/p' "$W/hs.out"); hs_n=${hs_n:-0}
	hs_err=$(sed -n 's/.*errors=\([0-9]*\) resumed=\([0-9]*\).*/\1+\2/p' "$W/hs.out")
	hs_rate=$(per "$hs_n" "$(sed -n "s/.*seconds=\([0-9.]*\).*/\1/p" "$W/hs.out")"); hs_cpu=$(per "$CPU_US" "$hs_n"); hs_busy=$(busy "$CPU_US" "$WALL")

	measure ka wrk -t1 -c "$KA_CONNS" -d "${D}s" --latency "https://127.0.0.1:$PP/"
	ka_n=$(wrk_get "$W/ka.out" reqs); ka_rate=$(per "$ka_n" "$(wrk_get "$W/ka.out" secs)")
	ka_p99=$(wrk_get "$W/ka.out" p99_ms); ka_cpu=$(per "$CPU_US" "$ka_n"); ka_busy=$(busy "$CPU_US" "$WALL")
	ka_err=$(wrk_get "$W/ka.out" errs)

	measure bulk wrk -t1 -c "$BULK_CONNS" -d "${D}s" "https://127.0.0.1:$PP/1m"
	bk_n=$(wrk_get "$W/bulk.out" reqs); bk_rate=$(per "$bk_n" "$(wrk_get "$W/bulk.out" secs)")
	bk_cpu=$(per "$CPU_US" "$bk_n"); bk_busy=$(busy "$CPU_US" "$WALL"); bk_err=$(wrk_get "$W/bulk.out" errs)

	out_rate=-; out_cpu=-; out_busy=-; out_err=-; out_reused=-
	if [ "$OUT" = 1 ]; then
		: >"$W/origin.access"
		measure out wrk -t1 -c "$OUT_CONNS" -d "${D}s" -H "Connection: close" "http://127.0.0.1:$XP/"
		out_n=$(wrk_get "$W/out.out" reqs); out_rate=$(per "$out_n" "$(wrk_get "$W/out.out" secs)")
		out_cpu=$(per "$CPU_US" "$out_n"); out_busy=$(busy "$CPU_US" "$WALL")
		out_err=$(wrk_get "$W/out.out" errs)
		out_reused=$(grep -c '^r$' "$W/origin.access" || true)
		out_full=$(grep -c '^\.$' "$W/origin.access" || true)
		# every request the origin answered was a full handshake of its own:
		[ "$out_full" -ge "$out_n" ] || out_err="$out_err,origin-saw-$out_full"
	fi
	hwm=$(mem_kb VmHWM)
	procs=$(tree "${ROOTS[@]}" | wc -l)

	# a phase with any failure: its rate is marked "!" (the failures are in the second table)
	[ "$hs_err" = "0+0" ] || hs_rate="$hs_rate!"
	[ "$ka_err" = 0 ] || ka_rate="$ka_rate!"
	[ "$bk_err" = 0 ] || bk_rate="$bk_rate!"
	[ "$OUT" = 0 ] || [ "$out_err" = 0 ] || out_rate="$out_rate!"
	# the best-peer line counts only phases without failures
	echo "$name $([[ $hs_rate == *! ]] && echo - || echo "$hs_cpu") $([[ $ka_rate == *! ]] && echo - || echo "$ka_cpu")" \
		"$([[ $bk_rate == *! ]] && echo - || echo "$bk_cpu") $([[ $out_rate == *! ]] && echo - || echo "$out_cpu") $RSS_MAX" >>"$W/results"
	ROWS+=("$(printf '%-9s %8s %7s %8s %7s %7s %8s %7s %8s %7s %7s %7s' "$name" \
		"$hs_rate" "$hs_cpu" "$ka_rate" "$ka_p99" "$ka_cpu" "$bk_rate" "$bk_cpu" \
		"$out_rate" "$out_cpu" "$(awk -v k="$RSS_MAX" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')")")
	DETAIL+=("$(printf '%-9s %7s %7s %7s %7s    %s' "$name" "$hs_busy" "$ka_busy" "$bk_busy" "$out_busy" \
		"processes=$procs hs errors+resumed=$hs_err ka=$ka_err bulk=$bk_err out=$out_err out-resumed=$out_reused")")

	for p in "${ROOTS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if declare -F "stop_$name" >/dev/null; then "stop_$name"; fi # a proxy's own teardown, if it has one
done

printf '\n%-9s %8s %7s %8s %7s %7s %8s %7s %8s %7s %7s %7s\n' proxy "hs/s" "µs/hs" "req/s" "p99ms" "µs/req" \
	"MiB/s" "µs/MiB" "out/s" "µs/out" "RSS MB" "HWM MB"
printf '%s\n' "${ROWS[@]}"
printf '%s\n' "${ROWS[@]}" | grep -q '!' && echo '(!: that phase had failures, see below; its figures do not count)'
# The lowest of the peers on each CPU figure and on memory: what Cloister's row
# (data plane + key holder) is held to (docs/tls.md "Tests and benchmarks").
[ -s "$W/results" ] && awk '
	BEGIN { split("µs/hs µs/req µs/MiB µs/out RSS", label, " ") }
	$1 != "cloister" { for (i = 2; i <= 6; i++) if ($i != "-" && (!(i in best) || $i + 0 < best[i] + 0)) { best[i] = $i; who[i] = $1 } }
	END { printf "\nbest peer: "; for (i = 2; i <= 6; i++) {
		v = (i == 6) ? sprintf("%.1f MB", best[i] / 1024) : best[i]
		printf "%s %s (%s)%s", label[i - 1], (i in best) ? v : "-", who[i], (i < 6) ? ", " : "\n" } }' "$W/results"
printf '\nproxy CPU busy over each phase (below ~95%%: not saturated, compare the µs columns), failures:\n'
printf '%-9s %7s %7s %7s %7s\n' proxy hs ka bulk out
printf '%s\n' "${DETAIL[@]}"
printf '\nnegotiated with a default client (openssl s_client):\n'
printf '%s\n' "${NEGOTIATED[@]}"
read -r TOTAL1 STEAL1 <<<"$(cpu_line)"
printf '\nmachine during the run: load avg %s at the end, %s of CPU time stolen by the hypervisor\n' \
	"$(cut -d' ' -f1-3 /proc/loadavg)" \
	"$(awk -v t=$((TOTAL1 - TOTAL0)) -v s=$((STEAL1 - STEAL0)) 'BEGIN { p = t > 0 ? 100 * s / t : 0; printf "%.1f%%", p }')"
