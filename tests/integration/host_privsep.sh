#!/usr/bin/env bash
# host_privsep.sh — cloister-host's privilege separation, from the outside:
#
#   cloister-control ◄─HTTPS─ agent (root; SYS_ADMIN SETUID SETGID KILL [SYS_RESOURCE]) ─► shims ─► enclave (fwclient)
#                               │ ▲ supervisor channel                      ▲ /dev/cloister/fw.sock
#             supervisor ───────┤ └ key holder channel ──► key holder (uid KH, no caps; DATA/keys)
#             (the service pid) ├── guestif channels ───► guest interface (uid GI, no caps, no files)
#                               └── data plane channel ─► TLS data plane (uid DP, no caps, no files)
#                                                          └ role tls ──► key holder
#
#   - the parts: uids, no capabilities (key holder, guest interface), the
#     agent without DAC_OVERRIDE/DAC_READ_SEARCH/FOWNER/CHOWN/SYS_PTRACE,
#     no_new_privs and seccomp everywhere, the key holder and the guest
#     interface undumpable; DATA/keys belongs to the key holder (0700, keys
#     0600) and root with the agent's capabilities cannot read it;
#   - a memory scan (/proc/PID/mem over every readable mapping) of the guest
#     interface process finds neither a private key (the devices' keys, the
#     attestation key the agent had the key holder make at start) nor the
#     host token; of the agent, no private key (and, as the scan's own check,
#     the host token it does hold); of the key holder, no private key either
#     (memfd_secret);
#   - a hung key holder: an encrypted update fails closed (refused, audited,
#     nothing changed); a key holder killed -9 is restarted and the agent
#     takes its new channel (an encrypted update installs);
#   - the TLS data plane: its own uid, no capabilities, undumpable, seccomp,
#     no key and no token in its memory; killed -9, it and its key holder
#     are restarted as one unit and the agent takes both new channels;
#   - a guest interface killed -9: restarted, the enclave's guest interface
#     answers again;
#   - an agent killed -9: every part restarted, the enclave keeps running
#     (same shim), firmware state and audit chain intact;
#   - the supervisor killed -9: every part goes with it, the enclave keeps
#     running, the next start adopts it; SIGTERM stops the service even with
#     a hung key holder.
# The devices' mutability window (60 s) is open after the first start: the
# key holder steps run in it, then the test waits for it to close (placement
# refuses the host until then) to run an enclave.
source "$(dirname "$0")/host_lib.sh"

NIC=$FW_NIC NIC_VENDOR=$FW_NIC_VENDOR NIC_CLASS=$FW_NIC_CLASS
KH_UID=1073741568 GI_UID=1073741569 DP_UID=1073741571 # CL_HOST_KEYHOLDER_UID, CL_GUESTIF_UID, CL_DP_UID
CLIENT="$BUILD/examples/fwclient"
[ -x "$CLIENT" ] || fail "missing $CLIENT"

ctl_start
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
fw_keys
fw_host_start

# ---- the parts ----
# part UID: the pid of the supervisor's child running as UID (0: the agent).
part() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '/^PPid:/{print $2}' "$p/status" 2>/dev/null)" = "$HOST_PID" ] || continue
		[ "$(awk '/^Uid:/{print $2}' "$p/status" 2>/dev/null)" = "$1" ] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
field() { awk -v f="$2:" '$1==f{print $2}' "/proc/$1/status"; }
has_cap() { (( (0x$1 >> $2) & 1 )); } # has_cap HEXMASK BIT
parts_up() { part $KH_UID >/dev/null && part $GI_UID >/dev/null && part $DP_UID >/dev/null && part 0 >/dev/null; }
wait_for 20 "the four parts" parts_up
KH=$(part $KH_UID) GI=$(part $GI_UID) DP=$(part $DP_UID) AG=$(part 0)
for p in $KH $GI $DP $AG $HOST_PID; do
	[ "$(field "$p" NoNewPrivs)" = 1 ] || fail "pid $p: no_new_privs not set"
	[ "$(field "$p" Seccomp)" = 2 ] || fail "pid $p: no seccomp filter"
	has_cap "$(field "$p" CapBnd)" 19 && fail "pid $p: CAP_SYS_PTRACE in its bounding set"
done
for p in $KH $GI $DP; do
	[ "$(field "$p" CapEff)" = 0000000000000000 ] && [ "$(field "$p" CapBnd)" = 0000000000000000 ] ||
		fail "pid $p keeps capabilities: $(grep ^Cap "/proc/$p/status")"
	[ "$(stat -c %u "/proc/$p/environ")" = 0 ] || fail "pid $p is dumpable (its /proc files are its own)"
done
AGCAPS=$(field "$AG" CapEff)
for bit in 0 1 2 3 19; do # CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER SYS_PTRACE
	has_cap "$AGCAPS" $bit && fail "the agent has capability $bit: $AGCAPS"
	has_cap "$(field "$AG" CapBnd)" $bit && fail "the agent's bounding set has capability $bit"
done
for bit in 5 6 7 12 21; do # KILL SETGID SETUID NET_ADMIN (guest networks) SYS_ADMIN (the shims need them)
	has_cap "$AGCAPS" $bit || fail "the agent lacks capability $bit: $AGCAPS"
done
[ "$(stat -c '%u %a' "$HDATA/keys")" = "$KH_UID 700" ] || fail "DATA/keys: $(stat -c '%u %a' "$HDATA/keys")"
for f in "$HDATA"/keys/dev/*.key; do
	[ "$(stat -c '%u %a' "$f")" = "$KH_UID 600" ] || fail "$f: $(stat -c '%u %a' "$f")"
done
[ "$(ls "$HDATA"/keys/dev | wc -l)" = 3 ] || fail "keys: $(ls "$HDATA/keys/dev")"
# the attestation key: made by the key holder when the agent started, never in the agent
wait_for 20 "the attestation key" test -f "$HDATA/keys/attest.key"
[ "$(stat -c '%u %a' "$HDATA/keys/attest.key")" = "$KH_UID 600" ] ||
	fail "attest.key: $(stat -c '%u %a' "$HDATA/keys/attest.key")"
ls "$HDATA"/fw/devices/*/devkey 2>/dev/null && fail "key files in the device model"
# root with exactly the agent's capabilities cannot read a key (full root can: the check's control)
AGSET=$(python3 -c "
import sys; m = int(sys.argv[1], 16)
names = {5: 'kill', 6: 'setgid', 7: 'setuid', 12: 'net_admin', 21: 'sys_admin', 24: 'sys_resource'}
print(','.join('+' + n for b, n in names.items() if m >> b & 1))" "$AGCAPS")
KEYFILE=$(ls "$HDATA"/keys/dev/*.key | head -n1)
cat "$KEYFILE" >/dev/null || fail "the test cannot read the key file as root"
setpriv --bounding-set=-all,$AGSET --inh-caps=-all cat "$KEYFILE" >/dev/null 2>&1 &&
	fail "root with the agent's capabilities read a device key"
setpriv --bounding-set=-all,$AGSET --inh-caps=-all ls "$HDATA/keys" >/dev/null 2>&1 &&
	fail "root with the agent's capabilities listed DATA/keys"

# ---- memory scans ----
# scan PID LABEL...: prints the labels of the secrets found in PID's readable memory.
secrets_file() {
	python3 - "$HDATA/keys" "$HDATA/host.json" "$WORK/secrets.txt" <<'EOF'
import json, os, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
out = []
keys = ["dev/" + f for f in sorted(os.listdir(os.path.join(sys.argv[1], "dev")))] + ["attest.key"]
assert len(keys) == 4, keys
for f in keys:
    k = load_pem_private_key(open(os.path.join(sys.argv[1], f), "rb").read(), None)
    d = k.private_numbers().private_value.to_bytes(48, "big")
    for i, s in enumerate([d, d[:16], d[16:32], d[32:], d.hex().encode(), d.hex().upper().encode()]):
        out.append(("key:%s:%d" % (f, i), s))
t = json.load(open(sys.argv[2]))["host_token"].encode()
out += [("token", t), ("token-tail", t[-24:])]
with open(sys.argv[3], "w") as w:
    for label, s in out:
        w.write("%s %s\n" % (label, s.hex()))
EOF
}
scan() {
	python3 - "$1" "$WORK/secrets.txt" <<'EOF'
import re, sys
pid = sys.argv[1]
secrets = [(l.split()[0], bytes.fromhex(l.split()[1])) for l in open(sys.argv[2])]
found, regions = set(), 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        # an anonymous mapping over 4 GiB is a sanitizer's shadow or reserve
        # (ASan builds): poison bytes, never a copy of data. (Not 64 GiB:
        # mappings split ASan's high shadow, and a piece just under 64 GiB
        # took this scan ten minutes of reading zero pages.)
        if perms[0] != "r" or "[vvar" in line or "[vsyscall]" in line or hi - lo > (4 << 30):
            continue
        step, overlap = 16 << 20, max(len(s) for _, s in secrets)
        readable = False
        for at in range(lo, hi, step):
            try:
                mem.seek(at)
                data = mem.read(min(step + overlap, hi - at))
            except OSError:
                continue # memfd_secret and other pages no one may read
            readable = True
            for label, s in secrets:
                if s in data:
                    found.add(label)
        regions += readable
if regions == 0:
    print("unreadable")
for f in sorted(found):
    print(f)
EOF
}
secrets_file
S=$(scan "$AG")
grep -qx token <<<"$S" || fail "the scan does not find the host token in the agent (the scan is broken?): $S"
grep -q '^key:' <<<"$S" && fail "a device private key in the agent's memory: $S"
S=$(scan "$GI")
[ -z "$S" ] || fail "secrets in the guest interface process's memory: $S"
S=$(scan "$DP")
[ -z "$S" ] || fail "secrets in the TLS data plane's memory: $S"
if grep -q 'in memfd_secret memory' "$WORK/host.err"; then
	S=$(scan "$KH")
	grep -q '^key:' <<<"$S" && fail "a private key in the key holder's readable memory: $S"
fi

# ---- the key holder: hung (fail closed), killed (restarted, new channel) ----
"$CLI_BIN" fw status --host "$HOST_ID" --device-key $NIC --out "$WORK/nic.pub" >/dev/null || fail "device key"
sign_enc() { # sign_enc OUT VERSION SEQUENCE
	"$CLI_BIN" fw sign --key "$WORK/a.pem" --vendor $NIC_VENDOR --class $NIC_CLASS --component $NIC --version "$2" \
		--sequence "$3" --channel stable --image "$WORK/img.bin" --encrypt-to "$WORK/nic.pub" -o "$1" >/dev/null ||
		fail "fw sign $1"
	"$CLI_BIN" fw cosign --key "$WORK/b.pem" "$1" >/dev/null || fail "fw cosign $1"
}
sign_enc "$WORK/v2.fw" 2.0.0 2
op_done() { req GET "/v1/hosts/$HOST_ID/fw/ops/$1"; [ "$STATUS" = 200 ] && [ "$(jget 'j["state"]')" != pending ]; }
ensure_window
json POST "/v1/hosts/$HOST_ID/fw/trust" "{\"device\":\"$NIC\",\"document\":\"$(base64 -w0 "$WORK/tr1.cbor")\"}"
[ "$STATUS" = 202 ] || fail "POST fw/trust: $STATUS $BODY"
OP=$(jget 'j["op"]')
wait_for 30 "trust op answered" op_done "$OP"
[ "$(jget 'j["state"]')" = ok ] || fail "trust root refused: $BODY"

kill -STOP "$KH"
ensure_window
rc=0
"$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/v2.fw" >"$WORK/push.out" 2>&1 || rc=$?
kill -CONT "$KH"
[ $rc = 1 ] && grep -qx 'refused: decrypt_failed' "$WORK/push.out" ||
	fail "an encrypted push with a hung key holder: exit $rc: $(cat "$WORK/push.out")"
grep -q 'the key holder did not answer' "$WORK/host.err" || fail "the agent did not log the hung key holder"

kill -9 "$KH"
new_kh() { local p; p=$(part $KH_UID) && [ "$p" != "$KH" ]; }
wait_for 20 "a new key holder" new_kh
grep -q 'supervisor: the key holder killed by signal 9' "$WORK/host.err" || fail "the supervisor did not log the death"
wait_for 20 "the agent's new key holder channel" grep -q 'key holder restarted by the supervisor: new channel in use' "$WORK/host.err"
KH=$(part $KH_UID)
new_dp() { local p; p=$(part $DP_UID) && [ "$p" != "$DP" ]; }
wait_for 20 "a new TLS data plane with the new key holder" new_dp
DP=$(part $DP_UID)
# the data plane killed: it and its key holder restart as one unit (its only
# signer is the key holder's tls channel), the agent takes both new channels
kill -9 "$DP"
wait_for 20 "a new key holder after the data plane's death" new_kh
wait_for 20 "a new TLS data plane" new_dp
grep -q 'supervisor: the TLS data plane killed by signal 9' "$WORK/host.err" || fail "the supervisor did not log the data plane's death"
two_channels() { [ "$(grep -c 'key holder restarted by the supervisor: new channel in use' "$WORK/host.err")" -ge 2 ]; }
wait_for 20 "the agent's channels to the new pair" two_channels
KH=$(part $KH_UID) DP=$(part $DP_UID)
ensure_window
out=$("$CLI_BIN" fw push --host "$HOST_ID" --device $NIC --wait "$WORK/v2.fw" 2>&1) || fail "push after the key holder's restart: $out"
grep -q '^accepted' <<<"$out" || fail "push after the key holder's restart: $out"
"$CLI_BIN" fw audit --host "$HOST_ID" --verify >"$WORK/audit.out" 2>&1 || fail "audit chain: $(cat "$WORK/audit.out")"

# ---- an enclave with the guest interface ----
fw_eligible() { req GET "/v1/hosts/$HOST_ID/fw"; [ "$STATUS" = 200 ] && [ "$(jget 'j["eligible"]')" = True ]; }
wait_for 120 "the mutability window to close (host eligible)" fw_eligible
"$CLI_BIN" image build -o "$WORK/fwclient.img" --name fwclient --entrypoint /app/fwclient "$CLIENT" >/dev/null ||
	fail "cloister image build failed"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/fwclient.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')
enclave_create fw1
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
ask() { # ask CMD: one line to the enclave's fwclient; ANS = its answer line
	local cmd=$1 got= deadline=$((SECONDS + 30))
	json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(printf '%s\n' "$cmd" | base64 -w0)\"}" -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
	[ "$STATUS" = 200 ] || fail "send '$cmd': $STATUS $BODY"
	while [[ "$got" != *$'\n'* ]]; do
		[ $SECONDS -lt $deadline ] || fail "no answer to '$cmd' (got '$got')"
		json POST "/v1/enclaves/$ID/recv" '{"max":65536,"wait_ms":1000}' -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
		[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
		got+=$(jget 'j["data"]' | base64 -d; echo x)
		got=${got%x}
	done
	ANS=${got%%$'\n'*}
}
ask "READ $NIC"
[[ "$ANS" == "OK {\"addr\":\"$NIC\""*'"version":"2.0.0"'* ]] || fail "READ: $ANS"
GI=$(part $GI_UID)
secrets_file
S=$(scan "$GI")
[ -z "$S" ] || fail "secrets in the guest interface process's memory after serving an enclave: $S"

kill -9 "$GI"
new_gi() { local p; p=$(part $GI_UID) && [ "$p" != "$GI" ]; }
wait_for 20 "a new guest interface process" new_gi
grep -q 'guest interface process is gone' "$WORK/host.err" || fail "the agent did not notice the guest interface's death"
wait_for 20 "the gate reattached" grep -q 'guest interface: new process attached enclaves=1' "$WORK/host.err"
ask CLOSE
ask LIST
[[ "$ANS" == "OK {\"devices\""* ]] || fail "LIST after the guest interface's restart: $ANS"

# ---- the agent killed: every part restarted; the enclave, the firmware state and the audit chain stay ----
KH=$(part $KH_UID) GI=$(part $GI_UID) AG=$(part 0)
kill -9 "$AG"
all_new() {
	local k g a
	k=$(part $KH_UID) && g=$(part $GI_UID) && a=$(part 0) && [ "$k" != "$KH" ] && [ "$g" != "$GI" ] && [ "$a" != "$AG" ]
}
wait_for 30 "every part restarted" all_new
grep -q 'supervisor: the agent killed by signal 9; restarting' "$WORK/host.err" || fail "the supervisor did not log the agent's death"
wait_for 30 "the enclave adopted" grep -q "adopted enclave id=$ID" "$WORK/host.err"
[ "$(cat "$HDATA/sandboxes/$ID/shim.pid")" = "$SHIM" ] || fail "the enclave was relaunched"
assert_running "$ID"
ask CLOSE
ask "READ $NIC"
[[ "$ANS" == *'"version":"2.0.0"'* ]] || fail "firmware state after the agent's restart: $ANS"
"$CLI_BIN" fw audit --host "$HOST_ID" --verify >"$WORK/audit.out" 2>&1 || fail "audit chain: $(cat "$WORK/audit.out")"

# ---- the supervisor killed: the parts go with it, the enclave stays, the next start adopts ----
KH=$(part $KH_UID) GI=$(part $GI_UID) AG=$(part 0)
host_kill9
parts_gone() { ! kill -0 "$KH" 2>/dev/null && ! kill -0 "$GI" 2>/dev/null && ! kill -0 "$AG" 2>/dev/null; }
wait_for 10 "the parts to die with the supervisor" parts_gone
assert_running "$ID"
host_start --fw-root "$WORK/root.pub"
wait_for 20 "host ready again" host_is ready
[ "$(cat "$HDATA/sandboxes/$ID/shim.pid")" = "$SHIM" ] || fail "the restart relaunched the enclave"
ask CLOSE
ask "READ $NIC"
[[ "$ANS" == *'"version":"2.0.0"'* ]] || fail "READ after the service's restart: $ANS"

enclave_destroy "$ID"
wait_for 60 "enclave destroyed" enclave_is "$ID" absent
# SIGTERM with a hung key holder: the service still stops (the hung part is killed)
kill -STOP "$(part $KH_UID)"
host_stop
echo "PASS host_privsep"
