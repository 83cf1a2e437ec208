#!/usr/bin/env bash
# enclave_suspend.sh — suspend and restore end to end, with a real control
# plane and host (docs/suspend.md):
#
#   - state the application wrote under /tmp survives suspend + restore; the
#     enclave is `suspended` in between (its sandbox gone, its blob stored
#     encrypted: the marker is in no file of the control plane);
#   - a flipped byte in the stored blob: the restore fails decrypt_failed, the
#     enclave stays suspended, and a restore of the intact blob then works;
#   - an older blob put back in place of the latest: stale_blob, naming both
#     suspend numbers;
#   - a restore into another image (the enclave's image swapped in the store):
#     pcr_mismatch naming the register;
#   - kill -9 of the agent mid-suspend: the enclave is still running, its
#     application answers, and a suspend then works;
#   - kill -9 of the agent mid-restore: fully restored or still suspended
#     (then a restore works), the state intact either way;
#   - the CLI's suspend and restore follow their jobs and print a refusal's
#     reason;
#   - an enclave created --await-bundle --suspendable and provisioned: after
#     a suspend + restore, and again after a second one, its bundle runs with
#     its files and state, .cloister-state is no file of its /tmp, and its
#     PCR7 (describe, a fresh verified document) is the provisioned one's —
#     the control plane refused the restore (pcr_mismatch: PCR7) otherwise.
source "$(dirname "$0")/host_lib.sh"
host_up_attested

PROBE="$BUILD/examples/probe"
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" >/dev/null ||
	fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

json POST /v1/enclaves "{\"name\":\"susp\",\"image_id\":\"$IMAGE\",\"memory_mib\":512,\"cpus\":1,\"min_level\":\"software\",\"suspendable\":true}"
[ "$STATUS" = 202 ] || fail "create: $STATUS $BODY"
ID=$(jget 'j["enclave"]["id"]')
ENCLAVES+=("$ID")
KEYS[$ID]=$(jget 'j["access_key"]')
wait_for 60 "enclave running" enclave_is "$ID" running
AK=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")

MARK="state-marker-$RANDOM$RANDOM"
enclave_ask "$ID" "write /tmp/state/a.txt $MARK"
[ "$ANS" = "write /tmp/state/a.txt 0" ] || fail "the application cannot write its state: '$ANS'"

job_wait() { # job_wait JOB: waits for its end; sets JSTATE, JERROR
	req GET "/v1/jobs/$1?wait=60"
	[ "$STATUS" = 200 ] || fail "job $1: $STATUS $BODY"
	JSTATE=$(jget 'j["state"]') JERROR=$(jget 'j["error"] or ""')
}
job_done() { req GET "/v1/jobs/$1"; JSTATE=$(jget 'j["state"]') JERROR=$(jget 'j["error"] or ""'); [ "$JSTATE" = succeeded ] || [ "$JSTATE" = failed ]; }
suspend() { # suspend: the job's end in JSTATE/JERROR
	json POST "/v1/enclaves/$ID/suspend" '{}' "${AK[@]}"
	[ "$STATUS" = 202 ] || fail "suspend: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 120 "suspend job $job ends" job_done "$job"
}
restore() { # restore [BODY]: the job's end in JSTATE/JERROR
	json POST "/v1/enclaves/$ID/restore" "${1:-{\}}" "${AK[@]}"
	[ "$STATUS" = 202 ] || fail "restore: $STATUS $BODY"
	local job; job=$(jget 'j["job"]["id"]')
	wait_for 180 "restore job $job ends" job_done "$job"
}
blob() { ls "$WORK/ctl"/state/"$ID".*.blob 2>/dev/null | sort -t. -k2 -n | tail -1; }

# ---- suspend: committed, the enclave suspended, its sandbox gone ----
suspend
[ "$JSTATE" = succeeded ] || fail "suspend failed: $JERROR"
enclave_is "$ID" suspended || fail "after a suspend the enclave is $(enclave_state "$ID")"
wait_for 30 "the suspended enclave's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
B1=$(blob)
[ -n "$B1" ] || fail "no blob stored under $WORK/ctl/state"
! grep -rqa "$MARK" "$WORK/ctl" || fail "the state is in clear under the control plane's data"
json POST "/v1/enclaves/$ID/send" '{"data":"eA=="}' "${AK[@]}"
[ "$STATUS" = 409 ] || fail "a send to a suspended enclave: $STATUS $BODY"

# ---- restore: the state is back ----
restore
[ "$JSTATE" = succeeded ] || fail "restore failed: $JERROR"
wait_for 30 "restored enclave running" enclave_is "$ID" running
enclave_ask "$ID" "read /tmp/state/a.txt"
[ "$ANS" = "read /tmp/state/a.txt $MARK" ] || fail "the state did not survive: '$ANS'"

DB="$WORK/ctl/db/control.db"
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); r=c.execute(sys.argv[2], sys.argv[3:]).fetchall(); c.commit(); print('\n'.join('|'.join(map(str, x)) for x in r))" "$DB" "$@"; }
file_sha() { sha384sum "$1" | cut -d' ' -f1; }
flip() { # flip FILE OFFSET: xors the byte at OFFSET with 0x01
	python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))" "$1" "$2"
}
running_and_intact() { # the application answers and its state is there
	enclave_ask "$ID" "read /tmp/state/a.txt"
	[ "$ANS" = "read /tmp/state/a.txt $MARK" ] || fail "the state is not there: '$ANS'"
}

# ---- a flipped byte in the stored blob (and its digest, as a thief of the store would): decrypt_failed ----
suspend
[ "$JSTATE" = succeeded ] || fail "second suspend failed: $JERROR"
B2=$(blob)
[ "$B2" != "$B1" ] && [ ! -e "$B1" ] || fail "the previous blob was not replaced: $B1 $B2"
cp "$B2" "$WORK/b2.orig"
flip "$B2" $(($(stat -c %s "$B2") - 40)) # inside the ciphertext
sql "UPDATE enclave_state SET blob_sha384=? WHERE enclave_id=?" "$(file_sha "$B2")" "$ID" >/dev/null
restore
[ "$JSTATE" = failed ] || fail "a restore of a changed blob: $JSTATE"
[[ "$JERROR" == *decrypt_failed* ]] || fail "a changed blob's refusal does not say decrypt_failed: $JERROR"
wait_for 30 "the enclave suspended again" enclave_is "$ID" suspended
wait_for 30 "the refused restore's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
cp "$WORK/b2.orig" "$B2"
sql "UPDATE enclave_state SET blob_sha384=? WHERE enclave_id=?" "$(file_sha "$B2")" "$ID" >/dev/null

# ---- an older blob put back in place of the latest: stale_blob naming both ----
# (through the CLI: it follows the jobs and prints a refusal's reason)
CLOISTER_ACCESS_KEY=${KEYS[$ID]} "$CLI_BIN" enclave restore "$ID" --host "$HOST_ID" >"$WORK/cli.out" 2>&1 ||
	fail "cloister enclave restore: $(cat "$WORK/cli.out")"
st=$(enclave_state "$ID")
[ "$st" = running ] || fail "after cloister enclave restore the enclave is $st"
running_and_intact
cp "$B2" "$WORK/b2.old"
CLOISTER_ACCESS_KEY=${KEYS[$ID]} "$CLI_BIN" enclave suspend "$ID" >"$WORK/cli.out" 2>&1 ||
	fail "cloister enclave suspend: $(cat "$WORK/cli.out")"
st=$(enclave_state "$ID")
[ "$st" = suspended ] || fail "after cloister enclave suspend the enclave is $st"
B3=$(blob)
cp "$B3" "$WORK/b3.orig"
cp "$WORK/b2.old" "$B3"
sql "UPDATE enclave_state SET blob_sha384=?, blob_size=? WHERE enclave_id=?" "$(file_sha "$B3")" "$(stat -c %s "$B3")" "$ID" >/dev/null
! CLOISTER_ACCESS_KEY=${KEYS[$ID]} "$CLI_BIN" enclave restore "$ID" >"$WORK/cli.out" 2>&1 ||
	fail "cloister enclave restore of an older blob succeeded"
grep -q "restoring $ID failed: stale_blob: the blob is suspend 2, the enclave's latest is 3" "$WORK/cli.out" ||
	fail "an older blob's refusal does not name both numbers: $(cat "$WORK/cli.out")"
wait_for 30 "the enclave suspended again" enclave_is "$ID" suspended
cp "$WORK/b3.orig" "$B3"
sql "UPDATE enclave_state SET blob_sha384=?, blob_size=? WHERE enclave_id=?" "$(file_sha "$B3")" "$(stat -c %s "$B3")" "$ID" >/dev/null

# ---- a restore into another image (swapped in the store): pcr_mismatch ----
"$CLI_BIN" image build -o "$WORK/other.img" --name other --entrypoint /app/probe --arg other "$PROBE" >/dev/null ||
	fail "image build (other)"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/other.img"
[ "$STATUS" = 201 ] || fail "image upload (other): $STATUS $BODY"
OTHER=$(jget 'j["id"]')
sql "UPDATE enclaves SET image_id=? WHERE id=?" "$OTHER" "$ID" >/dev/null
restore
[ "$JSTATE" = failed ] || fail "a restore into another image: $JSTATE"
[[ "$JERROR" == *"pcr_mismatch: PCR"* ]] || fail "another image's refusal does not say pcr_mismatch: $JERROR"
wait_for 30 "the enclave suspended again" enclave_is "$ID" suspended
wait_for 30 "the refused restore's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
sql "UPDATE enclaves SET image_id=? WHERE id=?" "$IMAGE" "$ID" >/dev/null
restore
[ "$JSTATE" = succeeded ] || fail "the restore after the refusals failed: $JERROR"
wait_for 30 "restored enclave running" enclave_is "$ID" running
running_and_intact

# ---- kill -9 of the agent mid-suspend (its blob being stored): still running ----
enclave_ask "$ID" "fill /tmp/big.bin 40"
[ "$ANS" = "fill /tmp/big.bin 0" ] || fail "cannot fill /tmp: '$ANS'"
json POST "/v1/enclaves/$ID/suspend" '{}' "${AK[@]}"
[ "$STATUS" = 202 ] || fail "suspend: $STATUS $BODY"
JOB=$(jget 'j["job"]["id"]')
deadline=$((SECONDS + 60))
until ls "$WORK/ctl/state/"*.tmp >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "the suspend's blob never started to arrive"
done
# the control plane frozen, the blob cannot finish arriving: the kill lands mid-transfer
CTL_ALL=$(echo "$CTL_PID" $(pgrep -P "$CTL_PID" || true))
kill -STOP $CTL_ALL
host_kill9
kill -CONT $CTL_ALL
host_start
wait_for 120 "the interrupted suspend's job ends" job_done "$JOB"
[ "$JSTATE" = failed ] || fail "a suspend whose agent was killed mid-transfer: $JSTATE"
enclave_is "$ID" running || fail "after the kill the enclave is $(enclave_state "$ID")"
running_and_intact
[ -z "$(ls "$WORK/ctl/state/"*.tmp 2>/dev/null)" ] || fail "the half-stored blob was left behind"

# ---- kill -9 of the agent mid-restore (its shim frozen while the state streams in):
# the enclave ends either fully restored or still suspended, and a restore then works ----
suspend
[ "$JSTATE" = succeeded ] || fail "the suspend before the mid-restore kill failed: $JERROR"
wait_for 30 "the suspended enclave's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
json POST "/v1/enclaves/$ID/restore" '{}' "${AK[@]}"
[ "$STATUS" = 202 ] || fail "restore: $STATUS $BODY"
JOB=$(jget 'j["job"]["id"]')
deadline=$((SECONDS + 60))
until grep -q "op data sent host=$HOST_ID" <(tail -n 5 "$WORK/ctl.err") && [ -f "$HDATA/sandboxes/$ID/shim.pid" ]; do
	[ $SECONDS -lt $deadline ] || fail "the restore's blob was never fetched"
done
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
kill -STOP "$SHIM"
host_kill9
kill -CONT "$SHIM"
host_start
wait_for 180 "the interrupted restore's job ends" job_done "$JOB"
if [ "$JSTATE" = succeeded ]; then
	wait_for 30 "restored enclave running" enclave_is "$ID" running
else
	wait_for 30 "the enclave suspended again" enclave_is "$ID" suspended
	restore
	[ "$JSTATE" = succeeded ] || fail "a restore after the mid-restore kill failed: $JERROR"
	wait_for 30 "restored enclave running" enclave_is "$ID" running
fi
running_and_intact
echo "mid-restore kill: the job $JSTATE" >&2

enclave_ask "$ID" "write /tmp/big.bin"
suspend
[ "$JSTATE" = succeeded ] || fail "a suspend after the kill failed: $JERROR"
restore
[ "$JSTATE" = succeeded ] || fail "a restore after the kill failed: $JERROR"
wait_for 30 "restored enclave running" enclave_is "$ID" running
running_and_intact

# ---- a provisioned enclave (--await-bundle --suspendable): its PCR7 replayed at each restore ----
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"
json POST /v1/enclaves "{\"name\":\"psusp\",\"image_id\":\"$IMAGE\",\"memory_mib\":256,\"cpus\":1,\"min_level\":\"software\",\"await_bundle\":true,\"suspendable\":true}"
[ "$STATUS" = 202 ] || fail "create (provisioned): $STATUS $BODY"
ID=$(jget 'j["enclave"]["id"]')
ENCLAVES+=("$ID")
KEYS[$ID]=$(jget 'j["access_key"]')
AK=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")
wait_for 60 "the awaiting enclave running" enclave_is "$ID" running
TENANT=$(req GET "/v1/enclaves/$ID"; jget 'j["tenant_id"]')
P3=$("$CLI_BIN" image measure "$WORK/probe.img" --tenant "$TENANT" --name psusp --await-bundle --suspendable --json |
	python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])")
BMARK="bundle-marker-$RANDOM$RANDOM"
mkdir -p "$WORK/pb"
cp "$PROBE" "$WORK/pb/entrypoint" # the probe serves when run as a bundle's entrypoint
printf '%s\n' "$BMARK" >"$WORK/pb/data.txt"
python3 - "$WORK/pbundle.tar" "$WORK/pb" <<'PY'
import sys, tarfile, os
with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
    for f in ("entrypoint", "data.txt"):
        t.add(os.path.join(sys.argv[2], f), arcname=f, recursive=False)
PY
P7=$(python3 -c "import hashlib,sys; print(hashlib.sha384(bytes(48)+bytes.fromhex(sys.argv[1])).hexdigest())" \
	"$(sha384sum "$WORK/pbundle.tar" | cut -d' ' -f1)")
CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/pbundle.tar" --expect-pcr "3=$P3" \
	--root "$WORK/root.pem" >"$WORK/p.out" 2>"$WORK/p.err" || fail "provision: $(cat "$WORK/p.err")"
PMARK="pstate-marker-$RANDOM$RANDOM"
enclave_ask "$ID" "write /tmp/state/p.txt $PMARK"
[ "$ANS" = "write /tmp/state/p.txt 0" ] || fail "the bundle cannot write its state: '$ANS'"
described_pcr7() { req GET "/v1/enclaves/$ID"; [ "$(jget "j.get('pcrs', {}).get('7')")" = "$P7" ]; }
attested_pcr7() { # a fresh document of the enclave verifies with PCR7 = P7
	local nonce; nonce=$(openssl rand -hex 16)
	"$CLI_BIN" enclave attest "$ID" --nonce "$nonce" --out "$WORK/pdoc.cbor" >/dev/null ||
		fail "attest"
	"$CLI_BIN" attest verify "$WORK/pdoc.cbor" --root "$WORK/root.pem" --nonce "$nonce" --pcr "7=$P7" --pcr "3=$P3" \
		>/dev/null 2>"$WORK/pv.err" || fail "$1: the enclave's document: $(cat "$WORK/pv.err")"
}
wait_for 20 "describe's PCR7 after the provision" described_pcr7
attested_pcr7 "provisioned"
provisioned_and_intact() { # $1: which restore
	wait_for 30 "restored enclave running" enclave_is "$ID" running
	enclave_ask "$ID" "read /tmp/bundle/data.txt"
	[ "$ANS" = "read /tmp/bundle/data.txt $BMARK" ] || fail "$1: the provisioned files are not there: '$ANS'"
	enclave_ask "$ID" "read /tmp/state/p.txt"
	[ "$ANS" = "read /tmp/state/p.txt $PMARK" ] || fail "$1: the bundle's state is not there: '$ANS'"
	enclave_ask "$ID" "exists /tmp/.cloister-state"
	[ "$ANS" = "exists /tmp/.cloister-state no" ] || fail "$1: .cloister-state is a file of the restored /tmp: '$ANS'"
	wait_for 20 "$1: describe's PCR7" described_pcr7
	attested_pcr7 "$1"
}
for round in first second; do
	suspend
	[ "$JSTATE" = succeeded ] || fail "the $round suspend of the provisioned enclave failed: $JERROR"
	wait_for 30 "the suspended enclave's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
	restore
	[ "$JSTATE" = succeeded ] || fail "the $round restore of the provisioned enclave failed: $JERROR"
	provisioned_and_intact "the $round restore"
done

echo "PASS enclave_suspend"
