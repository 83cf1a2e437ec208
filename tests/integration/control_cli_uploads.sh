#!/usr/bin/env bash
# control_cli_uploads.sh — the CLI never leaves an upload behind:
#
#   cloister (enclave create --image, fw push) ──HTTPS──► cloister-control (port 0, temp dir)
#                                                          uploads table, DATA/uploads/
#
# Checks: when the server refuses the request that consumes the upload (a
# firmware push to a host that does not exist), the CLI deletes the upload;
# when Ctrl-C (SIGINT) comes while an upload is held, the CLI deletes the
# upload, prints one error line and dies of the signal. The control plane is
# stopped (SIGSTOP) while the signal is sent so that the CLI is provably in
# the middle of its upload, not before or after it.
source "$(dirname "$0")/control_lib.sh"
CLI="$BUILD/bin/cloister"
uploads_held() { db 'SELECT COUNT(*) FROM uploads'; }
upload_files() { find "$WORK/data/uploads" -type f | wc -l; }
cli() { "$CLI" --server "$URL" --ca "$CA" --token "$1" "${@:2}"; }
# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds or the deadline passes
wait_for() {
	local deadline=$((SECONDS + $1)) what=$2; shift 2
	until "$@"; do
		[ $SECONDS -lt $deadline ] || fail "timed out waiting for: $what"
		sleep 0.05
	done
}

ctl_start --poll-timeout-ms 1000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
as "$ADMIN" POST /v1/tenants '{"name":"acme"}'; expect 201; ACME=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$ACME\",\"name\":\"ci\"}"; expect 201; TA=$(jget 'j["token"]')

# ---- the consumer refuses: the upload is deleted ----
head -c $((600 * 1024)) /dev/urandom >"$WORK/bundle.fw"   # over 512 KiB: sent as an upload
rc=0
cli "$ADMIN" fw push --host host-nosuch --device 0000:03:00.0 "$WORK/bundle.fw" >"$WORK/push.out" 2>"$WORK/push.err" || rc=$?
[ $rc = 1 ] || fail "fw push to no host: exit $rc: $(cat "$WORK/push.err")"
grep -q "the upload was deleted" "$WORK/push.err" || fail "push error: $(cat "$WORK/push.err")"
[ "$(wc -l <"$WORK/push.err")" = 1 ] || fail "more than one error line: $(cat "$WORK/push.err")"
grep -q 'upload created' "$WORK/ctl.err" || fail "the push did not go through an upload"
[ "$(uploads_held)" = 0 ] && [ "$(upload_files)" = 0 ] || fail "the refused push left its upload"

# ---- Ctrl-C in the middle of an upload ----
head -c $((3 * 1048576)) /dev/urandom >"$WORK/app.bin"; chmod 755 "$WORK/app.bin"
"$CLI" image build -o "$WORK/app.img" --name app --entrypoint /app/app.bin "$WORK/app.bin" >/dev/null || fail "image build"
PORT=${URL##*:}
kill -STOP $(ctl_parts)
# a background job of a script ignores SIGINT: give the CLI the default a terminal would
env --default-signal=INT "$CLI" --server "$URL" --ca "$CA" --token "$TA" enclave create --image "$WORK/app.img" \
	--name app >"$WORK/int.out" 2>"$WORK/int.err" &
CLI_PID=$!
in_request() { ss -Htnp state established "( dport = :$PORT )" | grep -q "pid=$CLI_PID,"; }
wait_for 20 "the CLI connected to the stopped control plane" in_request
kill -INT "$CLI_PID"
kill -CONT $(ctl_parts)
rc=0
wait_for 30 "the CLI to end" bash -c "! kill -0 $CLI_PID 2>/dev/null"
wait "$CLI_PID" || rc=$?
[ $rc = 130 ] || fail "the CLI did not die of SIGINT (exit $rc): $(cat "$WORK/int.err")"
grep -q '^error: interrupted by signal 2 (the upload was deleted)$' "$WORK/int.err" ||
	fail "interrupt message: $(cat "$WORK/int.err")"
[ "$(wc -l <"$WORK/int.err")" = 1 ] || fail "more than one error line: $(cat "$WORK/int.err")"
grep -q 'upload deleted' "$WORK/ctl.err" || fail "the server saw no delete"
[ "$(uploads_held)" = 0 ] && [ "$(upload_files)" = 0 ] || fail "the interrupted upload was left behind"
[ "$(db 'SELECT COUNT(*) FROM images')" = 0 ] || fail "the interrupted upload became an image"
# and without a signal the same command works
cli "$TA" enclave create --image "$WORK/app.img" --name app >/dev/null 2>"$WORK/ok.err" || true
grep -q "uploaded $WORK/app.img: image img-" "$WORK/ok.err" || fail "upload after: $(cat "$WORK/ok.err")"
[ "$(uploads_held)" = 0 ] || fail "a consumed upload was left"
echo "ok"
