#!/usr/bin/env bash
# e2e_enclave.sh — an enclave's whole life through the `cloister` CLI against a
# real control plane and host (`cloister dev`): create --wait, send/recv through
# the kvstore example, logs, grow, shrink, stop/start, list pagination, destroy,
# and --json output parsed by python3.
#
#   cloister CLI ──HTTPS──► cloister-control ◄──sync── cloister-host ──► shim ──► kvstore
#        (this script)            (cloister dev --detach, loopback, free port)
source "$(dirname "$0")/lib.sh"

start_dev
step "dev instance at $SERVER, host $HOST_ID"
cli_ok host list --json
[ "$(pyjson "[h['state'] for h in j['items'] if h['id']=='$HOST_ID'][0]")" = ready ] || fail "host not ready: $OUT"

step "tenant and tenant token"
cli_ok --json token create --name e2e --new-tenant e2e-tenant
export CLOISTER_TOKEN=$(pyjson 'j["token"]')
TENANT=$(pyjson 'j["tenant_id"]')
grep -q "shown only once" <<<"$ERR" || fail "token create gave no warning"

step "image"
build_kvstore_image "$T/kv.img"

step "create --wait (the human form: key on stdout, warning and progress on stderr)"
cli_ok enclave create --image "$T/kv.img" --name kv-e2e --memory 64M --cpus 1 --min-level software --wait
ID=$(awk '/^enclave: /{print $2}' <<<"$OUT")
KEY=$(awk '/^access key: /{print $3}' <<<"$OUT")
[[ "$ID" == enc-* ]] || fail "no enclave id in create output: $OUT"
[ -n "$KEY" ] && [ ${#KEY} -ge 32 ] || fail "no access key in create output"
grep -q "shown only once" <<<"$ERR" || fail "create gave no warning about the access key"
grep -q "is running" <<<"$ERR" || fail "create --wait did not report running: $ERR"
export CLOISTER_ACCESS_KEY=$KEY

step "describe: running, access key never shown"
cli_ok enclave describe "$ID"
grep -qE '^state: +running$' <<<"$OUT" || fail "not running: $OUT"
grep -qF "$KEY" <<<"$OUT" && fail "describe printed the access key"
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["state"], j["memory_mib"], j["tenant_id"]')" = "running 64 $TENANT" ] ||
	fail "describe --json (tenant $TENANT): $OUT"
grep -qF "$KEY" <<<"$OUT" && fail "describe --json printed the access key"
IMAGE_ID=$(pyjson 'j["image_id"]')

step "send/recv through kvstore"
kv_roundtrip "$ID" "PUT color blue" "OK"
kv_roundtrip "$ID" "GET color" "OK blue"
printf 'PUT size 42\nLIST\n' | "$CLOISTER" enclave send "$ID" >/dev/null || fail "send from stdin"
got=""
deadline=$((SECONDS + 20))
while [[ "$got" != *"OK 2 color size"* ]]; do
	[ $SECONDS -lt $deadline ] || fail "LIST reply missing: $got"
	cli_ok enclave recv "$ID" --wait 1000
	got+=$OUT$'\n'
done
kv_roundtrip "$ID" "FROB x" "ERR unknown command"
cli_ok enclave send "$ID" --data "GET size"$'\n' --json
[ "$(pyjson 'j["sent"]')" = 9 ] || fail "send --json: $OUT"
deadline=$((SECONDS + 20))
while :; do
	cli_ok enclave recv "$ID" --wait 1000 --json
	[ -n "$(pyjson 'j["data"]')" ] && break
	[ $SECONDS -lt $deadline ] || fail "recv --json returned nothing"
done
[ "$(pyjson '__import__("base64").b64decode(j["data"]).decode()')" = "OK 42" ] || fail "recv --json: $OUT"

step "logs"
wait_for 20 bash -c "'$CLOISTER' enclave logs '$ID' | grep -q 'kvstore: ready'" || fail "logs lack the startup line"

step "grow and shrink"
cli enclave grow "$ID" --memory 32M
expect_cli_error 1 "not larger"
cli_ok enclave grow "$ID" --memory 128M --wait
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["memory_mib"]')" = 128 ] || fail "grow: $OUT"
cli enclave shrink "$ID" --memory 1G
expect_cli_error 1 "not smaller"
cli_ok enclave shrink "$ID" --memory 96M --wait
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["memory_mib"]')" = 96 ] || fail "shrink: $OUT"
kv_roundtrip "$ID" "GET color" "OK blue" # resizing kept the application and its data

step "stop and start"
cli_ok enclave stop "$ID" --wait
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["state"]')" = stopped ] || fail "stop: $OUT"
cli_ok enclave start "$ID" --wait
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["state"]')" = running ] || fail "start: $OUT"
kv_roundtrip "$ID" "STATS" "OK keys="

step "list pagination with several enclaves"
IDS=("$ID")
declare -A KEYS=(["$ID"]=$KEY)
for i in 1 2 3 4; do
	cli_ok enclave create --image "$IMAGE_ID" --name "kv-page-$i" --memory 16M --json
	x=$(pyjson 'j["enclave"]["id"]')
	IDS+=("$x")
	KEYS[$x]=$(pyjson 'j["access_key"]')
done
cli_ok enclave list --json
[ "$(pyjson 'len(j["items"]), j["next"]')" = "5 None" ] || fail "list (all pages): $OUT"
seen=()
after=()
for page in 1 2 3 4; do
	cli_ok enclave list --limit 2 "${after[@]}" --json
	n=$(pyjson 'len(j["items"])')
	while read -r x; do seen+=("$x"); done < <(pyjson '"\n".join(e["id"] for e in j["items"])')
	next=$(pyjson 'j["next"] or ""')
	[ -z "$next" ] && break
	[ "$n" = 2 ] || fail "a non-final page held $n items"
	after=(--after "$next")
done
[ "$page" = 3 ] || fail "expected 3 pages of 2, got $page"
[ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" = 5 ] || fail "pages did not cover 5 distinct enclaves: ${seen[*]}"
for x in "${IDS[@]}"; do printf "%s\n" "${seen[@]}" | grep -x "$x" >/dev/null || fail "$x missing from the pages (seen: ${seen[*]}; created: ${IDS[*]})"; done
cli_ok enclave list --limit 2
[ "$(wc -l <<<"$OUT")" = 3 ] || fail "human page should have a header and 2 rows: $OUT"
grep -q -- "--after" <<<"$ERR" || fail "human page did not show how to get the next one"
cli_ok enclave list
[ "$(wc -l <<<"$OUT")" = 6 ] || fail "human list should have a header and 5 rows: $OUT"

step "placement constraints reach the placement service"
cli enclave create --image "$IMAGE_ID" --name near-gpu --memory 16M --near gpu:50us
expect_cli_error 1 "within 50us of gpu.*HTTP 503"
cli enclave create --image "$IMAGE_ID" --name needs-sgx --memory 16M --min-level sgx
expect_cli_error 1 "sgx.*HTTP 503"
cli enclave create --image "$IMAGE_ID" --name elsewhere --memory 16M --zone nowhere --far db:3hops
expect_cli_error 1 "zone nowhere.*HTTP 503"
cli_ok enclave list --json
[ "$(pyjson 'len(j["items"])')" = 5 ] || fail "a refused create left an enclave behind: $OUT"

step "destroy"
for x in "${IDS[@]}"; do cli_ok enclave destroy "$x" --wait --access-key "${KEYS[$x]}"; done
for x in "${IDS[@]}"; do
	wait_for 20 bash -c "! '$CLOISTER' enclave describe '$x'" || fail "$x still visible after destroy"
done
cli enclave describe "$ID"
expect_cli_error 1 "HTTP 404"
cli_ok enclave list --json
[ "$(pyjson 'len(j["items"])')" = 0 ] || fail "enclaves left after destroy: $OUT"

step "usage errors exit 2 with one error line"
cli enclave create --name x
expect_cli_error 2 "--image is required"
cli enclave create --image "$T/kv.img" --name x --memory 12Q
expect_cli_error 2 "invalid size"
cli enclave create --image "$T/kv.img" --name x --near "db:5parsecs"
expect_cli_error 2 "invalid constraint"
cli enclave grow "$ID"
expect_cli_error 2 "--memory is required"
cli enclave frobnicate
expect_cli_error 2 "unknown verb"
cli enclave describe "../etc"
expect_cli_error 2 "invalid enclave ID"
cli --server https://127.0.0.1:1 --token x enclave list
expect_cli_error 1 "cannot reach the control plane"

echo "PASS e2e_enclave"
