#!/usr/bin/env bash
# bench/full_path.sh [N] — `POST /v1/enclaves` -> running, through the real
# control plane and host agent (cloister dev), p50/p99 over N enclaves (200).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-200}
dir=$(mktemp -d /tmp/cloister-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() { "$BUILD/bin/cloister" dev stop --data "$dir/dev" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"$BUILD/bin/cloister" dev --detach --data "$dir/dev" --port "$port" >/dev/null
export CLOISTER_CONFIG="$dir/dev/client.json"
"$BUILD/bin/cloister" image build -o "$dir/kv.img" --name kvstore --entrypoint /app/kvstore \
	"$BUILD/examples/kvstore" >/dev/null
img=$(/usr/bin/python3 - "$dir" <<'PY'
import json, ssl, sys, urllib.request
d = sys.argv[1]
cfg = json.load(open(d + "/dev/client.json"))
ctx = ssl.create_default_context(cafile=cfg["ca"])
req = urllib.request.Request(cfg["server"] + "/v1/images", data=open(d + "/kv.img", "rb").read(),
    headers={"Authorization": "Bearer " + cfg["token"], "Content-Type": "application/octet-stream"})
print(json.load(urllib.request.urlopen(req, context=ctx))["id"])
PY
)
read -r server ca token < <(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["server"], c["ca"], c["token"])' "$CLOISTER_CONFIG")
"$BUILD/bench/bench_full_path" "$server" "$ca" "$token" "$img" "$N"
