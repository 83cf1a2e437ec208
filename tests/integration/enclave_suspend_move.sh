#!/usr/bin/env bash
# enclave_suspend_move.sh — a suspended enclave restored on ANOTHER host
# (docs/suspend.md "A restored enclave on another host"), with a real control
# plane and two host agents on this machine (host_lib.sh host2_start):
#
#   - a --suspendable enclave created on host A writes state, is suspended,
#     and `restore --host B` runs it on B: describe says B, its state is there,
#     A runs no sandbox (nor shim) for it;
#   - its registers after the move: PCR0-3 (image, init, application, tenant
#     and name) as before, PCR4 (the host's identity) different — in describe
#     and in a fresh attestation document verified against the root;
#   - back again: suspended on B (the blob now comes from B), `restore --host
#     A` runs it on A, with its state and A's PCR4; B runs nothing for it.
source "$(dirname "$0")/host_lib.sh"
host_up_attested
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"
A=$HOST_ID

PROBE="$BUILD/examples/probe"
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" >/dev/null ||
	fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

# created while A is the only host: it lands on A
suspendable_create mover 64
ID=$ENC
described_host() { req GET "/v1/enclaves/$ID"; jget 'j["host_id"]'; }
[ "$(described_host)" = "$A" ] || fail "the enclave is not on host A: $BODY"
assert_running "$ID"
MARK="moved-state-$RANDOM$RANDOM"
enclave_ask "$ID" "write /tmp/state/a.txt $MARK"
[ "$ANS" = "write /tmp/state/a.txt 0" ] || fail "the application cannot write its state: '$ANS'"

# registers: describe's, and a fresh document's verified against the root
described_pcrs() { # prints PCR0..PCR4 of describe, one a line
	req GET "/v1/enclaves/$ID"
	jget '"\n".join(j["pcrs"].get(str(i), "-") for i in range(5))'
}
attested_pcrs() { # prints PCR0..PCR4 of a fresh verified document, one a line
	local nonce; nonce=$(openssl rand -hex 16)
	CLOISTER_ACCESS_KEY=${KEYS[$ID]} "$CLI_BIN" enclave attest "$ID" --nonce "$nonce" --out "$WORK/doc.cbor" >/dev/null ||
		fail "enclave attest"
	"$CLI_BIN" attest verify "$WORK/doc.cbor" --root "$WORK/root.pem" --nonce "$nonce" --json >"$WORK/v.json" \
		2>"$WORK/v.err" || fail "verify: $(cat "$WORK/v.err")"
	python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['pcrs']; print('\n'.join(p[str(i)] for i in range(5)))" "$WORK/v.json"
}
# same_but_pcr4 BEFORE AFTER WHAT: PCR0-3 equal, PCR4 different
same_but_pcr4() {
	local -a b a
	mapfile -t b <<<"$1"
	mapfile -t a <<<"$2"
	[ "${#b[@]}" = 5 ] && [ "${#a[@]}" = 5 ] || fail "$3: not five registers: '$1' / '$2'"
	for i in 0 1 2 3; do
		[ "${b[$i]}" != - ] || fail "$3: no PCR$i"
		[ "${a[$i]}" = "${b[$i]}" ] || fail "$3: PCR$i changed with the host: ${b[$i]} -> ${a[$i]}"
	done
	[ "${a[4]}" != - ] && [ "${a[4]}" != "${b[4]}" ] || fail "$3: PCR4 did not change with the host: ${b[4]} -> ${a[4]}"
}
pcrs_reported() { ! described_pcrs | grep -qx -- -; }
wait_for 20 "describe's launch registers" pcrs_reported
D_A=$(described_pcrs)
T_A=$(attested_pcrs)
[ "$T_A" = "$D_A" ] || fail "describe's registers are not the document's on A: $D_A / $T_A"

# ---- suspended on A, then host B joins ----
suspend_wait "$ID"
[ "$JSTATE" = succeeded ] || fail "suspend on A failed: $JERROR"
enclave_is "$ID" suspended || fail "after a suspend the enclave is $(enclave_state "$ID")"
# the agents share the machine's cgroups (named by enclave id): A's gone first
wait_for 30 "A's sandbox of the suspended enclave removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
wait_for 30 "the suspended enclave's cgroups removed" bash -c "[ -z \"\$(ls -d /sys/fs/cgroup/*/cloister/$ID /sys/fs/cgroup/cloister/$ID 2>/dev/null)\" ]"
host2_start --join-token "$(join_token)"
B=$HOST2_ID
[ -n "$B" ] && [ "$B" != "$A" ] || fail "host B's id '$B' is not distinct from A's '$A'"
wait_for 20 "host B ready" host_is ready "$B"
wait_for 20 "host B's attestation certificate" test -s "$HDATA2/attest/cert.der"
host_is ready "$A" || fail "host A is $(host_state "$A") once B joined"

# ---- restore --host B: it runs on B, with its state and B's PCR4 ----
restore_wait "$ID" "$B"
[ "$JSTATE" = succeeded ] || fail "restore on B failed: $JERROR"
wait_for 30 "the enclave running again" enclave_is "$ID" running
[ "$(described_host)" = "$B" ] || fail "describe does not say host B after the restore: $BODY"
[ -d "$HDATA2/sandboxes/$ID" ] || fail "B has no sandbox of the restored enclave"
! [ -d "$HDATA/sandboxes/$ID" ] || fail "A has a sandbox of the enclave restored on B"
[[ " $(shim_pids | tr '\n' ' ') " != *" $(cat "$HDATA2/sandboxes/$ID/shim.pid") "* ]] ||
	fail "the enclave's shim is one of A's"
enclave_ask "$ID" "read /tmp/state/a.txt"
[ "$ANS" = "read /tmp/state/a.txt $MARK" ] || fail "the state did not move to B: '$ANS'"
D_B=$(described_pcrs)
T_B=$(attested_pcrs)
same_but_pcr4 "$D_A" "$D_B" "describe, A -> B"
same_but_pcr4 "$T_A" "$T_B" "the document, A -> B"
[ "$T_B" = "$D_B" ] || fail "describe's registers are not the document's on B: $D_B / $T_B"
B4=$(sed -n 5p <<<"$T_B")
"$CLI_BIN" image measure "$WORK/probe.img" --tenant "$(req GET "/v1/enclaves/$ID"; jget 'j["tenant_id"]')" --name mover \
	--suspendable --host "$B" --json >"$WORK/m.json" || fail "image measure"
[ "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['4'])" "$WORK/m.json")" = "$B4" ] ||
	fail "PCR4 on B is not B's identity as image measure --host B computes it"

# ---- back again: the blob from B, restore --host A ----
enclave_ask "$ID" "write /tmp/state/b.txt on-b-$MARK"
[ "$ANS" = "write /tmp/state/b.txt 0" ] || fail "cannot write state on B: '$ANS'"
suspend_wait "$ID"
[ "$JSTATE" = succeeded ] || fail "suspend on B failed: $JERROR"
enclave_is "$ID" suspended || fail "after the suspend on B the enclave is $(enclave_state "$ID")"
wait_for 30 "B's sandbox of the suspended enclave removed" bash -c "! [ -d '$HDATA2/sandboxes/$ID' ]"
wait_for 30 "the suspended enclave's cgroups removed" bash -c "[ -z \"\$(ls -d /sys/fs/cgroup/*/cloister/$ID /sys/fs/cgroup/cloister/$ID 2>/dev/null)\" ]"
restore_wait "$ID" "$A"
[ "$JSTATE" = succeeded ] || fail "restore back on A failed: $JERROR"
wait_for 30 "the enclave running on A again" enclave_is "$ID" running
[ "$(described_host)" = "$A" ] || fail "describe does not say host A after the move back: $BODY"
assert_running "$ID"
! [ -d "$HDATA2/sandboxes/$ID" ] || fail "B still has a sandbox of the enclave moved back to A"
enclave_ask "$ID" "read /tmp/state/a.txt"
[ "$ANS" = "read /tmp/state/a.txt $MARK" ] || fail "A's state did not come back: '$ANS'"
enclave_ask "$ID" "read /tmp/state/b.txt"
[ "$ANS" = "read /tmp/state/b.txt on-b-$MARK" ] || fail "the state written on B did not come to A: '$ANS'"
D_A2=$(described_pcrs)
T_A2=$(attested_pcrs)
same_but_pcr4 "$D_B" "$D_A2" "describe, B -> A"
[ "$T_A2" = "$T_A" ] || fail "back on A, the registers are not A's of before: $T_A / $T_A2"
echo "PASS enclave_suspend_move"
