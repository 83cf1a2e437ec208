#!/usr/bin/env bash
# host_provision_restart.sh — the provision result is retried across a control
# plane restart (docs/provisioning.md):
#
#   provision ─► op ─► agent fetches the ciphertext ─► BUNDLE... to the enclave
#                      cloister-control killed -9 here (the transfer runs on)
#                      agent: EXTEND, PCR7 recorded, POST result ─► refused (down)
#                      ... retried with backoff ... cloister-control restarted
#                      POST again ─► answered (404: the restart failed the job)
#
#   - the agent's first post fails and it says it retries; once the control
#     plane is back, a retry reaches it (ordered by the agent's log, not by time);
#   - the job does not hang: it is failed (its worker's last words, "control
#     plane is shutting down", or the restart's "interrupted by a control
#     plane restart");
#   - the enclave is fully provisioned: its bundle runs and a fresh document
#     verifies with PCR7 = extend(0, SHA-384(tar)).
source "$(dirname "$0")/host_lib.sh"
ECHO_APP="$BUILD/examples/echo"
for b in "$ECHO_APP" "$CLI_BIN"; do [ -x "$b" ] || fail "missing $b"; done

provision_setup pr 512 # sets ID, TENANT, P3
SHIM=$(cat "$HDATA/sandboxes/$ID/shim.pid")
INIT=$(pgrep -P "$SHIM" | head -1)
[ -n "$INIT" ] || fail "no cloister-init under shim $SHIM"

# a bundle big enough that its transfer into the enclave takes a while
bundle_make "$ECHO_APP" 40 # sets SHA, P7

CLOISTER_ACCESS_KEY="${KEYS[$ID]}" "$CLI_BIN" enclave provision "$ID" --bundle "$WORK/bundle.tar" --expect-pcr "3=$P3" \
	--root "$WORK/root.pem" >"$WORK/p.out" 2>"$WORK/p.err" &
CLI_PID=$!
staging() { [ "$(stat -c %s "/proc/$INIT/root/tmp/.cloister-staging/bundle.tar" 2>/dev/null || echo 0)" -gt 0 ]; }
wait_for 60 "the transfer into the enclave to start" staging
ctl_kill9
posted_and_failed() { grep -q "provision result not delivered op=.*retrying" "$WORK/host.err"; }
wait_for 60 "the agent's first post to fail" posted_and_failed
JOB=$(sed -n "s/.*provision requested enclave=$ID job=\([a-z0-9-]*\).*/\1/p" "$WORK/ctl.err" | tail -n 1)
[ -n "$JOB" ] || fail "no provision job in the control plane's log"
ctl_start
retried() { grep -Eq "provision result (refused op=.*status=404|delivered op=)" "$WORK/host.err"; }
wait_for 60 "a retry to reach the restarted control plane" retried
wait "$CLI_PID" 2>/dev/null || true # it may have failed while the control plane was down

# the job ended (no hang); the enclave is fully provisioned
req GET "/v1/jobs/$JOB"
[ "$STATUS" = 200 ] || fail "job: $STATUS $BODY"
[ "$(jget 'j["state"]')" = failed ] || fail "the job is $(jget 'j["state"]'): $BODY"
jget 'j["error"]' | grep -Eq 'interrupted by a control plane restart|control plane is shutting down' || fail "job error: $BODY"
[ -e "/proc/$INIT/root/tmp/bundle/entrypoint" ] || fail "the bundle is not installed"
NONCE=$(openssl rand -hex 16)
"$CLI_BIN" enclave attest "$ID" --nonce "$NONCE" --out "$WORK/doc.cbor" >/dev/null || fail "attest"
"$CLI_BIN" attest verify "$WORK/doc.cbor" --root "$WORK/root.pem" --nonce "$NONCE" --pcr "7=$P7" >/dev/null 2>"$WORK/v.err" ||
	fail "the document after the restart: $(cat "$WORK/v.err")"
echo "host_provision_restart: ok"
