#!/usr/bin/env bash
# host_measure_files.sh — measure on demand covers the code and data the
# enclave's init reports (docs/measurements.md, PCR5), end to end:
#
#   cloister enclave measure ─► agent ─ FILES_REQ ─► shim ─► cloister-init: its list
#       (the image's files, the provisioned bundle's tree)
#       freeze ─► mappings + each listed file read through /proc/PID/root
#       (openat2 RESOLVE_IN_ROOT) ─► thaw ─► document
#
#   - an enclave awaiting a bundle reports the image's files only; provisioned,
#     the bundle's tree too (the agent logs files=N);
#   - the provisioned enclave measured twice, unchanged: the same PCR5;
#   - a data file of the bundle changed by the running application (the probe
#     as the bundle's entrypoint): PCR5 changes, and stays changed measured
#     twice; its bytes put back, the first value again;
#   - a symbolic link in the bundle pointing out of the enclave (to a host
#     path) is measured as a link (its target), never followed to the host's
#     file: that file changing does not change PCR5.
source "$(dirname "$0")/host_lib.sh"
PROBE="$BUILD/examples/probe"
for b in "$PROBE" "$CLI_BIN"; do [ -x "$b" ] || fail "missing $b"; done

host_up_attested
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"
image_upload # kv.img: one file, /app/kvstore

json POST /v1/enclaves "{\"name\":\"mf\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\",\"await_bundle\":true}"
[ "$STATUS" = 202 ] || fail "create: $STATUS $BODY"
ID=$(jget 'j["enclave"]["id"]')
ENCLAVES+=("$ID")
KEY=$(jget 'j["access_key"]')
KEYS[$ID]=$KEY
wait_for 60 "enclave running" enclave_is "$ID" running
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
[ -n "$INIT" ] || fail "no cloister-init under shim $SHIM"

measure() { measure_doc "$ID" "$KEY" "$1"; } # measure OUT.cbor: a verified document; sets PCR5
last_files() { grep "enclave measured id=$ID " "$WORK/host.err" | tail -n 1 | sed -n 's/.* files=\([0-9]*\) .*/\1/p'; }

# ---- awaiting: the image's files (/app, /app/kvstore) ----
measure "$WORK/m0.cbor"
[ "$(last_files)" = 2 ] || fail "awaiting: files=$(last_files), want 2 (/app, /app/kvstore)"

# ---- provisioned: the bundle's tree too ----
mkdir -p "$WORK/b/data"
cp "$PROBE" "$WORK/b/entrypoint"
head -c 4096 /dev/urandom >"$WORK/b/data/blob"
python3 - "$WORK/bundle.tar" "$WORK/b" <<'PY'
import sys, tarfile, os
out, src = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    for name in ("entrypoint", "data", "data/blob"):
        t.add(os.path.join(src, name), arcname=name, recursive=False)
PY
"$CLI_BIN" image measure "$WORK/kv.img" --tenant "$(req GET "/v1/enclaves/$ID"; jget 'j["tenant_id"]')" --name mf \
	--await-bundle --host "$HOST_ID" --json >"$WORK/m.json" || fail "image measure"
P0=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['0'])" "$WORK/m.json")
CLOISTER_ACCESS_KEY=$KEY "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" --expect-pcr "0=$P0" \
	--root "$WORK/root.pem" >"$WORK/p.out" 2>"$WORK/p.err" || fail "provision: $(cat "$WORK/p.err")"
BLOB="/proc/$INIT/root/tmp/bundle/data/blob"
[ -f "$BLOB" ] || fail "no $BLOB after the provision"
# a link that points out of the enclave, to a file of the host, made by the
# application (the bundle's entrypoint is the probe)
echo one >"$WORK/outside"
ask() { # ask LINE EXPECT: the probe's answer
	enclave_ask "$ID" "$1"
	[ "$ANS" = "$2" ] || fail "'$1' answered '$ANS', expected '$2'"
}
ask "symlink $WORK/outside /tmp/bundle/data/outside" "symlink 0"
measure "$WORK/m1.cbor"
A=$PCR5
# /app, /app/kvstore; /tmp/bundle, entrypoint, data, data/blob, data/outside
[ "$(last_files)" = 7 ] || fail "provisioned: files=$(last_files), want 7"
measure "$WORK/m2.cbor"
[ "$PCR5" = "$A" ] || fail "the unchanged enclave measured twice: PCR5 $A then $PCR5"

# ---- a data file changed inside the running enclave, by its application ----
ask "write /tmp/bundle/data/blob changed" "write /tmp/bundle/data/blob 0"
measure "$WORK/m3.cbor"
[ "$PCR5" != "$A" ] || fail "PCR5 did not change after a data file changed"
B=$PCR5
measure "$WORK/m4.cbor"
[ "$PCR5" = "$B" ] || fail "the changed enclave measured twice: PCR5 $B then $PCR5"
# the file's first bytes put back (through /proc/PID/root): the first value again
cat "$WORK/b/data/blob" >"$BLOB" || fail "cannot put the data file back"
measure "$WORK/m5.cbor"
[ "$PCR5" = "$A" ] || fail "the data file restored, PCR5 is not the first value: $A vs $PCR5"

# ---- the link is measured as a link: the host's file behind it is never read ----
echo two >"$WORK/outside"
measure "$WORK/m6.cbor"
[ "$PCR5" = "$A" ] || fail "PCR5 changed with a host file: the link was followed out of the enclave"
echo "host_measure_files: ok"
