#!/usr/bin/env bash
# host_measure.sh — measure on demand end to end (cloister enclave measure):
#
#   cloister enclave measure ──► cloister-control ──op "measure"──► agent
#       freeze ─► hash every executable mapping (/proc/PID/maps + mem) ─► thaw
#       ─► document (PCR5 = runtime code) signed by the key holder
#
#   - measure is not public by default: without the access key 403, with it 200;
#   - the document verifies against the root with the launch's PCR0..4 and the
#     nonce; PCR5 is not zero (the attest op's is);
#   - the same unchanged enclave measured twice: the same PCR5 (ASLR does not
#     matter); code mapped executable at run time (the probe's `mapx`) changes
#     PCR5; unmapped again, PCR5 is back to the first value;
#   - after every measure the enclave is thawed and answers on its channel;
#   - a stopped (frozen) enclave is measured and stays frozen;
#   - an enclave whose policy lists measure is measured without the key, and the
#     same image in another enclave gives the same PCR5;
#   - describe shows the latest measurement (PCR5 and when): null before the
#     first, each measure's PCR5 after it, kept across a control plane restart
#     (kill -9) and gone with the enclave's row.
source "$(dirname "$0")/host_lib.sh"

host_up_attested
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"

# ---- an enclave running the probe, with a second file it can map executable ----
PROBE="$BUILD/examples/probe"
[ -x "$PROBE" ] || fail "missing $PROBE"
head -c 16384 /dev/urandom >"$WORK/payload" # any bytes: mapped, not run
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" \
	"$WORK/payload:app/payload" >/dev/null || fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')
enclave_create pr
ID=$ENC
KEY=${KEYS[$ID]}
wait_for 60 "enclave running" enclave_is "$ID" running
K=(-H "X-Cloister-Access-Key: $KEY")
b64() { printf '%s' "$1" | base64 -w0; }
# ask LINE EXPECT-PREFIX: sends LINE to the probe, waits for its answer line.
ask() {
	local got= deadline=$((SECONDS + 20))
	json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(b64 "$1"$'\n')\"}" "${K[@]}"
	[ "$STATUS" = 200 ] || fail "send '$1': $STATUS $BODY"
	while [[ "$got" != *$'\n'* ]]; do
		[ $SECONDS -lt $deadline ] || fail "no answer to '$1' (got '$got')"
		json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":1000}' "${K[@]}"
		[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
		got+=$(jget 'j["data"]' | base64 -d; echo x)
		got=${got%x}
	done
	[[ "$got" == "$2"* ]] || fail "'$1' answered '$got', expected '$2...'"
}
thawed() { # the enclave's cgroup is not frozen (v1 freezer.state, v2 cgroup.events)
	local c
	for c in $(cgroup_dirs "$ID"); do
		if [ -f "$c/freezer.state" ]; then grep -qx THAWED "$c/freezer.state" || return 1; fi
		if [ -f "$c/cgroup.events" ]; then grep -qx 'frozen 0' "$c/cgroup.events" || return 1; fi
	done
	return 0
}
ask "echo hi" "hi"

# ---- not public by default ----
req POST "/v1/enclaves/$ID/measure" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{}'
[ "$STATUS" = 403 ] || fail "measure without the access key: $STATUS $BODY"
req GET "/v1/enclaves/$ID"
[[ "$(jget 'j["policy"]["untrusted"]')" != *measure* ]] || fail "measure is in the default policy: $BODY"

# ---- measured twice: the same PCR5, not zero; the launch registers unchanged ----
measure() { # measure OUT.cbor: a document with a fresh nonce, verified; sets PCR5, PCR0
	measure_doc "$ID" "$KEY" "$1"
	thawed || fail "the enclave is still frozen after a measure"
}
ZERO=$(printf '0%.0s' $(seq 96))
described_measurement() { # prints "PCR5 MEASURED_AT", or "null"
	req GET "/v1/enclaves/$ID" "${K[@]}"
	[ "$STATUS" = 200 ] || fail "describe: $STATUS $BODY"
	jget 'j["measurement"] and j["measurement"]["pcr5"] + " " + j["measurement"]["measured_at"] or "null"'
}
[ "$(described_measurement)" = null ] || fail "describe shows a measurement before the first: $BODY"
measure "$WORK/m1.cbor"
A=$PCR5
[ "$A" != "$ZERO" ] || fail "PCR5 is zero after a measure"
req GET "/v1/enclaves/$ID"
[ "$(jget 'j["pcrs"]["0"]')" = "$PCR0" ] || fail "the measure document's PCR0 is not the launch's: $BODY"
"$CLI_BIN" enclave attest "$ID" --out "$WORK/a.cbor" >/dev/null || fail "enclave attest"
"$CLI_BIN" attest verify "$WORK/a.cbor" --root "$WORK/root.pem" --pcr "5=$ZERO" >/dev/null 2>&1 ||
	fail "the attest op's PCR5 is not zero"
ask "echo alive" "alive"
measure "$WORK/m2.cbor"
[ "$PCR5" = "$A" ] || fail "the same enclave measured twice: PCR5 $A then $PCR5"
read -r D5 DAT <<<"$(described_measurement)"
[ "$D5" = "$A" ] || fail "describe's latest measurement is not the document's PCR5: $BODY"
[[ "$DAT" =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T ]] || fail "describe's measured_at: $BODY"
grep -q "enclave measured id=$ID" "$WORK/host.err" || fail "the agent did not log the measurement"
# the image's files, as init reports them: /app, /app/probe, /app/payload
grep -q "enclave measured id=$ID regions=[0-9]* files=3 " "$WORK/host.err" ||
	fail "the image's files were not measured: $(grep 'enclave measured' "$WORK/host.err" | tail -n 1)"

# ---- code loaded at run time shows up; unloaded, the first value again ----
ask "mapx /app/payload" "mapx /app/payload 0 "
measure "$WORK/m3.cbor"
B=$PCR5
[ "$B" != "$A" ] || fail "PCR5 did not change after code was mapped executable"
ask "echo alive" "alive"
measure "$WORK/m4.cbor"
[ "$PCR5" = "$B" ] || fail "the changed enclave measured twice: PCR5 $B then $PCR5"
ask "unmapx" "unmapx 0"
measure "$WORK/m5.cbor"
[ "$PCR5" = "$A" ] || fail "unmapped again, PCR5 is not the first value: $A vs $PCR5"

# ---- a stopped enclave: measured, and stays stopped ----
req POST "/v1/enclaves/$ID/stop" "${K[@]}"
[ "$STATUS" = 202 ] || [ "$STATUS" = 200 ] || fail "stop: $STATUS $BODY"
wait_for 30 "enclave stopped" enclave_is "$ID" stopped
thawed && fail "a stopped enclave is not frozen"
CLOISTER_ACCESS_KEY=$KEY "$CLI_BIN" enclave measure "$ID" --out "$WORK/m6.cbor" >/dev/null || fail "measure stopped"
"$CLI_BIN" attest verify "$WORK/m6.cbor" --root "$WORK/root.pem" --pcr "5=$A" >/dev/null 2>&1 ||
	fail "a stopped enclave's PCR5 differs from the running one's"
thawed && fail "measuring a stopped enclave thawed it"

# ---- a policy that lists measure: no access key needed ----
json POST /v1/enclaves "{\"name\":\"pr2\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\",\"policy\":{\"untrusted\":[\"describe\",\"list\",\"measure\"]}}"
[ "$STATUS" = 202 ] || fail "create pr2: $STATUS $BODY"
ID2=$(jget 'j["enclave"]["id"]')
ENCLAVES+=("$ID2")
wait_for 60 "enclave pr2 running" enclave_is "$ID2" running
"$CLI_BIN" enclave measure "$ID2" --out "$WORK/m7.cbor" >/dev/null || fail "measure allowed by the policy"
"$CLI_BIN" attest verify "$WORK/m7.cbor" --root "$WORK/root.pem" --pcr "5=$A" >/dev/null 2>&1 ||
	fail "an identical enclave's PCR5 differs from the first one's"
echo "host_measure: ok"
