#!/usr/bin/env bash
# demo.sh — Cloister in two minutes (run by `make demo` after building).
#
# Starts a local instance (`cloister dev --detach`), packs the kvstore example
# into an image, creates a tenant and its token, runs the kvstore in an
# enclave, talks to it, attests it (a signed document checked against the
# registers the image predicts), runs the keystore example (keys made inside
# an enclave: attested, signing, exported only to a trusted user), grows it, shows that a caller without the access key
# and another tenant are refused, then stops and destroys it and stops dev.
# Every step prints what it did; the first failing step ends the demo with a
# non-zero exit. Whatever happens, the instance is stopped and its temporary
# directory removed.
#
# Environment: BUILD (default build) — the build directory to use.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${BUILD:-build}" && pwd)
CLOISTER="$BUILD/bin/cloister"
KVSTORE="$BUILD/examples/kvstore"
KEYSTORE="$BUILD/examples/keystore"
KSUSER="$BUILD/examples/keystore-user"
for f in "$CLOISTER" "$BUILD/bin/cloister-control" "$BUILD/bin/cloister-host" "$BUILD/bin/cloister-init" "$BUILD/bin/cloister-init-bundle" "$KVSTORE" \
	"$KEYSTORE" "$KSUSER"; do
	[ -x "$f" ] || { echo "demo: missing $f — run 'make' first" >&2; exit 1; }
done
unset CLOISTER_SERVER CLOISTER_CA CLOISTER_TOKEN CLOISTER_ACCESS_KEY CLOISTER_CONFIG

DIR=$(mktemp -d /tmp/cloister-demo.XXXXXX)
N=0
ACME_TOKEN= GLOBEX_TOKEN= KEY= KS_KEY= KPUB=
cleanup() {
	local rc=$?
	set +e
	if [ -f "$DIR/dev/dev.lock" ]; then
		"$CLOISTER" dev stop --data "$DIR/dev" >/dev/null 2>&1
	fi
	if [ "$rc" -ne 0 ]; then
		echo
		echo "demo FAILED (exit $rc). Last lines of the logs:"
		for f in "$DIR"/dev/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 8 "$f"; }; done
	fi
	rm -rf "$DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BOLD=$'\033[1m' GREEN=$'\033[32m' RED=$'\033[31m' RESET=$'\033[0m'
[ -t 1 ] || BOLD= GREEN= RED= RESET=

step() { N=$((N + 1)); printf '\n%s[%d] %s%s\n' "$BOLD" "$N" "$*" "$RESET"; }
ok() { printf '    %s-> %s%s\n' "$GREEN" "$*" "$RESET"; }
die() { printf '    %s-> FAILED: %s%s\n' "$RED" "$*" "$RESET"; exit 1; }
show() { sed 's/^/    | /'; }
# run CMD...: runs a cloister command, echoing it; its stdout is in $OUT, stderr in $ERR.
run() {
	local shown
	shown=$(printf '%q ' "$@")
	shown=${shown//"$KSUSER"/keystore-user}
	shown=${shown//"$CLOISTER"/cloister}
	shown=${shown//"$BUILD"/\$BUILD}
	shown=${shown//"$DIR"/\$DEMO}
	# Secrets are never echoed (nor long keys): show the variable that holds them instead.
	for v in ACME_TOKEN GLOBEX_TOKEN KEY KS_KEY KPUB; do
		[ -n "${!v:-}" ] && shown=${shown//"${!v}"/\$$v}
	done
	printf '    $ %s\n' "$shown"
	set +e
	"$@" >"$DIR/out" 2>"$DIR/err"
	RC=$?
	set -e
	OUT=$(cat "$DIR/out")
	ERR=$(cat "$DIR/err")
}
json() { python3 -c "import json,sys; j=json.loads(sys.stdin.read()); print($1)" <<<"$OUT"; }
# talk ID REQUEST EXPECT: sends one kvstore request and waits for the reply.
talk() {
	local id=$1 req=$2 want=$3 got="" deadline=$((SECONDS + 20))
	"$CLOISTER" enclave send "$id" --data "$req"$'\n' >/dev/null || die "send failed"
	while [[ "$got" != *"$want"* ]]; do
		[ $SECONDS -lt $deadline ] || die "no reply to '$req' (got '$got')"
		got+=$("$CLOISTER" enclave recv "$id" --wait 1000)$'\n'
	done
	printf '    %-22s => %s\n' "$req" "$(grep -m1 -F "$want" <<<"$got")"
}

step "Start a local control plane and host (cloister dev --detach)"
run "$CLOISTER" dev --detach --data "$DIR/dev" --port 0
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
export CLOISTER_CONFIG="$DIR/dev/client.json"
ok "running; the CLI now uses CLOISTER_CONFIG=$CLOISTER_CONFIG (admin)"

step "Build the kvstore example into an enclave image"
run "$CLOISTER" image build -o "$DIR/kvstore.img" --name kvstore --version 1.0.0 --entrypoint /app/kvstore "$KVSTORE:app/kvstore"
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
ok "image written"

step "Create tenant 'acme' and a token for it (admin)"
run "$CLOISTER" token create --new-tenant acme --name acme-ci --json
[ "$RC" = 0 ] || die "$ERR"
ACME_TOKEN=$(json 'j["token"]')
ACME=$(json 'j["tenant_id"]')
ok "tenant $ACME, token $(json 'j["id"]') (the secret is shown once; kept in this script only)"
export CLOISTER_TOKEN=$ACME_TOKEN

step "As acme: create an enclave running kvstore (the access key is shown ONCE)"
run "$CLOISTER" enclave create --image "$DIR/kvstore.img" --name shop-cache --memory 64M --cpus 1 --wait
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
show <<<"$ERR"
ID=$(awk '/^enclave:/{print $2}' <<<"$OUT")
KEY=$(awk '/^access key:/{print $3}' <<<"$OUT")
[ -n "$ID" ] && [ -n "$KEY" ] || die "no enclave id or access key in the output"
export CLOISTER_ACCESS_KEY=$KEY
ok "enclave $ID is running"

step "Talk to it: PUT / GET / LIST / STATS over the enclave channel"
talk "$ID" "PUT greeting hello" "OK"
talk "$ID" "PUT answer 42" "OK"
talk "$ID" "GET greeting" "OK hello"
talk "$ID" "GET missing" "ERR"
talk "$ID" "LIST" "OK 2"
talk "$ID" "STATS" "OK keys="
ok "replies received"

step "Describe it (the access key is never shown again)"
run "$CLOISTER" enclave describe "$ID"
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
grep -qF "$KEY" <<<"$OUT" && die "the access key was printed"
ok "described"

step "Attest it: a signed document whose registers match what the image predicts"
run "$CLOISTER" ca get -o "$DIR/root.pem"
[ "$RC" = 0 ] || die "$ERR"
run "$CLOISTER" enclave describe "$ID" --json
[ "$RC" = 0 ] || die "$ERR"
HOST=$(json 'j["host_id"]')
run "$CLOISTER" image measure "$DIR/kvstore.img" --tenant "$ACME" --name shop-cache --host "$HOST" --json
[ "$RC" = 0 ] || die "$ERR"
PCRS=()
for i in 0 1 2 3 4; do PCRS+=(--pcr "$i=$(json "j['pcrs']['$i']")"); done
NONCE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
run "$CLOISTER" enclave attest "$ID" --nonce "$NONCE" --out "$DIR/attestation.cbor"
[ "$RC" = 0 ] || die "$ERR"
run "$CLOISTER" attest verify "$DIR/attestation.cbor" --root "$DIR/root.pem" "${PCRS[@]}" --nonce "$NONCE"
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
ok "signed by the host's attestation key (held only by its key holder), chained to the control plane's root"

# ks LINE [SHOWN]: one request to the keystore enclave ($KS, key $KS_KEY);
# its answer line in $KSA, and "request => answer" printed (SHOWN in place
# of the request when given), both cut short.
ks() {
	local got="" deadline=$((SECONDS + 20))
	"$CLOISTER" --access-key "$KS_KEY" enclave send "$KS" --data "$1"$'\n' >/dev/null || die "send failed"
	while [[ "$got" != *$'\n'* ]]; do
		[ $SECONDS -lt $deadline ] || die "no answer to '${1:0:40}'"
		got+=$("$CLOISTER" --access-key "$KS_KEY" enclave recv "$KS" --wait 1000)$'\n'
	done
	KSA=${got%%$'\n'*}
	local q=${2:-$1} a=$KSA
	[ ${#q} -le 34 ] || q="${q:0:31}..."
	[ ${#a} -le 40 ] || a="${a:0:37}..."
	printf '    %-34s => %s\n' "$q" "$a"
}

step "Key service: keys made in an enclave, attested, used, exported only to a trusted user"
run "$CLOISTER" image build -o "$DIR/keystore.img" --name keystore --version 1.0.0 --entrypoint /app/keystore \
	"$KEYSTORE:app/keystore"
[ "$RC" = 0 ] || die "$ERR"
run "$CLOISTER" enclave create --image "$DIR/keystore.img" --name keys --memory 64M --cpus 1 --wait
[ "$RC" = 0 ] || die "$ERR"
KS=$(awk '/^enclave:/{print $2}' <<<"$OUT")
KS_KEY=$(awk '/^access key:/{print $3}' <<<"$OUT")
[ -n "$KS" ] && [ -n "$KS_KEY" ] || die "no enclave id or access key in the output"
ok "keystore running in $KS (its channel: only with its access key)"
ks "create signing"
[[ "$KSA" == "ok created signing "* ]] || die "$KSA"
base64 -d <<<"${KSA##* }" >"$DIR/signing.der"
NONCE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ks "attest signing $NONCE"
[[ "$KSA" == "ok attest signing "* ]] || die "$KSA"
base64 -d <<<"${KSA##* }" >"$DIR/signing.cbor"
run "$CLOISTER" image measure "$DIR/keystore.img" --tenant "$ACME" --name keys --host "$HOST" --json
[ "$RC" = 0 ] || die "$ERR"
PCRS=()
for i in 0 1 2 3 4; do PCRS+=(--pcr "$i=$(json "j['pcrs']['$i']")"); done
run "$CLOISTER" attest verify "$DIR/signing.cbor" --root "$DIR/root.pem" "${PCRS[@]}" --nonce "$NONCE" --json
[ "$RC" = 0 ] || die "$ERR"
[ "$(json 'j["user_data"]')" = "$(openssl dgst -sha384 -binary "$DIR/signing.der" | base64 -w0)" ] ||
	die "user_data is not SHA-384 of the key"
ok "document verified; its user_data is SHA-384 of the key: made inside this enclave"
printf 'release 1.0.0 approved' >"$DIR/msg"
ks "sign signing $(base64 -w0 "$DIR/msg")"
[[ "$KSA" == "ok sign signing "* ]] || die "$KSA"
base64 -d <<<"${KSA##* }" >"$DIR/msg.sig"
openssl dgst -sha384 -verify "$DIR/signing.der" -keyform DER -signature "$DIR/msg.sig" "$DIR/msg" >/dev/null ||
	die "openssl does not verify the signature"
ok "signature verified outside (openssl dgst -sha384 -verify)"
openssl ecparam -name secp384r1 -genkey -noout -out "$DIR/alice.pem" 2>/dev/null || die "openssl ecparam"
openssl ecparam -name secp384r1 -genkey -noout -out "$DIR/mallory.pem" 2>/dev/null || die "openssl ecparam"
ALICE=$(openssl pkey -in "$DIR/alice.pem" -pubout -outform DER | base64 -w0)
MALLORY=$(openssl pkey -in "$DIR/mallory.pem" -pubout -outform DER | base64 -w0)
ks "trust alice $ALICE" 'trust alice $ALICE_PUB'
[[ "$KSA" == "ok trusted alice "* ]] || die "$KSA"
ks "export signing $ALICE" 'export signing $ALICE_PUB'
[[ "$KSA" == "ok export signing "* ]] || die "$KSA"
printf '%s\n' "$KSA" >"$DIR/export.txt"
KPUB=$(base64 -w0 "$DIR/signing.der")
run "$KSUSER" unwrap --key "$DIR/alice.pem" --wrapped "$DIR/export.txt" --out "$DIR/signing.pem" --expect-public "$KPUB"
[ "$RC" = 0 ] || die "$ERR"
ok "alice unwrapped it outside: its public half is the key's"
ks "export signing $MALLORY" 'export signing $MALLORY_PUB'
[[ "$KSA" == "error untrusted:"* ]] || die "mallory got: $KSA"
ok "mallory (not trusted) refused; nothing exported"

step "Grow its memory from 64M to 128M"
run "$CLOISTER" enclave grow "$ID" --memory 128M --wait
[ "$RC" = 0 ] || die "$ERR"
run "$CLOISTER" enclave describe "$ID" --json
[ "$(json 'j["memory_mib"]')" = 128 ] || die "memory is $(json 'j["memory_mib"]') MiB"
talk "$ID" "GET answer" "OK 42"
ok "now 128 MiB, data intact"

step "Same tenant WITHOUT the access key: refused"
run env -u CLOISTER_ACCESS_KEY "$CLOISTER" enclave send "$ID" --data "PUT greeting pwned"$'\n'
[ "$RC" = 1 ] || die "expected a refusal, got exit $RC"
show <<<"$ERR"
run env -u CLOISTER_ACCESS_KEY "$CLOISTER" enclave destroy "$ID"
[ "$RC" = 1 ] || die "expected a refusal, got exit $RC"
show <<<"$ERR"
talk "$ID" "GET greeting" "OK hello"
ok "refused, and nothing changed"

step "Another tenant (globex) cannot see it, even with the access key"
run env -u CLOISTER_TOKEN "$CLOISTER" token create --new-tenant globex --name globex-ci --json
[ "$RC" = 0 ] || die "$ERR"
GLOBEX_TOKEN=$(json 'j["token"]')
run "$CLOISTER" --token "$GLOBEX_TOKEN" enclave describe "$ID"
[ "$RC" = 1 ] || die "expected not found, got exit $RC"
show <<<"$ERR"
run "$CLOISTER" --token "$GLOBEX_TOKEN" enclave list --json
[ "$(json "any(e['id']=='$ID' for e in j['items'])")" = False ] || die "globex can list it"
ok "globex sees no such enclave"

step "Stop it, then destroy it"
run "$CLOISTER" enclave stop "$ID" --wait
[ "$RC" = 0 ] || die "$ERR"
run "$CLOISTER" enclave describe "$ID" --json
ok "state: $(json 'j["state"]')"
run "$CLOISTER" enclave destroy "$ID" --wait
[ "$RC" = 0 ] || die "$ERR"
deadline=$((SECONDS + 20))
until ! "$CLOISTER" enclave describe "$ID" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || die "still there after destroy"
	sleep 0.2
done
ok "destroyed"

step "Stop the local instance"
run "$CLOISTER" dev stop --data "$DIR/dev"
[ "$RC" = 0 ] || die "$ERR"
show <<<"$OUT"
ok "stopped"

printf '\n%sDemo complete: %d steps passed.%s\n' "$BOLD" "$N" "$RESET"
