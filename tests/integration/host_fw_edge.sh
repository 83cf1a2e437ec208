#!/usr/bin/env bash
# host_fw_edge.sh — one range for every number, end to end: a bundle signed
# by k of n engineers at the edge of every range (sequence 2^63 - 1,
# use-before 2^63 - 1, a one-byte image, 63-character version and channel)
# under a trust root at its edges (k = n, expiry 2^63 - 1), and a window
# policy at its edges (version 2^63 - 1, a day), all installed by a real
# agent's device; the host keeps syncing, and the control plane shows every
# value exactly (status, audit). And the other side: what a device would
# refuse is refused at signing (`cloister fw sign`, `trust-root sign`,
# `window-policy`) and at push (the API), before it reaches a host.
#
#   cloister CLI / curl (admin) ──► cloister-control ◄── cloister-host --fw-root root.pub
source "$(dirname "$0")/host_lib.sh"

NIC=$FW_NIC NIC_VENDOR=$FW_NIC_VENDOR NIC_CLASS=$FW_NIC_CLASS
MAX=9223372036854775807 # 2^63 - 1 (src/fw/fw_limits.h)
V63=$(printf 'v%.0s' {1..63})
C63=$(printf 'c%.0s' {1..63})

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
fw_keys
printf 'x' >"$WORK/one.bin"
: >"$WORK/empty.bin"
NOW=$(date +%s)

# ---- refused at signing: what every device refuses ----
# refuse_sign WHAT ERE CMD...: exit 1, one error line matching ERE, no output file.
refuse_sign() {
	local what=$1 ere=$2 rc=0; shift 2
	rm -f "$WORK/refused.out"
	"$@" >"$WORK/sign.out" 2>"$WORK/sign.err" || rc=$?
	[ $rc = 1 ] || fail "$what: exit $rc (want 1): $(cat "$WORK/sign.out" "$WORK/sign.err")"
	[ "$(wc -l <"$WORK/sign.err")" = 1 ] && grep -Eq "^error: .*($ere)" "$WORK/sign.err" ||
		fail "$what: stderr: $(cat "$WORK/sign.err")"
	[ ! -e "$WORK/refused.out" ] || fail "$what: wrote its output"
}
sign_args=(fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC --version 1
	--channel stable -o "$WORK/refused.out")
refuse_sign "sequence 2^63" "sequence must be" "$CLI_BIN" "${sign_args[@]}" --sequence 9223372036854775808 \
	--image "$WORK/one.bin"
refuse_sign "sequence 0" "sequence must be" "$CLI_BIN" "${sign_args[@]}" --sequence 0 --image "$WORK/one.bin"
refuse_sign "empty image" "empty" "$CLI_BIN" "${sign_args[@]}" --sequence 5 --image "$WORK/empty.bin"
refuse_sign "use-before passed" "not in the future" "$CLI_BIN" "${sign_args[@]}" --sequence 5 --image "$WORK/one.bin" \
	--use-before $((NOW - 1))
refuse_sign "use-before 2^63" "use-before must be" "$CLI_BIN" "${sign_args[@]}" --sequence 5 \
	--image "$WORK/one.bin" --use-before 9223372036854775808
refuse_sign "expired trust root" "not in the future" "$CLI_BIN" fw trust-root sign --version 1 --threshold 1 \
	--signer "$WORK/a.pub" --key "$WORK/root.pem" --expires $((NOW - 1)) -o "$WORK/refused.out"
refuse_sign "unbound window policy" "not both|any" "$CLI_BIN" fw window-policy --key "$WORK/root.pem" --version 1 \
	--seconds 60 -o "$WORK/refused.out"
refuse_sign "window of a day and a second" "window must be" "$CLI_BIN" fw window-policy --key "$WORK/root.pem" \
	--version 1 --seconds 86401 --any -o "$WORK/refused.out"

# ---- the edge bundle and trust root (made before the window opens) ----
"$CLI_BIN" fw trust-root sign --version 1 --threshold 3 --signer "$WORK/a.pub,$WORK/b.pub,$WORK/c.pub" \
	--key "$WORK/root.pem" --expires $MAX -o "$WORK/tr-edge.cbor" >/dev/null || fail "edge trust root"
"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC --version "$V63" \
	--sequence $MAX --channel "$C63" --use-before $MAX --image "$WORK/one.bin" -o "$WORK/edge.fw" >/dev/null ||
	fail "sign at the edges"
for k in b c; do "$CLI_BIN" fw cosign --key "$WORK/$k.pem" "$WORK/edge.fw" >/dev/null || fail "cosign $k"; done

# ---- refused at push: bundles no device accepts, documents no device accepts ----
# forge EDIT OUT: the edge bundle re-encoded (python3-cbor2) with one manifest
# field changed (Debian's python3-cbor2); its signatures no longer match, which only the device checks:
# the control plane refuses on what every device refuses first.
forge() {
	/usr/bin/python3 - "$WORK/edge.fw" "$2" "$1" <<'PY' || fail "forge $1"
import cbor2, sys
src, out, edit = sys.argv[1], sys.argv[2], sys.argv[3]
fmt, man, blocks, img = cbor2.loads(open(src, "rb").read())
m = cbor2.loads(man)
if edit == "seq-over": m[6] = 2**63
elif edit == "seq-zero": m[6] = 0
elif edit == "empty": m[8] = 0; img = b""
elif edit == "expired": m[10] = 1000
man = cbor2.dumps(m, canonical=True)
open(out, "wb").write(cbor2.dumps([fmt, man, blocks, img], canonical=True))
PY
}
push_refused() { # push_refused NAME FILE ERE: 400 naming the reason, nothing queued
	local n
	n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM fw_ops').fetchone()[0])" \
		"$WORK/ctl/db/control.db")
	json POST "/v1/hosts/$HOST_ID/fw/push" "{\"device\":\"$NIC\",\"bundle\":\"$(base64 -w0 "$2")\"}"
	[ "$STATUS" = 400 ] && grep -Eq "$3" <<<"$BODY" || fail "push of $1: $STATUS $BODY"
	[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM fw_ops').fetchone()[0])" \
		"$WORK/ctl/db/control.db")" = "$n" ] || fail "push of $1 queued an op"
}
for f in seq-over seq-zero empty expired; do forge $f "$WORK/$f.fw"; done

# ---- the agent: first start manufactures the devices and opens the window ----
fw_host_start
push_refused "sequence 2^63" "$WORK/seq-over.fw" 'malformed'
push_refused "sequence 0" "$WORK/seq-zero.fw" 'malformed'
push_refused "an empty image" "$WORK/empty.fw" 'malformed'
push_refused "a passed use-before" "$WORK/expired.fw" 'expired'
# A trust root that expires in a moment, pushed once it has: refused (host and
# the control plane's own chain); the wait is for the clock, with a deadline.
SOON=$(($(date +%s) + 2))
"$CLI_BIN" fw trust-root sign --version 1 --threshold 1 --signer "$WORK/a.pub" --key "$WORK/root.pem" \
	--expires $SOON -o "$WORK/tr-soon.cbor" >/dev/null || fail "short-lived trust root"
past_soon() { [ "$(date +%s)" -ge "$SOON" ]; }
wait_for 10 "the short-lived trust root to expire" past_soon
json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$(base64 -w0 "$WORK/tr-soon.cbor")\"}"
[ "$STATUS" = 400 ] && grep -q expired <<<"$BODY" || fail "push of an expired trust root: $STATUS $BODY"
json POST /v1/fw/trust "{\"root\":$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' \
	"$WORK/root.pub"),\"documents\":[\"$(base64 -w0 "$WORK/tr-soon.cbor")\"]}"
[ "$STATUS" = 400 ] && grep -q expired <<<"$BODY" || fail "an expired trust chain stored: $STATUS $BODY"

# ---- install everything at its edges ----
op_done() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
push_op() { # push_op PATH BODY: 202, then the host accepts it
	ensure_window
	json POST "$1" "$2"
	[ "$STATUS" = 202 ] || fail "POST $1: $STATUS $BODY"
	local op
	op=$(jget 'j["op"]')
	wait_for 30 "op $op answered" op_done "$op"
	[ "$(jget 'j["state"]')" = ok ] || fail "refused by the host: $BODY"
}
push_op "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$(base64 -w0 "$WORK/tr-edge.cbor")\"}"
push_op "/v1/hosts/$HOST_ID/fw/push" "{\"device\":\"$NIC\",\"bundle\":\"$(base64 -w0 "$WORK/edge.fw")\"}"
"$CLI_BIN" fw status --host "$HOST_ID" --device-key $NIC --out "$WORK/nic.pub" >/dev/null || fail "device key"
"$CLI_BIN" fw window-policy --key "$WORK/root.pem" --version $MAX --seconds 86400 --host "$HOST_ID" --device $NIC \
	--vendor $NIC_VENDOR --class $NIC_CLASS --device-key "$WORK/nic.pub" -o "$WORK/wp.cbor" >/dev/null ||
	fail "window policy at the edges"
push_op "/v1/hosts/$HOST_ID/fw/window" "{\"device\":\"$NIC\",\"policy\":\"$(base64 -w0 "$WORK/wp.cbor")\"}"

# ---- the host keeps syncing; the control plane shows every value exactly ----
nic() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print([d[sys.argv[2]] for d in j['devices'] if d['addr']=='$NIC'][0])" "$BODY" "$1"; }
at_edges() {
	req GET "/v1/hosts/$HOST_ID/fw"
	[ "$STATUS" = 200 ] && [ "$(nic counter)" = $MAX ] && [ "$(nic sequence)" = $MAX ] &&
		[ "$(nic policy_version)" = $MAX ] && [ "$(nic next_window_s)" = 86400 ] && [ "$(nic version)" = "$V63" ] &&
		[ "$(nic trust_version)" = 1 ]
}
wait_for 20 "the NIC reported at its edges" at_edges
T0=$(date +%s)
wait_for 20 "syncs after the install" host_synced_after "$T0"
at_edges || fail "the report changed: $BODY"
audit_edge() {
	req GET "/v1/hosts/$HOST_ID/fw/audit?limit=500"
	[ "$STATUS" = 200 ] &&
		[ "$(jget "[r['sequence'] for r in j['items'] if r.get('op')=='update' and r.get('result')=='accepted']")" = "[$MAX]" ]
}
wait_for 20 "the install in the audit, sequence exact" audit_edge
out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify) || fail "fw audit --verify: $out"
grep -q '^chain verified: [0-9]* records$' <<<"$out" || fail "fw audit --verify: $out"
req GET /v1/events
[ "$(jget "[e['kind'] for e in j['items'] if e['host_id']=='$HOST_ID' and e['kind'] in ('chain_break','audit_tampered')]")" = "[]" ] ||
	fail "events: $BODY"
echo "PASS host_fw_edge"
