#!/usr/bin/env bash
# e2e_signed_image.sh — a signed image (cloister image sign) runs like any
# other: uploaded, fetched by the host, parsed and checked by the host's
# sandbox (the signature verified there too, inside the launch path), and
# talks through the channel:
#
#   openssl ─► cloister image sign ─► kv.img ─► cloister enclave create ─HTTPS─► cloister-control
#                                                                    ◄──sync── cloister-host ─► shim ─► kvstore
#        (this script; cloister dev --detach, loopback, free port)
source "$(dirname "$0")/lib.sh"

step "a signed kvstore image"
build_kvstore_image "$T/kv.img"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -keyout "$T/s.key" -out "$T/s.pem" \
	-subj "/CN=e2e signer" -days 30 2>/dev/null || fail "openssl req"
cli_ok image sign "$T/kv.img" --key "$T/s.key" --cert "$T/s.pem"
cli_ok image inspect "$T/kv.img"
grep -q '^signer: *CN=e2e signer$' <<<"$OUT" || fail "not signed: $OUT"

start_dev
step "tenant, enclave from the signed image"
cli_ok --json token create --name e2e --new-tenant signed-tenant
export CLOISTER_TOKEN=$(pyjson 'j["token"]')
cli_ok enclave create --image "$T/kv.img" --name kv-signed --memory 64M --cpus 1 --min-level software --wait
ID=$(awk '/^enclave: /{print $2}' <<<"$OUT")
KEY=$(awk '/^access key: /{print $3}' <<<"$OUT")
[[ "$ID" == enc-* ]] && [ -n "$KEY" ] || fail "create: $OUT $ERR"
export CLOISTER_ACCESS_KEY=$KEY
cli_ok enclave describe "$ID" --json
[ "$(pyjson 'j["state"]')" = running ] || fail "not running: $OUT"
IMAGE_ID=$(pyjson 'j["image_id"]')
cli_ok image list --json
[ "$(pyjson "[i['sha384'] for i in j['items'] if i['id']=='$IMAGE_ID'][0]")" = "$(sha384sum "$T/kv.img" | cut -d' ' -f1)" ] ||
	fail "the stored image is not the signed file: $OUT"

step "send/recv through the signed kvstore"
kv_roundtrip "$ID" "PUT color blue" "OK"
kv_roundtrip "$ID" "GET color" "OK blue"

step "destroy"
cli_ok enclave destroy "$ID" --wait
echo "e2e_signed_image: ok"
