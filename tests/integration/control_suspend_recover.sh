#!/usr/bin/env bash
# control_suspend_recover.sh — a control plane killed mid-suspend
# (docs/suspend.md "A kill at any point"): at the next start a suspend in
# flight has lost its pending state key and its half-written blob file,
# while the committed suspend (its key, its blob) is untouched.
source "$(dirname "$0")/control_lib.sh"
# the store as the tests' db, waiting (5 s at most) while the worker holds a lock
dbw() { sqlite3 -cmd ".timeout 5000" "$WORK/data/db/control.db" "$1"; }

ctl_start
ctl_kill9
# the worker, orphaned by the kill, notices and ends: its lock on the store goes
deadline=$((SECONDS + 20))
until dbw "BEGIN IMMEDIATE; ROLLBACK" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "the store stayed locked after the kill"
	sleep 0.1
done
# What a kill between the state-key answer and the commit leaves: enclave
# enc-a has suspend 1 committed and suspend 2 pending, blob 2 half written.
dbw "INSERT INTO enclave_state(enclave_id,counter,key_n,sealed_key,policy,document,blob_size,blob_sha384,
    blob_path,suspended_at,pending_n,pending_key,pending_policy,pending_doc,pending_at)
    VALUES('enc-a',2,1,randomblob(61),'{\"pcrs\":{}}',x'01',10,'','state/enc-a.1.blob',1,
    2,randomblob(61),'{\"pcrs\":{}}',x'02',2)"
printf 'committed' >"$WORK/data/state/enc-a.1.blob"
printf 'half' >"$WORK/data/state/enc-a.2.blob.tmp"
ctl_start
[ "$(dbw "SELECT pending_n, pending_key IS NULL, pending_doc IS NULL FROM enclave_state WHERE enclave_id='enc-a'")" = "0|1|1" ] ||
	fail "the pending suspend survived a restart: $(dbw "SELECT pending_n FROM enclave_state")"
[ "$(dbw "SELECT counter, key_n, length(sealed_key) FROM enclave_state WHERE enclave_id='enc-a'")" = "2|1|61" ] ||
	fail "the committed suspend changed: $(dbw "SELECT counter, key_n FROM enclave_state")"
[ ! -e "$WORK/data/state/enc-a.2.blob.tmp" ] || fail "the half-written blob survived a restart"
[ "$(cat "$WORK/data/state/enc-a.1.blob")" = committed ] || fail "the committed blob was touched"
kill -TERM "$CTL_PID"; wait "$CTL_PID" || fail "non-zero exit on SIGTERM"; CTL_PID=
echo "control_suspend_recover: all checks passed"
