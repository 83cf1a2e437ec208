#!/usr/bin/env bash
# provision.sh — provisioning end to end (docs/provisioning.md): fresh document
# → verified → bundle encrypted, uploaded, decrypted, checked, installed and
# running → PCR7 verified in a second fresh document, i.e. one
# `cloister enclave provision` from start to exit, through a real control
# plane and host. Each run gets a new enclave created with --await-bundle
# (not timed). p50/p90 over N runs of a 1 MiB bundle (default 100) and M
# runs of a 64 MiB one (default 5), beside `openssl speed -evp aes-256-gcm`
# in the same run: the ratio is the bundle's bytes per p50 second over
# OpenSSL's raw AES-256-GCM rate (16 KiB blocks, one core).
# usage: bench/provision.sh [BUILD_DIR] [N] [M]   (needs root, like the host tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${1:-${BUILD:-build}}
N=${2:-100}
M=${3:-5}
CTL_POLL_MS=2000 HOST_POLL_MS=1000
source tests/integration/host_lib.sh
ECHO_APP="$BUILD/examples/echo"
[ -x "$ECHO_APP" ] || { echo "build first: make $BUILD/examples/echo"; exit 1; }

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
wait_for 20 "the attestation certificate" test -s "$HDATA/attest/cert.der"
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null
image_upload
req GET /v1/tenants
TENANT=$(python3 -c "import json,sys; print(json.loads(sys.stdin.read())['items'][0]['id'])" <<<"$BODY")

bundle() { # bundle OUT MIB: a tar of MIB MiB: the echo program and random data
	rm -rf "$WORK/b" && mkdir -p "$WORK/b"
	cp "$ECHO_APP" "$WORK/b/entrypoint"
	head -c $((($2 << 20) - $(stat -c %s "$ECHO_APP") - 16384)) /dev/urandom >"$WORK/b/data"
	python3 - "$1" "$WORK/b" <<'PY'
import sys, tarfile, os
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for n in ("entrypoint", "data"):
        t.add(os.path.join(sys.argv[2], n), arcname=n)
PY
}

series() { # series RUNS MIB MEMORY_MIB: prints one line of p50/p90
	local runs=$1 mib=$2 mem=$3 i t0 t1 id key p3
	bundle "$WORK/bundle.tar" "$mib"
	local size
	size=$(stat -c %s "$WORK/bundle.tar")
	: >"$WORK/times"
	for ((i = 0; i < runs; i++)); do
		json POST /v1/enclaves "{\"name\":\"b$i-$mib\",\"image_id\":\"$IMAGE\",\"memory_mib\":$mem,\"cpus\":1,\"min_level\":\"software\",\"await_bundle\":true}"
		[ "$STATUS" = 202 ] || fail "create: $STATUS $BODY"
		id=$(jget 'j["enclave"]["id"]') key=$(jget 'j["access_key"]')
		ENCLAVES+=("$id")
		KEYS[$id]=$key
		wait_for 60 "enclave running" enclave_is "$id" running
		p3=$("$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name "b$i-$mib" --await-bundle --json |
			python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])")
		t0=$(date +%s%N)
		CLOISTER_ACCESS_KEY=$key "$CLI_BIN" enclave provision "$id" --bundle "$WORK/bundle.tar" \
			--expect-pcr "3=$p3" --root "$WORK/root.pem" >/dev/null 2>"$WORK/p.err" ||
			fail "provision: $(cat "$WORK/p.err")"
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000)) >>"$WORK/times"
		enclave_destroy "$id"
		wait_for 60 "enclave destroyed" enclave_is "$id" absent
	done
	python3 - "$WORK/times" "$size" "$runs" "$AES" <<'PY'
import sys
us = sorted(int(l) for l in open(sys.argv[1]))
size, runs, aes = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
p = lambda q: us[min(len(us) - 1, int(q * len(us)))] / 1000.0
rate = size / (p(0.5) / 1000.0)
print(f"  {size / 1048576:6.1f} MiB bundle, {runs:3d} runs  p50 {p(0.5):8.1f} ms  p90 {p(0.9):8.1f} ms"
      f"  = {rate / 1e6:7.1f} MB/s  ratio to AES-256-GCM {rate / aes:.3f}x")
PY
}

echo "$(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(openssl version)"
AES=$(openssl speed -evp aes-256-gcm -seconds 2 2>/dev/null | awk '/^AES-256-GCM|^aes-256-gcm/{v=$NF; sub(/k$/, "", v); print v * 1000}')
[ -n "$AES" ] || { echo "cannot read openssl speed's AES-256-GCM rate"; exit 1; }
python3 -c "import sys; print(f'  openssl speed -evp aes-256-gcm (16 KiB blocks): {float(sys.argv[1]) / 1e6:.1f} MB/s')" "$AES"
echo "fresh document -> verified -> bundle running -> PCR7 verified (cloister enclave provision, ms):"
series "$N" 1 64
series "$M" 64 600
# BENCH_LOGS=DIR keeps the control plane's and the host's logs (where the time goes)
[ -z "${BENCH_LOGS:-}" ] || cp "$WORK/ctl.err" "$WORK/host.err" "$BENCH_LOGS/"
