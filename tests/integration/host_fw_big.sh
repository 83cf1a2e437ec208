#!/usr/bin/env bash
# host_fw_big.sh — a firmware bundle far bigger than one request, end to end:
# upload in parts -> POST fw/push {"upload"} -> the sync answer carries a
# "data_ref" -> the agent fetches GET /v1/hosts/{id}/fw/ops/{op}/data, checks
# size and SHA-384 -> the device installs it.
#
#   cloister CLI (admin) ──uploads──► cloister-control ◄──sync + data fetch── cloister-host --fw-root
#   curl (fake hosts h2, h3) ─────────►       │
#
# First, with two fake hosts (curl, no agent): a ≥ 4 MiB push to h2 rides the
# answer as data_ref {size, sha384} (no inline data), only h2 may fetch the
# bytes (h3 404, admin 403), and they match; the data file is reaped once
# the op is answered. Then the real agent installs a 4 MiB+ bundle pushed
# with `cloister fw push --wait` (which sends bundles over 512 KiB as uploads).
source "$(dirname "$0")/host_lib.sh"

NIC=0000:03:00.0
NIC_VENDOR=6ba7b810-9dad-11d1-80b4-00c04fd430c8
NIC_CLASS=2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55
BIG_MIB=${BIG_MIB:-5}

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY

for k in root a b; do
	"$CLI_BIN" fw keygen --out "$WORK/$k.pem" --pub "$WORK/$k.pub" >/dev/null || fail "keygen $k"
done
"$CLI_BIN" fw trust-root sign --version 1 --threshold 2 --signer "$WORK/a.pub,$WORK/b.pub" \
	--key "$WORK/root.pem" -o "$WORK/tr1.cbor" >/dev/null || fail "trust-root sign"
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$WORK/img.bin"
"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC --version 3.0.0 \
	--sequence 9 --channel stable --image "$WORK/img.bin" -o "$WORK/big.fw" >/dev/null || fail "fw sign"
"$CLI_BIN" fw cosign --key "$WORK/b.pem" "$WORK/big.fw" >/dev/null || fail "fw cosign"
SIZE=$(stat -c %s "$WORK/big.fw")
SHA=$(sha384sum "$WORK/big.fw" | cut -d' ' -f1)
[ "$SIZE" -ge $((4 * 1048576)) ] || fail "bundle is only $SIZE bytes"

# as TOKEN METHOD PATH [curl args]: like req with another bearer token.
as() {
	local t=$1 m=$2 p=$3; shift 3
	BODY=$(curl -sS --cacert "$CA" -X "$m" -H "Authorization: Bearer $t" -o - -w '\n%{http_code}' "$@" "$URL$p") ||
		{ STATUS=000; BODY=; return 0; }
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
# upload FILE: an upload in 1 MiB parts as the admin; sets UP.
upload() {
	local size sha n i
	size=$(stat -c %s "$1"); sha=$(sha384sum "$1" | cut -d' ' -f1)
	json POST /v1/uploads "{\"size\":$size,\"sha384\":\"$sha\"}"; [ "$STATUS" = 201 ] || fail "upload: $STATUS $BODY"
	UP=$(jget 'j["id"]'); n=$(jget 'j["parts"]')
	for ((i = 0; i < n; i++)); do
		dd if="$1" of="$WORK/part" bs=1048576 skip=$i count=1 status=none
		req PUT "/v1/uploads/$UP/parts/$i" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/part"
		[ "$STATUS" = 200 ] || fail "part $i: $STATUS $BODY"
	done
}
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
fake_host() { # fake_host NAME: registers; prints "ID TOKEN"
	local jt; jt=$(join_token)
	BODY=$(curl -sS --cacert "$CA" -H "Content-Type: application/json" --data-binary "{\"join_token\":\"$jt\",\"name\":\"$1\",\"capabilities\":$CAPS}" "$URL/v1/hosts/register")
	echo "$(jget 'j["host_id"]') $(jget 'j["host_token"]')"
}
read -r H2 T2 < <(fake_host h2)
read -r H3 T3 < <(fake_host h3)

# ---- by reference, seen from a fake host ----
upload "$WORK/big.fw"
json POST "/v1/hosts/$H2/fw/push" "{\"device\":\"$NIC\",\"upload\":\"$UP\",\"bundle\":\"AAAA\"}"
[ "$STATUS" = 400 ] || fail "bundle and upload together: $STATUS $BODY"
json POST "/v1/hosts/$H2/fw/push" "{\"device\":\"$NIC\",\"upload\":\"$UP\"}"
[ "$STATUS" = 202 ] || fail "push by upload: $STATUS $BODY"
OP=$(jget 'j["op"]')
req GET "/v1/uploads/$UP"; [ "$STATUS" = 404 ] || fail "upload not consumed by the push: $STATUS"
[ -f "$WORK/ctl/fw_ops/$OP.bin" ] || fail "op data not kept by reference"
[ "$(sqlite3 "$WORK/ctl/db/control.db" "SELECT length(data) FROM fw_ops WHERE id='$OP'")" = 0 ] ||
	fail "big op data stored inline"
as "$T2" POST "/v1/hosts/$H2/sync" -H 'Content-Type: application/json' --data-binary '{"generation":0,"wait_ms":0}'
[ "$STATUS" = 200 ] || fail "sync h2: $STATUS $BODY"
[ "$(jget "[o for o in j['firmware_ops'] if o['op']=='$OP'][0]['data_ref']['size']")" = "$SIZE" ] ||
	fail "no data_ref in the answer: ${BODY:0:400}"
[ "$(jget "[o for o in j['firmware_ops'] if o['op']=='$OP'][0]['data_ref']['sha384']")" = "$SHA" ] || fail "data_ref sha"
[ "$(jget "'data' in [o for o in j['firmware_ops'] if o['op']=='$OP'][0]")" = False ] || fail "inline data too"
[ "${#BODY}" -lt 65536 ] || fail "sync answer is ${#BODY} bytes"
as "$T3" GET "/v1/hosts/$H2/fw/ops/$OP/data"; [ "$STATUS" = 404 ] || fail "another host fetched the data: $STATUS"
as "$T3" GET "/v1/hosts/$H3/fw/ops/$OP/data"; [ "$STATUS" = 404 ] || fail "op of another host via own path: $STATUS"
req GET "/v1/hosts/$H2/fw/ops/$OP/data"; [ "$STATUS" = 403 ] || fail "admin fetched op data: $STATUS"
curl -sS --cacert "$CA" -H "Authorization: Bearer $T2" -o "$WORK/fetched" -w '%{http_code}' \
	"$URL/v1/hosts/$H2/fw/ops/$OP/data" >"$WORK/code" || fail "fetch"
[ "$(cat "$WORK/code")" = 200 ] || fail "own host fetch: $(cat "$WORK/code")"
cmp "$WORK/fetched" "$WORK/big.fw" || fail "fetched data differs"
as "$T2" POST "/v1/hosts/$H2/sync" -H 'Content-Type: application/json' \
	--data-binary "{\"generation\":0,\"wait_ms\":0,\"results\":[{\"op\":\"$OP\",\"ok\":false,\"error\":\"refused: test\",\"reason\":\"rollback\"}]}"
[ "$STATUS" = 200 ] || fail "sync with result: $STATUS $BODY"
as "$T2" POST "/v1/hosts/$H2/sync" -H 'Content-Type: application/json' --data-binary '{"generation":0,"wait_ms":0}'
[ -f "$WORK/ctl/fw_ops/$OP.bin" ] && fail "answered op's data file not reaped"
as "$T2" GET "/v1/hosts/$H2/fw/ops/$OP/data"; [ "$STATUS" = 404 ] || fail "finished op's data still served: $STATUS"

# ---- end to end with the real agent ----
JT=$(join_token)
host_start --join-token "$JT" --fw-root "$WORK/root.pub"
fw_reported() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["reported"]')" = True ]; }
wait_for 20 "firmware report" fw_reported
out=$("$CLI_BIN" fw trust --host "$HOST_ID" --device $NIC --wait "$WORK/tr1.cbor" 2>&1) ||
	{ TR_B64=$(base64 -w0 "$WORK/tr1.cbor")
	  json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$TR_B64\"}"
	  [ "$STATUS" = 202 ] || fail "POST fw/trust: $STATUS $BODY"
	  TOP=$(jget 'j["op"]')
	  op_ok() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
	  wait_for 30 "trust op" op_ok "$TOP"
	  [ "$(jget 'j["state"]')" = ok ] || fail "trust root refused: $BODY"; }
T0=$SECONDS
"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/big.fw" >"$WORK/push.out" 2>"$WORK/push.err" ||
	fail "big push: $(cat "$WORK/push.out" "$WORK/push.err"; tail -5 "$WORK/host.err")"
grep -q '^accepted' "$WORK/push.out" || fail "big push: $(cat "$WORK/push.out")"
echo "pushed $SIZE bytes in $((SECONDS - T0)) s"
grep -q 'firmware op data sent' "$WORK/ctl.err" || fail "the agent did not fetch by reference"
ver_is() { "$CLI_BIN" --json fw status --host "$HOST_ID" >"$WORK/status.json" 2>/dev/null &&
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); d=[d for d in j['devices'] if d['addr']==sys.argv[2]][0]; sys.exit(0 if d['version']=='3.0.0' else 1)" \
		"$WORK/status.json" $NIC; }
wait_for 20 "the NIC reports version 3.0.0" ver_is
[ "$(find "$WORK/ctl/uploads" -type f | wc -l)" = 0 ] || fail "uploads left behind"
echo "ok"
