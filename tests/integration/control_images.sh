#!/usr/bin/env bash
# control_images.sh — images stored once per digest, listed, deleted and
# counted against a storage quota, with curl as two tenants, the admin and a
# fake host, and with the CLI (`cloister image list|rm`):
#
#   curl (tenant A / tenant B / admin / fake host) ──HTTPS──► cloister-control (port 0, temp dir)
#   cloister image list|rm ───────────────────────────────►   DATA/images/by-digest/<sha384>
#
# Checks: two tenants (and one tenant twice) uploading the same bytes store
# one file; each tenant lists only its own images, in pages; an image an
# enclave uses cannot be deleted (409); its file goes when its last image
# goes; the quota (admin-set, per tenant) answers 507 when exceeded, also for
# an upload whose quota was lowered under it; a corrupt image is a 400 with
# a clear message (not a 500); a host still fetches images by id; files of
# the one-file-per-image layout move to their digest at start.
source "$(dirname "$0")/control_lib.sh"
CLI="$BUILD/bin/cloister"
sha() { sha384sum "$1" | cut -d' ' -f1; }
digest_files() { find "$WORK/data/images/by-digest" -type f | wc -l; }
raw_image() { # raw_image TOKEN FILE: POST the image as the request body
	req POST /v1/images -H "Authorization: Bearer $1" -H 'Content-Type: application/octet-stream' --data-binary @"$2"
}
part() { req PUT "/v1/uploads/$2/parts/$3" -H "Authorization: Bearer $1" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$4"; }
cli() { "$CLI" --server "$URL" --ca "$CA" --token "$1" "${@:2}"; }

ctl_start --poll-timeout-ms 1000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201; OTHER=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"ci\"}"; expect 201; TO=$(jget 'j["token"]')

# ---- the same bytes from two tenants (raw and as an upload): one file ----
mkimage "$WORK/hello.img"
SHA=$(sha "$WORK/hello.img"); SIZE=$(stat -c %s "$WORK/hello.img")
raw_image "$TA" "$WORK/hello.img"; expect 201; A1=$(jget 'j["id"]')
raw_image "$TA" "$WORK/hello.img"; expect 201; A2=$(jget 'j["id"]')   # the same tenant twice
as "$TO" POST /v1/uploads "{\"size\":$SIZE,\"sha384\":\"$SHA\"}"; expect 201; UP=$(jget 'j["id"]')
part "$TO" "$UP" 0 "$WORK/hello.img"; expect 200
as "$TO" POST /v1/images "{\"upload\":\"$UP\",\"name\":\"shared\"}"; expect 201; B1=$(jget 'j["id"]')
[ "$(jget 'j["sha384"]')" = "$SHA" ] || fail "digest: $BODY"
[ "$(digest_files)" = 1 ] || fail "the same bytes stored $(digest_files) times"
cmp "$WORK/hello.img" "$WORK/data/images/by-digest/$SHA" || fail "stored bytes differ"
[ -z "$(find "$WORK/data/uploads" -type f)" ] || fail "the consumed upload's file remains"
[ "$(db "SELECT COUNT(*) FROM images WHERE sha384='$SHA'")" = 3 ] || fail "image rows"

# ---- each tenant lists only its own, in pages ----
for i in 1 2 3; do raw_image "$TA" "$WORK/hello.img"; expect 201; done
as "$TA" GET /v1/images; expect 200
[ "$(jget 'len(j["items"])')" = 5 ] && [ "$(jget 'j["next"]')" = None ] || fail "tenant A list: $BODY"
as "$TO" GET /v1/images; expect 200
[ "$(jget '[i["id"] for i in j["items"]]')" = "['$B1']" ] || fail "tenant B list: $BODY"
as "$TA" GET '/v1/images?limit=2'; expect 200
P1=$(jget '",".join(i["id"] for i in j["items"])'); NEXT=$(jget 'j["next"]')
[ "$(jget 'len(j["items"])')" = 2 ] && [ "$NEXT" != None ] || fail "page 1: $BODY"
as "$TA" GET "/v1/images?limit=2&after=$NEXT"; expect 200
P2=$(jget '",".join(i["id"] for i in j["items"])'); NEXT=$(jget 'j["next"]')
as "$TA" GET "/v1/images?limit=2&after=$NEXT"; expect 200
P3=$(jget '",".join(i["id"] for i in j["items"])')
[ "$(jget 'j["next"]')" = None ] || fail "page 3 has a next: $BODY"
ALL=$(tr ',' '\n' <<<"$P1,$P2,$P3" | sort -u | wc -l)
[ "$ALL" = 5 ] || fail "pages do not cover the list once: $P1 / $P2 / $P3"
as "$TA" GET '/v1/images?limit=0'; expect 400 invalid
as "$TA" GET '/v1/images?after=../x'; expect 400 invalid
cli "$TA" image list --json >"$WORK/list.json" || fail "cli image list"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/list.json")" = 5 ] ||
	fail "cli list: $(cat "$WORK/list.json")"
cli "$TA" image list --limit 2 >"$WORK/list.txt" 2>"$WORK/list.err" || fail "cli image list --limit"
[ "$(grep -c '^img-' "$WORK/list.txt")" = 2 ] || fail "cli page: $(cat "$WORK/list.txt")"
grep -q "more: cloister image list --limit 2 --after img-" "$WORK/list.err" || fail "cli cursor: $(cat "$WORK/list.err")"
cli "$TO" image list >"$WORK/list.txt" || fail "cli image list (B)"
grep -q "$B1" "$WORK/list.txt" && ! grep -q "$A1" "$WORK/list.txt" || fail "cli list B: $(cat "$WORK/list.txt")"

# ---- a fake host; an enclave on A1 ----
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
as "$TA" POST /v1/enclaves "{\"name\":\"e1\",\"image_id\":\"$A1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"; expect 202
EID=$(jget 'j["enclave"]["id"]'); KEY=$(jget 'j["access_key"]')
REQ_OUT="$WORK/fetched.img" req GET "/v1/images/$A1" -H "Authorization: Bearer $HT"; expect 200
cmp -s "$WORK/fetched.img" "$WORK/hello.img" || fail "the host fetched other bytes"
REQ_OUT=/dev/null req GET "/v1/images/$B1" -H "Authorization: Bearer $HT"; expect 404  # not placed there

# ---- delete: refused while used, the file goes with the last image ----
as "$TA" DELETE "/v1/images/$A1"; expect 409 conflict
grep -q "$EID" <<<"$BODY" || fail "409 does not name the enclave: $BODY"
cli "$TA" image rm "$A1" 2>"$WORK/rm.err" && fail "cli rm of a used image succeeded"
grep -q "destroy it first" "$WORK/rm.err" || fail "cli rm error: $(cat "$WORK/rm.err")"
as "$TO" DELETE "/v1/images/$A2"; expect 404 not_found                  # not B's
as "$HT" DELETE "/v1/images/$A2"; expect 403 forbidden
as "$TA" DELETE "/v1/images/img-nosuch"; expect 404 not_found
as "$TA" DELETE "/v1/images/$A2"; expect 200
as "$TA" GET "/v1/images/$A2"; expect 404 not_found
cli "$TA" image rm "$A2" 2>/dev/null && fail "cli rm of a deleted image succeeded"
req DELETE "/v1/enclaves/$EID" -H "Authorization: Bearer $TA" -H "X-Cloister-Access-Key: $KEY"; expect 202
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0,"enclaves":[]}'; expect 200
as "$TA" GET "/v1/enclaves/$EID"; expect 404 not_found
cli "$TA" image rm "$A1" >"$WORK/rm.out" || fail "cli rm after the enclave went"
grep -q "deleted $A1" "$WORK/rm.out" || fail "cli rm output: $(cat "$WORK/rm.out")"
for id in $(db "SELECT id FROM images WHERE tenant_id='$ACME'"); do as "$TA" DELETE "/v1/images/$id"; expect 200; done
[ "$(digest_files)" = 1 ] || fail "the file went while tenant B still has the image"
as "$TO" DELETE "/v1/images/$B1"; expect 200
[ "$(digest_files)" = 0 ] || fail "the file stayed after its last image went"
[ "$(db 'SELECT COUNT(*) FROM images')" = 0 ] || fail "image rows left"

# ---- quotas ----
as "$TA" GET /v1/images/quota; expect 200
[ "$(jget 'j["limit_bytes"]')" = $((1 << 30)) ] && [ "$(jget 'j["default"]')" = True ] &&
	[ "$(jget 'j["used_bytes"]')" = 0 ] || fail "default quota: $BODY"
as "$TA" PUT "/v1/images/quota?tenant=$ACME" '{"limit_bytes":1000}'; expect 403 forbidden
as "$TA" GET "/v1/images/quota?tenant=$OTHER"; expect 404 not_found
as "$ADMIN" PUT "/v1/images/quota?tenant=ten-nosuch" '{"limit_bytes":1000}'; expect 404 not_found
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" '{"limit_bytes":-1}'; expect 400 invalid
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" '{"limit":5}'; expect 400 invalid
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" "{\"limit_bytes\":$((SIZE + 100))}"; expect 200
[ "$(jget 'j["limit_bytes"]')" = $((SIZE + 100)) ] && [ "$(jget 'j["default"]')" = False ] || fail "set quota: $BODY"
raw_image "$TA" "$WORK/hello.img"; expect 201; Q1=$(jget 'j["id"]')
raw_image "$TA" "$WORK/hello.img"; expect 201   # the same bytes again cost nothing
as "$TA" GET /v1/images/quota; expect 200
[ "$(jget 'j["images_bytes"]')" = "$SIZE" ] || fail "usage: $BODY"
python3 - "$WORK/other.img" <<'PY'
import hashlib, json, struct, sys
data = b"#!/bin/sh\necho other\n" * 20
man = {"format": 1, "name": "other", "version": "1.0.0", "entrypoint": "/app/o", "args": [],
       "files": [{"path": "app/o", "mode": 493, "size": len(data), "sha384": hashlib.sha384(data).hexdigest()}]}
m = json.dumps(man, separators=(",", ":")).encode()
open(sys.argv[1], "wb").write(b"CLIMAGE1" + struct.pack(">I", len(m)) + m + data)
PY
raw_image "$TA" "$WORK/other.img"; expect 507 insufficient_storage
grep -q "quota exceeded ($SIZE/$((SIZE + 100)) bytes used" <<<"$BODY" || fail "quota message: $BODY"
as "$TA" POST /v1/uploads "{\"size\":200,\"sha384\":\"$SHA\"}"; expect 507 insufficient_storage
[ "$(db 'SELECT COUNT(*) FROM uploads')" = 0 ] || fail "a refused upload was created"
raw_image "$TO" "$WORK/other.img"; expect 201   # another tenant's quota is its own
# an upload within the quota, then the quota lowered under it: the next part is refused
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" '{"limit_bytes":10000000}'; expect 200
head -c $((1048576 + 10)) /dev/urandom >"$WORK/blob"
as "$TA" POST /v1/uploads "{\"size\":$((1048576 + 10)),\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 201; UQ=$(jget 'j["id"]')
as "$TA" GET /v1/images/quota; expect 200
[ "$(jget 'j["uploads_bytes"]')" = $((1048576 + 10)) ] || fail "held upload not counted: $BODY"
dd if="$WORK/blob" of="$WORK/p0" bs=1048576 count=1 status=none
part "$TA" "$UQ" 0 "$WORK/p0"; expect 200
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" '{"limit_bytes":1000}'; expect 200
dd if="$WORK/blob" of="$WORK/p1" bs=1048576 skip=1 count=1 status=none
part "$TA" "$UQ" 1 "$WORK/p1"; expect 507 insufficient_storage
grep -q "quota exceeded" <<<"$BODY" || fail "lowered quota message: $BODY"
as "$TA" DELETE "/v1/uploads/$UQ"; expect 200
as "$ADMIN" PUT "/v1/images/quota?tenant=$ACME" '{"limit_bytes":null}'; expect 200
[ "$(jget 'j["default"]')" = True ] || fail "quota not back to the default: $BODY"

# ---- a corrupt image is the client's error (400 crypto), not a 500 ----
python3 - "$WORK/hello.img" "$WORK/corrupt.img" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-2] ^= 1
open(sys.argv[2], "wb").write(bytes(b))
PY
raw_image "$TA" "$WORK/corrupt.img"; expect 400 crypto
grep -q 'file \\"app/hello\\" do not match its SHA-384' <<<"$BODY" || fail "corrupt image message: $BODY"
CSIZE=$(stat -c %s "$WORK/corrupt.img")
as "$TA" POST /v1/uploads "{\"size\":$CSIZE,\"sha384\":\"$(sha "$WORK/corrupt.img")\"}"; expect 201; UC=$(jget 'j["id"]')
part "$TA" "$UC" 0 "$WORK/corrupt.img"; expect 200
as "$TA" POST /v1/images "{\"upload\":\"$UC\"}"; expect 400 crypto
grep -q "the upload was deleted" <<<"$BODY" || fail "corrupt upload message: $BODY"
cli "$TA" enclave create --image "$WORK/corrupt.img" --name bad 2>"$WORK/corrupt.err" && fail "cli took a corrupt image"
grep -q "do not match its SHA-384" "$WORK/corrupt.err" || fail "cli corrupt message: $(cat "$WORK/corrupt.err")"
[ "$(db 'SELECT COUNT(*) FROM uploads')" = 0 ] || fail "corrupt uploads left behind"

# ---- restart: the one-file-per-image layout moves to digests; orphans go ----
as "$TA" POST /v1/enclaves "{\"name\":\"e2\",\"image_id\":\"$Q1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"
[ "$STATUS" = 202 ] || { as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; \
	as "$TA" POST /v1/enclaves "{\"name\":\"e2\",\"image_id\":\"$Q1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}"; expect 202; }
ctl_kill9
mv "$WORK/data/images/by-digest/$SHA" "$WORK/data/images/$Q1.img"
echo junk >"$WORK/data/images/by-digest/$(printf 'ab%.0s' $(seq 48))"
echo junk >"$WORK/data/images/img-gone.img"
ctl_start --poll-timeout-ms 1000
[ -f "$WORK/data/images/by-digest/$SHA" ] || fail "legacy image file not moved to its digest"
[ -e "$WORK/data/images/$Q1.img" ] && fail "legacy image file left"
[ -e "$WORK/data/images/img-gone.img" ] && fail "orphan legacy file left"
[ "$(digest_files)" = 2 ] || fail "orphan digest file not swept: $(ls "$WORK/data/images/by-digest")"
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
REQ_OUT="$WORK/fetched.img" req GET "/v1/images/$Q1" -H "Authorization: Bearer $HT"; expect 200
cmp -s "$WORK/fetched.img" "$WORK/hello.img" || fail "image bytes changed over the move"
echo "ok"
