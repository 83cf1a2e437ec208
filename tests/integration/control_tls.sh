#!/usr/bin/env bash
# control_tls.sh — host-terminated TLS on the control plane (docs/tls.md
# "Credentials: the job and its steps", docs/api/enclaves-tls.md): the
# routes, the policy's validation, the jobs tls_enable / tls_rotate /
# tls_disable and their steps, with curl and the CLI as a tenant and curl
# as a fake host that answers the ops through the real host routes (its
# P-256 keys and proofs of possession made by Python):
#
#   curl / cloister tls (tenant) ──HTTPS──► cloister-control (port 0, temp dir)
#   curl (fake host: sync, POST /v1/hosts/{id}/ops/{op}) ──┘   worker ──ISSUE_TLS_CERT──► monitor
#
# Checks: bad policies refused with a clear error and nothing stored; 409 on
# an enclave without a network; another tenant gets 404; the steps appear in
# order (GET /v1/jobs/{id} and the CLI's output, each as it happens through
# ?wait&steps=N); a failure at each stage ends the job failed with that step,
# and a tls_remove of the generation undoes the host's part; a restart
# fails an enable in flight. The stages after certificate_requested need the
# monitor's ISSUE_TLS_CERT (branch h-tlskeys): until it is merged they are
# skipped with a printed reason, and only that.
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 600000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
CLI=$BUILD/bin/cloister

# ---- two tenants, a fake host, an image, enclaves with and without a network
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201; OTHER=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"ci\"}"; expect 201; TO=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$(jget 'j["token"]')\",\"name\":\"h1\",\"capabilities\":{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":1024,\"cpus\":2}}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
E='"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software","policy":{"untrusted":["describe","tls"]}'
# A network enclave (`"network": true`, docs/tls.md "Guests"); "plain" has none.
as "$TA" POST /v1/enclaves '{"name":"web","network":true,'"$E"'}'; expect 202; EID=$(jget 'j["enclave"]["id"]')
as "$TA" POST /v1/enclaves '{"name":"plain",'"$E"'}'; expect 202; PLAIN=$(jget 'j["enclave"]["id"]')
as "$TA" POST /v1/enclaves '{"name":"keyed","network":true,"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"}'
expect 202; KEYED=$(jget 'j["enclave"]["id"]')
running() { printf '{"id":"%s","state":"running","memory_mib":64}' "$1"; }
REPORT="[$(running "$EID"),$(running "$PLAIN"),$(running "$KEYED")]" # every sync reports them running
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":$REPORT}"
expect 200

# genkey GEN NAME [PROOF_HOST]: a P-256 key in $WORK/NAME.pem; prints the base64 "data"
# of a tls_generate result {"point","proof"}: the proof over SHA-256("cloister-tls-pop/1"
# 0 host 0 slot 0 point), r||s with low s (TLS-CONTRACT.md)
genkey() {
	python3 - "$WORK/$2.pem" "${3:-$HID}" "tls/$EID:$1" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
path, host, slot = sys.argv[1:4]
k = ec.generate_private_key(ec.SECP256R1())
open(path, "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
point = k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
msg = b"cloister-tls-pop/1\0" + host.encode() + b"\0" + slot.encode() + b"\0" + point
r, s = utils.decode_dss_signature(k.sign(msg, ec.ECDSA(hashes.SHA256())))
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
s = min(s, n - s)
res = {"point": base64.b64encode(point).decode(), "proof": base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()}
print(base64.b64encode(json.dumps(res).encode()).decode())
PY
}
# take_op KIND: syncs (deadline 15 s) until an op of KIND arrives; sets OP and BODY to it
take_op() {
	local deadline=$((SECONDS + 15))
	OP=
	until [ -n "$OP" ]; do
		[ $SECONDS -lt $deadline ] || fail "no $1 op reached the host"
		as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":300,\"enclaves\":$REPORT}"; expect 200
		OP=$(jget "next((o['op'] for o in j['ops'] if o['kind'] == '$1'), '')")
	done
	BODY=$(jget "json.dumps(next(o for o in j['ops'] if o['kind'] == '$1'))")
}
# result JSON: the fake host posts the result of $OP
result() { as "$HT" POST "/v1/hosts/$HID/ops/$OP" "$1"; expect 200; }
# steps JOB: "name:state name:state ..." of the job (GET /v1/jobs/{id})
steps() { as "$TA" GET "/v1/jobs/$1"; expect 200; jget '" ".join(s["name"]+":"+s["state"] for s in j["steps"])'; }
tls_count() { db "SELECT (SELECT COUNT(*) FROM tls_creds) || ' ' || (SELECT COUNT(*) FROM jobs WHERE kind LIKE 'tls%')"; }
# undo GEN: the tls_remove of generation GEN reaches the host, which answers it
undo() {
	take_op tls_remove
	[ "$(jget 'j["enclave"]+" "+str(j.get("gen"))')" = "$EID $1" ] || fail "undo op: $BODY"
	result '{"ok":true}'
}
T=/v1/enclaves/$EID/tls

# ---- refusals: routes, access, bad policies; none stores anything
as "$TA" GET "$T"; expect 200
[ "$(jget 'j["state"]+" "+str(j["policy"])+" "+str(j["certificate"])+" "+str(j["job"])')" = "disabled None None None" ] ||
	fail "status before any enable: $BODY"
req GET "$T"; expect 401 unauthorized
for m in GET POST DELETE; do as "$TO" "$m" "$T" '{}'; expect 404 not_found; done   # another tenant
as "$TO" POST "$T/rotate" '{}'; expect 404 not_found
req PUT "$T" -H "Authorization: Bearer $TA"; expect 405 method_not_allowed
req GET "$T/rotate" -H "Authorization: Bearer $TA"; expect 405 method_not_allowed
req POST "$T" -H "Authorization: Bearer $TA" -H 'Content-Type: text/plain' -d '{}'; expect 415 unsupported_media_type
as "$TA" POST "/v1/enclaves/$KEYED/tls" '{}'; expect 403 forbidden                 # its policy: the access key
as "$TA" POST "/v1/enclaves/$PLAIN/tls" '{}'; expect 409 conflict
grep -q "enclave has no network" <<<"$BODY" || fail "409 does not say why: $BODY"
as "$TA" DELETE "$T"; expect 409 conflict
grep -q "not enabled" <<<"$BODY" || fail "disable of nothing: $BODY"
as "$TA" POST "$T/rotate" '{}'; expect 409 conflict
bad() { # bad POLICY WORDS: refused 400 with WORDS in the message
	as "$TA" POST "$T" "$1"; expect 400 invalid
	grep -qi -- "$2" <<<"$BODY" || fail "refusal of $1 does not say \"$2\": $BODY"
}
bad '{"mode":"most"}' 'mode'
bad '{"mode":1}' 'mode'
bad '{"mode":"ports","ports":[0]}' '1..65535'
bad '{"mode":"ports","ports":[65536]}' '1..65535'
bad '{"mode":"ports","ports":["443"]}' '1..65535'
bad '{"mode":"ports","ports":[443,443]}' 'twice'
bad "{\"mode\":\"ports\",\"ports\":[$(seq -s, 1 17)]}" 'at most 16'
bad '{"mode":"ports"}' 'needs field \\"ports\\"'
bad '{"ports":[443]}' 'goes with mode ports'
bad '{"mode":"ips","ips":["10.0.0.0/33"]}' 'CIDR'
bad '{"mode":"ips","ips":["10.0.0.256"]}' 'CIDR'
bad '{"mode":"ips","ips":["2001:db8::/129"]}' 'CIDR'
bad '{"mode":"ips","ips":["10.0.0.0/08"]}' 'CIDR'
bad "{\"mode\":\"ips\",\"ips\":[$(for i in $(seq 1 17); do printf '"10.0.0.%d",' "$i"; done | sed 's/,$//')]}" 'at most 16'
bad '{"mode":"adapters","adapters":["Sec0"]}' 'interface names'
bad '{"mode":"adapters","adapters":["averyveryverylongname"]}' 'interface names'
bad '{"insecure":"maybe"}' 'allow or reject'
bad '{"header":"Connection"}' 'connection cannot be the marking header'
bad '{"header":"transfer-encoding"}' 'transfer-encoding cannot be the marking header'
bad '{"header":"Content-Length"}' 'content-length cannot be the marking header'
bad '{"header":"content_length"}' 'content-length cannot be the marking header' # `-` and `_` alike, as CGI servers map them
bad '{"header":"Expect"}' 'expect cannot be the marking header'
bad '{"header":"X Tls"}' 'not an HTTP token'
bad '{"header":"X-Tls:"}' 'not an HTTP token'
bad "{\"header\":\"$(printf 'x%.0s' {1..65})\"}" '1..64'
bad '{"header":""}' '1..64'
bad '{"bogus":1}' 'unknown field'
bad '{"import":{"certificate":"x"}}' 'not supported yet'
bad '[]' 'JSON object'
# a stopped enclave: 503 (enable), until its host reports it running again
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":[{\"id\":\"$EID\",\"state\":\"stopped\"}]}"; expect 200
as "$TA" POST "$T" '{}'; expect 503 unavailable
grep -q "the enclave is stopped: it must be running" <<<"$BODY" || fail "stopped: $BODY"
as "$HT" POST "/v1/hosts/$HID/sync" "{\"generation\":0,\"wait_ms\":0,\"enclaves\":$REPORT}"; expect 200
[ "$(tls_count)" = "0 0" ] || fail "a refused request stored something: $(tls_count)"

# ---- enable: failure at key_generated (the host's key holder refuses)
as "$TA" POST "$T" '{"mode":"ports","ports":[443,8443],"header":"X-Cloister-TLS"}'; expect 202
J1=$(jget 'j["job"]["id"]')
[ "$(jget 'j["job"]["kind"]+" "+j["job"]["state"]')" = "tls_enable pending" ] || fail "enable answer: $BODY"
as "$TA" GET "$T"; expect 200; [ "$(jget 'j["state"]+" "+j["job"]["id"]')" = "enabling $J1" ] || fail "status enabling: $BODY"
as "$TA" POST "$T" '{}'; expect 409 conflict                                          # one TLS job at a time
grep -q "in progress (job $J1)" <<<"$BODY" || fail "second enable: $BODY"
take_op tls_generate
[ "$(jget 'j["enclave"]+" "+j["tenant"]+" "+str(j["gen"])+" "+j["host_id"]')" = "$EID $ACME 1 $HID" ] || fail "tls_generate op: $BODY"
result '{"ok":false,"error":"key holder: slot tls/'"$EID"':1 exists"}'
[ "$(steps "$J1")" = "key_generated:failed" ] || fail "steps after a refused generate: $(steps "$J1")"
as "$TA" GET "/v1/jobs/$J1"; expect 200
[ "$(jget 'j["state"]+" | "+j["error"]')" = "failed | key_generated: host: key holder: slot tls/$EID:1 exists" ] ||
	fail "job after a refused generate: $BODY"
as "$TA" GET "$T"; expect 200
[ "$(jget 'j["state"]+" "+str(j["generation"])')" = "failed 0" ] || fail "status after failure: $BODY"
undo 1

# ---- enable: a malformed answer fails key_generated too (generation 2: never reused)
as "$TA" POST "$T" '{}'; expect 202; J2=$(jget 'j["job"]["id"]')
take_op tls_generate; [ "$(jget 'j["gen"]')" = 2 ] || fail "second attempt's generation: $BODY"
result "{\"ok\":true,\"data\":\"$(printf '{"point":"AAAA","proof":"AAAA"}' | base64 -w0)\"}"
[ "$(steps "$J2")" = "key_generated:failed" ] || fail "steps after a malformed generate: $(steps "$J2")"
as "$TA" GET "/v1/jobs/$J2"; grep -q 'key_generated: host: the tls_generate result is not' <<<"$BODY" || fail "malformed: $BODY"
undo 2

# ---- enable: key_generated and certificate_requested as they happen (?wait&steps=N)
as "$TA" POST "$T" '{"mode":"ports","ports":[443],"insecure":"allow","header":"X-Cloister-TLS"}'; expect 202
J3=$(jget 'j["job"]["id"]')
take_op tls_generate
( req GET "/v1/jobs/$J3?wait=30&steps=0" -H "Authorization: Bearer $TA"; echo "$STATUS $BODY" >"$WORK/wait.out" ) &
WAITER=$!
wait_for() { local d=$((SECONDS + 10)); until eval "$1"; do [ $SECONDS -lt $d ] || fail "timed out: $1"; sleep 0.05; done; }
wait_for "[ \"\$(curl -sS --cacert '$CA' -H 'Authorization: Bearer $ADMIN' '$URL/metrics' | awk '/^cloister_job_waiters /{print \$2}')\" = 1 ] || ! kill -0 $WAITER 2>/dev/null"
kill -0 $WAITER 2>/dev/null || fail "the steps wait was answered before any step: $(cat "$WORK/wait.out")"
T0=$SECONDS
result "{\"ok\":true,\"data\":\"$(genkey 3 k3)\"}"
wait $WAITER
# answered by the step (or the job's end), not by the end of its 30 s wait
[ $((SECONDS - T0)) -lt 15 ] || fail "the steps wait was not woken by the step: $(cat "$WORK/wait.out")"
BODY=$(cut -d' ' -f2- "$WORK/wait.out")
[ "$(jget 'j["steps"][0]["name"]+" "+j["steps"][0]["state"]')" = "key_generated done" ] || fail "steps wait: $BODY"
WAITED=$BODY # with ISSUE_TLS_CERT the job is still running here: the step, not the end, answered the wait
grep -q "slot tls/$EID:3" <<<"$BODY" || fail "key_generated detail: $BODY"
S=$(steps "$J3")
[ "${S%% certificate_issued*}" = "key_generated:done certificate_requested:done" ] || fail "steps: $S"
as "$TA" GET "/v1/jobs/$J3"; expect 200
[ "$(jget 'j["steps"][1]["detail"]')" = "web.acme.cloister.internal" ] || fail "the names requested: $BODY"
# ?steps= is validated; a wait with steps below the count answers at once
as "$TA" GET "/v1/jobs/$J3?wait=1&steps=x"; expect 400 invalid
as "$TA" GET "/v1/jobs/$J3?wait=1&steps=100"; expect 400 invalid
T0=$SECONDS
as "$TA" GET "/v1/jobs/$J3?wait=20&steps=1"; expect 200   # 2 steps or more already: at once, not after 20 s
[ $((SECONDS - T0)) -lt 10 ] || fail "a wait for a step already recorded was held"

if [ "$(jget 'j["state"]')" = failed ] && grep -q 'ISSUE_TLS_CERT not built' <<<"$BODY"; then
	# ---- without the monitor's ISSUE_TLS_CERT: the failure is certificate_issued's
	[ "$S" = "key_generated:done certificate_requested:done certificate_issued:failed" ] || fail "steps: $S"
	grep -q '"error": *"certificate_issued: ' <<<"$BODY" || fail "job error: $BODY"
	undo 3
	echo "SKIP (depends on branch h-tlskeys, not merged): certificate_issued, delivered, acknowledged, enabled," \
		"rotate, disable and the failures at delivered/acknowledged need the monitor's ISSUE_TLS_CERT"
	ISSUES=0
else
	ISSUES=1
fi

if [ $ISSUES = 1 ]; then
	BODY=$WAITED; [ "$(jget 'j["state"]')" = running ] || fail "the steps wait was answered by the job's end: $BODY"
	# ---- certificate_issued, delivered (the sync answer carries the chain), acknowledged, enabled
	wait_for "[ \"\$(steps $J3 | wc -w)\" -ge 3 ]"
	take_op tls_install
	echo "$BODY" >"$WORK/install.json"
	[ "$(jget 'str(j["gen"])+" "+j["policy"]["mode"]+" "+str(j["policy"]["ports"])+" "+j["policy"]["header"]')" = \
	  "3 ports [443] X-Cloister-TLS" ] || fail "tls_install op: $BODY"
	jget 'j["chain"]' >"$WORK/chain.pem"
	openssl x509 -in "$WORK/chain.pem" -noout -text >"$WORK/leaf.txt"
	grep -q 'DNS:web.acme.cloister.internal' "$WORK/leaf.txt" || fail "leaf SAN: $(cat "$WORK/leaf.txt")"
	[ "$(openssl x509 -in "$WORK/chain.pem" -noout -pubkey | openssl pkey -pubin -outform der | tail -c 65 | xxd -p -c 65)" = \
	  "$(openssl pkey -in "$WORK/k3.pem" -pubout -outform der | tail -c 65 | xxd -p -c 65)" ] || fail "leaf key is not the host's"
	[ "$(steps "$J3")" = "key_generated:done certificate_requested:done certificate_issued:done delivered:done" ] ||
		fail "steps before the install result: $(steps "$J3")"
	result '{"ok":true}'
	[ "$(steps "$J3")" = "key_generated:done certificate_requested:done certificate_issued:done delivered:done acknowledged:done enabled:done" ] ||
		fail "steps at the end: $(steps "$J3")"
	as "$TA" GET "/v1/jobs/$J3"; [ "$(jget 'j["state"]')" = succeeded ] || fail "job: $BODY"
	as "$TA" GET "$T"; expect 200
	SERIAL=$(jget 'j["certificate"]["serial"]')
	[ "$(jget 'j["state"]+" "+str(j["generation"])+" "+j["certificate"]["sans"][0]+" "+j["policy"]["insecure"]')" = \
	  "enabled 3 web.acme.cloister.internal allow" ] || fail "status enabled: $BODY"
	[ "$SERIAL" = "$(openssl x509 -in "$WORK/chain.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" ] ||
		fail "status serial $SERIAL"

	# ---- a policy change: same key, steps delivered, acknowledged, enabled
	as "$TA" POST "$T" '{"mode":"all"}'; expect 202; J4=$(jget 'j["job"]["id"]')
	take_op tls_install
	[ "$(jget 'str(j["gen"])+" "+j["policy"]["mode"]')" = "3 all" ] || fail "policy change install: $BODY"
	result '{"ok":true}'
	[ "$(steps "$J4")" = "delivered:done acknowledged:done enabled:done" ] || fail "policy change steps: $(steps "$J4")"

	# ---- rotate: failure at acknowledged keeps generation 3 served; the new one undone
	as "$TA" POST "$T/rotate" '{}'; expect 202; J5=$(jget 'j["job"]["id"]')
	take_op tls_generate; [ "$(jget 'j["gen"]')" = 4 ] || fail "rotate generation: $BODY"
	result "{\"ok\":true,\"data\":\"$(genkey 4 k4)\"}"
	take_op tls_install
	result '{"ok":false,"error":"data plane: listener refused"}'
	[ "$(steps "$J5")" = "key_generated:done certificate_requested:done certificate_issued:done delivered:done acknowledged:failed" ] ||
		fail "rotate failure steps: $(steps "$J5")"
	undo 4
	as "$TA" GET "$T"; [ "$(jget 'j["state"]+" "+str(j["generation"])+" "+j["certificate"]["serial"]')" = "enabled 3 $SERIAL" ] ||
		fail "a failed rotation changed the served credential: $BODY"

	# ---- a bad proof: the monitor refuses; certificate_issued fails
	as "$TA" POST "$T/rotate" '{}'; expect 202; J6=$(jget 'j["job"]["id"]')
	take_op tls_generate
	result "{\"ok\":true,\"data\":\"$(genkey 5 k5 host-other)\"}"
	wait_for "[ \"\$(steps $J6 | awk '{print \$NF}')\" = certificate_issued:failed ]"
	undo 5

	# ---- rotate: generation 6 served under a new serial
	as "$TA" POST "$T/rotate" '{}'; expect 202; J7=$(jget 'j["job"]["id"]')
	take_op tls_generate; result "{\"ok\":true,\"data\":\"$(genkey 6 k6)\"}"
	take_op tls_install; result '{"ok":true}'
	as "$TA" GET "$T"; [ "$(jget 'j["state"]+" "+str(j["generation"])')" = "enabled 6" ] || fail "rotated: $BODY"
	[ "$(jget 'j["certificate"]["serial"]')" != "$SERIAL" ] || fail "rotation kept the serial"

	# ---- the CLI: tls status, tls disable
	"$CLI" --server "$URL" --ca "$CA" --token "$TA" tls status "$EID" >"$WORK/st.out" || fail "tls status: $(cat "$WORK/st.out")"
	grep -q '^state: *enabled' "$WORK/st.out" && grep -q '^sans: *web.acme.cloister.internal' "$WORK/st.out" &&
		grep -q '^serial: ' "$WORK/st.out" && grep -q 'tls_rotate (succeeded)' "$WORK/st.out" || fail "tls status: $(cat "$WORK/st.out")"
	"$CLI" --server "$URL" --ca "$CA" --token "$TA" tls disable "$EID" >"$WORK/dis.out" 2>&1 &
	CLIPID=$!
	take_op tls_remove; [ "$(jget 'str(j.get("gen"))')" = None ] || fail "disable removes every generation: $BODY"
	result '{"ok":true}'
	wait $CLIPID || fail "tls disable: $(cat "$WORK/dis.out")"
	grep -q 'done disabled' "$WORK/dis.out" || fail "tls disable output: $(cat "$WORK/dis.out")"
	as "$TA" GET "$T"; [ "$(jget 'j["state"]+" "+str(j["certificate"])')" = "disabled None" ] || fail "disabled: $BODY"
fi

# ---- the CLI follows the steps as they happen and ends non-zero with the failing step
cli() { "$CLI" --server "$URL" --ca "$CA" --token "$TA" "$@"; }
cli_steps() { awk '$1 == "done" || $1 == "FAILED" {printf "%s:%s ", $1, $2}' "$1"; }
set +e
cli tls enable "$EID" --import-cert a.pem --import-key a.key >/dev/null 2>"$WORK/cli.err"; rc=$?
set -e
[ $rc = 2 ] && grep -q 'not supported yet' "$WORK/cli.err" || fail "--import-cert: $rc $(cat "$WORK/cli.err")"
set +e
cli tls enable "$EID" --ports 0 >/dev/null 2>"$WORK/cli.err"; rc=$?
set -e
[ $rc = 2 ] && grep -q "'0' is not a port" "$WORK/cli.err" || fail "--ports 0: $rc $(cat "$WORK/cli.err")"
set +e
cli tls enable "$EID" --header Connection >/dev/null 2>"$WORK/cli.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'connection cannot be the marking header' "$WORK/cli.err" || fail "--header Connection: $rc $(cat "$WORK/cli.err")"
cli tls enable "$EID" --mode ports --ports 443,8443 --insecure reject >"$WORK/en.out" 2>&1 &
CLIPID=$!
take_op tls_generate
GEN=$(jget 'j["gen"]')
wait_for "grep -q '^tls enable: job ' '$WORK/en.out'"
grep -q key_generated "$WORK/en.out" && fail "a step printed before it happened: $(cat "$WORK/en.out")"
result '{"ok":false,"error":"key holder unavailable"}'
set +e
wait $CLIPID; rc=$?
set -e
[ $rc = 1 ] || fail "tls enable after a failure ended $rc: $(cat "$WORK/en.out")"
grep -q '^FAILED key_generated  *host: key holder unavailable' "$WORK/en.out" || fail "CLI step line: $(cat "$WORK/en.out")"
grep -q 'error: tls enable failed at key_generated: host: key holder unavailable' "$WORK/en.out" || fail "CLI error: $(cat "$WORK/en.out")"
undo "$GEN"
cli tls enable "$EID" >"$WORK/en2.out" 2>&1 &
CLIPID=$!
take_op tls_generate
GEN=$(jget 'j["gen"]')
result "{\"ok\":true,\"data\":\"$(genkey "$GEN" kc)\"}"
if [ $ISSUES = 0 ]; then
	set +e
	wait $CLIPID; rc=$?
	set -e
	[ $rc = 1 ] || fail "tls enable without issuance ended $rc: $(cat "$WORK/en2.out")"
	[ "$(cli_steps "$WORK/en2.out")" = \
	  "done:key_generated done:certificate_requested FAILED:certificate_issued " ] || fail "CLI steps: $(cat "$WORK/en2.out")"
	undo "$GEN"
else
	take_op tls_install; result '{"ok":true}'
	wait $CLIPID || fail "tls enable: $(cat "$WORK/en2.out")"
	[ "$(cli_steps "$WORK/en2.out")" = \
	  "done:key_generated done:certificate_requested done:certificate_issued done:delivered done:acknowledged done:enabled " ] ||
		fail "CLI steps: $(cat "$WORK/en2.out")"
fi

# ---- a restart fails an enable in flight (its op lived in the worker's memory)
as "$TA" DELETE "/v1/enclaves/$KEYED/tls" '{}' -H "X-Cloister-Access-Key: none"; expect 403 forbidden
as "$TA" GET "$T"; expect 200
if [ "$(jget 'j["state"]')" = enabled ]; then # disabled first: the enable below makes a new key
	as "$TA" DELETE "$T"; expect 202; take_op tls_remove; result '{"ok":true}'
fi
as "$TA" POST "$T" '{}'; expect 202; J9=$(jget 'j["job"]["id"]')
PARTS=$(ctl_parts)
kill -STOP $PARTS # every part at once (none notices its parent go): nothing recorded on the way out
kill -9 $PARTS
{ wait "$CTL_PID"; } 2>/dev/null || true
CTL_PID=
ctl_start --poll-timeout-ms 600000
as "$TA" GET "/v1/jobs/$J9"; expect 200
[ "$(jget 'j["state"]+" "+str(len(j["steps"]))')" = "failed 0" ] && grep -q 'interrupted by a control plane restart' <<<"$BODY" ||
	fail "after a restart: $BODY"
as "$TA" GET "$T"; expect 200
[ "$(jget 'j["state"]')" = failed ] && grep -q 'interrupted by a control plane restart' <<<"$BODY" ||
	fail "enabling after a restart: $BODY"
[ "$(db "SELECT state || ' ' || pending_policy FROM tls_creds WHERE enclave_id='$EID'")" = "failed " ] ||
	fail "the stored credential after a restart: $(db "SELECT state, pending_policy FROM tls_creds")"
echo "control_tls: ok"
