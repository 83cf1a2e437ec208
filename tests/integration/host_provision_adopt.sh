#!/usr/bin/env bash
# host_provision_adopt.sh — an agent killed -9 after cloister-init's EXTEND and
# before it recorded PCR7 (docs/provisioning.md): the enclave runs its bundle
# and its shim knows what was installed (STATUS bundle_sha384), but
# DATA/pcrs/ID.json has no PCR7. The restarted agent adopts the enclave and
# records PCR7 from the shim, so its documents and describe carry it again.
#
# The moment between EXTEND and the record is microseconds wide: the test
# provisions, kills the agent with -9, and puts the registers file back to what
# it held before the record (the launch's registers, no "7") — exactly the
# state such a kill leaves — then restarts the agent.
#
#   - after the restart the registers file has PCR7 = extend(0, SHA-384(tar));
#   - a fresh document verifies with --pcr 7=that, and describe shows it;
#   - a second restart changes nothing (the record is idempotent).
source "$(dirname "$0")/host_lib.sh"
ECHO_APP="$BUILD/examples/echo"
for b in "$ECHO_APP" "$CLI_BIN"; do [ -x "$b" ] || fail "missing $b"; done

provision_setup pa 64 # sets ID, TENANT, P3
bundle_make "$ECHO_APP" # sets SHA, P7
CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" --expect-pcr "3=$P3" \
	--root "$WORK/root.pem" >"$WORK/p.out" 2>"$WORK/p.err" || fail "provision: $(cat "$WORK/p.err")"
REC="$HDATA/pcrs/$ID.json"
host_pcr7() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('7',''))" "$REC"; }
[ "$(host_pcr7)" = "$P7" ] || fail "the host did not record PCR7: $(cat "$REC")"

# ---- killed between EXTEND and the record ----
host_kill9
python3 - "$REC" <<'PY'
import json, sys
p = sys.argv[1]
o = json.load(open(p))
del o["7"]
open(p, "w").write(json.dumps(o))
PY
[ -z "$(host_pcr7)" ] || fail "the registers file still has PCR7"
host_start
wait_for 20 "host ready again" host_is ready
[ "$(host_pcr7)" = "$P7" ] || fail "the adopted enclave's PCR7 was not recorded again: $(cat "$REC")"
grep -q "adopted enclave's installed bundle recorded in PCR7 id=$ID" "$WORK/host.err" || fail "the agent did not say so"
described_pcr7() { req GET "/v1/enclaves/$ID"; [ "$(jget "j.get('pcrs', {}).get('7')")" = "$P7" ]; }
wait_for 20 "describe's PCR7 after the adoption" described_pcr7
NONCE=$(openssl rand -hex 16)
"$CLI_BIN" enclave attest "$ID" --nonce "$NONCE" --out "$WORK/doc.cbor" >/dev/null || fail "attest"
"$CLI_BIN" attest verify "$WORK/doc.cbor" --root "$WORK/root.pem" --nonce "$NONCE" --pcr "7=$P7" >/dev/null 2>"$WORK/v.err" ||
	fail "the document after the adoption: $(cat "$WORK/v.err")"

# ---- adopted again: nothing to record ----
n=$(grep -c "installed bundle recorded in PCR7 id=$ID" "$WORK/host.err")
host_kill9
host_start
wait_for 20 "host ready once more" host_is ready
[ "$(host_pcr7)" = "$P7" ] || fail "PCR7 changed at a second adoption: $(cat "$REC")"
[ "$(grep -c "installed bundle recorded in PCR7 id=$ID" "$WORK/host.err")" = "$n" ] ||
	fail "a PCR7 that records the bundle was recorded again"
echo "host_provision_adopt: ok"
