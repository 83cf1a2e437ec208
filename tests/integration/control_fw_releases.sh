#!/usr/bin/env bash
# control_fw_releases.sh — firmware releases on the control plane end to end:
# the provider's trust chain (checked with src/fw), a release proposed with 1
# of 2 signatures (not releasable, approve refused 409), a co-signature made
# with `cloister fw cosign` on the "engineer's machine" (releasable), approval
# to a channel, a tenant choosing that channel, and the `queue` firmware op in
# the sync answer of the host running that tenant's enclave — once. A bundle
# signed by an unknown key is refused and stores nothing. Engineers (engineer
# tokens) propose and co-sign but cannot approve, set the trust chain, or use
# any other endpoint.
source "$(dirname "$0")/control_lib.sh"
C="$BUILD/bin/cloister"
V=6ba7b810-9dad-11d1-80b4-00c04fd430c8 K=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55 A=0000:03:00.0
F="$WORK/fw"; mkdir -p "$F"

ctl_start --poll-timeout-ms 20000 # long: a held sync must be answered by its wake-up (held_answer)
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
# --- engineer tokens: only the provider's admin makes them, only on the provider tenant ---
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"alice","kind":"engineer"}'; expect 201
[ "$(jget 'j["kind"]')" = engineer ] || fail "engineer kind: $BODY"; EA=$(jget 'j["token"]')
"$C" --server "$URL" --ca "$CA" --token "$ADMIN" token create --tenant ten-provider --kind engineer --name bob >"$WORK/bob.out" \
	|| fail "cli engineer token"
grep -x 'kind:   engineer' "$WORK/bob.out" >/dev/null || fail "cli kind: $(cat "$WORK/bob.out")"
EB=$(awk '/^token: /{print $2}' "$WORK/bob.out")
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"x\",\"kind\":\"engineer\"}"; expect 400 invalid
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"x\",\"kind\":\"admin\"}"; expect 400 invalid
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"x","kind":"host"}'; expect 400 invalid
as "$TA" POST /v1/tokens '{"tenant_id":"ten-provider","name":"x","kind":"engineer"}'; expect 403 forbidden
as "$EA" POST /v1/tokens '{"tenant_id":"ten-provider","name":"x","kind":"engineer"}'; expect 403 forbidden
for ep in "GET /v1/enclaves" "GET /v1/hosts" "GET /v1/tenants" "GET /v1/images" "GET /v1/events" "GET /v1/fw/channel"; do
	as "$EA" $ep; expect 403 forbidden
done

for n in root a b x; do "$C" fw keygen --out "$F/$n.pem" --pub "$F/$n.pub" >/dev/null; done
"$C" fw trust-root sign --version 1 --threshold 2 --signer "$F/a.pub,$F/b.pub" --key "$F/root.pem" -o "$F/tr1.cbor"
trust_body() { # trust_body ROOTPUB DOC...
	python3 - "$@" <<'PY'
import base64, json, sys
print(json.dumps({"root": open(sys.argv[1]).read(),
                  "documents": [base64.b64encode(open(p, "rb").read()).decode() for p in sys.argv[2:]]}))
PY
}
# --- trust chain ---
as "$ADMIN" GET /v1/fw/trust; expect 404 not_found
as "$EA" POST /v1/fw/trust "$(trust_body "$F/root.pub" "$F/tr1.cbor")"; expect 403 forbidden
as "$TA" POST /v1/fw/trust "$(trust_body "$F/root.pub" "$F/tr1.cbor")"; expect 403 forbidden
as "$ADMIN" POST /v1/fw/trust "$(trust_body "$F/a.pub" "$F/tr1.cbor")"; expect 400 invalid   # not signed by this root
head -c 50 "$F/tr1.cbor" >"$F/trunc.cbor"
as "$ADMIN" POST /v1/fw/trust "$(trust_body "$F/root.pub" "$F/trunc.cbor")"; expect 400 invalid
as "$ADMIN" POST /v1/fw/trust '{"root":"not a key","documents":["AA=="]}'; expect 400 invalid
as "$ADMIN" POST /v1/fw/trust "{\"root\":\"x\",\"documents\":[],\"extra\":1}"; expect 400 invalid
[ "$(db 'SELECT COUNT(*) FROM fw_trust')" = 0 ] || fail "refused trust chains stored"
as "$ADMIN" POST /v1/fw/trust "$(trust_body "$F/root.pub" "$F/tr1.cbor")"; expect 201
[ "$(jget 'j["threshold"]')" = 2 ] && [ "$(jget 'len(j["signers"])')" = 2 ] || fail "trust: $BODY"
as "$EA" GET /v1/fw/trust; expect 200; [ "$(jget 'j["threshold"]')" = 2 ] || fail "engineer trust read: $BODY"

# --- propose with 1 of 2 signatures ---
head -c 4000 /dev/urandom >"$F/img.bin"
sign() { # sign KEY SEQ OUT
	"$C" fw sign --key "$1" --vendor $V --class $K --component $A --version "1.$2" --sequence "$2" \
		--channel stable --image "$F/img.bin" -o "$3" >/dev/null
}
# upload PATH FILE: as $UPT (default: the admin)
upload() { req POST "$1" -H "Authorization: Bearer ${UPT:-$ADMIN}" -H 'Content-Type: application/octet-stream' --data-binary @"$2"; }
sign "$F/a.pem" 5 "$F/r1.fw"
UPT=$TA upload /v1/fw/releases "$F/r1.fw"; expect 403 forbidden
UPT=$EA upload /v1/fw/releases "$F/r1.fw"; expect 201; R1=$(jget 'j["id"]')   # engineer A proposes
[ "$(jget 'j["releasable"]')" = False ] && [ "$(jget 'len(j["signers"])')" = 1 ] && [ "$(jget 'j["threshold"]')" = 2 ] \
	|| fail "1-of-2 release: $BODY"
[ "$(jget 'j["component"]')" = $A ] && [ "$(jget 'j["sequence"]')" = 5 ] && [ "$(jget 'j["vendor"]')" = $V ] || fail "fields: $BODY"
as "$ADMIN" POST "/v1/fw/releases/$R1/approve" '{"channels":["stable"]}'; expect 409 conflict
as "$EA" POST "/v1/fw/releases/$R1/approve" '{"channels":["stable"]}'; expect 403 forbidden
# unknown signer, garbage, wrong content type: refused, nothing stored
sign "$F/x.pem" 5 "$F/x.fw"
upload /v1/fw/releases "$F/x.fw"; expect 400 invalid; grep -q unknown_signer <<<"$BODY" || fail "reason: $BODY"
cp "$F/r1.fw" "$F/r1x.fw"; "$C" fw cosign --key "$F/x.pem" "$F/r1x.fw" >/dev/null   # plus an unknown signer
upload "/v1/fw/releases/$R1/signatures" "$F/r1x.fw"; expect 400 invalid
head -c 300 /dev/urandom >"$F/junk.fw"
upload /v1/fw/releases "$F/junk.fw"; expect 400 invalid
as "$ADMIN" POST /v1/fw/releases '{"bundle":1}'; expect 400 invalid
as "$TA" GET /v1/fw/releases; expect 403 forbidden
[ "$(db 'SELECT COUNT(*) FROM fw_releases')" = 1 ] || fail "refused bundles stored"
as "$ADMIN" GET "/v1/fw/releases/$R1"; expect 200; [ "$(jget 'len(j["signers"])')" = 1 ] || fail "refused cosign merged"

# --- co-sign on the engineer's machine: fetch, cosign, send back ---
REQ_OUT="$F/fetched.fw" as "$EB" GET "/v1/fw/releases/$R1/bundle"; expect 200   # engineer B
cmp -s "$F/fetched.fw" "$F/r1.fw" || fail "fetched bundle differs"
"$C" fw cosign --key "$F/b.pem" "$F/fetched.fw" >/dev/null
sign "$F/b.pem" 6 "$F/other.fw"
upload "/v1/fw/releases/$R1/signatures" "$F/other.fw"; expect 400 invalid   # another manifest
UPT=$EB upload "/v1/fw/releases/$R1/signatures" "$F/fetched.fw"; expect 200
[ "$(jget 'j["releasable"]')" = True ] && [ "$(jget 'len(j["signers"])')" = 2 ] || fail "co-signed: $BODY"
as "$EB" POST "/v1/fw/releases/$R1/approve" '{"channels":["stable"]}'; expect 403 forbidden   # releasable, still not theirs
grep "release co-signed release=$R1 .*token=$(cut -d_ -f2 <<<"$EB")" "$WORK/ctl.err" >/dev/null || fail "co-signer not logged"
# a co-signed copy that lost the first signer cannot replace it
sign "$F/b.pem" 5 "$F/bonly.fw"
upload "/v1/fw/releases/$R1/signatures" "$F/bonly.fw"; expect 409 conflict  # same manifest, a's block missing

# --- a host running the tenant's enclave ---
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":1024,\"cpus\":2}}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
as "$TA" POST /v1/enclaves "{\"name\":\"e1\",\"image_id\":\"$IMG\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
expect 202; EID=$(jget 'j["enclave"]["id"]')
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}]}"
expect 200; GEN=$(jget 'j["generation"]'); [ "$(jget 'len(j["firmware_ops"])')" = 0 ] || fail "ops too early"

# --- channels ---
as "$TA" PUT /v1/fw/channel '{"channel":"stable"}'; expect 409 conflict   # nothing approved yet
as "$TA" GET /v1/fw/channel; expect 200; [ "$(jget 'j["channel"]')" = None ] || fail "channel: $BODY"
as "$ADMIN" POST "/v1/fw/releases/$R1/approve" '{"channels":["Stable"]}'; expect 400 invalid
as "$ADMIN" POST "/v1/fw/releases/$R1/approve" '{"channels":["stable","latest"]}'; expect 200
[ "$(jget 'j["approved_channels"]')" = "['latest', 'stable']" ] || fail "approved: $BODY"
as "$ADMIN" PUT /v1/fw/channel '{"channel":"stable"}'; expect 403 forbidden
as "$TA" PUT /v1/fw/channel '{"channel":"nightly"}'; expect 409 conflict
# choosing the channel wakes the host's held sync (answered well before its 20 s wait) with the queue op
RUN_E1="{\"id\":\"$EID\",\"state\":\"running\",\"memory_mib\":64}"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[$RUN_E1]}"; expect 200; GEN=$(jget 'j["generation"]')
held_sync "$HID" "$HT" "{\"generation\":$GEN,\"wait_ms\":20000,\"enclaves\":[$RUN_E1]}"
as "$TA" PUT /v1/fw/channel '{"channel":"stable"}'; expect 200
held_answer; expect 200; GEN=$(jget 'j["generation"]')
[ "$(jget '[(o["kind"], o["device"]) for o in j["firmware_ops"]]')" = "[('queue', '$A')]" ] || fail "queue op: $BODY"
[ "$(jget 'j["firmware_ops"][0]["data"]')" = "$(base64 -w0 "$F/fetched.fw")" ] || fail "queued bundle is not the co-signed one"
Q1=$(jget 'j["firmware_ops"][0]["op"]')
as "$TA" GET /v1/fw/channel; expect 200; [ "$(jget 'j["channel"]')" = stable ] || fail "channel: $BODY"
# choosing the channel again, or approving again, queues nothing twice (the op
# awaiting its result is sent again, as itself)
as "$TA" PUT /v1/fw/channel '{"channel":"latest"}'; expect 200
as "$ADMIN" POST "/v1/fw/releases/$R1/approve" '{"channels":["stable"]}'; expect 200
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0}"; expect 200
[ "$(jget '[o["op"] for o in j["firmware_ops"]]')" = "['$Q1']" ] || fail "release queued twice: $BODY"
[ "$(db "SELECT COUNT(*) FROM fw_ops WHERE kind='queue'")" = 1 ] || fail "duplicate queue ops stored"

# a newer release approved to the tenant's channel reaches the host
sign "$F/a.pem" 7 "$F/r2.fw"; "$C" fw cosign --key "$F/b.pem" "$F/r2.fw" >/dev/null
upload /v1/fw/releases "$F/r2.fw"; expect 201; R2=$(jget 'j["id"]'); [ "$(jget 'j["releasable"]')" = True ] || fail "r2"
# (the approval wakes the host's held sync: answered well before its 20 s wait)
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":$GEN,\"wait_ms\":0,\"enclaves\":[$RUN_E1]}"; expect 200; GEN=$(jget 'j["generation"]')
held_sync "$HID" "$HT" "{\"generation\":$GEN,\"wait_ms\":20000,\"enclaves\":[$RUN_E1]}"
as "$ADMIN" POST "/v1/fw/releases/$R2/approve" '{"channels":["latest"]}'; expect 200
held_answer; expect 200
[ "$(jget '[o["kind"] for o in j["firmware_ops"] if o["op"] != "'$Q1'"]')" = "['queue']" ] || fail "r2 not queued: $BODY"
OP=$(jget 'j["firmware_ops"][0]["op"]')   # never-sent ops come first
[ "$OP" != "$Q1" ] || fail "r2 op not first: $BODY"
as "$ADMIN" GET "/v1/hosts/$HID/fw/ops/$OP"; expect 200; [ "$(jget 'j["release_id"]')" = "$R2" ] || fail "op: $BODY"
as "$ADMIN" GET /v1/fw/releases; expect 200; [ "$(jget 'len(j["items"])')" = 2 ] || fail "list: $BODY"

# a host that starts running one of the tenant's enclaves later gets the channel's newest release at its next sync
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h2\",\"capabilities\":{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":8192,\"cpus\":2}}"
expect 201; H2=$(jget 'j["host_id"]'); T2=$(jget 'j["host_token"]')
as "$T2" POST "/v1/hosts/$H2/sync" '{"generation":0,"wait_ms":0}'; expect 200
[ "$(jget 'len(j["firmware_ops"])')" = 0 ] || fail "h2 got firmware before running the tenant: $BODY"
as "$TA" POST /v1/enclaves "{\"name\":\"e2\",\"image_id\":\"$IMG\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
expect 202; [ "$(jget 'j["enclave"]["host_id"]')" = "$H2" ] || fail "e2 not on h2: $BODY"
as "$T2" POST "/v1/hosts/$H2/sync" '{"generation":0,"wait_ms":0}'; expect 200
[ "$(jget '[o["kind"] for o in j["firmware_ops"]]')" = "['queue']" ] || fail "h2 not given the release: $BODY"
H2OP=$(jget 'j["firmware_ops"][0]["op"]')
[ "$(db "SELECT release_id FROM fw_release_queued WHERE host_id='$H2'")" = "$R2" ] || fail "h2 got the wrong release"
as "$T2" POST "/v1/hosts/$H2/sync" '{"generation":0,"wait_ms":0}'; expect 200
[ "$(jget '[o["op"] for o in j["firmware_ops"]]')" = "['$H2OP']" ] || fail "h2 given the release twice: $BODY"

# --- a bundle bigger than one request: raw body refused (413), sent as an upload ---
head -c $((2500 * 1024)) /dev/urandom >"$F/img.bin"
sign "$F/a.pem" 9 "$F/big.fw"
UPT=$EA upload /v1/fw/releases "$F/big.fw"; expect 413   # refused by the transport cap, before any handler
# upload_as TOKEN FILE: uploads FILE in 1 MiB parts; sets UPID
upload_as() {
	local n=0 size; size=$(stat -c %s "$2")
	as "$1" POST /v1/uploads "{\"size\":$size,\"sha384\":\"$(sha384sum "$2" | cut -d' ' -f1)\"}"; expect 201
	UPID=$(jget 'j["id"]')
	while [ $((n * 1048576)) -lt "$size" ]; do
		dd if="$2" of="$F/part" bs=1048576 skip=$n count=1 status=none
		req PUT "/v1/uploads/$UPID/parts/$n" -H "Authorization: Bearer $1" \
			-H 'Content-Type: application/octet-stream' --data-binary @"$F/part"; expect 200
		n=$((n + 1))
	done
}
upload_as "$EA" "$F/big.fw"
as "$ADMIN" POST /v1/fw/releases "{\"upload\":\"$UPID\"}"; expect 404 not_found   # uploads belong to tenant + token kind
as "$EA" POST /v1/fw/releases "{\"upload\":\"$UPID\",\"x\":1}"; expect 400 invalid
as "$EA" POST /v1/fw/releases "{\"upload\":\"$UPID\"}"; expect 201; RB=$(jget 'j["id"]')
[ "$(jget 'j["sequence"]')" = 9 ] && [ "$(jget 'j["releasable"]')" = False ] || fail "big release: $BODY"
as "$EA" GET "/v1/uploads/$UPID"; expect 404 not_found   # consumed
REQ_OUT="$F/bigf.fw" as "$EB" GET "/v1/fw/releases/$RB/bundle"; expect 200
cmp -s "$F/bigf.fw" "$F/big.fw" || fail "big bundle differs"
"$C" fw cosign --key "$F/b.pem" "$F/bigf.fw" >/dev/null
upload_as "$EB" "$F/bigf.fw"
as "$EB" POST "/v1/fw/releases/$RB/signatures" "{\"upload\":\"$UPID\"}"; expect 200
[ "$(jget 'j["releasable"]')" = True ] || fail "big co-sign: $BODY"
# a refused bundle changes no release and consumes its upload (a retry cannot
# make the control plane verify the same 2.5 MiB again)
upload_as "$EA" "$F/big.fw"
as "$EA" POST "/v1/fw/releases/$R1/signatures" "{\"upload\":\"$UPID\"}"; expect 400 invalid
as "$EA" GET "/v1/uploads/$UPID"; expect 404 not_found
as "$ADMIN" GET "/v1/fw/releases/$R1"; expect 200; [ "$(jget 'j["version"]')" = 1.5 ] || fail "refused changed r1: $BODY"
echo "control_fw_releases: ok"
