#!/usr/bin/env bash
# control_certs.sh — the server certificate's names and its re-issue
# (docs/control.md "Server certificate", docs/monitor.md):
#
#   openssl s_client ──TLS──► cloister-control (worker; the monitor issues the certificate)
#
# Checks: the default names; --server-name (DNS, IP, repeated) re-issues at
# start with exactly those names, keeping the key and the CA; a restart with
# the same names keeps the certificate; a certificate 10 days from its end
# (made with the CA key, as an old one would be) is re-issued at start; bad
# names are usage errors that touch nothing; a running server re-issues on
# its periodic check and presents the new certificate; an old-layout data directory
# (keys and store in DATA/) is moved into keys/ and db/ with its state.
source "$(dirname "$0")/control_lib.sh"

# served: the certificate the server presents, as openssl prints its SAN,
# serial and end (one per line: the SAN list on the line after its title)
served() {
	local host=${URL#https://}
	openssl s_client -connect "$host" -CAfile "$CA" -verify_return_error </dev/null 2>/dev/null |
		openssl x509 -noout -ext subjectAltName -serial -enddate 2>/dev/null
}
san() { served | awk '/Subject Alternative Name/ {getline; sub(/^ +/, ""); print}'; }
serial() { served | grep '^serial='; }

ctl_start
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
[ "$(san)" = "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" ] || fail "default names: $(san)"
S1=$(serial)
KEY1=$(openssl pkey -in "$WORK/data/keys/server.key" -pubout)
CA1=$(cat "$WORK/data/ca.pem")
kill "$CTL_PID"; wait "$CTL_PID" || true; CTL_PID=

# same names: same certificate
ctl_start
[ "$(serial)" = "$S1" ] || fail "certificate re-issued without a reason"
kill "$CTL_PID"; wait "$CTL_PID" || true; CTL_PID=

# other names: re-issued, same key, same CA
ctl_start --server-name control.example.com --server-name 10.1.2.3 --server-name Control.Example.COM \
	--server-name 127.0.0.1
[ "$(san)" = "DNS:control.example.com, IP Address:10.1.2.3, IP Address:127.0.0.1" ] || fail "names: $(san)"
[ "$(serial)" != "$S1" ] || fail "not re-issued for new names"
[ "$(openssl pkey -in "$WORK/data/keys/server.key" -pubout)" = "$KEY1" ] || fail "server key changed"
[ "$(cat "$WORK/data/ca.pem")" = "$CA1" ] || fail "CA changed"
grep -q 'server certificate issued reason="names differ"' "$WORK/ctl.err" || fail "re-issue not logged"
as "$ADMIN" GET /v1/tenants; expect 200
kill "$CTL_PID"; wait "$CTL_PID" || true; CTL_PID=

# a certificate 10 days from its end: re-issued at start
openssl req -new -key "$WORK/data/keys/server.key" -subj /CN=cloister-control -out "$WORK/near.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$WORK/near.ext"
openssl x509 -req -in "$WORK/near.csr" -CA "$WORK/data/ca.pem" -CAkey "$WORK/data/keys/ca.key" -days 10 \
	-set_serial 0x1234 -extfile "$WORK/near.ext" -out "$WORK/data/keys/server.pem" 2>/dev/null || fail "openssl x509"
ctl_start --server-name localhost --server-name 127.0.0.1
[ "$(serial)" != "serial=1234" ] || fail "a certificate 10 days from its end was served"
grep -q 'server certificate issued reason="expires within 30 days"' "$WORK/ctl.err" || fail "expiry re-issue not logged"
end=$(served | sed -n 's/^notAfter=//p')
[ $(( ($(date -d "$end" +%s) - $(date +%s)) / 86400 )) -ge 800 ] || fail "re-issued certificate ends $end"
kill "$CTL_PID"; wait "$CTL_PID" || true; CTL_PID=

# the running server's periodic check: re-issued and presented without a
# restart. CLOISTER_CERT_CHECK_S=1 asks every second; CLOISTER_CERT_RENEW_DAYS
# (a test knob: the renewal window) wider than the certificate's 825 days
# makes every check find it due, as the hourly check finds it 30 days before
# its end (the 30-day rule itself: test_control_monitor's ca_reissue).
CLOISTER_CERT_CHECK_S=1 CLOISTER_CERT_RENEW_DAYS=900 ctl_start --server-name localhost --server-name 127.0.0.1
S_START=$(serial)
WORKER=$(ctl_worker)
deadline=$((SECONDS + 20))
until [ "$(serial)" != "$S_START" ]; do
	[ $SECONDS -lt $deadline ] || fail "the running server never presented a re-issued certificate"
	sleep 0.2
done
[ "$(ctl_worker)" = "$WORKER" ] || fail "the worker restarted: the re-issue must not need one"
grep -q 'server certificate issued reason="expires within the renewal window"' "$WORK/ctl.err" || fail "periodic re-issue not logged"
grep -q 'worker: server certificate reloaded' "$WORK/ctl.err" || fail "reload not logged"
[ "$(openssl pkey -in "$WORK/data/keys/server.key" -pubout)" = "$KEY1" ] || fail "server key changed by the re-issue"
as "$ADMIN" GET /v1/tenants; expect 200
kill "$CTL_PID"; wait "$CTL_PID" || true; CTL_PID=
for bad in 0 abc 3651; do
	set +e
	out=$(CLOISTER_CERT_RENEW_DAYS=$bad "$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0 2>&1)
	rc=$?
	set -e
	[ $rc = 2 ] && grep -q 'CLOISTER_CERT_RENEW_DAYS must be 1..3650' <<<"$out" || fail "CLOISTER_CERT_RENEW_DAYS=$bad: $rc $out"
done

# bad names: usage error, nothing touched
before=$(cat "$WORK/data/keys/server.pem")
for bad in "" "a b" "-x.com" "x_y.example" "1.2.3.4:5"; do
	set +e
	out=$("$CTL_BIN" --data "$WORK/data" --listen 127.0.0.1:0 --server-name "$bad" 2>&1)
	rc=$?
	set -e
	[ $rc = 2 ] || fail "--server-name '$bad': exit $rc, want 2"
	grep -q 'not an IP address or a DNS name' <<<"$out" || fail "--server-name '$bad': $out"
done
[ "$(cat "$WORK/data/keys/server.pem")" = "$before" ] || fail "a usage error touched the certificate"

# an old-layout data directory: keys and store at the top, moved into keys/ and db/
mv "$WORK/data/keys/ca.key" "$WORK/data/keys/server.key" "$WORK/data/"
rm "$WORK/data/keys/server.pem"
mv "$WORK/data/db/control.db" "$WORK/data/db/control.db-wal" "$WORK/data/" 2>/dev/null || true
[ -f "$WORK/data/control.db" ] || fail "setup: no old store"
ctl_start
[ -f "$WORK/data/keys/ca.key" ] && [ -f "$WORK/data/db/control.db" ] || fail "not moved: $(ls -R "$WORK/data")"
[ ! -e "$WORK/data/ca.key" ] && [ ! -e "$WORK/data/control.db" ] || fail "old files left: $(ls "$WORK/data")"
[ "$(cat "$WORK/data/ca.pem")" = "$CA1" ] || fail "CA changed by the move"
as "$ADMIN" GET /v1/tenants; expect 200 # the store (and the token in it) came along
echo ok
