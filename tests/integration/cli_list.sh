#!/usr/bin/env bash
# cli_list.sh — the CLI's one list loop (src/cli/cli_list.c), through
# `cloister token list` against a real control plane:
#
#   cloister token|enclave|host list ──HTTPS──► cloister-control (GET /v1/...?limit=&after=)
#
#   - without --limit/--after every page is fetched (100 a page: 103 tokens
#     are two pages), each token once, "next" null in --json;
#   - --limit N prints one page of N rows and the next page's cursor
#     ("more: cloister token list --limit N --after C" on stderr, "next" in
#     --json); following the cursors visits every token once, in order;
#   - --tenant filters (the query the command adds);
#   - --limit 0 / 501 and a cursor that is not an id are usage errors (2),
#     before any request;
#   - an empty collection (enclaves, hosts) is {"items": [], "next": null}.
source "$(dirname "$0")/control_lib.sh"
CLI="$BUILD/bin/cloister"
cli() { "$CLI" --server "$URL" --ca "$CA" --token "$ADMIN" "$@"; }

ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"many"}'; expect 201; TEN=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"few"}'; expect 201; FEW=$(jget 'j["id"]')
for i in $(seq 1 100); do
	as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN\",\"name\":\"t$i\"}"; expect 201
done
for i in 1 2; do
	as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$FEW\",\"name\":\"f$i\"}"; expect 201
done
want=$(db 'SELECT COUNT(*) FROM tokens')
[ "$want" -gt 100 ] || fail "only $want tokens: one page would hold them all"

# every page
cli --json token list >"$WORK/all.json" || fail "token list: $(cat "$WORK/all.json")"
python3 - "$WORK/all.json" "$want" <<'PY' || fail "token list --json walked the pages wrongly"
import json, sys
j = json.load(open(sys.argv[1]))
ids = [t["id"] for t in j["items"]]
assert len(ids) == int(sys.argv[2]), (len(ids), sys.argv[2])
assert len(set(ids)) == len(ids), "a token listed twice"
assert j["next"] is None, j["next"]
PY
cli token list >"$WORK/all.txt" 2>"$WORK/all.err" || fail "token list (table)"
[ "$(($(wc -l <"$WORK/all.txt") - 1))" = "$want" ] || fail "table rows: $(wc -l <"$WORK/all.txt") for $want tokens"
! grep -q '^more:' "$WORK/all.err" || fail "a cursor shown for a full list"

# one page at a time, following the cursors
seen=0 after=() pages=0
: >"$WORK/walked"
while :; do
	cli token list --limit 40 "${after[@]}" >"$WORK/page.txt" 2>"$WORK/page.err" || fail "token list --limit 40"
	rows=$(($(wc -l <"$WORK/page.txt") - 1))
	tail -n +2 "$WORK/page.txt" | awk '{print $1}' >>"$WORK/walked"
	seen=$((seen + rows)) pages=$((pages + 1))
	[ "$pages" -le 5 ] || fail "more pages than 40 a page can make"
	if grep -q '^more: ' "$WORK/page.err"; then
		[ "$rows" = 40 ] || fail "a short page with a cursor: $rows rows"
		grep -q '^more: cloister token list --limit 40 --after tok-' "$WORK/page.err" || fail "hint: $(cat "$WORK/page.err")"
		after=(--after "$(awk '/^more: /{print $NF}' "$WORK/page.err")")
	else
		break
	fi
done
[ "$seen" = "$want" ] || fail "the cursors visited $seen of $want tokens"
[ "$(sort -u "$WORK/walked" | wc -l)" = "$want" ] || fail "a token seen twice while walking"
cli --json token list --limit 1 >"$WORK/one.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert len(j["items"]) == 1 and j["next"].startswith("tok-"), j' \
	"$WORK/one.json" || fail "--json one page: $(cat "$WORK/one.json")"

# the filter
cli --json token list --tenant "$FEW" >"$WORK/few.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert sorted(t["name"] for t in j["items"]) == ["f1", "f2"], j' \
	"$WORK/few.json" || fail "--tenant: $(cat "$WORK/few.json")"

# usage errors, before any request
for bad in "--limit 0" "--limit 501" "--after not/an/id"; do
	rc=0
	# shellcheck disable=SC2086
	cli token list $bad >/dev/null 2>"$WORK/bad.err" || rc=$?
	[ "$rc" = 2 ] || fail "token list $bad: exit $rc, not 2: $(cat "$WORK/bad.err")"
done
rc=0
cli enclave list --limit 0 >/dev/null 2>"$WORK/bad.err" || rc=$?
[ "$rc" = 2 ] && grep -q 'enclave list: --limit must be at least 1' "$WORK/bad.err" || fail "enclave list --limit 0: $rc $(cat "$WORK/bad.err")"

# empty collections
for what in enclave host image; do
	[ "$(cli --json $what list | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j)')" = "{'items': [], 'next': None}" ] ||
		fail "empty $what list"
done
echo "PASS cli_list"
