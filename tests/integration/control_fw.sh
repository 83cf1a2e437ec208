#!/usr/bin/env bash
# control_fw.sh — firmware on the control plane end to end, with curl as the
# admin, a tenant and a fake host in sync (docs/internals.md "Firmware in the
# sync protocol"):
#   - firmware status reporting; a host reporting window_open is never chosen
#     by placement and is chosen again once it reports locked;
#   - audit shipping: idempotent on seq, ack, a broken chain flagged (event,
#     chain_ok=false with the first bad seq);
#   - power-cycle / push / clear-quarantine ops delivered through sync and
#     their results recorded; strict validation changes nothing.
source "$(dirname "$0")/control_lib.sh"
C="$BUILD/bin/cloister"

ctl_start --poll-timeout-ms 5000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')

# two fake hosts: h1 (more memory: the one placement prefers) and h2
CAPS1='{"backends":["process"],"level":"software","memory_mib":4096,"cpus":2}'
CAPS2='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
register() { # register NAME CAPS -> HID HT
	as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; local join; join=$(jget 'j["token"]')
	req POST /v1/hosts/register --data-binary "{\"join_token\":\"$join\",\"name\":\"$1\",\"capabilities\":$2}"
	expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
}
register h1 "$CAPS1"; H1=$HID; T1=$HT
register h2 "$CAPS2"; H2=$HID; T2=$HT
# sync HOST TOKEN BODY: one sync that answers at once
sync() { as "$2" POST "/v1/hosts/$1/sync" "$3"; expect 200; }
LOCKED='"firmware":{"eligible":true,"quarantined":false,"window_open":false,"devices":[{"addr":"0000:03:00.0","name":"nic","version":"1.0","sequence":1,"active_slot":"A","counter":1,"trust_version":1,"window_open":false,"window_left_s":0,"pending":0,"booted":true,"locked":true}]}'
OPEN='"firmware":{"eligible":false,"quarantined":false,"window_open":true,"devices":[{"addr":"0000:03:00.0","window_open":true,"window_left_s":60,"locked":false,"booted":true}]}'
hb() { sync "$H2" "$T2" '{"generation":0,"wait_ms":0}'; }

# --- status reporting and strict validation ---
as "$ADMIN" GET "/v1/hosts/$H1/fw"; expect 200
[ "$(jget 'j["reported"]')" = False ] && [ "$(jget 'j["eligible"]')" = True ] || fail "never-reported host: $BODY"
for bad in '{"eligible":true}' '{"eligible":true,"quarantined":false,"window_open":false,"x":1}' \
	'{"eligible":"yes","quarantined":false,"window_open":false}' \
	'{"eligible":true,"quarantined":false,"window_open":false,"devices":[{"name":"nic"}]}' \
	'{"eligible":true,"quarantined":false,"window_open":false,"devices":[{"addr":"0000:03:00.0","active_slot":"C"}]}' \
	'{"eligible":true,"quarantined":false,"window_open":false,"audit":[{"seq":1,"hash":"zz","prev":"00"}]}' \
	'{"eligible":true,"quarantined":false,"window_open":false,"audit":{}}' '[]'; do
	as "$T1" POST "/v1/hosts/$H1/sync" "{\"generation\":0,\"wait_ms\":0,\"firmware\":$bad}"; expect 400 invalid
done
python3 -c '
import json
devs=[{"addr":"0000:03:00.%d" % (i % 8)} for i in range(65)]
print(json.dumps({"generation":0,"wait_ms":0,"firmware":{"eligible":True,"quarantined":False,"window_open":False,"devices":devs}}))' >"$WORK/many.json"
as "$T1" POST "/v1/hosts/$H1/sync" "$(cat "$WORK/many.json")"; expect 400 invalid
[ "$(db 'SELECT COUNT(*) FROM host_fw')" = 0 ] || fail "invalid reports stored status"
as "$T2" POST "/v1/hosts/$H1/sync" "{\"generation\":0,\"wait_ms\":0,$LOCKED}"; expect 403 forbidden

# --- eligibility: a window-open host is never chosen ---
mkimage "$WORK/hello.img"
req POST /v1/images -H "Authorization: Bearer $TA" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/hello.img"
expect 201; IMG=$(jget 'j["id"]')
E='"image_id":"'$IMG'","memory_mib":64,"cpus":1,"min_level":"software"'
sync "$H1" "$T1" "{\"generation\":0,\"wait_ms\":0,$OPEN}"; hb
as "$ADMIN" GET "/v1/hosts/$H1/fw"; expect 200
[ "$(jget 'j["eligible"]')" = False ] && [ "$(jget 'j["window_open"]')" = True ] || fail "open status: $BODY"
[ "$(jget 'j["devices"][0]["window_left_s"]')" = 60 ] || fail "devices not stored: $BODY"
for i in 1 2 3; do
	as "$TA" POST /v1/enclaves "{\"name\":\"w$i\",$E}"; expect 202
	[ "$(jget 'j["enclave"]["host_id"]')" = "$H2" ] || fail "window-open host chosen: $BODY"
done
# a host claiming eligible while its window is open is not trusted
sync "$H1" "$T1" "{\"generation\":0,\"wait_ms\":0,${OPEN/\"eligible\":false/\"eligible\":true}}"
as "$TA" POST /v1/enclaves "{\"name\":\"w4\",$E}"; expect 202
[ "$(jget 'j["enclave"]["host_id"]')" = "$H2" ] || fail "open host claiming eligible chosen"
# only window-open host left: no placement at all
sync "$H2" "$T2" "{\"generation\":0,\"wait_ms\":0,$OPEN}"
as "$TA" POST /v1/enclaves "{\"name\":\"w5\",$E}"; expect 503 unavailable
# locked again: chosen again
sync "$H1" "$T1" "{\"generation\":0,\"wait_ms\":0,$LOCKED}"; sync "$H2" "$T2" "{\"generation\":0,\"wait_ms\":0,$LOCKED}"
as "$TA" POST /v1/enclaves "{\"name\":\"w6\",$E}"; expect 202
[ "$(jget 'j["enclave"]["host_id"]')" = "$H1" ] || fail "locked host not chosen again: $BODY"
# quarantine halts the host's enclaves (desired "stopped" in its sync answer)
# without touching their stored desired state; clearing it resumes them
QUAR=${LOCKED/\"quarantined\":false/\"quarantined\":true}
sync "$H2" "$T2" "{\"generation\":0,\"wait_ms\":0,$QUAR}"
[ "$(jget 'sorted(set(e["desired"] for e in j["enclaves"]))')" = "['stopped']" ] || fail "quarantine did not halt: $BODY"
[ "$(jget 'len(j["enclaves"]) >= 4')" = True ] || fail "quarantined host lost its enclaves: $BODY"
as "$TA" GET "/v1/enclaves?limit=50"; expect 200
[ "$(jget 'sorted(set(e["desired"] for e in j["items"]))')" = "['running']" ] || fail "stored desired changed: $BODY"
sync "$H2" "$T2" "{\"generation\":0,\"wait_ms\":0,$LOCKED}"
[ "$(jget 'sorted(set(e["desired"] for e in j["enclaves"]))')" = "['running']" ] || fail "cleared quarantine did not resume: $BODY"

# --- audit shipping ---
mkaudit() { # mkaudit FIRST LAST [BREAK_AT]: records FIRST..LAST chained from seq 1 (BREAK_AT gets a wrong prev)
	python3 - "$@" <<'PY'
import hashlib, json, sys
first, last = int(sys.argv[1]), int(sys.argv[2]); brk = int(sys.argv[3]) if len(sys.argv) > 3 else -1
prev = "0" * 64; out = []
for s in range(1, last + 1):
    h = hashlib.sha256((prev + str(s)).encode()).hexdigest()
    p = ("f" * 64) if s == brk else prev
    if s >= first:
        out.append({"seq": s, "time": 1700000000000 + s, "source": "mgmt", "op": "update", "device": "0000:03:00.0",
                    "version": "1.%d" % s, "sequence": s, "digest": "ab" * 8,
                    "result": "refused" if s == 3 else "accepted", "reason": "below_threshold" if s == 3 else "ok",
                    "action": "alarm" if s == 3 else "log", "hash": h, "prev": p})
    prev = h
print(json.dumps(out))
PY
}
fwsync() { # fwsync AUDITJSON: sync of h1 with its firmware and audit records
	sync "$H1" "$T1" "{\"generation\":0,\"wait_ms\":0,${LOCKED%\}},\"audit\":$1}}"
}
fwsync "$(mkaudit 1 4)"
[ "$(jget 'j["firmware_audit_ack"]')" = 4 ] || fail "ack after 4 records: $BODY"
fwsync "$(mkaudit 3 5)"   # resend of 3,4 (lost ack) plus 5: idempotent
[ "$(jget 'j["firmware_audit_ack"]')" = 5 ] || fail "ack after resend: $BODY"
[ "$(db "SELECT COUNT(*) FROM host_fw_audit WHERE host_id='$H1'")" = 5 ] || fail "resent records duplicated"
as "$ADMIN" GET "/v1/hosts/$H1/fw/audit"; expect 200
[ "$(jget 'j["chain_ok"]')" = True ] && [ "$(jget 'len(j["items"])')" = 5 ] || fail "clean chain: $BODY"
[ "$(jget 'j["items"][2]["reason"]')" = below_threshold ] || fail "record fields: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/audit?after=2&limit=2"; expect 200
[ "$(jget '[r["seq"] for r in j["items"]]')" = "[3, 4]" ] && [ "$(jget 'j["next"]')" = 4 ] || fail "paging: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/audit?limit=0"; expect 400 invalid
as "$ADMIN" GET /v1/events; expect 200
[ "$(jget '[e["kind"] for e in j["items"] if e["host_id"] == "'"$H1"'"]')" = "['alarm']" ] || fail "alarm event from the record: $BODY"
# a record whose prev does not match the stored hash of its predecessor
fwsync "$(mkaudit 6 7 6)"
[ "$(jget 'j["firmware_audit_ack"]')" = 7 ] || fail "ack after break: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/audit"; expect 200
[ "$(jget 'j["chain_ok"]')" = False ] && [ "$(jget 'j["first_bad_seq"]')" = 6 ] || fail "break not found: $BODY"
as "$ADMIN" GET "/v1/events?host=$H1"; expect 200
[ "$(jget '[(e["kind"],e["seq"],e["severity"]) for e in j["items"]][-1]')" = "('chain_break', 6, 'alarm')" ] \
	|| fail "chain break event: $BODY"
as "$TA" GET /v1/events; expect 403 forbidden
as "$TA" GET "/v1/hosts/$H1/fw/audit"; expect 403 forbidden
as "$ADMIN" GET "/v1/hosts/host-nosuch/fw"; expect 404 not_found

# --- firmware ops through sync ---
as "$T1" POST "/v1/hosts/$H1/sync" "{\"generation\":0,\"wait_ms\":0}"; expect 200; GEN=$(jget 'j["generation"]')
# a held sync is woken by a power-cycle request
curl -sS --cacert "$CA" -H "Authorization: Bearer $T1" -H "Content-Type: application/json" --data-binary "{\"generation\":$GEN,\"wait_ms\":4000}" \
	"$URL/v1/hosts/$H1/sync" >"$WORK/held.out" &
HELD=$!
deadline=$((SECONDS + 10))
until grep -q 'sync_waiters 1' <<<"$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics")" ||
	[ $SECONDS -ge $deadline ]; do sleep 0.02; done
as "$ADMIN" POST "/v1/hosts/$H1/power-cycle" '{}'; expect 202; PC=$(jget 'j["op"]')
wait $HELD
BODY=$(cat "$WORK/held.out")
[ "$(jget '[o["op"] for o in j["firmware_ops"] if o["kind"] == "power_cycle"]')" = "['$PC']" ] \
	|| fail "held sync not woken with the power-cycle op: $BODY"
as "$ADMIN" POST "/v1/hosts/$H1/power-cycle" '{"x":1}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/clear-quarantine" '{}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/clear-quarantine" "{\"reason\":\"$(printf 'x%.0s' {1..128})\"}"; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/clear-quarantine" '{"reason":"replaced the NIC"}'; expect 202; CQ=$(jget 'j["op"]')
"$C" fw keygen --out "$WORK/a.pem" --pub "$WORK/a.pub" >/dev/null
head -c 1000 /dev/urandom >"$WORK/img.bin"
"$C" fw sign --key "$WORK/a.pem" --vendor 6ba7b810-9dad-11d1-80b4-00c04fd430c8 --class 2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55 \
	--component 0000:03:00.0 --version 1.1 --sequence 2 --channel stable --image "$WORK/img.bin" -o "$WORK/b.fw" >/dev/null
B64=$(base64 -w0 "$WORK/b.fw")
as "$ADMIN" POST "/v1/hosts/$H1/fw/push" "{\"device\":\"0000:03:00.0\",\"bundle\":\"bm90IGEgYnVuZGxl\"}"; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/push" "{\"device\":\"../x\",\"bundle\":\"$B64\"}"; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/push" "{\"device\":\"0000:03:00.0\",\"bundle\":\"$B64\"}"; expect 202; PU=$(jget 'j["op"]')
[ "$(jget 'j["kind"]')" = update ] || fail "push kind: $BODY"
# trust-root document and window policy pushes: ops "trust" and "window"
"$C" fw keygen --out "$WORK/root.pem" --pub "$WORK/root.pub" >/dev/null
"$C" fw trust-root sign --version 2 --threshold 1 --signer "$WORK/a.pub" --key "$WORK/root.pem" -o "$WORK/tr.cbor" >/dev/null
TR64=$(base64 -w0 "$WORK/tr.cbor")
as "$ADMIN" POST "/v1/hosts/$H1/fw/trust" '{"device":"0000:03:00.0","document":"bm90IGEgZG9j"}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/trust" "{\"device\":\"0000:03:00.0\",\"bundle\":\"$TR64\"}"; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/trust" "{\"device\":\"../x\",\"document\":\"$TR64\"}"; expect 400 invalid
as "$TA" POST "/v1/hosts/$H1/fw/trust" "{\"device\":\"0000:03:00.0\",\"document\":\"$TR64\"}"; expect 403 forbidden
as "$ADMIN" POST "/v1/hosts/$H1/fw/trust" "{\"device\":\"0000:03:00.0\",\"document\":\"$TR64\"}"; expect 202
TRO=$(jget 'j["op"]'); [ "$(jget 'j["kind"]')" = trust ] || fail "trust kind: $BODY"
as "$ADMIN" POST "/v1/hosts/$H1/fw/window" '{"device":"0000:03:00.0","policy":"not base64!"}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/window" '{"device":"0000:03:00.0"}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/window" '{"policy":"cG9saWN5"}'; expect 400 invalid
as "$ADMIN" POST "/v1/hosts/$H1/fw/window" '{"device":"0000:03:00.0","policy":"cG9saWN5"}'; expect 202
WO=$(jget 'j["op"]'); [ "$(jget 'j["kind"]')" = window ] || fail "window kind: $BODY"
as "$ADMIN" GET "/v1/hosts/host-nosuch/fw/window"; expect 405 method_not_allowed
as "$TA" POST "/v1/hosts/$H1/power-cycle" '{}'; expect 403 forbidden
[ "$(db "SELECT COUNT(*) FROM fw_ops")" = 5 ] || fail "refused requests queued ops"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$PU"; expect 200; [ "$(jget 'j["state"]')" = pending ] || fail "op: $BODY"
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":5000}"
[ "$(jget '[o["kind"] for o in j["firmware_ops"]][:4]')" = "['clear_quarantine', 'update', 'trust', 'window']" ] \
	|| fail "ops not in the sync answer: $BODY"
[ "$(jget 'j["firmware_ops"][1]["data"]')" = "$B64" ] && [ "$(jget 'j["firmware_ops"][0]["reason"]')" = "replaced the NIC" ] \
	|| fail "op payloads: $BODY"
[ "$(jget 'j["firmware_ops"][2]["data"]')" = "$TR64" ] && [ "$(jget 'j["firmware_ops"][3]["data"]')" = cG9saWN5 ] \
	&& [ "$(jget 'j["firmware_ops"][3]["device"]')" = 0000:03:00.0 ] || fail "trust/window payloads: $BODY"
GEN=$(jget 'j["generation"]')
# delivered = sent, awaiting a result: sent again (never-sent ones would come first) until the host answers
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":0}"
[ "$(jget 'sorted(o["op"] for o in j["firmware_ops"])')" = "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$PC" "$CQ" "$PU" "$TRO" "$WO")" ] \
	|| fail "ops awaiting results not sent again: $BODY"
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":0,\"results\":[{\"op\":\"$PC\",\"ok\":true,\"audit_seq\":8},{\"op\":\"$PU\",\"ok\":false,\"error\":\"refused: below_threshold\",\"reason\":\"below_threshold\",\"audit_seq\":9},{\"op\":\"fw-nosuch\",\"ok\":true}]}"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$PC"; expect 200
[ "$(jget 'j["state"]')" = ok ] && [ "$(jget 'j["audit_seq"]')" = 8 ] || fail "power-cycle result: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$PU"; expect 200
[ "$(jget 'j["state"]')" = refused ] && [ "$(jget 'j["reason"]')" = below_threshold ] || fail "push result: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$CQ"; expect 200; [ "$(jget 'j["state"]')" = pending ] || fail "cq: $BODY"
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":0}"
[ "$(jget 'sorted(o["op"] for o in j["firmware_ops"])')" = "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$CQ" "$TRO" "$WO")" ] \
	|| fail "answered ops sent again: $BODY"
as "$ADMIN" GET "/v1/hosts/$H2/fw/ops/$PC"; expect 404 not_found
# a second result for a finished op changes nothing
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":0,\"results\":[{\"op\":\"$PU\",\"ok\":true}]}"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$PU"; expect 200; [ "$(jget 'j["state"]')" = refused ] || fail "result overwritten"

# quarantine reported: event, not eligible
sync "$H1" "$T1" "{\"generation\":$GEN,\"wait_ms\":0,${LOCKED/\"quarantined\":false/\"quarantined\":true}}"
as "$ADMIN" GET "/v1/hosts/$H1/fw"; expect 200; [ "$(jget 'j["eligible"]')" = False ] || fail "quarantined eligible"
as "$ADMIN" GET /v1/events; expect 200
[ "$(jget '[e["kind"] for e in j["items"]][-1]')" = quarantined ] || fail "quarantine event: $BODY"

# a guarded host that syncs without its firmware report (agent restarted
# without --fw-root, or tampered) leaves placement until it reports again
sync "$H2" "$T2" '{"generation":0,"wait_ms":0}'; sync "$H2" "$T2" '{"generation":0,"wait_ms":0}'
as "$ADMIN" GET "/v1/hosts/$H2/fw"; expect 200; [ "$(jget 'j["eligible"]')" = False ] || fail "guard gone, still eligible: $BODY"
as "$ADMIN" GET "/v1/events?host=$H2"; expect 200
[ "$(jget '[e["kind"] for e in j["items"]].count("guard_missing")')" = 1 ] || fail "guard_missing event (once): $BODY"
as "$TA" POST /v1/enclaves "{\"name\":\"g1\",$E}"; expect 503 unavailable   # h1 quarantined, h2 unproven
sync "$H2" "$T2" "{\"generation\":0,\"wait_ms\":0,$LOCKED}"
as "$TA" POST /v1/enclaves "{\"name\":\"g2\",$E}"; expect 202
[ "$(jget 'j["enclave"]["host_id"]')" = "$H2" ] || fail "h2 not eligible again after reporting: $BODY"

# state survives a restart (kill -9)
ctl_kill9
ctl_start --poll-timeout-ms 5000
as "$ADMIN" GET "/v1/hosts/$H1/fw/audit"; expect 200
[ "$(jget 'j["head_seq"]')" = 7 ] && [ "$(jget 'j["first_bad_seq"]')" = 6 ] || fail "audit after restart: $BODY"
as "$ADMIN" GET "/v1/hosts/$H1/fw/ops/$PU"; expect 200; [ "$(jget 'j["state"]')" = refused ] || fail "op after restart"
echo "control_fw: ok"
