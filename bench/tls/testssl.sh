#!/usr/bin/env bash
# bench/tls/testssl.sh — conformance: testssl.sh (the Debian package's `testssl`)
# against Cloister's data plane, started as bench/tls/run.sh starts it
# (bench/tls/cloister.sh: a real key holder and data plane, walls up, a P-256 key
# made by tls-generate, a leaf a throwaway CA signs for it) in front of a plain
# HTTP backend (python3 http.server) on 127.0.0.1.
#
# Runs the default checks (protocols, cipher categories, server preferences,
# defaults, HTTP headers, vulnerabilities, client simulation) with the throwaway
# CA trusted (--add-ca), then prints a summary: how many findings of each
# severity, and every finding rated HIGH or CRITICAL (id, finding). Exit status:
# 0 none HIGH or CRITICAL, 1 some, 2 could not run.
#
# Usage: bench/tls/testssl.sh [OUT.json] — testssl's JSON (one object per
# finding: id, severity, finding) is kept at OUT.json when given. Env: BUILD,
# DP_HOST, PROXY_CPU (0: the data plane's core), KEEP=1 keeps the work directory,
# TESTSSL_ARGS (more options for testssl, e.g. "--fast"). Needs bench/tls/deps.sh
# (testssl.sh) and `make` (build/tests/tls_dp_host).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PROXY_CPU=${PROXY_CPU:-0}
JSON_OUT=${1:-}
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
[ -n "$TESTSSL" ] || { echo "testssl.sh: testssl missing: run bench/tls/deps.sh" >&2; exit 2; }
for t in openssl taskset python3 mkfifo; do
	command -v "$t" >/dev/null || { echo "testssl.sh: $t missing" >&2; exit 2; }
done

W=$(mktemp -d /tmp/cl-testssl.XXXXXX)
STARTED=()
cleanup() {
	local p
	[ -n "${DP_HOST_PID:-}" ] && cloister_stop
	for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
source bench/tls/cloister.sh

# the CA and the leaf's extensions (as bench/tls/run.sh)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" \
	-days 365 -subj /CN=cloister-testssl-ca -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$W/leaf.ext"

# the backend: a plain HTTP server on a port of its own choosing
mkdir "$W/www"
echo "hello from the guest" >"$W/www/index.html"
python3 -u -m http.server -b 127.0.0.1 0 -d "$W/www" >"$W/backend.log" 2>&1 &
STARTED+=("$!")
for _ in $(seq 100); do grep -q 'port [0-9]' "$W/backend.log" && break; sleep 0.1; done
BP=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$W/backend.log" | head -1)
[ -n "$BP" ] || { echo "testssl.sh: the backend did not start" >&2; exit 2; }

st=0
cloister_start "$W" "$PROXY_CPU" "127.0.0.1:$BP" || st=$?
[ "$st" = 0 ] || { echo "testssl.sh: the data plane did not start: ${WHY:-see above}" >&2; tail -5 "$W/cloister.stderr" >&2; exit 2; }

echo "testssl $(dpkg-query -W -f='${Version}' testssl.sh 2>/dev/null || echo '?');" \
	"$(openssl version | cut -d' ' -f1-2); data plane on 127.0.0.1:$DP_PORT (pid $DP_PID, key holder $KH_PID)"
# testssl's own exit status counts findings, not failures: the JSON decides.
# shellcheck disable=SC2086
"$TESTSSL" --quiet --color 0 --warnings batch --add-ca "$W/ca.pem" --jsonfile "$W/testssl.json" \
	${TESTSSL_ARGS:-} "127.0.0.1:$DP_PORT" >"$W/testssl.out" 2>&1 || true
[ -s "$W/testssl.json" ] || { echo "testssl.sh: testssl wrote no JSON:" >&2; tail -20 "$W/testssl.out" >&2; exit 2; }
[ -z "$JSON_OUT" ] || cp "$W/testssl.json" "$JSON_OUT"

# the summary; exit 1 when anything is HIGH or CRITICAL
python3 - "$W/testssl.json" <<'PY'
import json, sys, collections
findings = json.load(open(sys.argv[1]))
if isinstance(findings, dict):  # --jsonfile-pretty shape, should a caller pass it
    findings = [f for s in findings.get("scanResult", []) for v in s.values() if isinstance(v, list) for f in v]
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "OK", "INFO", "FATAL", "DEBUG"]
count = collections.Counter(f.get("severity", "?") for f in findings)
print("findings by severity: " + ", ".join(f"{s} {count[s]}" for s in order if count[s])
      + "".join(f", {s} {n}" for s, n in count.items() if s not in order))
bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
for f in bad:
    print(f"  {f['severity']:<8} {f.get('id', '?')}: {f.get('finding', '')}")
for f in findings:
    if f.get("severity") == "FATAL":
        print(f"  FATAL    {f.get('id', '?')}: {f.get('finding', '')}")
print("HIGH or CRITICAL: " + (str(len(bad)) if bad else "none"))
sys.exit(1 if bad else 0)
PY
