#!/usr/bin/env bash
# enclave_suspend_sdk.sh — the SDK's state directory across a suspend and
# restore (docs/sdk.md cle_state_path, docs/suspend.md), with a real control
# plane and host: examples/nsmprobe, built with libcloister-enclave, in a
# --suspendable enclave:
#
#   - cle_state_path() is /tmp/state, made 0700 by the first call;
#   - a file the application writes there survives suspend + restore: the
#     restored application (a new process) reads it back through
#     cle_state_path(), which keeps the restored directory as it is;
#   - a fresh enclave of the same image has no such file (the state is the
#     suspended enclave's, not the image's);
#   - a destroyed enclave's blob file is removed with it (ctl_enclave_delete),
#     not at the control plane's next start.
source "$(dirname "$0")/host_lib.sh"
host_up_attested
image_upload_app nsmprobe nsmprobe

suspendable_create sdkstate 64
ID=$ENC
ask() { # ask LINE EXPECT: nsmprobe's answer
	enclave_ask "$ID" "$1"
	[ "$ANS" = "$2" ] || fail "'$1' answered '$ANS', expected '$2'"
}
ask STATEPATH "STATEPATH ok /tmp/state 700"
MARK="sdk-state-$RANDOM$RANDOM"
ask "STATEPUT note.txt $MARK" "STATEPUT ok"
ask "STATEGET note.txt" "STATEGET ok $MARK"

suspend_wait "$ID"
[ "$JSTATE" = succeeded ] || fail "suspend failed: $JERROR"
enclave_is "$ID" suspended || fail "after a suspend the enclave is $(enclave_state "$ID")"
wait_for 30 "the suspended enclave's sandbox removed" bash -c "! [ -d '$HDATA/sandboxes/$ID' ]"
restore_wait "$ID"
[ "$JSTATE" = succeeded ] || fail "restore failed: $JERROR"
wait_for 30 "the restored enclave running" enclave_is "$ID" running
ask "STATEGET note.txt" "STATEGET ok $MARK"
ask STATEPATH "STATEPATH ok /tmp/state 700"

# a fresh enclave of the same image starts without it
SID=$ID
suspendable_create sdkfresh 64
ID=$ENC
ask "STATEGET note.txt" "STATEGET error open 2"

# a destroyed enclave's blob goes with it, not at the control plane's next start
has_blob() { compgen -G "$WORK/ctl/state/$1.*.blob" >/dev/null; }
has_blob "$SID" || fail "no blob kept for $SID after its restore"
enclave_destroy "$SID"
wait_for 60 "the destroyed enclave gone" enclave_is "$SID" absent
! has_blob "$SID" || fail "the destroyed enclave's blob is still in $WORK/ctl/state"
echo "PASS enclave_suspend_sdk"
