#!/usr/bin/env bash
# crash_control_unsynced.sh — the window a create opens on purpose: its host
# is sent the new enclave while the create's commit is still being fsynced
# (src/control/api_enclaves.c), so a power loss in that window leaves the
# host running an enclave the control plane no longer knows. Its next sync
# must destroy it, and at once: the host is ahead of the store's generation
# (src/control/sync.c answers such a sync without holding it), not a poll
# timeout (30 s here) later. An enclave the store still has keeps running,
# untouched.
#
# A power loss cannot be made here; what it leaves in the store can: after a
# kill -9, the store is put back to a copy taken before the create (a create
# whose commit never reached the disk).
#
#   curl (admin) ──► cloister-control (kill -9, store rolled back, restart) ◄── cloister-host
source "$(dirname "$0")/host_lib.sh"

CTL_POLL_MS=30000 HOST_POLL_MS=30000 # a held sync would outlast the deadline below
ctl_start
host_start --join-token "$(join_token)"
wait_for 20 "host ready" host_is ready
image_upload
enclave_create base
BASE=$ENC
wait_for 60 "base running" enclave_is "$BASE" running
assert_running "$BASE"
BASE_SHIM=$(cat "$HDATA/sandboxes/$BASE/shim.pid")

DB="$WORK/ctl/db/control.db"
[ -f "$DB" ] || fail "no store at $DB"
sqlite3 "$DB" ".backup '$WORK/before.db'" || fail "cannot copy the store" # consistent, WAL included

enclave_create lost
LOST=$ENC
wait_for 60 "lost running" enclave_is "$LOST" running
assert_running "$LOST"

ctl_kill9
port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
wait_for 20 "the worker to let go of port $PORT" port_closed
# The disk as a power loss before the create's fdatasync leaves it: the
# create (and everything after it) never written. cp onto the file keeps
# its owner and mode; SQLite rebuilds the WAL index.
cp "$WORK/before.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
ctl_start
[ "$(enclave_state "$LOST")" = absent ] || fail "the store still has $LOST: not rolled back"

wait_for 15 "the host to destroy $LOST, which the store does not know" bash -c "! test -d '$HDATA/sandboxes/$LOST'"
assert_gone "$LOST"
grep -q "destroyed enclave id=$LOST" "$WORK/host.err" || fail "the agent did not destroy $LOST itself"
assert_running "$BASE"
[ "$(cat "$HDATA/sandboxes/$BASE/shim.pid")" = "$BASE_SHIM" ] || fail "base enclave was relaunched"
wait_for 20 "base running in the store" enclave_is "$BASE" running
[ "$(sandbox_count)" = 1 ] || fail "$(sandbox_count) sandboxes, want 1: $(ls "$HDATA/sandboxes")"
assert_no_stray_shims

# The store goes on from where it was: a new create runs.
enclave_create after
wait_for 60 "after running" enclave_is "$ENC" running
assert_running "$ENC"
host_stop
echo "PASS crash_control_unsynced"
