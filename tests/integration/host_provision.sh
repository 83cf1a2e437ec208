#!/usr/bin/env bash
# host_provision.sh — provisioning only after validation, end to end with a
# real control plane and host (docs/provisioning.md):
#
#   cloister enclave provision ─ document (nonce) ─► verify ─► wrap to its key ─► upload
#        │                                                              │ ciphertext only
#        └──── job ◄── cloister-control ── op provision ──► agent ── BUNDLE ──► shim ──► cloister-init
#                                                                          ◄── EXTEND(7) ── decrypt, check, install, run
#
#   - an enclave created with await_bundle runs nothing but its provisioning
#     helper (/init-bundle, cloister-init-bundle: the key and the decryption;
#     cloister-init links no libcrypto); its PCR3 says so (image measure
#     --await-bundle), its PCR1 covers init and the helper, and its documents
#     carry its own P-384 key; once the bundle runs the helper is gone;
#   - refusals, each leaving it awaiting: a wrong --expect-pcr (the CLI sends
#     nothing: no upload, no job), a ciphertext flipped in transit (the API
#     straight: decrypt_failed), a digest that does not match (digest_mismatch),
#     tars with ../x and with a symlink (bad_bundle);
#   - the bundle runs: its entrypoint answers on the channel; describe shows
#     PCR7 = extend(0, SHA-384(tar)); a fresh document verifies with --pcr 7=;
#   - a second provision: not_awaiting_bundle;
#   - the host never sees plaintext: a marker inside the bundle is in no file
#     under the control plane's or the host's data dirs, no log, and not in the
#     memory of the control plane's processes, the host's supervisor, agent,
#     key holder, or the shim — while the same scan finds it in the enclave;
#   - an agent killed mid-transfer: the enclave still awaits (staging gone), and
#     the restarted agent's run of the op installs it;
#   - a helper killed while its enclave awaits: init ends the enclave (the key
#     is gone; fail closed).
source "$(dirname "$0")/host_lib.sh"
TOOL="$BUILD/tests/prov_tool"
ECHO_APP="$BUILD/examples/echo"
for b in "$TOOL" "$ECHO_APP" "$CLI_BIN"; do [ -x "$b" ] || fail "missing $b"; done

host_up_attested
"$CLI_BIN" ca get -o "$WORK/root.pem" >/dev/null || fail "ca get"

# ---- an enclave that awaits a bundle ----
image_upload
await_create() { # await_create NAME MEMORY_MIB: sets ENC
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":$2,\"cpus\":1,\"min_level\":\"software\",\"await_bundle\":true}"
	[ "$STATUS" = 202 ] || fail "create $1: $STATUS $BODY"
	ENC=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ENC")
	KEYS[$ENC]=$(jget 'j["access_key"]')
}
await_create prov 64
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
req GET "/v1/enclaves/$ID"
[ "$(jget 'j["await_bundle"]')" = True ] || fail "describe does not say await_bundle: $BODY"
TENANT=$(jget 'j["tenant_id"]')
"$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name prov --await-bundle --host "$HOST_ID" --json \
	>"$WORK/m.json" || fail "image measure"
pcr() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pcrs']['$1'])" "$WORK/m.json"; }
P0=$(pcr 0) P1=$(pcr 1) P3=$(pcr 3)
described_pcr() { req GET "/v1/enclaves/$ID"; [ "$(jget "j.get('pcrs', {}).get('$1')")" = "$2" ]; }
wait_for 20 "describe's PCR3 (awaiting a bundle)" described_pcr 3 "$P3"
EXPECT=(--expect-pcr "0=$P0" --expect-pcr "1=$P1" --expect-pcr "3=$P3")
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
[ -n "$INIT" ] || fail "no cloister-init under shim $SHIM"
# nothing runs but init and its provisioning helper (the image's entrypoint,
# kvstore, was not started); the helper is the file PCR1 measured after init
only_helper() { # init's one child is /init-bundle
	local kids
	kids=$(pgrep -a -P "$INIT")
	[ "$(wc -l <<<"$kids")" = 1 ] && [[ "$kids" == *" /init-bundle" ]]
}
only_helper || fail "an enclave awaiting a bundle runs something else than its helper: $(pgrep -a -P "$INIT")"
cmp -s "/proc/$INIT/root/init-bundle" "$BUILD/bin/cloister-init-bundle" || fail "/init-bundle is not cloister-init-bundle"
[ "$(stat -c %s "/proc/$INIT/root/init")" -lt $((1 << 20)) ] ||
	fail "/init is $(stat -c %s "/proc/$INIT/root/init") bytes: libcrypto is back in cloister-init"
Z=$(printf '%096d' 0)
ext_file() { { printf '%s' "$1" | xxd -r -p; sha384sum "$2" | cut -d' ' -f1 | xxd -r -p; } | sha384sum | cut -d' ' -f1; }
[ "$P1" = "$(ext_file "$(ext_file "$Z" "/proc/$INIT/root/init")" "/proc/$INIT/root/init-bundle")" ] ||
	fail "PCR1 is not extend(extend(0, /init), /init-bundle) of the enclave's own files"
"$CLI_BIN" enclave attest "$ID" --out "$WORK/doc0.cbor" >/dev/null || fail "attest"

# ---- the bundle: the echo program as entrypoint, a marker only the enclave may see ----
MARKER="cloister-marker-$(openssl rand -hex 16)"
mkdir -p "$WORK/b/data"
cp "$ECHO_APP" "$WORK/b/entrypoint"
printf '%s\n' "$MARKER" >"$WORK/b/marker.txt"
head -c 300000 /dev/urandom >"$WORK/b/data/blob"
mktar() { # mktar OUT [python statements adding to tarfile t]
	python3 - "$1" "$WORK/b" "${2:-}" <<'PY'
import sys, tarfile, os
out, src, extra = sys.argv[1], sys.argv[2], sys.argv[3]
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    for name in ("entrypoint", "marker.txt", "data", "data/blob"):
        t.add(os.path.join(src, name), arcname=name, recursive=False)
    exec(extra)
PY
}
mktar "$WORK/bundle.tar"
SHA=$(sha384sum "$WORK/bundle.tar" | cut -d' ' -f1)
ctl_provisions() { grep -c 'provision requested' "$WORK/ctl.err" || true; }

# ---- refusal: a wrong expected register; the CLI sends nothing ----
BAD3=$(python3 -c "import sys; h=sys.argv[1]; print(('0' if h[0]!='0' else '1')+h[1:])" "$P3")
before=$(ctl_provisions)
CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" --expect-pcr "0=$P0" --expect-pcr "3=$BAD3" \
	--root "$WORK/root.pem" >"$WORK/p.out" 2>"$WORK/p.err" && fail "provisioned with a wrong --expect-pcr"
grep -q 'failed the pcr check, nothing was sent' "$WORK/p.err" || fail "wrong PCR: $(cat "$WORK/p.err")"
[ "$(ctl_provisions)" = "$before" ] || fail "a provision reached the control plane after a refused document"
grep -q 'upload created' "$WORK/ctl.err" && fail "the refused provision uploaded something"

# ---- refusals through the API straight (what a client never sends) ----
api_provision() { # api_provision CIPHERTEXT SHA384: prints the job's final JSON
	local size sha job
	size=$(stat -c %s "$1")
	sha=$(sha384sum "$1" | cut -d' ' -f1)
	json POST /v1/uploads "{\"size\":$size,\"sha384\":\"$sha\"}"
	[ "$STATUS" = 201 ] || fail "upload: $STATUS $BODY"
	local up parts i
	up=$(jget 'j["id"]') parts=$(jget 'j["parts"]')
	for ((i = 0; i < parts; i++)); do
		dd if="$1" of="$WORK/part" bs=1048576 skip=$i count=1 status=none
		req PUT "/v1/uploads/$up/parts/$i" -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/part"
		[ "$STATUS" = 200 ] || fail "part $i: $STATUS $BODY"
	done
	json POST "/v1/enclaves/$ID/provision" "{\"upload\":\"$up\",\"sha384\":\"$2\"}" -H "X-Cloister-Access-Key: ${KEYS[$ID]}"
	[ "$STATUS" = 202 ] || fail "provision: $STATUS $BODY"
	job=$(jget 'j["job"]["id"]')
	local deadline=$((SECONDS + 60))
	while :; do
		req GET "/v1/jobs/$job?wait=20"
		case "$(jget 'j["state"]')" in succeeded | failed) break ;; esac
		[ $SECONDS -lt $deadline ] || fail "job $job did not end: $BODY"
	done
	echo "$BODY"
}
still_awaiting() { # the enclave runs, nothing but init, no staging left, and its key is still offered
	enclave_is "$ID" running || fail "the enclave is $(enclave_state "$ID") after a refusal"
	only_helper || fail "a refused bundle started a process (or ended the helper): $(pgrep -a -P "$INIT")"
	[ ! -e "/proc/$INIT/root/tmp/.cloister-staging" ] || fail "staging left behind: $(ls -la "/proc/$INIT/root/tmp/.cloister-staging")"
	[ ! -e "/proc/$INIT/root/tmp/bundle" ] || fail "a refused bundle was installed"
}
refused() { # refused CIPHERTEXT SHA384 REASON
	local out
	out=$(api_provision "$1" "$2")
	BODY=$out
	[ "$(jget 'j["state"]')" = failed ] || fail "job did not fail (want $3): $out"
	jget 'j["error"]' | grep -q "^$3" || fail "want $3, got: $(jget 'j["error"]')"
	still_awaiting
}
"$TOOL" seal "$WORK/doc0.cbor" "$WORK/bundle.tar" "$WORK/ct" || fail "prov_tool seal"
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//2]^=1; open(sys.argv[2],'wb').write(b)" \
	"$WORK/ct" "$WORK/ct.flipped"
refused "$WORK/ct.flipped" "$SHA" decrypt_failed
OTHER=$(sha384sum "$WORK/root.pem" | cut -d' ' -f1)
refused "$WORK/ct" "$OTHER" digest_mismatch
mktar "$WORK/dotdot.tar" 'i = tarfile.TarInfo("../x"); i.size = 0; t.addfile(i)'
"$TOOL" seal "$WORK/doc0.cbor" "$WORK/dotdot.tar" "$WORK/ct.dotdot" || fail "seal"
refused "$WORK/ct.dotdot" "$(sha384sum "$WORK/dotdot.tar" | cut -d' ' -f1)" "bad_bundle: ../x"
mktar "$WORK/link.tar" 'i = tarfile.TarInfo("passwd"); i.type = tarfile.SYMTYPE; i.linkname = "/etc/passwd"; t.addfile(i)'
"$TOOL" seal "$WORK/doc0.cbor" "$WORK/link.tar" "$WORK/ct.link" || fail "seal"
refused "$WORK/ct.link" "$(sha384sum "$WORK/link.tar" | cut -d' ' -f1)" "bad_bundle: passwd: symbolic link"

# ---- the bundle, provisioned by the CLI ----
CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" "${EXPECT[@]}" --root "$WORK/root.pem" \
	>"$WORK/p.out" 2>"$WORK/p.err" || fail "provision: $(cat "$WORK/p.err")"
P7=$(python3 -c "import hashlib,sys; print(hashlib.sha384(bytes(48)+bytes.fromhex(sys.argv[1])).hexdigest())" "$SHA")
grep -q "PCR7 $P7 (verified in a fresh document)" "$WORK/p.out" || fail "provision said: $(cat "$WORK/p.out")"
# it answers on the channel
K=(-H "X-Cloister-Access-Key: ${KEYS[$ID]}")
b64() { printf '%s' "$1" | base64 -w0; }
json POST "/v1/enclaves/$ID/send" "{\"data\":\"$(b64 $'hello provisioned\n')\"}" "${K[@]}"
[ "$STATUS" = 200 ] || fail "send: $STATUS $BODY"
got=
answered() {
	json POST "/v1/enclaves/$ID/recv" '{"max":4096,"wait_ms":1000}' "${K[@]}"
	[ "$STATUS" = 200 ] || fail "recv: $STATUS $BODY"
	got+=$(jget 'j["data"]' | base64 -d)
	grep -q 'echo: hello provisioned' <<<"$got"
}
wait_for 20 "the bundle's answer" answered
grep -q "$MARKER" <<<"$got" && fail "the application printed the marker (the test's own bundle is wrong)"
# describe shows PCR7; a fresh document verifies with it
wait_for 20 "describe's PCR7" described_pcr 7 "$P7"
NONCE=$(openssl rand -hex 16)
"$CLI_BIN" enclave attest "$ID" --nonce "$NONCE" --out "$WORK/doc1.cbor" >/dev/null || fail "attest after provision"
"$CLI_BIN" attest verify "$WORK/doc1.cbor" --root "$WORK/root.pem" --pcr "7=$P7" --pcr "3=$P3" --nonce "$NONCE" \
	>/dev/null 2>"$WORK/v.err" || fail "the fresh document does not verify with PCR7: $(cat "$WORK/v.err")"

# ---- a second provision: init no longer awaits ----
CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" "${EXPECT[@]}" --root "$WORK/root.pem" \
	>"$WORK/p.out" 2>"$WORK/p.err" && fail "a second provision succeeded"
grep -q 'not_awaiting_bundle' "$WORK/p.err" || fail "second provision: $(cat "$WORK/p.err")"
enclave_is "$ID" running || fail "the enclave is $(enclave_state "$ID") after a second provision"

# ---- the host never sees plaintext ----
grep -rlF "$MARKER" "$WORK/ctl" "$HDATA" "$WORK/ctl.err" "$WORK/host.err" "$WORK/host.out" 2>/dev/null &&
	fail "the marker is in a file of the control plane or the host"
scan() { # scan PID: exit 0 if the marker is in its readable memory
	python3 - "$1" "$MARKER" <<'PY'
import sys
pid, needle = sys.argv[1], sys.argv[2].encode()
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if not perms.startswith("r"):
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        if hi - lo > 1 << 30:
            continue  # AddressSanitizer's shadow
        prev = b""
        for at in range(lo, hi, 1 << 24):
            try:
                mem.seek(at)
                chunk = mem.read(min(1 << 24, hi - at))
            except (OSError, OverflowError, ValueError):
                break
            if needle in prev + chunk:
                sys.exit(0)
            prev = chunk[-len(needle):]
sys.exit(1)
PY
}
children() { # children PID: its direct children
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '/^PPid:/{print $2}' "$p/status" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
	return 0
}
app_alone() { [ "$(pgrep -P "$INIT" | wc -l)" = 1 ] && ! pgrep -a -P "$INIT" | grep -q ' /init-bundle$'; }
wait_for 20 "the helper to end once the bundle runs" app_alone
APP=$(pgrep -P "$INIT" | head -1)
[ -n "$APP" ] || fail "the bundle's process is not running"
scan "$APP" || fail "the scan does not find the marker in the enclave's application (scan broken?)"
HOSTSIDE=("$CTL_PID" $(children "$CTL_PID") "$HOST_PID" $(children "$HOST_PID") "$SHIM")
[ ${#HOSTSIDE[@]} -ge 6 ] || fail "expected the control plane's and the host's processes, got ${HOSTSIDE[*]}"
for p in "${HOSTSIDE[@]}"; do
	scan "$p" && fail "the marker is in the memory of pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline"))"
done

# ---- an agent killed mid-transfer: the enclave still awaits; the op runs again ----
await_create big 512
BIG=$ENC
ID=$BIG
wait_for 60 "enclave running" enclave_is "$BIG" running
SHIM=$(cat "$HDATA/sandboxes/$BIG/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
head -c $((40 << 20)) /dev/urandom >"$WORK/b/data/blob"
mktar "$WORK/big.tar"
BP3=$("$CLI_BIN" image measure "$WORK/kv.img" --tenant "$TENANT" --name big --await-bundle --json |
	python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])")
CLOISTER_ACCESS_KEY="${KEYS[$BIG]}" "$CLI_BIN" enclave provision "$BIG" --bundle "$WORK/big.tar" --expect-pcr "3=$BP3" --root "$WORK/root.pem" \
	>"$WORK/big.out" 2>"$WORK/big.err" &
CLI_PID=$!
staging() { [ "$(stat -c %s "/proc/$INIT/root/tmp/.cloister-staging/bundle.tar" 2>/dev/null || echo 0)" -gt 0 ]; }
wait_for 60 "the transfer to start" staging
host_kill9
gone() { [ ! -e "/proc/$INIT/root/tmp/.cloister-staging" ]; }
wait_for 20 "the staging to be discarded" gone
only_helper || fail "a half-sent bundle started a process (or ended the helper): $(pgrep -a -P "$INIT")"
[ ! -e "/proc/$INIT/root/tmp/bundle" ] || fail "a half-sent bundle was installed"
host_start
wait -n "$CLI_PID" || fail "provision after the agent's restart: $(cat "$WORK/big.err")"
grep -q "PCR7 .* (verified in a fresh document)" "$WORK/big.out" || fail "big provision said: $(cat "$WORK/big.out")"
wait_for 20 "the big bundle to run, alone" app_alone

# ---- a helper that dies takes the key with it: init ends the enclave ----
await_create lost 64
ID=$ENC
wait_for 60 "enclave running" enclave_is "$ID" running
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
only_helper || fail "enclave lost: $(pgrep -a -P "$INIT")"
kill -9 "$(pgrep -P "$INIT")"
ended() { ! enclave_is "$ID" running; }
wait_for 20 "the enclave to end once its helper died" ended
echo "host_provision: ok"
