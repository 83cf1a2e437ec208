#!/usr/bin/env bash
# control_uploads.sh — uploads in parts, the 1 MiB request cap, and a big
# image through an upload, with curl as tenants, the admin and a fake host:
#
#   curl (tenant A / tenant B / fake host / nobody) ──HTTPS──► cloister-control (port 0, temp dir)
#                                                              DATA/uploads/<id>, uploads table
#
# Checks: a multi-part upload (in order, idempotent retry of the last part,
# out of order 409, oversize part 413, wrong size 400), a wrong digest is
# refused and the upload deleted, another tenant cannot see, take or delete
# an upload (404), host tokens are refused, the 5th held upload is
# refused, a 3 MiB image goes through an upload (and not as a raw body), and
# 20 concurrent unauthenticated 2 MiB POSTs get 413 without the server's
# peak resident size growing much.
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 1000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201; OTHER=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$OTHER\",\"name\":\"ci\"}"; expect 201; TO=$(jget 'j["token"]')
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HT=$(jget 'j["host_token"]')

sha() { sha384sum "$1" | cut -d' ' -f1; }
# part TOKEN ID N FILE: PUT a part from a file
part() { req PUT "/v1/uploads/$2/parts/$3" -H "Authorization: Bearer $1" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$4"; }
# slice FILE N OUT: part N (1 MiB parts) of FILE into OUT
slice() { dd if="$1" of="$3" bs=1048576 skip="$2" count=1 status=none; }
uploads_on_disk() { find "$WORK/data/uploads" -type f | wc -l; }

# ---- a multi-part upload ----
head -c $((2 * 1048576 + 5000)) /dev/urandom >"$WORK/blob"
for i in 0 1 2; do slice "$WORK/blob" $i "$WORK/p$i"; done
as "$TA" POST /v1/uploads "{\"size\":$(stat -c %s "$WORK/blob"),\"sha384\":\"$(sha "$WORK/blob")\"}"
expect 201; UP=$(jget 'j["id"]')
[[ "$UP" == upl_* ]] || fail "upload id: $BODY"
[ "$(jget 'j["parts"]')" = 3 ] && [ "$(jget 'j["part_size"]')" = 1048576 ] || fail "parts: $BODY"
[ "$(db "SELECT received FROM uploads WHERE id='$UP'")" = 0 ] || fail "row not created"
[ "$(stat -c %a "$WORK/data/uploads/$UP")" = 600 ] || fail "upload file not 0600"
part "$TA" "$UP" 1 "$WORK/p1"; expect 409 conflict              # out of order
part "$TA" "$UP" 3 "$WORK/p1"; expect 400 invalid               # no such part
head -c $((1048576 + 100)) /dev/urandom >"$WORK/over"
part "$TA" "$UP" 0 "$WORK/over"; expect 413 too_large           # bigger than part_size
head -c 1000 /dev/urandom >"$WORK/short"
part "$TA" "$UP" 0 "$WORK/short"; expect 400 invalid            # a non-last part must be full
req PUT "/v1/uploads/$UP/parts/0" -H "Authorization: Bearer $TA" --data-binary @"$WORK/p0"
expect 415 unsupported_media_type                               # not octet-stream
[ "$(db "SELECT received FROM uploads WHERE id='$UP'")" = 0 ] || fail "refused parts changed the upload"
part "$TA" "$UP" 0 "$WORK/p0"; expect 200
[ "$(jget 'j["received"]')" = 1048576 ] && [ "$(jget 'j["complete"]')" = False ] || fail "after part 0: $BODY"
part "$TA" "$UP" 0 "$WORK/p0"; expect 200                       # retry of the last part: idempotent
[ "$(jget 'j["received"]')" = 1048576 ] || fail "retry changed received: $BODY"
part "$TA" "$UP" 0 "$WORK/p1"; expect 409 conflict              # same number, other bytes
part "$TA" "$UP" 1 "$WORK/p1"; expect 200
head -c 5000 /dev/urandom >"$WORK/p2x"
part "$TA" "$UP" 2 "$WORK/over"; expect 413 too_large           # last part longer than the rest
part "$TA" "$UP" 2 "$WORK/p2"; expect 200
[ "$(jget 'j["complete"]')" = True ] && [ "$(jget 'j["received"]')" = $((2 * 1048576 + 5000)) ] || fail "complete: $BODY"
part "$TA" "$UP" 2 "$WORK/p2"; expect 200                       # retry after completion
part "$TA" "$UP" 2 "$WORK/p2x"; expect 409 conflict
as "$TA" GET "/v1/uploads/$UP"; expect 200
[ "$(jget 'j["complete"]')" = True ] && [ "$(jget 'j["size"]')" = $((2 * 1048576 + 5000)) ] || fail "get: $BODY"
cmp "$WORK/blob" "$WORK/data/uploads/$UP" || fail "stored bytes differ"

# ---- other tenants and hosts ----
as "$TO" GET "/v1/uploads/$UP"; expect 404 not_found
as "$TO" DELETE "/v1/uploads/$UP"; expect 404 not_found
part "$TO" "$UP" 2 "$WORK/p2"; expect 404 not_found
as "$TO" POST /v1/images "{\"upload\":\"$UP\"}"; expect 404 not_found
as "$ADMIN" GET "/v1/uploads/$UP"; expect 404 not_found         # the admin is another owner too
as "$HT" POST /v1/uploads "{\"size\":10,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 403 forbidden
as "$HT" GET "/v1/uploads/$UP"; expect 403 forbidden
req GET "/v1/uploads/$UP"; expect 401 unauthorized
as "$TA" GET /v1/uploads/upl_nosuch; expect 404 not_found
[ "$(db "SELECT COUNT(*) FROM uploads WHERE id='$UP'")" = 1 ] || fail "others changed the upload"
# not an image: refused, and the upload deleted (a retry cannot re-hash it)
as "$TA" POST /v1/images "{\"upload\":\"$UP\"}"; expect 400 invalid
as "$TA" GET "/v1/uploads/$UP"; expect 404 not_found
[ -e "$WORK/data/uploads/$UP" ] && fail "refused upload's file remains"
[ "$(db "SELECT COUNT(*) FROM images")" = 0 ] || fail "a refused upload made an image"

# ---- bad creations ----
as "$TA" POST /v1/uploads '{"size":0,"sha384":"00"}'; expect 400 invalid
as "$TA" POST /v1/uploads "{\"size\":10,\"sha384\":\"$(sha "$WORK/blob" | tr a-f A-F)\"}"; expect 400 invalid
as "$TA" POST /v1/uploads "{\"size\":$((256 * 1048576 + 1)),\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 413 too_large
as "$TA" POST /v1/uploads "{\"size\":10,\"sha384\":\"$(sha "$WORK/blob")\",\"x\":1}"; expect 400 invalid
[ "$(db 'SELECT COUNT(*) FROM uploads')" = 0 ] || fail "refused creations left rows"

# ---- a wrong digest is refused and the upload deleted ----
as "$TA" POST /v1/uploads "{\"size\":$(stat -c %s "$WORK/p2"),\"sha384\":\"$(sha "$WORK/p1")\"}"; expect 201; BAD=$(jget 'j["id"]')
part "$TA" "$BAD" 0 "$WORK/p2"; expect 400 invalid
grep -q 'SHA-384' <<<"$BODY" || fail "digest error not clear: $BODY"
as "$TA" GET "/v1/uploads/$BAD"; expect 404 not_found
[ -e "$WORK/data/uploads/$BAD" ] && fail "refused upload's file remains"

# ---- at most 4 uploads held per tenant (and token kind) ----
IDS=()
for i in 1 2 3 4; do
	as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 201; IDS+=("$(jget 'j["id"]')")
done
as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 409 conflict
as "$TO" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 201   # per tenant
as "$TO" DELETE "/v1/uploads/$(jget 'j["id"]')"; expect 200
as "$TA" DELETE "/v1/uploads/${IDS[0]}"; expect 200
# a complete upload still holds its place until it is used, deleted or expires
head -c 100 /dev/urandom >"$WORK/small"
as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/small")\"}"; expect 201; IDS[0]=$(jget 'j["id"]')
part "$TA" "${IDS[0]}" 0 "$WORK/small"; expect 200; [ "$(jget 'j["complete"]')" = True ] || fail "small: $BODY"
as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 409 conflict
# an explicit delete frees the place
as "$TA" DELETE "/v1/uploads/${IDS[0]}"; expect 200
as "$TA" GET "/v1/uploads/${IDS[0]}"; expect 404 not_found
[ -e "$WORK/data/uploads/${IDS[0]}" ] && fail "deleted upload's file remains"
as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 201; IDS[0]=$(jget 'j["id"]')
for id in "${IDS[@]}"; do as "$TA" DELETE "/v1/uploads/$id"; expect 200; done
[ "$(uploads_on_disk)" = 0 ] || fail "upload files left behind"

# ---- a 3 MiB image through an upload ----
python3 - "$WORK/big.img" <<'PY'
import hashlib, json, os, struct, sys
files = [("app/hello", b"#!/bin/sh\necho hello\n", 493)] + [("data/r%d" % i, os.urandom(1 << 20), 420) for i in range(3)]
man = {"format": 1, "name": "big", "version": "1.0.0", "entrypoint": "/app/hello", "args": [],
       "files": [{"path": p, "mode": m, "size": len(d), "sha384": hashlib.sha384(d).hexdigest()} for p, d, m in files]}
mj = json.dumps(man, separators=(",", ":")).encode()
open(sys.argv[1], "wb").write(b"CLIMAGE1" + struct.pack(">I", len(mj)) + mj + b"".join(d for _, d, _ in files))
PY
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WORK/big.img"; expect 413
SIZE=$(stat -c %s "$WORK/big.img")
as "$TA" POST /v1/uploads "{\"size\":$SIZE,\"sha384\":\"$(sha "$WORK/big.img")\"}"; expect 201; UP=$(jget 'j["id"]')
N=$(jget 'j["parts"]')
as "$TA" POST /v1/images "{\"upload\":\"$UP\"}"; expect 409 conflict   # not complete yet
for ((i = 0; i < N; i++)); do slice "$WORK/big.img" $i "$WORK/part"; part "$TA" "$UP" $i "$WORK/part"; expect 200; done
as "$TA" POST /v1/images "{\"upload\":\"$UP\",\"name\":\"big-one\"}"; expect 201
IMG=$(jget 'j["id"]')
[ "$(jget 'j["size"]')" = "$SIZE" ] && [ "$(jget 'j["name"]')" = big-one ] || fail "image: $BODY"
cmp "$WORK/big.img" "$WORK/data/images/by-digest/$(sha "$WORK/big.img")" || fail "image bytes differ"
as "$TA" GET "/v1/uploads/$UP"; expect 404 not_found   # taken
as "$TA" POST /v1/images "{\"upload\":\"$UP\"}"; expect 404 not_found
as "$TA" POST /v1/images '{"upload":"nope"}'; expect 400 invalid
[ "$(uploads_on_disk)" = 0 ] || fail "taken upload left its file"

# the CLI sends image files as uploads: the same 3 MiB image through `cloister enclave create`
# (no host can run it here: the creation may be refused, the image must be stored)
CLI="$BUILD/bin/cloister"
"$CLI" --server "$URL" --ca "$CA" --token "$TA" enclave create --image "$WORK/big.img" --name big \
	>"$WORK/cli.out" 2>"$WORK/cli.err" || true
grep -q "uploaded $WORK/big.img: image img-" "$WORK/cli.err" || fail "cli did not upload the image: $(cat "$WORK/cli.err")"
as "$TA" GET /v1/images; expect 200
[ "$(jget "len([i for i in j['items'] if i['size']==$SIZE])")" = 2 ] || fail "cli image not stored: $BODY"
[ "$(uploads_on_disk)" = 0 ] || fail "cli upload left its file"

# ---- unauthenticated 2 MiB bodies: 413, and the server does not grow ----
# 20 at once (had the server buffered them before refusing, its peak resident
# size would grow by 40 MiB), then a few other endpoints. VmHWM = peak RSS.
head -c $((2 * 1048576)) /dev/zero >"$WORK/2m"
hwm() { awk '/^VmHWM:/{print $2}' "/proc/$CTL_PID/status"; }
BEFORE=$(hwm)
PIDS=()
for i in $(seq 1 20); do
	curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
		--data-binary @"$WORK/2m" "$URL/v1/tenants" >"$WORK/big.$i" 2>&1 &
	PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "$p" || true; done
for i in $(seq 1 20); do [ "$(cat "$WORK/big.$i")" = 413 ] || fail "2 MiB body $i: $(cat "$WORK/big.$i")"; done
for p in /v1/uploads /v1/hosts/register /v1/images /healthz; do
	req POST "$p" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/2m"; expect 413
done
AFTER=$(hwm)
echo "peak rss before=${BEFORE}kB after=${AFTER}kB"
[ $((AFTER - BEFORE)) -lt 16384 ] || fail "server grew by $((AFTER - BEFORE)) kB on refused bodies"
req GET /healthz; expect 200

# ---- restart: orphan files are swept, rows kept ----
as "$TA" POST /v1/uploads "{\"size\":100,\"sha384\":\"$(sha "$WORK/blob")\"}"; expect 201; KEEP=$(jget 'j["id"]')
echo junk >"$WORK/data/uploads/upl_orphan"
ctl_kill9
ctl_start --poll-timeout-ms 1000
[ -e "$WORK/data/uploads/upl_orphan" ] && fail "orphan upload file not swept"
as "$TA" GET "/v1/uploads/$KEEP"; expect 200
echo "ok"
