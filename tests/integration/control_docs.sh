#!/usr/bin/env bash
# control_docs.sh — the API docs and the code do not drift apart: every page
# docs/api/README.md links exists, every docs/api page is linked from it, and
# every route the dispatcher knows (each verb in api_enclaves.c, each
# collection in http.c) appears in the index; and the index's endpoints are
# exactly the route table's (src/control/routes.c: method and path, with
# `*` written as `{name}`).
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*"; exit 1; }
idx=docs/api/README.md
[ -f "$idx" ] || fail "missing $idx"
for link in $(grep -o '([a-z-]*\.md)' "$idx" | tr -d '()' | sort -u); do
	[ -f "docs/api/$link" ] || fail "$idx links to missing docs/api/$link"
done
for page in docs/api/*.md; do
	name=$(basename "$page")
	[ "$name" = README.md ] && continue
	grep -q "($name)" "$idx" || fail "$page is not linked from $idx"
	grep -q '^## Errors' "$page" || [ "$name" = healthz.md ] || [ "$name" = metrics.md ] || fail "$page has no Errors section"
done
for verb in start stop resize send recv logs; do
	grep -q "/v1/enclaves/{id}/$verb" "$idx" || fail "enclave verb $verb undocumented"
	grep -q "\"$verb\"" src/control/api_enclaves.c || fail "documented verb $verb not routed"
done
for coll in tenants tokens hosts images enclaves jobs; do
	grep -q "\"$coll\"" src/control/http.c || fail "collection $coll not routed"
	grep -q "/v1/$coll" "$idx" || fail "collection $coll undocumented"
done
python3 - "$idx" <<'PY' || fail "docs/api/README.md and src/control/routes.c disagree (above)"
import re, sys
routes = set(re.findall(r'\{EVHTTP_REQ_([A-Z]+), "([^"]+)"', open("src/control/routes.c").read()))
doc = {(m, re.sub(r"\{[^}/]+\}", "*", p)) for m, p in re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^` ]*)`", open(sys.argv[1]).read())}
bad = 0
for m, p in sorted(routes - doc):
    print("route %s %s is not in %s" % (m, p, sys.argv[1])); bad += 1
for m, p in sorted(doc - routes):
    print("%s lists %s %s, which src/control/routes.c does not serve" % (sys.argv[1], m, p)); bad += 1
if len(routes) < 40:
    print("read only %d routes from src/control/routes.c" % len(routes)); bad += 1
sys.exit(1 if bad else 0)
PY
[ -f docs/control.md ] || fail "missing docs/control.md"
for flag in --data --listen --poll-timeout-ms --metrics-open; do
	grep -q -- "$flag" docs/control.md || fail "flag $flag undocumented"
	grep -q -- "\"${flag#--}\"" src/control/main.c || fail "documented flag $flag not parsed"
done
echo "control_docs: ok"
