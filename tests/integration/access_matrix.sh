#!/usr/bin/env bash
# access_matrix.sh — who may do what to an enclave. Every operation (describe,
# list, start, stop, destroy, resize, send, recv, logs) is tried by every kind
# of caller, through the HTTP API (exact status) and through the CLI (exit code
# and its one error line):
#
#   owner       tenant A's token + the enclave's access key  -> allowed
#   nokey       tenant A's token, no access key              -> 403 (describe/list: allowed by default policy)
#   forged      tenant A's token + a made-up access key      -> 403 (same)
#   otherkey    tenant A's token + the key of A's OTHER enclave -> 403 (same)
#   tenantB     tenant B's token + the right access key      -> 404 (it does not exist for B; list hides it)
#   notoken     no bearer token + the right access key       -> 401
#   engineer    a provider engineer token + the right key    -> 403 (valid for firmware releases only)
#   metrics     a provider metrics token + the right key     -> 403 (valid for GET /metrics only)
#
# Denials must change nothing: state, memory and updated_at stay the same,
# denied sends deliver nothing, denied recvs consume nothing. Finally an
# enclave created with `--allow logs` shows that policy is honoured.
#
# Then the credential routes (GET/POST /v1/tokens, DELETE /v1/tokens/{id},
# GET /v1/tenants, GET/DELETE /v1/hosts[/{id}], GET /metrics) are tried by
# every kind of caller: admin, tenant A, tenant B, engineer, metrics, the
# dev host's own host token, and no token.
source "$(dirname "$0")/lib.sh"

start_dev
step "tenants A and B, an image, enclaves E (target) and E2 (for its key)"
cli_ok --json token create --name a --new-tenant tenant-a
TA=$(pyjson 'j["token"]'); TEN_A=$(pyjson 'j["tenant_id"]')
cli_ok --json token create --name b --new-tenant tenant-b
TB=$(pyjson 'j["token"]'); TEN_B=$(pyjson 'j["tenant_id"]')
cli_ok --json token create --name eng --tenant ten-provider --kind engineer
TE=$(pyjson 'j["token"]')
[ "$(pyjson 'j["kind"]')" = engineer ] || fail "engineer token: $OUT"
cli_ok --json token create --name scrape --tenant ten-provider --kind metrics
TM=$(pyjson 'j["token"]')
[ "$(pyjson 'j["kind"]')" = metrics ] || fail "metrics token: $OUT"
build_kvstore_image "$T/kv.img"
cli_ok --token "$TA" enclave create --image "$T/kv.img" --name target --memory 32M --wait --json
E=$(pyjson 'j["enclave"]["id"]')
K=$(pyjson 'j["access_key"]')
IMG=$(pyjson 'j["enclave"]["image_id"]')
cli_ok --token "$TA" enclave create --image "$IMG" --name other --memory 16M --json
E2=$(pyjson 'j["enclave"]["id"]')
K2=$(pyjson 'j["access_key"]')
FORGED="clk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

# Leave a reply waiting in E's output buffer: a denied recv must not eat it.
api "$TA" POST "/v1/enclaves/$E/send" "{\"data\":\"$(printf 'PUT k v\nGET k\n' | base64 -w0)\"}" "$K"
[ "$STATUS" = 200 ] || fail "owner send: $STATUS $BODY"

snapshot() {
	api "$ADMIN" GET "/v1/enclaves/$E"
	[ "$STATUS" = 200 ] || fail "admin describe: $STATUS $BODY"
	jget 'j["state"], j["desired"], j["memory_mib"], j["updated_at"], j["host_id"]'
}
BEFORE=$(snapshot)

# caller NAME -> TOKEN KEY for the API, and CLI flags
caller_token() { case $1 in owner | nokey | forged | otherkey) echo "$TA" ;; tenantB) echo "$TB" ;; engineer) echo "$TE" ;; metrics) echo "$TM" ;; notoken) echo "" ;; esac; }
caller_key() { case $1 in owner | tenantB | notoken | engineer | metrics) echo "$K" ;; forged) echo "$FORGED" ;; otherkey) echo "$K2" ;; nokey) echo "" ;; esac; }

# api_op CALLER OP: performs OP on E through the API as CALLER.
api_op() {
	local tok key
	tok=$(caller_token "$1")
	key=$(caller_key "$1")
	case $2 in
	describe) api "$tok" GET "/v1/enclaves/$E" "" "$key" ;;
	list) api "$tok" GET "/v1/enclaves?limit=500" "" "$key" ;;
	start) api "$tok" POST "/v1/enclaves/$E/start" "" "$key" ;;
	stop) api "$tok" POST "/v1/enclaves/$E/stop" "" "$key" ;;
	destroy) api "$tok" DELETE "/v1/enclaves/$E" "" "$key" ;;
	resize) api "$tok" POST "/v1/enclaves/$E/resize" '{"memory_mib":48}' "$key" ;;
	send) api "$tok" POST "/v1/enclaves/$E/send" "{\"data\":\"$(printf 'PUT evil 1\n' | base64 -w0)\"}" "$key" ;;
	recv) api "$tok" POST "/v1/enclaves/$E/recv" '{"max":65536,"wait_ms":0}' "$key" ;;
	logs) api "$tok" GET "/v1/enclaves/$E/logs" "" "$key" ;;
	esac
}

# cli_op CALLER OP: the same through the CLI (explicit flags, no config file).
cli_op() {
	local args=(--server "$SERVER" --ca "$CA")
	local tok key
	tok=$(caller_token "$1")
	key=$(caller_key "$1")
	[ -n "$tok" ] && args+=(--token "$tok")
	[ -n "$key" ] && args+=(--access-key "$key")
	case $2 in
	describe) cli "${args[@]}" enclave describe "$E" ;;
	list) cli "${args[@]}" enclave list --json ;;
	start | stop | destroy | logs) cli "${args[@]}" enclave "$2" "$E" ;;
	resize) cli "${args[@]}" enclave grow "$E" --memory 48M ;;
	send) cli "${args[@]}" enclave send "$E" --data "PUT evil 1"$'\n' ;;
	recv) cli "${args[@]}" enclave recv "$E" ;;
	esac
}

# expected CALLER OP -> "STATUS" (list: STATUS:visible|hidden)
expected() {
	local who=$1 op=$2
	case $who in
	notoken) echo 401; return ;;
	engineer | metrics) echo 403; return ;;
	tenantB) [ "$op" = list ] && echo 200:hidden || echo 404; return ;;
	esac
	case $op in
	describe) echo 200 ;;
	list) echo 200:visible ;;
	*) echo 403 ;;
	esac
}
cli_error_for() { case $1 in 401) echo "HTTP 401" ;; 403) echo "requires the enclave's access key \(HTTP 403\)" ;; 404) echo "not found \(HTTP 404\)" ;; esac; }

OPS=(describe list start stop destroy resize send recv logs)
unset CLOISTER_CONFIG
checked=0
for who in nokey forged otherkey tenantB notoken engineer metrics; do
	step "caller: $who"
	for op in "${OPS[@]}"; do
		want=$(expected "$who" "$op")
		api_op "$who" "$op"
		[ "$STATUS" = "${want%%:*}" ] || fail "API $op as $who: want ${want%%:*}, got $STATUS $BODY"
		if [ "$STATUS" != 200 ] && [ "$STATUS" != 202 ]; then
			code=$(jget 'j["error"]["code"]')
			case $STATUS in 401) [ "$code" = unauthorized ] ;; 403) [ "$code" = forbidden ] ;; 404) [ "$code" = not_found ] ;; esac ||
				fail "API $op as $who: error code $code for $STATUS"
		fi
		if [ "$op" = list ] && [ "$STATUS" = 200 ]; then
			vis=$(jget "'visible' if any(e['id']=='$E' for e in j['items']) else 'hidden'")
			[ "$vis" = "${want#*:}" ] || fail "list as $who: enclave $vis, want ${want#*:}"
		fi
		cli_op "$who" "$op"
		case ${want%%:*} in
		200)
			[ "$RC" = 0 ] || fail "CLI $op as $who: exit $RC: $ERR"
			[ "$op" = list ] && { [ "$(pyjson "any(e['id']=='$E' for e in j['items'])")" = "$([ "${want#*:}" = visible ] && echo True || echo False)" ] || fail "CLI list as $who: $OUT"; }
			;;
		*) if [ "$op" = list ]; then # --json: the failure is one JSON object on stderr
			[ "$RC" = 1 ] && [ "$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["error"]["status"])' <<<"$ERR")" = "${want%%:*}" ] ||
				fail "CLI list --json as $who: exit $RC: $ERR"
		   elif [ "$who" = engineer ]; then expect_cli_error 1 "only valid for firmware releases and uploads \(HTTP 403\)"
		   elif [ "$who" = metrics ]; then expect_cli_error 1 "only valid for GET /metrics \(HTTP 403\)"
		   else expect_cli_error 1 "$(cli_error_for "${want%%:*}")"; fi ;;
		esac
		grep -qF "$K" <<<"$OUT$ERR" && fail "the access key was printed ($op as $who)"
		checked=$((checked + 2))
	done
done

step "denials changed nothing"
AFTER=$(snapshot)
[ "$BEFORE" = "$AFTER" ] || fail "state changed by denied calls: before $BEFORE, after $AFTER"
export CLOISTER_CONFIG="$T/dev/client.json"
# The reply queued before the denials is still there, and no denied "PUT evil" arrived.
got=""
deadline=$((SECONDS + 20))
while [[ "$got" != *"OK v"* ]]; do
	[ $SECONDS -lt $deadline ] || fail "queued reply lost after denied recvs (got: $got)"
	cli_ok --token "$TA" --access-key "$K" enclave recv "$E" --wait 1000
	got+=$OUT$'\n'
done
cli_ok --token "$TA" --access-key "$K" enclave send "$E" --data "GET evil"$'\n'
got=""
deadline=$((SECONDS + 20))
while [[ "$got" != *ERR* && "$got" != *"OK 1"* ]]; do
	[ $SECONDS -lt $deadline ] || fail "no reply to GET evil"
	cli_ok --token "$TA" --access-key "$K" enclave recv "$E" --wait 1000
	got+=$OUT$'\n'
done
[[ "$got" == *"ERR not found"* ]] || fail "a denied send reached the enclave: $got"

step "caller: owner (token + access key) may do everything"
for op in describe list send recv logs; do
	api_op owner "$op"
	[ "$STATUS" = 200 ] || fail "API $op as owner: $STATUS $BODY"
	cli_op owner "$op"
	[ "$RC" = 0 ] || fail "CLI $op as owner: $ERR"
	checked=$((checked + 2))
done
api_op owner resize
[ "$STATUS" = 202 ] || fail "API resize as owner: $STATUS $BODY"
cli_ok --token "$TA" --access-key "$K" enclave grow "$E" --memory 64M --wait
cli_ok --token "$TA" --access-key "$K" enclave stop "$E" --wait
api_op owner start
[ "$STATUS" = 202 ] || fail "API start as owner: $STATUS $BODY"
cli_ok --token "$TA" --access-key "$K" enclave start "$E" --wait
api_op owner stop
[ "$STATUS" = 202 ] || fail "API stop as owner: $STATUS $BODY"
cli_ok --token "$TA" --access-key "$K" enclave stop "$E" --wait
api "$TA" DELETE "/v1/enclaves/$E2" "" "$K2"
[ "$STATUS" = 202 ] || fail "API destroy as owner: $STATUS $BODY"
cli_ok --token "$TA" --access-key "$K" enclave destroy "$E" --wait
checked=$((checked + 8))

step "policy: --allow logs lets key-less callers of the same tenant read logs, nothing else"
cli_ok --token "$TA" enclave create --image "$IMG" --name open-logs --memory 16M --allow describe,logs --wait --json
E3=$(pyjson 'j["enclave"]["id"]')
api "$TA" GET "/v1/enclaves/$E3/logs"
[ "$STATUS" = 200 ] || fail "allowed logs: $STATUS $BODY"
api "$TA" POST "/v1/enclaves/$E3/stop"
[ "$STATUS" = 403 ] || fail "stop not in policy: $STATUS $BODY"
api "$TA" GET "/v1/enclaves?limit=500"
[ "$(jget "any(e['id']=='$E3' for e in j['items'])")" = False ] || fail "list is not in the policy, yet listed"
api "$TB" GET "/v1/enclaves/$E3/logs"
[ "$STATUS" = 404 ] || fail "other tenant read allowed logs: $STATUS"

step "credential routes: every caller kind"
TH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_token"])' "$T/dev/host/host.json")
cli_ok --json token create --name va --tenant "$TEN_A"
VA_ID=$(pyjson 'j["id"]')
cli_ok --token "$TB" --json token create --name vb --tenant "$TEN_B"
VB=$(pyjson 'j["token"]'); VB_ID=$(pyjson 'j["id"]')
who_token() { case $1 in admin) echo "$ADMIN" ;; tenantA) echo "$TA" ;; tenantB) echo "$TB" ;; engineer) echo "$TE" ;; metrics) echo "$TM" ;; host) echo "$TH" ;; notoken) echo "" ;; esac; }
# route_expect WHO METHOD PATH WANT [JSON]: the API answers WANT (error code checked too).
route_expect() {
	api "$(who_token "$1")" "$2" "$3" "${5:-}"
	[ "$STATUS" = "$4" ] || fail "$2 $3 as $1: want $4, got $STATUS $BODY"
	case $STATUS in
	401) [ "$(jget 'j["error"]["code"]')" = unauthorized ] ;;
	403) [ "$(jget 'j["error"]["code"]')" = forbidden ] ;;
	404) [ "$(jget 'j["error"]["code"]')" = not_found ] ;;
	*) true ;;
	esac || fail "$2 $3 as $1: error code for $STATUS: $BODY"
	checked=$((checked + 1))
}
#                       admin tenantA tenantB engineer metrics host notoken
route_row() { # METHOD PATH JSON WANT...
	local m=$1 p=$2 body=$3 who i=0; shift 3
	local wants=("$@")
	for who in admin tenantA tenantB engineer metrics host notoken; do
		[ "${wants[$i]}" = - ] || route_expect "$who" "$m" "$p" "${wants[$i]}" "$body"
		i=$((i + 1))
	done
}
route_row GET /v1/tokens "" 200 200 200 403 403 403 401
route_row GET "/v1/tokens?tenant=ten-provider" "" 200 403 403 403 403 403 401
route_row POST /v1/tokens '{"tenant_id":"ten-provider","name":"x","kind":"metrics"}' 201 403 403 403 403 403 401
route_row DELETE "/v1/tokens/$VB_ID" "" - 404 - 403 403 403 401
route_row GET /v1/tenants "" 200 403 403 403 403 403 401
route_row GET /v1/hosts "" 200 403 403 403 403 403 401
route_row DELETE "/v1/hosts/$HOST_ID" "" - 403 403 403 403 403 401
route_row DELETE /v1/hosts/host-nosuch "" 404 403 403 403 403 403 401
route_row GET /metrics "" 200 403 403 403 200 403 401
# the denials changed nothing: B's token and the dev host still work
api "$VB" GET /v1/tokens
[ "$STATUS" = 200 ] || fail "a denied revoke revoked: $STATUS $BODY"
host_ready "$HOST_ID" || fail "a denied host remove removed the host"
# the allowed ones: tenant B revokes its own token, the admin any tenant's
route_expect tenantB DELETE "/v1/tokens/$VB_ID" 200
api "$VB" GET /v1/tokens
[ "$STATUS" = 401 ] && [ "$(jget 'j["error"]["message"]')" = "token revoked" ] || fail "revoked: $STATUS $BODY"
route_expect admin DELETE "/v1/tokens/$VA_ID" 200
# the CLI says the same
cli --token "$TM" token list
expect_cli_error 1 "only valid for GET /metrics \(HTTP 403\)"
cli --token "$TA" host remove "$HOST_ID" --yes
expect_cli_error 1 "only an admin token may manage hosts \(HTTP 403\)"
cli --token "$TA" token revoke "$VB_ID"
expect_cli_error 1 "token not found \(HTTP 404\)"
cli --token "$VB" token list
expect_cli_error 1 "token revoked \(HTTP 401\)"
cli_ok --token "$TA" token list
grep -qF "${TA##*_}" <<<"$OUT$ERR" && fail "token list printed a secret"
checked=$((checked + 5))

echo "PASS access_matrix ($checked checks)"
