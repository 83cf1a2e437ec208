#!/usr/bin/env bash
# host_fw_tamper.sh — the audit chain cannot be edited or cut without anyone
# noticing. For each way of tampering with a running host's audit log —
#   edit     a byte of record K changed in place
#   delete   record K removed
#   reorder  records K and K+1 swapped
#   truncate the log cut before record K
#   regrow   the log cut before record K and regrown with new, validly
#            chained records past its old end (what the control plane used
#            to drop as "already seen")
# — a fresh host (real agent with --fw-root, real control plane) has shipped
# its records (the control plane holds the head: the anchor); the log is
# changed behind the running agent's back; then:
#   - the running agent notices (before its next ship) and the control plane
#     raises one audit_tampered event naming record K;
#   - the host is held quarantined, not eligible; nothing more is shipped;
#   - `cloister fw audit --host H --verify` prints the first difference,
#     "first difference at seq K", and exits 1;
#   - (edit) the guard fails closed: a power cycle is refused and nothing is
#     appended; (regrow) a restarted agent, which never saw the old log,
#     still reports it, from the control plane's anchor.
#
#   curl / cloister CLI (admin) ──► cloister-control ◄── cloister-host --fw-root   (one per way)
#                                                              │ DATA/fw/audit.log ◄── tamper.py
source "$(dirname "$0")/host_lib.sh"

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
"$CLI_BIN" fw keygen --out "$WORK/root.pem" --pub "$WORK/root.pub" >/dev/null || fail "keygen root"
K=3

# tamper WAY LOG K: rewrites LOG in place (same file, as anyone with write
# access could). Records: u16 BE length | body | SHA-256(prev || body).
cat >"$WORK/tamper.py" <<'PY'
import hashlib, struct, sys
way, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
magic, recs, off = data[:8], [], 8
while off < len(data):
    n = struct.unpack(">H", data[off:off + 2])[0]
    recs.append(data[off:off + 2 + n + 32])
    off += 2 + n + 32
assert len(recs) >= k + 2, "too few records: %d" % len(recs)
def body(r): return r[2:-32]
def rechain(bodies, prev):
    out = []
    for b in bodies:
        h = hashlib.sha256(prev + b).digest()
        out.append(struct.pack(">H", len(b)) + b + h)
        prev = h
    return out
i = k - 1
if way == "edit":
    r = bytearray(recs[i]); r[2 + 60] ^= 0x01; recs[i] = bytes(r)
elif way == "delete":
    del recs[i]
elif way == "reorder":
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
elif way == "truncate":
    recs = recs[:i]
elif way == "regrow":
    kept, old = recs[:i], recs[i:]
    prev = kept[-1][-32:] if kept else bytes(32)
    new = []
    for j in range(len(old) + 2):  # past the old end
        b = bytearray(body(old[min(j, len(old) - 1)]))
        b[1:9] = struct.pack(">Q", k + j)                         # seq
        t = struct.unpack(">Q", bytes(b[9:17]))[0] + 1000 + j   # time
        b[9:17] = struct.pack(">Q", t)
        new.append(bytes(b))
    recs = kept + rechain(new, prev)
else:
    sys.exit("unknown way " + way)
out = magic + b"".join(recs)
with open(path, "r+b") as f:
    f.write(out)
    f.truncate(len(out))
PY

# head_shipped: the control plane stores the host's whole log (its anchor
# is the host's head) and holds at least K+2 records.
head_shipped() {
	req GET "/v1/hosts/$HOST_ID/fw"
	[ "$STATUS" = 200 ] || return 1
	local head
	head=$(jget 'j["audit"]["head_seq"] if j.get("audit") else 0')
	req GET "/v1/hosts/$HOST_ID/fw/audit?limit=500"
	[ "$STATUS" = 200 ] && [ "$(jget 'j["head_seq"]')" = "$head" ] && [ "$head" -ge $((K + 2)) ]
}
tamper_events() { # the host's audit_tampered events, as "seq" lines
	req GET "/v1/events?host=$HOST_ID"
	jget '"\n".join(str(e["seq"]) for e in j["items"] if e["kind"] == "audit_tampered")'
}
raised() { [ "$(tamper_events)" = "$K" ]; }
# The host itself reports a record that differs from the control plane's copy.
reports_against_anchor() {
	req GET "/v1/hosts/$HOST_ID/fw"
	[ "$STATUS" = 200 ] && [ "$(jget 'j["quarantined"]')" = True ] &&
		jget 'j["audit"]["tampered"]["why"]' | grep -q "^host: .*control plane's copy"
}

for way in edit delete reorder truncate regrow; do
	echo "--- $way"
	HDATA="$WORK/host-$way"
	fw_host_start
	# Enough records: manufacture x3 and a power-on, plus two power cycles.
	for _ in 1 2; do
		out=$("$CLI_BIN" host power-cycle "$HOST_ID" --wait) || fail "$way: power-cycle: $out"
	done
	wait_for 20 "$way: the control plane holds the host's whole log" head_shipped
	req GET "/v1/hosts/$HOST_ID/fw/audit?limit=500"
	SHIPPED=$(jget 'len(j["items"])')
	out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify) || fail "$way: verify before tampering: $out"
	grep -q '^chain verified: [0-9]* records$' <<<"$out" || fail "$way: verify: $out"
	[ -z "$(tamper_events)" ] || fail "$way: tampering reported before any"

	python3 "$WORK/tamper.py" "$way" "$HDATA/fw/audit.log" $K || fail "$way: tamper.py"
	SIZE=$(stat -c %s "$HDATA/fw/audit.log")

	# The running agent notices at its next ship; one event, naming record K.
	wait_for 20 "$way: audit_tampered event at seq $K" raised
	req GET "/v1/hosts/$HOST_ID/fw"
	[ "$(jget 'j["quarantined"]')" = True ] && [ "$(jget 'j["eligible"]')" = False ] ||
		fail "$way: a tampered host is not held: $BODY"
	[ "$(jget 'j["audit"]["tampered"]["seq"]')" = $K ] || fail "$way: tamper state: $BODY"
	rc=0
	out=$("$CLI_BIN" fw audit --host "$HOST_ID" --verify 2>"$WORK/verify.err") || rc=$?
	[ $rc = 1 ] || fail "$way: verify exit $rc: $out"
	grep -q "^first difference at seq $K: " <<<"$out" || fail "$way: verify output: $out"
	grep -q '^error: ' "$WORK/verify.err" || fail "$way: verify stderr: $(cat "$WORK/verify.err")"

	if [ $way = edit ]; then
		# Fail closed: no change without its record, nothing appended or shipped.
		rc=0
		out=$("$CLI_BIN" host power-cycle "$HOST_ID" --wait 2>&1) || rc=$?
		[ $rc = 1 ] && grep -q '^refused\|tampered' <<<"$out" || fail "power cycle on a tampered host: $rc $out"
		[ "$(stat -c %s "$HDATA/fw/audit.log")" = "$SIZE" ] || fail "appended to a tampered log"
		req GET "/v1/hosts/$HOST_ID/fw/audit?limit=500"
		[ "$(jget 'len(j["items"])')" = "$SHIPPED" ] || fail "records shipped from a tampered log: $BODY"
	fi
	if [ $way = regrow ]; then
		# A restarted agent never saw the old log: the anchor still tells.
		host_stop
		host_start --fw-root "$WORK/root.pub"
		T0=$(date +%s)
		wait_for 20 "a sync of the restarted agent" host_synced_after "$T0"
		wait_for 20 "the restarted agent reports the log against the anchor" reports_against_anchor
		[ "$(tamper_events)" = "$K" ] || fail "regrow: a second event for the same episode: $(tamper_events)"
	fi
	host_stop
done
echo "PASS host_fw_tamper"
