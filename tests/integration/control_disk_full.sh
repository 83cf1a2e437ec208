#!/usr/bin/env bash
# control_disk_full.sh — the control plane on a full disk:
#
#   curl / cloister CLI ──HTTPS──► cloister-control ──► DATA on a 24 MiB tmpfs
#                                                       (DATA/db/reserve: 8 MiB kept for deletes)
#
# Checks: an image whose upload does not fit fails at a part with 507 "disk
# is full" and the CLI deletes its upload; an upload that fills the disk gets
# 507; then a create that needs a store write gets 507 insufficient_storage
# saying the disk is full (never SQLite's rollback text) and the server log
# has the cause; deleting the upload works on the full disk (the reserve is
# released for it and comes back); afterwards everything works again.
source "$(dirname "$0")/control_lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (mounts a tmpfs)"
DATA="$WORK/data"
mkdir -p "$DATA"
mount -t tmpfs -o size=24m,mode=0700 cloister-test "$DATA" || fail "cannot mount a tmpfs"
disk_cleanup() {
	local rc=$?
	if [ -n "$CTL_PID" ]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=; fi
	umount "$DATA" 2>/dev/null || umount -l "$DATA" 2>/dev/null || true
	cleanup
	exit $rc
}
trap disk_cleanup EXIT
CLI="$BUILD/bin/cloister"
free_bytes() { df --output=avail -B1 "$DATA" | tail -n 1 | tr -d ' '; }
sha() { sha384sum "$1" | cut -d' ' -f1; }
reserve_size() { stat -c %s "$DATA/db/reserve" 2>/dev/null || echo none; }
uploads_left() { find "$DATA/uploads" -type f | wc -l; }

ctl_start --poll-timeout-ms 1000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')
[ "$(reserve_size)" = 8388608 ] || fail "no 8 MiB disk reserve at start: $(reserve_size)"
echo "free at start: $(free_bytes) bytes"

# ---- the CLI: an image whose upload does not fit ----
head -c $((20 * 1048576)) /dev/urandom >"$WORK/big.bin"; chmod 755 "$WORK/big.bin"
"$CLI" image build -o "$WORK/big.img" --name big --entrypoint /app/big.bin "$WORK/big.bin" >/dev/null ||
	fail "image build"
rc=0
"$CLI" --server "$URL" --ca "$CA" --token "$TA" enclave create --image "$WORK/big.img" --name big \
	>"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
[ $rc = 1 ] || fail "cli exit $rc: $(cat "$WORK/cli.err")"
grep -q "disk is full" "$WORK/cli.err" || fail "cli error does not say the disk is full: $(cat "$WORK/cli.err")"
grep -q "the upload was deleted" "$WORK/cli.err" || fail "cli did not delete its upload: $(cat "$WORK/cli.err")"
[ "$(db 'SELECT COUNT(*) FROM uploads')" = 0 ] || fail "the failed upload is still in the store"
[ "$(uploads_left)" = 0 ] || fail "the failed upload's file is still on disk"
[ "$(reserve_size)" = 8388608 ] || fail "reserve not back after the delete: $(reserve_size)"
grep -q 'storage failure what="cannot store the part".*No space left on device' "$WORK/ctl.err" ||
	fail "server log lacks the cause"

# ---- fill the disk with an upload ----
head -c $((20 * 1048576)) /dev/urandom >"$WORK/fill"
as "$TA" POST /v1/uploads "{\"size\":$((20 * 1048576)),\"sha384\":\"$(sha "$WORK/fill")\"}"; expect 201; UP=$(jget 'j["id"]')
for ((i = 0; i < 20; i++)); do
	dd if="$WORK/fill" of="$WORK/part" bs=1048576 skip=$i count=1 status=none
	req PUT "/v1/uploads/$UP/parts/$i" -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' \
		--data-binary @"$WORK/part"
	[ "$STATUS" = 200 ] || break
done
expect 507 insufficient_storage
grep -q "disk is full" <<<"$BODY" || fail "part error does not say the disk is full: $BODY"
[ "$(free_bytes)" -lt 65536 ] || fail "the disk is not full: $(free_bytes) bytes free"

# ---- a create that needs a store write: 507, the first error, logged ----
: >"$WORK/ctl.err.mark"; MARK=$(wc -l <"$WORK/ctl.err")
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 507 insufficient_storage
grep -q "disk is full" <<<"$BODY" || fail "create error does not say the disk is full: $BODY"
grep -qi "rollback\|no transaction" <<<"$BODY" && fail "create error is the rollback's: $BODY"
tail -n +$((MARK + 1)) "$WORK/ctl.err" | grep -q 'storage failure.*database or disk is full' ||
	fail "server log lacks the store failure: $(tail -n +$((MARK + 1)) "$WORK/ctl.err")"
[ "$(db "SELECT COUNT(*) FROM tenants WHERE name='other'")" = 0 ] || fail "a refused create left a row"
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WORK/hello.img"
expect 507 insufficient_storage
grep -q "disk is full" <<<"$BODY" || fail "image error does not say the disk is full: $BODY"
[ "$(db 'SELECT COUNT(*) FROM images')" = 0 ] || fail "a refused image left a row"

# ---- delete the upload on the full disk ----
as "$TA" DELETE "/v1/uploads/$UP"; expect 200
grep -q 'disk reserve was released' "$WORK/ctl.err" || echo "note: the delete fit without the reserve"
[ "$(uploads_left)" = 0 ] || fail "the deleted upload's file is still on disk"
[ "$(reserve_size)" = 8388608 ] || fail "reserve not back after the delete: $(reserve_size)"

# ---- everything works again ----
as "$ADMIN" POST /v1/tenants '{"name":"other"}'; expect 201
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
head -c 3000 /dev/urandom >"$WORK/small"
as "$TA" POST /v1/uploads "{\"size\":3000,\"sha384\":\"$(sha "$WORK/small")\"}"; expect 201; UP2=$(jget 'j["id"]')
req PUT "/v1/uploads/$UP2/parts/0" -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WORK/small"
expect 200
as "$TA" DELETE "/v1/uploads/$UP2"; expect 200
as "$TA" GET /v1/images; expect 200
[ "$(jget 'j["items"][0]["id"]')" = "$IMG" ] || fail "image list: $BODY"
[ "$(db 'PRAGMA integrity_check')" = ok ] || fail "store integrity"

# ---- a restart on the once-full disk keeps everything ----
ctl_kill9
ctl_start --poll-timeout-ms 1000
as "$TA" GET "/v1/images/$IMG"; expect 200
[ "$(reserve_size)" = 8388608 ] || fail "reserve lost over a restart"
echo "ok"
