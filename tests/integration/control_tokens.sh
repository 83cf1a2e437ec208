#!/usr/bin/env bash
# control_tokens.sh — credentials that do not live forever (issue 7):
#
#   curl (admin / tenant A / tenant B / metrics / fake host) ──HTTPS──► cloister-control
#
# token list (pages, no secrets, who sees what), revocation (the very next
# request is 401 "token revoked"), expiry (a 2 s token turns 401 "token
# expired"; waited for, not slept), the default 90-day TTL and the ttl
# syntax, a tenant's token never minting one that outlives it, the last admin
# token kept, host tokens left to `host remove`, /metrics behind an admin or
# metrics token (and open with --metrics-open), tenant and host lists in
# pages, and a control plane with no usable admin token making a new one.
source "$(dirname "$0")/control_lib.sh"

ctl_start --poll-timeout-ms 1000
ADMIN=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out")
[[ "$ADMIN" == clt_* ]] || fail "no admin token printed"
ADMIN_ID=$(cut -d_ -f2 <<<"$ADMIN")
# now_s: the control plane's clock is this machine's.
now_s() { date +%s; }
# epoch ISO: seconds since the epoch of an RFC 3339 time.
epoch() { python3 -c 'import calendar,sys,time; print(calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")))' "$1"; }
count_tokens() { db 'SELECT COUNT(*) FROM tokens'; }

# --- tenants, tokens, and the default TTL ---
as "$ADMIN" POST /v1/tenants '{"name":"tenant-a"}'; expect 201; TEN_A=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tenants '{"name":"tenant-b"}'; expect 201; TEN_B=$(jget 'j["id"]')
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"a\"}"; expect 201
TA=$(jget 'j["token"]'); TA_ID=$(jget 'j["id"]')
[ "$(jget 'j["kind"]')" = tenant ] || fail "kind: $BODY"
ttl=$(( $(epoch "$(jget 'j["expires_at"]')") - $(epoch "$(jget 'j["created_at"]')") ))
[ "$ttl" -ge $((90 * 86400 - 1)) ] && [ "$ttl" -le $((90 * 86400 + 1)) ] || fail "default ttl is ${ttl}s, not 90 days: $BODY"
[ "$(db "SELECT expires_at - created_at FROM tokens WHERE id='$TA_ID'")" = $((90 * 86400 * 1000)) ] || fail "stored ttl"
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_B\",\"name\":\"b\",\"ttl\":\"30d\"}"; expect 201
TB=$(jget 'j["token"]'); TB_ID=$(jget 'j["id"]')
[ "$(db "SELECT expires_at - created_at FROM tokens WHERE id='$TB_ID'")" = $((30 * 86400 * 1000)) ] || fail "30d ttl"
# the bootstrap admin token never expires
[ "$(db "SELECT expires_at FROM tokens WHERE id='$ADMIN_ID'")" = 0 ] || fail "bootstrap admin token expires"

# --- ttl syntax: refused, nothing created ---
before=$(count_tokens)
for bad in '"0s"' '"10x"' '"366d"' '"31536001s"' '"-1d"' '"1.5h"' '"d"' '""' '"05m"' '3600' 'true'; do
	as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"bad\",\"ttl\":$bad}"; expect 400 invalid
done
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"bad\",\"kind\":\"metrics\"}"; expect 400 invalid
as "$TA" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"bad\",\"kind\":\"admin\"}"; expect 400 invalid
[ "$(count_tokens)" = "$before" ] || fail "refused token requests created tokens"

# --- a tenant's token cannot outlive the token that made it ---
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"short\",\"ttl\":\"1h\"}"; expect 201
TS=$(jget 'j["token"]'); TS_EXP=$(jget 'j["expires_at"]')
as "$TS" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"minted\",\"ttl\":\"30d\"}"; expect 201
[ "$(jget 'j["expires_at"]')" = "$TS_EXP" ] || fail "a tenant token minted a token that outlives it: $BODY (creator expires $TS_EXP)"
as "$TS" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"minted2\",\"ttl\":\"10m\"}"; expect 201
[ "$(jget 'j["expires_at"]')" != "$TS_EXP" ] || fail "a shorter ttl was not honoured: $BODY"
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"long\",\"ttl\":\"365d\"}"; expect 201 # admins: not capped

# --- list: pages, no secrets, who sees what ---
for i in 1 2 3; do as "$TA" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"p$i\"}"; expect 201; done
n_all=$(count_tokens)
n_a=$(db "SELECT COUNT(*) FROM tokens WHERE tenant_id='$TEN_A'")
# walk_tokens TOKEN QUERY: every id over pages of 2, in order, one per line (into $WORK/walk)
walk_tokens() {
	local after="" pages=0
	: >"$WORK/walk"
	while :; do
		as "$1" GET "/v1/tokens?limit=2${2}${after:+&after=$after}"; expect 200
		[ "$(jget 'len(j["items"]) <= 2')" = True ] || fail "page over its limit: $BODY"
		jget '"\n".join(t["id"] for t in j["items"])' >>"$WORK/walk"
		# nothing secret in any page: no hash, no token, no secret part of any token we hold
		[ "$(jget 'all(set(t) == {"id","kind","tenant_id","host_id","name","state","created_at","expires_at","revoked_at"} for t in j["items"])')" = True ] ||
			fail "unexpected fields in a token list: $BODY"
		for secret in "$ADMIN" "$TA" "$TB" "$TS"; do
			grep -F "${secret##*_}" <<<"$BODY" >/dev/null && fail "a token secret is in the list"
		done
		grep -F 'v1$' <<<"$BODY" >/dev/null && fail "a hash is in the list"
		after=$(jget 'j["next"] or ""')
		pages=$((pages + 1))
		[ -n "$after" ] || break
		[ $pages -lt 100 ] || fail "token pages never end"
	done
	sed -i '/^$/d' "$WORK/walk"
}
walk_tokens "$ADMIN" ""
[ "$(wc -l <"$WORK/walk")" = "$n_all" ] || fail "admin walk saw $(wc -l <"$WORK/walk") of $n_all tokens"
sort -c "$WORK/walk" 2>/dev/null || fail "pages not in id order"
[ "$(sort -u "$WORK/walk" | wc -l)" = "$n_all" ] || fail "a token was listed twice"
walk_tokens "$TA" ""
[ "$(wc -l <"$WORK/walk")" = "$n_a" ] || fail "tenant A sees $(wc -l <"$WORK/walk") tokens, owns $n_a"
grep -qx "$TB_ID" "$WORK/walk" && fail "tenant A sees tenant B's token"
grep -qx "$ADMIN_ID" "$WORK/walk" && fail "tenant A sees the admin token"
walk_tokens "$ADMIN" "&tenant=$TEN_B"
[ "$(cat "$WORK/walk")" = "$TB_ID" ] || fail "admin ?tenant=B: $(cat "$WORK/walk")"
as "$TA" GET "/v1/tokens?tenant=$TEN_B"; expect 403 forbidden
as "$TA" GET "/v1/tokens?tenant=$TEN_A"; expect 200
as "$ADMIN" GET "/v1/tokens?limit=0"; expect 400 invalid
as "$ADMIN" GET "/v1/tokens?tenant=not%20an%20id"; expect 400 invalid
as "$ADMIN" GET /v1/tokens; expect 200
[ "$(jget "[t['state'] for t in j['items'] if t['id']=='$ADMIN_ID'][0]")" = active ] || fail "admin token state"
[ "$(jget "[t['expires_at'] for t in j['items'] if t['id']=='$ADMIN_ID'][0]")" = None ] || fail "never = null"

# --- revocation: the next request is refused, and says why ---
as "$TA" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"victim\"}"; expect 201
TV=$(jget 'j["token"]'); TV_ID=$(jget 'j["id"]')
as "$TV" GET /v1/tokens; expect 200
as "$TA" DELETE "/v1/tokens/$TV_ID"; expect 200
[ "$(jget 'j["state"]')" = revoked ] || fail "revoke answer: $BODY"
as "$TV" GET /v1/tokens; expect 401 unauthorized
[ "$(jget 'j["error"]["message"]')" = "token revoked" ] || fail "revoked message: $BODY"
as "$TV" GET /v1/enclaves; expect 401 unauthorized
REVOKED_AT=$(db "SELECT revoked_at FROM tokens WHERE id='$TV_ID'")
as "$TA" DELETE "/v1/tokens/$TV_ID"; expect 200 # again: a no-op
[ "$(db "SELECT revoked_at FROM tokens WHERE id='$TV_ID'")" = "$REVOKED_AT" ] || fail "revoking twice moved revoked_at"
# another tenant's token does not exist for a tenant; it keeps working
as "$TA" DELETE "/v1/tokens/$TB_ID"; expect 404 not_found
as "$TB" GET /v1/tokens; expect 200
as "$TB" DELETE "/v1/tokens/$TA_ID"; expect 404 not_found
as "$TA" GET /v1/tokens; expect 200
as "$TA" DELETE "/v1/tokens/tok-nosuch"; expect 404 not_found
as "$TA" DELETE "/v1/tokens/$ADMIN_ID"; expect 404 not_found
# a token may revoke itself
as "$TA" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"self\"}"; expect 201
TSELF=$(jget 'j["token"]'); TSELF_ID=$(jget 'j["id"]')
as "$TSELF" DELETE "/v1/tokens/$TSELF_ID"; expect 200
as "$TSELF" GET /v1/tokens; expect 401 unauthorized
[ "$(jget 'j["error"]["message"]')" = "token revoked" ] || fail "self-revoked message: $BODY"
# a wrong secret for a revoked id says nothing about the id
as "clt_${TV_ID}_$(printf '0%.0s' {1..64})" GET /v1/tokens; expect 401 unauthorized
[ "$(jget 'j["error"]["message"]')" = "missing or invalid bearer token" ] || fail "revocation leaked to a wrong secret: $BODY"

# --- expiry: a 2 s token works, then turns 401 "token expired" ---
as "$ADMIN" POST /v1/tokens "{\"tenant_id\":\"$TEN_A\",\"name\":\"brief\",\"ttl\":\"2s\"}"; expect 201
TX=$(jget 'j["token"]'); TX_ID=$(jget 'j["id"]')
as "$TX" GET /v1/tokens; expect 200
expired() { as "$TX" GET /v1/tokens; [ "$STATUS" = 401 ]; }
deadline=$((SECONDS + 15))
until expired; do
	[ "$STATUS" = 200 ] || fail "before expiry: $STATUS $BODY"
	[ $SECONDS -lt $deadline ] || fail "a 2 s token still works after 15 s"
	sleep 0.1
done
[ "$(jget 'j["error"]["message"]')" = "token expired" ] || fail "expired message: $BODY"
as "$ADMIN" GET "/v1/tokens?tenant=$TEN_A&limit=500"; expect 200
[ "$(jget "[t['state'] for t in j['items'] if t['id']=='$TX_ID'][0]")" = expired ] || fail "listed state of an expired token"

# --- the admin side: host tokens, the last admin token ---
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
CAPS='{"backends":["process"],"level":"software","memory_mib":1024,"cpus":2}'
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h1\",\"capabilities\":$CAPS}"
expect 201; HID=$(jget 'j["host_id"]'); HT=$(jget 'j["host_token"]')
HT_ID=$(cut -d_ -f2 <<<"$HT")
[ "$(db "SELECT expires_at FROM tokens WHERE id='$HT_ID'")" = 0 ] || fail "host tokens expire"
as "$ADMIN" DELETE "/v1/tokens/$HT_ID"; expect 409 conflict
grep -q "host remove" <<<"$BODY" || fail "host token refusal does not say how: $BODY"
as "$HT" GET /v1/tokens; expect 403 forbidden
as "$HT" POST "/v1/hosts/$HID/sync" '{"generation":0,"wait_ms":0}'; expect 200
as "$ADMIN" DELETE "/v1/tokens/$ADMIN_ID"; expect 409 conflict # the last usable admin token
as "$ADMIN" GET /v1/tokens; expect 200

# --- /metrics: an admin or metrics token, nothing else ---
as "$TA" POST /v1/tokens "{\"tenant_id\":\"ten-provider\",\"name\":\"scrape\",\"kind\":\"metrics\"}"; expect 403 forbidden
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"scrape","kind":"metrics"}'; expect 201
TM=$(jget 'j["token"]'); TM_ID=$(jget 'j["id"]')
[ "$(jget 'j["kind"]')" = metrics ] || fail "metrics kind: $BODY"
req GET /metrics; expect 401 unauthorized
as "$TM" GET /metrics; expect 200
grep -E '^cloister_hosts\{state="(ready|lost)"\} 1$' <<<"$BODY" >/dev/null || fail "metrics body: $BODY" # lost after 3 s idle
grep -q '^cloister_hosts{state="removed"} 0' <<<"$BODY" || fail "metrics removed hosts: $BODY"
as "$ADMIN" GET /metrics; expect 200
as "$TA" GET /metrics; expect 403 forbidden
as "$HT" GET /metrics; expect 403 forbidden
as "$TX" GET /metrics; expect 401 unauthorized # expired
for path in /v1/tokens /v1/tenants /v1/hosts /v1/enclaves /v1/images /v1/events /v1/fw/trust; do
	as "$TM" GET "$path"; expect 403 forbidden
	grep -q "only valid for GET /metrics" <<<"$BODY" || fail "metrics token on $path: $BODY"
done
as "$TM" POST /v1/tokens '{"tenant_id":"ten-provider","name":"x"}'; expect 403 forbidden
# a scoped token may revoke itself, and no other token
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"scrape2","kind":"metrics"}'; expect 201
TM2=$(jget 'j["token"]'); TM2_ID=$(jget 'j["id"]')
as "$TM2" DELETE "/v1/tokens/$TM_ID"; expect 403 forbidden
as "$TM2" DELETE "/v1/tokens/$ADMIN_ID"; expect 403 forbidden
as "$TM" GET /metrics; expect 200
as "$TM2" DELETE "/v1/tokens/$TM2_ID"; expect 200
as "$TM2" GET /metrics; expect 401 unauthorized
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"eng","kind":"engineer"}'; expect 201
TE=$(jget 'j["token"]'); TE_ID=$(jget 'j["id"]')
as "$TE" GET /v1/tokens; expect 403 forbidden
as "$TE" DELETE "/v1/tokens/$TM_ID"; expect 403 forbidden
as "$TE" DELETE "/v1/tokens/$TE_ID"; expect 200
as "$TE" GET /v1/fw/trust; expect 401 unauthorized
as "$ADMIN" DELETE "/v1/tokens/$TM_ID"; expect 200
as "$TM" GET /metrics; expect 401 unauthorized
[ "$(jget 'j["error"]["message"]')" = "token revoked" ] || fail "revoked metrics token: $BODY"

# --- tenants and hosts in pages ---
for t in c d e; do as "$ADMIN" POST /v1/tenants "{\"name\":\"tenant-$t\"}"; expect 201; done
n_ten=$(db 'SELECT COUNT(*) FROM tenants')
after=""; seen=0; pages=0
while :; do
	as "$ADMIN" GET "/v1/tenants?limit=2${after:+&after=$after}"; expect 200
	seen=$((seen + $(jget 'len(j["items"])'))); pages=$((pages + 1))
	after=$(jget 'j["next"] or ""')
	[ -n "$after" ] || break
	[ $pages -lt 100 ] || fail "tenant pages never end"
done
[ "$seen" = "$n_ten" ] && [ "$pages" = $(((n_ten + 1) / 2)) ] || fail "tenant pages: saw $seen of $n_ten in $pages pages"
as "$ADMIN" GET "/v1/tenants?limit=501"; expect 400 invalid
as "$ADMIN" POST /v1/hosts/join-tokens; expect 201; JOIN=$(jget 'j["token"]')
req POST /v1/hosts/register --data-binary "{\"join_token\":\"$JOIN\",\"name\":\"h2\",\"capabilities\":$CAPS}"; expect 201
as "$ADMIN" GET "/v1/hosts?limit=1"; expect 200
[ "$(jget 'len(j["items"])')" = 1 ] && [ "$(jget 'j["next"] is not None')" = True ] || fail "host page 1: $BODY"
FIRST=$(jget 'j["items"][0]["id"]')
as "$ADMIN" GET "/v1/hosts?limit=1&after=$FIRST"; expect 200
[ "$(jget 'len(j["items"])')" = 1 ] && [ "$(jget 'j["next"]')" = None ] && [ "$(jget 'j["items"][0]["id"]')" != "$FIRST" ] ||
	fail "host page 2: $BODY"
as "$ADMIN" GET "/v1/hosts?state=bogus"; expect 400 invalid

# --- a second admin token, then the bootstrap one can go ---
as "$ADMIN" POST /v1/tokens '{"tenant_id":"ten-provider","name":"ops","ttl":"3s"}'; expect 201
ADMIN2=$(jget 'j["token"]')
[ "$(jget 'j["kind"]')" = admin ] || fail "provider token kind: $BODY"
as "$ADMIN2" DELETE "/v1/tokens/$ADMIN_ID"; expect 200
as "$ADMIN" GET /v1/tokens; expect 401 unauthorized
# ADMIN2 expires: no usable admin token is left, and a restart makes a new one
admin2_expired() { as "$ADMIN2" GET /v1/tokens; [ "$STATUS" = 401 ]; }
deadline=$((SECONDS + 15))
until admin2_expired; do [ $SECONDS -lt $deadline ] || fail "admin2 never expired"; sleep 0.1; done
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
ctl_start --poll-timeout-ms 1000
ADMIN3=$(awk '/^admin-token: /{print $2}' "$WORK/ctl.out.cur")
[[ "$ADMIN3" == clt_* ]] || fail "no new admin token after every admin token expired or was revoked"
grep -q "no usable admin token" "$WORK/ctl.err" || fail "the recovery is not logged"
grep -qF "$ADMIN3" "$WORK/ctl.err" && fail "the new admin token reached the log"
as "$ADMIN3" GET /v1/tokens; expect 200
as "$TA" GET /v1/tokens; expect 200 # the others were kept
as "$TV" GET /v1/tokens; expect 401 unauthorized # revocations too
# a restart with a usable admin token prints none
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
ctl_start --poll-timeout-ms 1000
grep -q '^admin-token:' "$WORK/ctl.out.cur" && fail "a restart printed another admin token"

# --- --metrics-open: the operator opens /metrics ---
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
ctl_start --poll-timeout-ms 1000 --metrics-open
req GET /metrics; expect 200
grep -q '^cloister_enclaves{state="running"}' <<<"$BODY" || fail "open metrics body: $BODY"
as "$TA" GET /v1/tenants; expect 403 forbidden # nothing else opened
req GET /v1/tokens; expect 401 unauthorized
echo "control_tokens: ok"
