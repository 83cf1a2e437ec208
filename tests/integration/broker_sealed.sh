#!/usr/bin/env bash
# broker_sealed.sh — the key broker's secrets are sealed at rest by the
# monitor (docs/broker.md "Storage", docs/monitor.md "Sealing"):
#
#   cloister secret put ──► worker ──SEAL(aad = secret/<tenant>/<name>)──► monitor (DATA/keys/seal.key)
#                             │ stores only the sealed blob (secrets.sealed)
#   release (checked) ──► worker ──UNSEAL──► monitor ──► wrapped to the document's key
#
#   - after `secret put` of values carrying a marker, the marker is in no
#     file under the control plane's data directory (control.db, -wal, -shm,
#     keys) nor in its logs, running and after a stop; release still returns
#     the exact bytes;
#   - the sealing key is DATA/keys/seal.key, 0600, 32 bytes;
#   - with the control plane stopped, s1's sealed blob copied onto s2's row,
#     and s3's row moved to another tenant (sqlite3): after a restart s1 still
#     releases, s2 and s3 fail with a server-side error (500 internal) that
#     holds neither value, and the monitor logs its refusal without the data.
source "$(dirname "$0")/host_lib.sh"

host_up_attested

image_upload_app broker-client bc
enclave_create kv
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
has_pcrs() { req GET "/v1/enclaves/$ID"; [ "$(jget 'j.get("pcrs", {}).get("0", "")')" != "" ]; }
wait_for 20 "describe's pcrs" has_pcrs
P0=$(jget 'j["pcrs"]["0"]') P4=$(jget 'j["pcrs"]["4"]')
openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/k.pem" 2>/dev/null || fail "openssl ecparam"
KHEX=$(openssl pkey -in "$WORK/k.pem" -pubout -outform DER 2>/dev/null | xxd -p | tr -d '\n')

# document NAME OUT: a challenge for NAME, then a document from inside the
# enclave with its nonce and k.pem's public key (broker-client's test input)
document() {
	local nonce
	nonce=$("$CLI_BIN" secret release "$1" --challenge) || fail "challenge $1"
	enclave_ask "$ID" "nonce $nonce $KHEX"
	[[ "$ANS" == "document "* ]] || fail "the enclave made no document: $ANS"
	base64 -d <<<"${ANS#document }" >"$2" || fail "document not base64"
}

# three values, each with its own marker, then random bytes
declare -A MARK
for s in s1 s2 s3; do
	MARK[$s]="sealed-$s-marker-$(openssl rand -hex 8)"
	{ printf '%s' "${MARK[$s]}"; head -c 300 /dev/urandom; } >"$WORK/$s.bin"
	"$CLI_BIN" secret put "$s" --enclave "$ID" --value-file "$WORK/$s.bin" --pcr "0=$P0" --pcr "4=$P4" >/dev/null ||
		fail "secret put $s"
done

# no_marker WHEN: no file under the data directory, nor the logs, holds a
# marker, raw or as the start of the base64 the CLI sent
no_marker() {
	local s b64 hits
	for s in s1 s2 s3; do
		b64=$(base64 -w0 "$WORK/$s.bin")
		hits=$(grep -rlaF -e "${MARK[$s]}" -e "${b64:0:40}" "$WORK/ctl" "$WORK/ctl.err" "$WORK/ctl.out.cur" || true)
		[ -z "$hits" ] || fail "$1: the value of $s is in the clear in: $hits"
	done
}
ls "$WORK/ctl/db/control.db" "$WORK/ctl/db/control.db-wal" >/dev/null || fail "no store or WAL to search"
no_marker "running"
KEY="$WORK/ctl/keys/seal.key"
[ "$(stat -c '%a %s' "$KEY")" = "600 32" ] || fail "seal.key: $(stat -c '%a %s' "$KEY")"
# what is stored is the sealed blob: version 1, then nonce, ciphertext and tag (29 bytes more)
[ "$(sqlite3 -cmd ".timeout 10000" "$WORK/ctl/db/control.db" \
	"SELECT hex(substr(sealed,1,1)) || ' ' || length(sealed) FROM secrets WHERE name='s1'")" = "01 $((${#MARK[s1]} + 300 + 29))" ] ||
	fail "the stored blob is not a version-1 sealed value of s1's length"

# release still returns the exact bytes (unwrapped with k.pem by an
# independent implementation)
document s1 "$WORK/doc1"
"$CLI_BIN" secret release s1 --document "$WORK/doc1" -o "$WORK/wrapped0" 2>"$WORK/e" || fail "release s1: $(cat "$WORK/e")"
python3 "$(dirname "$0")/../unit/wrap_kat.py" open "$WORK/k.pem" "$WORK/wrapped0" >"$WORK/got1.bin" ||
	fail "python could not unwrap s1"
cmp "$WORK/s1.bin" "$WORK/got1.bin" || fail "s1 released other bytes"
no_marker "after a release"

# ---- stopped: move sealed blobs between rows ----
json POST /v1/tenants '{"name":"other"}'
[ "$STATUS" = 201 ] || fail "tenant: $STATUS $BODY"
OTHER_TENANT=$(jget 'j["id"]')
kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "cloister-control: non-zero exit on SIGTERM"
CTL_PID=
no_marker "stopped"
sqlite3 "$WORK/ctl/db/control.db" "UPDATE secrets SET sealed=(SELECT sealed FROM secrets WHERE name='s1') WHERE name='s2';
	UPDATE secrets SET tenant_id='$OTHER_TENANT' WHERE name='s3';" || fail "sqlite3 update"
[ "$(sqlite3 "$WORK/ctl/db/control.db" "SELECT COUNT(DISTINCT sealed) FROM secrets WHERE name IN ('s1','s2')")" = 1 ] ||
	fail "the blob was not copied"
ctl_start
wait_for 30 "host ready after the restart" host_is ready

release() { # release NAME: a document from inside, released by hand; sets STATUS, BODY
	local d
	document "$1" "$WORK/doc.$1"
	d=$(base64 -w0 "$WORK/doc.$1")
	BODY=$(curl -sS --cacert "$CA" -X POST -H 'Content-Type: application/json' -o - -w '\n%{http_code}' \
		--data-binary "{\"document\":\"$d\"}" "$URL/v1/secrets/$1/release")
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
# s1: intact, still released exactly
release s1
[ "$STATUS" = 200 ] || fail "s1 after the restart: $STATUS $BODY"
jget 'j["wrapped"]' | base64 -d >"$WORK/wrapped1"
python3 "$(dirname "$0")/../unit/wrap_kat.py" open "$WORK/k.pem" "$WORK/wrapped1" >"$WORK/got1b.bin" ||
	fail "python could not unwrap s1"
cmp "$WORK/s1.bin" "$WORK/got1b.bin" || fail "s1 after the restart: other bytes"
# s2 holds s1's blob, s3 was moved to another tenant: every check passes, the value does not open
for s in s2 s3; do
	release "$s"
	[ "$STATUS" = 500 ] || fail "$s with a moved blob: expected a server-side error, got $STATUS $BODY"
	[ "$(jget 'j["error"]["code"]')" = internal ] || fail "$s: expected error internal: $BODY"
	grep -q "does not open" <<<"$BODY" || fail "$s: $BODY"
	grep -qF -e "${MARK[s1]}" -e "${MARK[s2]}" -e "${MARK[s3]}" -e wrapped <<<"$BODY" && fail "$s: the answer holds a value: $BODY"
done
document s2 "$WORK/doc2"
"$CLI_BIN" secret release s2 --document "$WORK/doc2" -o "$WORK/got2.bin" 2>"$WORK/e" && fail "the CLI released s2"
[ -s "$WORK/got2.bin" ] && fail "bytes were written for s2"
grep -q "does not open" "$WORK/e" || fail "CLI release s2: $(cat "$WORK/e")"
# the monitor refused, and said so without the data
grep -q "refused unseal" "$WORK/ctl.err" || fail "the monitor did not log its refusal"
no_marker "after the refused releases"
echo "broker_sealed: ok"
