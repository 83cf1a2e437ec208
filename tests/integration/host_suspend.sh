#!/usr/bin/env bash
# host_suspend.sh — suspendable enclaves, end to end with a real control plane
# and host (docs/suspend.md "Which enclaves can be suspended"):
#
#   - `"suspendable": true` (CLI --suspendable) is kept and shown by describe;
#     a non-boolean is refused 400 and creates nothing;
#   - the host launches `/init --suspendable ENTRYPOINT`: the application runs
#     as usual and the sandbox holds /init-bundle (cloister-init-bundle, byte
#     for byte), which runs only when a key is asked for (nothing else runs);
#   - PCR3 = `cloister image measure --suspendable` (extended once more with
#     "suspendable"), and after "await-bundle" when both are set; an enclave
#     of the same image and name created without the flag measures otherwise.
source "$(dirname "$0")/host_lib.sh"
host_up_attested
image_upload

create() { # create NAME EXTRA_JSON: sets ENC
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"$2}"
	[ "$STATUS" = 202 ] || fail "create $1: $STATUS $BODY"
	ENC=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ENC")
	KEYS[$ENC]=$(jget 'j["access_key"]')
}

# ---- bad input: refused, nothing created ----
json POST /v1/enclaves "{\"name\":\"bad\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\",\"suspendable\":\"yes\"}"
[ "$STATUS" = 400 ] || fail "suspendable:\"yes\" was not refused: $STATUS $BODY"
[[ "$BODY" == *suspendable* ]] || fail "the refusal does not name the field: $BODY"
req GET /v1/enclaves
[ "$(jget 'len(j["items"])')" = 0 ] || fail "a refused create left an enclave: $BODY"

# ---- a suspendable enclave ----
"$CLI_BIN" enclave create --image "$IMAGE" --name susp --suspendable --json >"$WORK/c.json" ||
	fail "enclave create --suspendable"
ID=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['enclave']['id'])" "$WORK/c.json")
ENCLAVES+=("$ID")
KEYS[$ID]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['access_key'])" "$WORK/c.json")
wait_for 60 "enclave running" enclave_is "$ID" running
req GET "/v1/enclaves/$ID"
[ "$(jget 'j["suspendable"]')" = True ] || fail "describe does not say suspendable: $BODY"
[ "$(jget 'j["await_bundle"]')" = False ] || fail "suspendable became await_bundle: $BODY"
TENANT=$(jget 'j["tenant_id"]')
measure() { # measure NAME [FLAGS...]: PCR3 of that launch
	"$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name "$1" "${@:2}" --json |
		python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])"
}
described_pcr3() { req GET "/v1/enclaves/$1"; [ "$(jget "j.get('pcrs', {}).get('3')")" = "$2" ]; }
P3=$(measure susp --suspendable)
[ "$P3" != "$(measure susp)" ] || fail "--suspendable does not change PCR3"
wait_for 20 "describe's PCR3 (suspendable)" described_pcr3 "$ID" "$P3"
# the application runs (kvstore answers); init's only child is the application
enclave_ask "$ID" "PUT a 1"
[ "$ANS" = OK ] || fail "the suspendable enclave's application does not run: '$ANS'"
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
[ -n "$INIT" ] || fail "no cloister-init under shim $SHIM"
tr '\0' ' ' <"/proc/$INIT/cmdline" | grep -q "^/init --suspendable $ID /app/kvstore" ||
	fail "init was not started --suspendable: $(tr '\0' ' ' <"/proc/$INIT/cmdline")"
kids=$(pgrep -a -P "$INIT")
[ "$(wc -l <<<"$kids")" = 1 ] && [[ "$kids" == *"/app/kvstore"* ]] ||
	fail "init runs something else than the application before any key is asked for: $kids"
cmp -s "/proc/$INIT/root/init-bundle" "$BUILD/bin/cloister-init-bundle" ||
	fail "a suspendable enclave has no /init-bundle (or not cloister-init-bundle)"

# ---- both flags: "suspendable" after "await-bundle" ----
create both ',"await_bundle":true,"suspendable":true'
BOTH=$ENC
wait_for 60 "enclave running" enclave_is "$BOTH" running
P3B=$(measure both --await-bundle --suspendable)
[ "$P3B" != "$(measure both --await-bundle)" ] || fail "--suspendable does not change an awaiting enclave's PCR3"
wait_for 20 "describe's PCR3 (awaiting and suspendable)" described_pcr3 "$BOTH" "$P3B"

# ---- the same image and name, not suspendable: another PCR3, no helper ----
enclave_destroy "$ID"
wait_for 30 "the first enclave gone" enclave_is "$ID" absent
create susp ''
PLAIN=$ENC
wait_for 60 "enclave running" enclave_is "$PLAIN" running
wait_for 20 "describe's PCR3 (not suspendable)" described_pcr3 "$PLAIN" "$(measure susp)"
req GET "/v1/enclaves/$PLAIN"
[ "$(jget 'j["suspendable"]')" = False ] || fail "describe says suspendable: $BODY"
INIT=$(pgrep -P "$(cat "$HDATA/sandboxes/$PLAIN/shim.pid")" | head -1)
[ ! -e "/proc/$INIT/root/init-bundle" ] || fail "an enclave neither awaiting nor suspendable got /init-bundle"
echo "PASS host_suspend"
