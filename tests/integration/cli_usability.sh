#!/usr/bin/env bash
# cli_usability.sh — the faults a new user hits in the first ten minutes
# (issue 7), each checked against the real programs:
#   - an http:// server is refused before any connection ("speaks HTTPS");
#   - cloister-host started without root (or without a capability it needs)
#     fails at once naming what is missing, and `cloister dev` reports that
#     instead of "ready";
#   - an empty CLOISTER_TOKEN / --token is an error, never a silent fall-back
#     to the config file's (admin) token; a token taken from the config file
#     is named (its id, never the secret) once on stderr;
#   - the CLI and the API agree on every shared cap (common/proto.h): the
#     max passes both, max+1 is refused by both;
#   - `enclave create --wait --json` prints the running enclave, and every
#     other --wait verb its final job and enclave;
#   - under --json every failure is one JSON object on stderr.
source "$(dirname "$0")/lib.sh"

# one_json_error RC CODE [STATUS]: the last cli call exited RC and its stderr
# is exactly one JSON object {"error":{code,message[,status]}} with CODE (and
# STATUS, or no status when STATUS is "-").
one_json_error() {
	[ "$RC" = "$1" ] || fail "expected exit $1, got $RC (stderr: $ERR)"
	[ "$(wc -l <"$T/cli.err")" = 1 ] || fail "stderr is not one line: $ERR"
	python3 - "$2" "${3:--}" "$T/cli.err" <<-'EOF' || fail "stderr is not the JSON error object: $ERR"
		import json, sys
		code, status, path = sys.argv[1], sys.argv[2], sys.argv[3]
		doc = json.load(open(path))
		assert list(doc) == ["error"], doc
		e = doc["error"]
		assert e["code"] == code, e
		assert isinstance(e["message"], str) and e["message"], e
		assert "(HTTP" not in e["message"], e
		if status == "-":
		    assert "status" not in e, e
		else:
		    assert e["status"] == int(status), e
	EOF
}

step "an http:// server is refused before any connection (flag, environment, config file)"
cli --server http://127.0.0.1:9/ enclave list
expect_cli_error 1 "the control plane speaks HTTPS: use https://127.0.0.1:9$"
CLOISTER_SERVER=http://ctl.example:7443 cli enclave list
expect_cli_error 1 "the control plane speaks HTTPS: use https://ctl.example:7443$"
printf '{"server":"http://127.0.0.1:9","token":"clt_tok-x_y"}' >"$T/http.json"
cli --config "$T/http.json" enclave list
expect_cli_error 1 "the control plane speaks HTTPS"

step "cloister-host without root fails at start, naming what is missing"
# $T is 0700; let the unprivileged user reach its own directory below it.
chmod 0711 "$T"
mkdir "$T/nr" && chown 65534:65534 "$T/nr"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
set +e
"${NOBODY[@]}" "$BIN/cloister-host" --control https://127.0.0.1:9 --ca "$T/none.pem" --data "$T/nr/h" \
	>"$T/nr.out" 2>"$T/nr.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "unprivileged cloister-host exited $rc: $(cat "$T/nr.err")"
grep -q "^error: cloister-host needs root to run enclaves" "$T/nr.err" || fail "no root message: $(cat "$T/nr.err")"
grep -q "uid 65534 lacks CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_DAC_OVERRIDE" "$T/nr.err" ||
	fail "missing capabilities not named: $(cat "$T/nr.err")"
[ ! -e "$T/nr/h" ] || fail "the unprivileged agent touched its data directory"
# Root, but without one capability: only that one is named.
set +e
capsh --drop=cap_sys_admin -- -c "'$BIN/cloister-host' --control https://127.0.0.1:9 --ca '$T/none.pem' --data '$T/h0'" \
	2>"$T/nocap.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "cloister-host without CAP_SYS_ADMIN exited $rc: $(cat "$T/nocap.err")"
grep -q "uid 0 lacks CAP_SYS_ADMIN$" "$T/nocap.err" || fail "CAP_SYS_ADMIN not named: $(cat "$T/nocap.err")"
# The cleanup mode checks the same before touching anything.
set +e
"${NOBODY[@]}" "$BIN/cloister-host" --destroy-all --data "$T/nr" 2>"$T/nr-destroy.err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "needs root" "$T/nr-destroy.err" || fail "--destroy-all without root: $rc $(cat "$T/nr-destroy.err")"

step "cloister dev without root reports the host's failure instead of ready"
CL_DEV_DIRS+=("$T/nr/dev") # stopped by the cleanup should it ever come up
set +e
"${NOBODY[@]}" "$CLOISTER" dev --detach --data "$T/nr/dev" --port 0 >"$T/nr-dev.out" 2>"$T/nr-dev.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "unprivileged cloister dev exited $rc: $(cat "$T/nr-dev.out" "$T/nr-dev.err")"
grep -q "needs root to run enclaves" "$T/nr-dev.err" || fail "dev did not say why: $(cat "$T/nr-dev.err")"
grep -q "ready" "$T/nr-dev.out" && fail "dev said ready: $(cat "$T/nr-dev.out")"
wait_for 20 bash -c "! pgrep -f -- '[-]-data $T/nr/dev/'" || fail "processes of the failed dev instance left running"

start_dev
CONFIG_TOKEN_ID=$(python3 -c 'import sys; t=sys.argv[1]; print(t[4:t.rindex("_")])' "$ADMIN")
SECRET=${ADMIN##*_}

step "an empty CLOISTER_TOKEN or --token is an error, not the config file's admin token"
CLOISTER_TOKEN= cli enclave list
expect_cli_error 1 "CLOISTER_TOKEN is set but empty"
[ -z "$OUT" ] || fail "something was listed with an empty token: $OUT"
cli --token "" enclave list
expect_cli_error 1 "--token is set but empty"
CLOISTER_ACCESS_KEY= cli enclave list
expect_cli_error 1 "CLOISTER_ACCESS_KEY is set but empty"

step "a token from the config file is named once on stderr (id only), never under --json"
cli_ok host list
[ "$(grep -c '^note: ' <<<"$ERR")" = 1 ] || fail "expected one note, got: $ERR"
grep -qx "note: using token $CONFIG_TOKEN_ID from $CLOISTER_CONFIG (no --token or CLOISTER_TOKEN given)" <<<"$ERR" ||
	fail "note does not name the token and file: $ERR"
grep -qF "$SECRET" <<<"$ERR" && fail "the token's secret reached stderr"
cli_ok --json host list
[ -z "$ERR" ] || fail "--json printed on stderr: $ERR"
cli_ok --token "$ADMIN" host list
[ -z "$ERR" ] || fail "an explicit token still got a note: $ERR"

cli_ok --json token create --name u --new-tenant usability
TOKEN=$(pyjson 'j["token"]')
export CLOISTER_TOKEN=$TOKEN
build_kvstore_image "$T/kv.img"

step "create --wait --json prints the running enclave (and the access key)"
cli_ok enclave create --image "$T/kv.img" --name u1 --memory 16M --wait --json
[ -z "$ERR" ] || fail "create --json wrote on stderr: $ERR"
[ "$(pyjson 'j["enclave"]["state"]')" = running ] || fail "create --wait --json printed: $OUT"
[ "$(pyjson 'j["job"]["state"]')" = succeeded ] || fail "job not final: $OUT"
[[ "$(pyjson 'j["access_key"]')" == clk_* ]] || fail "no access key in: $OUT"
ID=$(pyjson 'j["enclave"]["id"]')
IMG=$(pyjson 'j["enclave"]["image_id"]')
export CLOISTER_ACCESS_KEY=$(pyjson 'j["access_key"]')

step "stop, start, grow, shrink, destroy --wait --json print the final job and enclave"
cli_ok enclave stop "$ID" --wait --json
[ "$(pyjson 'j["job"]["state"], j["enclave"]["state"]')" = "succeeded stopped" ] || fail "stop: $OUT"
cli_ok enclave start "$ID" --wait --json
[ "$(pyjson 'j["job"]["state"], j["enclave"]["state"]')" = "succeeded running" ] || fail "start: $OUT"
cli_ok enclave grow "$ID" --memory 32M --wait --json
[ "$(pyjson 'j["job"]["state"], j["enclave"]["memory_mib"]')" = "succeeded 32" ] || fail "grow: $OUT"
cli_ok enclave shrink "$ID" --memory 16M --wait --json
[ "$(pyjson 'j["job"]["state"], j["enclave"]["memory_mib"]')" = "succeeded 16" ] || fail "shrink: $OUT"
grep -q access_key <<<"$OUT" && fail "an access key in a --wait answer: $OUT"

step "send: the CLI and the API agree at $((512 * 1024)) and one byte more"
MAX_SEND=$((512 * 1024))
python3 -c "import sys; sys.stdout.write('a' * ($MAX_SEND - 1) + '\n')" >"$T/send.max"
python3 -c "import sys; sys.stdout.write('a' * $MAX_SEND + '\n')" >"$T/send.over"
cli enclave send "$ID" <"$T/send.max"
[ "$RC" = 0 ] && [ "$OUT" = "sent $MAX_SEND bytes" ] || fail "CLI send of the max: $RC $OUT $ERR"
cli enclave send "$ID" <"$T/send.over"
expect_cli_error 1 "larger than $MAX_SEND bytes"
# api_send FILE: POST .../send of FILE's bytes (the body is too big for argv); sets STATUS and BODY.
api_send() {
	python3 -c 'import base64,json,sys; json.dump({"data": base64.b64encode(open(sys.argv[1],"rb").read()).decode()}, sys.stdout)' \
		"$1" >"$T/send.json"
	BODY=$(curl -sS --cacert "$CA" -X POST -H "Authorization: Bearer $TOKEN" -H "X-Cloister-Access-Key: $CLOISTER_ACCESS_KEY" \
		-H 'Content-Type: application/json' --data-binary @"$T/send.json" -o - -w '\n%{http_code}' "$SERVER/v1/enclaves/$ID/send") ||
		fail "curl send"
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
api_send "$T/send.max"
[ "$STATUS" = 200 ] || fail "API send of the max: $STATUS $BODY"
api_send "$T/send.over"
[ "$STATUS" = 413 ] || fail "API send of max+1: $STATUS $BODY"
grep -q "$MAX_SEND" <<<"$BODY" || fail "the API names another cap: $BODY"

step "recv: --max and --wait caps agree"
MAX_RECV=$((720 * 1024)) MAX_WAIT=30000
cli_ok enclave send "$ID" --data $'PUT k v\n'
cli enclave recv "$ID" --max "$MAX_RECV" --wait "$MAX_WAIT"
[ "$RC" = 0 ] && grep -q "OK" <<<"$OUT" || fail "CLI recv at the caps: $RC $OUT $ERR"
cli enclave recv "$ID" --max $((MAX_RECV + 1))
expect_cli_error 2 "larger than $MAX_RECV"
cli enclave recv "$ID" --wait $((MAX_WAIT + 1))
expect_cli_error 2 "larger than $MAX_WAIT"
api "$TOKEN" POST "/v1/enclaves/$ID/recv" "{\"max\":$MAX_RECV,\"wait_ms\":0}" "$CLOISTER_ACCESS_KEY"
[ "$STATUS" = 200 ] || fail "API recv at the max: $STATUS $BODY"
api "$TOKEN" POST "/v1/enclaves/$ID/recv" "{\"max\":$((MAX_RECV + 1))}" "$CLOISTER_ACCESS_KEY"
[ "$STATUS" = 400 ] || fail "API recv of max+1: $STATUS $BODY"
api "$TOKEN" POST "/v1/enclaves/$ID/recv" "{\"wait_ms\":$((MAX_WAIT + 1))}" "$CLOISTER_ACCESS_KEY"
[ "$STATUS" = 400 ] || fail "API recv waiting max+1: $STATUS $BODY"
cli enclave recv --help
grep -q "1\.\.$MAX_RECV" <<<"$OUT" && grep -q "0\.\.$MAX_WAIT" <<<"$OUT" || fail "recv --help shows other caps: $OUT"
cli enclave send --help
grep -q "$MAX_SEND bytes" <<<"$OUT" || fail "send --help shows another cap: $OUT"

step "create: memory, CPUs and name caps agree (a valid request reaches the image lookup: 404)"
# check_create CLI_ARGS API_JSON WANT: WANT "ok" = the CLI passes its checks
# and the server answers 404 (no such image), "bad" = the CLI refuses (exit
# 2, nothing sent) and the API answers 400.
check_create() {
	local -a args=($1)
	cli enclave create --image img-nonexistent "${args[@]}"
	api "$TOKEN" POST /v1/enclaves "{\"image_id\":\"img-nonexistent\",\"min_level\":\"software\",$2}"
	if [ "$3" = ok ]; then
		[ "$RC" = 1 ] && grep -q "HTTP 404" <<<"$ERR" || fail "CLI refused '$1': $RC $ERR"
		[ "$STATUS" = 404 ] || fail "API refused $2: $STATUS $BODY"
	else
		[ "$RC" = 2 ] || fail "CLI accepted '$1': $RC $ERR"
		[ "$STATUS" = 400 ] || fail "API accepted $2: $STATUS $BODY"
	fi
}
N63=$(printf 'n%.0s' {1..63})
check_create "--name m --memory 16M" '"name":"m","memory_mib":16,"cpus":1' ok
check_create "--name m --memory 15M" '"name":"m","memory_mib":15,"cpus":1' bad
check_create "--name m --memory 64G" '"name":"m","memory_mib":65536,"cpus":1' ok
check_create "--name m --memory 65537M" '"name":"m","memory_mib":65537,"cpus":1' bad
check_create "--name m --cpus 64" '"name":"m","memory_mib":16,"cpus":64' ok
check_create "--name m --cpus 65" '"name":"m","memory_mib":16,"cpus":65' bad
check_create "--name $N63" "\"name\":\"$N63\",\"memory_mib\":16,\"cpus\":1" ok
check_create "--name ${N63}n" "\"name\":\"${N63}n\",\"memory_mib\":16,\"cpus\":1" bad
check_create "--name Upper" '"name":"Upper","memory_mib":16,"cpus":1' bad
cli enclave create --help
grep -q "16 MiB\.\.64 GiB" <<<"$OUT" && grep -q "1\.\.64 " <<<"$OUT" || fail "create --help shows other caps: $OUT"

step "under --json every failure is one JSON object on stderr"
cli --json enclave describe enc-nonexistent
one_json_error 1 not_found 404
cli --json --access-key clk_wrong enclave send "$ID" --data x
one_json_error 1 forbidden 403
cli --json enclave send "$ID" <"$T/send.over"
one_json_error 1 too_large
cli --json enclave recv "$ID" --max 0
one_json_error 2 invalid
cli --json enclave frobnicate
one_json_error 2 invalid
cli --json --server http://127.0.0.1:9 enclave list
one_json_error 1 invalid
[ -z "$OUT" ] || fail "a failure printed on stdout: $OUT"

cli_ok enclave destroy "$ID" --wait --json
[ "$(pyjson 'j["job"]["state"]')" = succeeded ] || fail "destroy: $OUT"
[ "$(pyjson '"enclave" in j')" = False ] || fail "destroy printed an enclave: $OUT"
echo "PASS cli_usability"
