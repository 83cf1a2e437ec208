#!/usr/bin/env bash
# host_network.sh — enclaves created with a network (docs/tls.md "Guests",
# "Network plumbing"), with a real control plane and host:
#
#   host netns (this test)                    enclave netns
#   clg<a> GW_A/30  ══ veth ══  eth0 ADDR_A   probe: "listen 7001 tok-a"
#   clg<b> GW_B/30  ══ veth ══  eth0 ADDR_B   probe: "listen 7001 tok-b"
#   (none)                                    enclave C: lo only
#
#   - describe shows "network": {address, host_address, expose}; the guest
#     answers from the host on address:port; the host end is GW (.1 of the
#     same /30);
#   - guest A reaches a listener on its gateway but not guest B's address;
#   - a non-network enclave has no eth0, a network one has; PCR3 is what
#     `cloister image measure --network --expose` computes (and without the
#     flag, as before);
#   - grow and the access key work as for any enclave;
#   - kill -9 and restart of the agent: same address, still served, the
#     journal DATA/net.json unchanged;
#   - destroy: the enclave's clg link is gone, its entry leaves net.json, and
#     the next networked enclave gets the freed address; at the end no link
#     of this test remains.
# The pool is a random /24 of 10.78.0.0/16 (--guest-pool), so that this test
# does not share addresses with another run on the machine.
source "$(dirname "$0")/host_lib.sh"
command -v ip >/dev/null || { echo "SKIP: no ip(8)"; exit 0; }
POOL="10.78.$((RANDOM % 256)).0/24"
LISTENER_PID=
net_cleanup() { # the host's listener, then host_lib's cleanup with the test's status
	local rc=$?
	set +e
	[ -z "$LISTENER_PID" ] || kill "$LISTENER_PID" 2>/dev/null
	(exit $rc)
	cleanup
}
trap net_cleanup EXIT

ctl_start
host_start --join-token "$(join_token)" --guest-pool "$POOL"
wait_for 20 "host ready" host_is ready

PROBE="$BUILD/examples/probe"
"$CLI_BIN" image build -o "$WORK/probe.img" --name probe --entrypoint /app/probe --arg serve "$PROBE" >/dev/null ||
	fail "image build"
req POST /v1/images -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/probe.img"
[ "$STATUS" = 201 ] || fail "image upload: $STATUS $BODY"
IMAGE=$(jget 'j["id"]')

# create NAME EXTRA_JSON: sets ENC
create() {
	json POST /v1/enclaves "{\"name\":\"$1\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"$2}"
	[ "$STATUS" = 202 ] || fail "create $1: $STATUS $BODY"
	ENC=$(jget 'j["enclave"]["id"]')
	ENCLAVES+=("$ENC")
	KEYS[$ENC]=$(jget 'j["access_key"]')
}
# bad input: refused, nothing created
for bad in ',"expose":[80]' ',"network":true,"expose":[0]' ',"network":true,"expose":[80,80]' \
	',"network":true,"expose":[1,2,3,4,5,6,7,8,9]' ',"network":"yes"' ',"network":true,"expose":[70000]'; do
	json POST /v1/enclaves "{\"name\":\"bad\",\"image_id\":\"$IMAGE\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"$bad}"
	[ "$STATUS" = 400 ] || fail "create with $bad: $STATUS $BODY"
done
req GET /v1/enclaves
[ "$(jget 'len(j["items"])')" = 0 ] || fail "a refused create left an enclave: $BODY"

create neta ',"network":true,"expose":[7001,443]'
A=$ENC
create netb ',"network":true'
B=$ENC
create plain ''
C=$ENC
for e in $A $B $C; do wait_for 60 "enclave $e running" enclave_is "$e" running; done

has_address() { req GET "/v1/enclaves/$1"; [ "$(jget '(j["network"] or {}).get("address") or ""')" != "" ]; }
wait_for 20 "A's address reported" has_address "$A"
wait_for 20 "B's address reported" has_address "$B"
net_of() { # net_of ID: sets ADDR, GW, EXPOSE from describe
	req GET "/v1/enclaves/$1"
	[ "$STATUS" = 200 ] || fail "describe $1: $STATUS"
	ADDR=$(jget 'j["network"]["address"]') GW=$(jget 'j["network"]["host_address"]')
	EXPOSE=$(jget '",".join(map(str, j["network"]["expose"]))')
}
net_of "$A"
ADDR_A=$ADDR GW_A=$GW
[ "$EXPOSE" = 443,7001 ] || fail "A's expose: $EXPOSE (want 443,7001, ascending)"
net_of "$B"
ADDR_B=$ADDR GW_B=$GW
[ -z "$EXPOSE" ] || fail "B's expose: $EXPOSE"
req GET "/v1/enclaves/$C"
[ "$(jget 'j["network"]')" = None ] || fail "C (no --network) has a network: $BODY"
python3 - "$POOL" "$ADDR_A" "$GW_A" "$ADDR_B" "$GW_B" <<'PY' || fail "addresses: A $ADDR_A/$GW_A B $ADDR_B/$GW_B pool $POOL"
import ipaddress, sys
pool = ipaddress.ip_network(sys.argv[1])
a, ga, b, gb = map(ipaddress.ip_address, sys.argv[2:])
for addr, gw in ((a, ga), (b, gb)):
    net = ipaddress.ip_network(f"{gw}/30", strict=False)
    assert addr in pool and gw in pool, "outside the pool"
    assert int(gw) == int(net.network_address) + 1 and int(addr) == int(gw) + 1, ".1 and .2 of one /30"
assert ipaddress.ip_network(f"{ga}/30", strict=False) != ipaddress.ip_network(f"{gb}/30", strict=False)
PY
link_of() { # link_of ADDR: the host interface holding the gateway of ADDR's /30
	ip -o -4 addr show | awk -v gw="$1" '$4 ~ "^"gw"/" {print $2}'
}
LINK_A=$(link_of "$GW_A") LINK_B=$(link_of "$GW_B")
[[ "$LINK_A" == clg* && "$LINK_B" == clg* && "$LINK_A" != "$LINK_B" ]] || fail "host ends: '$LINK_A' '$LINK_B'"
python3 -c "import json,sys; g=json.load(open(sys.argv[1]))['guests']; assert sorted(g)==sorted(sys.argv[2:]), g" \
	"$HDATA/net.json" "$A" "$B" || fail "net.json: $(cat "$HDATA/net.json")"

# the guests' interfaces
enclave_ask "$C" netifs
[ "$ANS" = "netifs lo" ] || fail "a non-network enclave's interfaces: '$ANS'"
enclave_ask "$A" netifs
[[ " $ANS " == *" eth0 "* ]] || fail "a network enclave has no eth0: '$ANS'"

# the host reaches each guest's service at its address
enclave_ask "$A" "listen 7001 tok-a"
[ "$ANS" = "listen ok" ] || fail "A listen: $ANS"
enclave_ask "$B" "listen 7001 tok-b"
[ "$ANS" = "listen ok" ] || fail "B listen: $ANS"
tcp_read() { # tcp_read ADDR PORT: the first line the service sends (3 s at most)
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.makefile().readline().strip())
PY
}
answers() { [ "$(tcp_read "$1" "$2" 2>/dev/null)" = "$3" ]; }
wait_for 10 "A answers on $ADDR_A:7001" answers "$ADDR_A" 7001 tok-a
wait_for 10 "B answers on $ADDR_B:7001" answers "$ADDR_B" 7001 tok-b

# guest A reaches its gateway (a listener of the host's there) but not guest B
python3 - "$GW_A" >"$WORK/listener.port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.close()
PY
LISTENER_PID=$!
wait_for 10 "the host's listener" test -s "$WORK/listener.port"
enclave_ask "$A" "connect $(cat "$WORK/listener.port") $GW_A"
[ "$ANS" = "connect ok" ] || fail "A cannot reach its gateway: '$ANS'"
enclave_ask "$A" "connect 7001 $ADDR_B"
[ "$ANS" != "connect ok" ] && [[ "$ANS" == "connect "[0-9]* ]] || fail "guest A reached guest B: '$ANS'"
enclave_ask "$B" "connect 7001 $ADDR_A"
[ "$ANS" != "connect ok" ] && [[ "$ANS" == "connect "[0-9]* ]] || fail "guest B reached guest A: '$ANS'"

# PCR3: the network flag and the exposed ports are measured; C's is as before
TENANT=$(req GET "/v1/enclaves/$A"; jget 'j["tenant_id"]')
pcr3_of() { req GET "/v1/enclaves/$1"; jget 'j["pcrs"].get("3", "")'; }
measure3() { "$CLI_BIN" image measure "$WORK/probe.img" --tenant "$TENANT" "$@" --json |
	python3 -c "import json,sys; print(json.load(sys.stdin)['pcrs']['3'])"; }
has_pcrs() { [ -n "$(pcr3_of "$1")" ]; }
for e in $A $B $C; do wait_for 20 "registers of $e" has_pcrs "$e"; done
[ "$(pcr3_of "$A")" = "$(measure3 --name neta --network --expose 7001,443)" ] || fail "A's PCR3"
[ "$(pcr3_of "$B")" = "$(measure3 --name netb --network)" ] || fail "B's PCR3"
[ "$(pcr3_of "$C")" = "$(measure3 --name plain)" ] || fail "C's PCR3 (no network) changed"
[ "$(pcr3_of "$B")" != "$(measure3 --name netb)" ] || fail "B's PCR3 does not say it has a network"

# access keys and grow work as for any enclave
json POST "/v1/enclaves/$A/send" '{"data":"ZWNobwo="}'
[ "$STATUS" = 403 ] || fail "send without the access key: $STATUS $BODY"
json POST "/v1/enclaves/$A/resize" '{"memory_mib":96}' -H "X-Cloister-Access-Key: ${KEYS[$A]}"
[ "$STATUS" = 202 ] || fail "resize: $STATUS $BODY"
grown() { req GET "/v1/enclaves/$A"; [ "$(jget 'j["memory_mib"]')" = 96 ] && [ "$(jget 'j["state"]')" = running ]; }
wait_for 30 "A grown to 96 MiB" grown
wait_for 10 "A still answers after the grow" answers "$ADDR_A" 7001 tok-a

# kill -9 and restart of the agent: the same addresses, served; the journal as it was
cp "$HDATA/net.json" "$WORK/net.before"
host_kill9
host_start --guest-pool "$POOL"
wait_for 20 "host ready again" host_is ready
T=$(date +%s)
wait_for 20 "a sync after the restart" host_synced_after "$T"
net_of "$A"
[ "$ADDR" = "$ADDR_A" ] || fail "A's address after the restart: $ADDR (was $ADDR_A)"
wait_for 10 "A answers after the restart" answers "$ADDR_A" 7001 tok-a
wait_for 10 "B answers after the restart" answers "$ADDR_B" 7001 tok-b
cmp -s "$HDATA/net.json" "$WORK/net.before" || fail "net.json changed across the restart"
# a start with another pool while networked enclaves run is refused (the
# service exits), and the right pool then starts
host_stop
rc=0
timeout 60 "$HOST_BIN" --control "$URL" --ca "$CA" --data "$HDATA" --guest-pool 10.79.0.0/24 \
	>"$WORK/other.out" 2>&1 || rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || fail "an agent with another pool: exit $rc"
grep -q "holds an address of guest pool $POOL" "$WORK/other.out" ||
	fail "another pool: $(tail -n 3 "$WORK/other.out")"
host_start --guest-pool "$POOL"
wait_for 20 "host ready after the refused start" host_is ready
wait_for 10 "A answers after the refused start" answers "$ADDR_A" 7001 tok-a
cmp -s "$HDATA/net.json" "$WORK/net.before" || fail "net.json changed by the refused start"

# destroy: the link goes, the address is free again
enclave_destroy "$A"
wait_for 30 "A gone" enclave_is "$A" absent
link_gone() { ! ip link show "$1" >/dev/null 2>&1; }
wait_for 10 "$LINK_A deleted" link_gone "$LINK_A"
python3 -c "import json,sys; g=json.load(open(sys.argv[1]))['guests']; assert sorted(g)==[sys.argv[2]], g" \
	"$HDATA/net.json" "$B" || fail "net.json after the destroy: $(cat "$HDATA/net.json")"
wait_for 10 "B answers after A's destroy" answers "$ADDR_B" 7001 tok-b
# (through the CLI: --network --expose)
export CLOISTER_SERVER="$URL" CLOISTER_CA="$CA" CLOISTER_TOKEN="$ADMIN"
unset CLOISTER_CONFIG CLOISTER_ACCESS_KEY
"$CLI_BIN" enclave create --image "$IMAGE" --name netd --network --expose 9000 --json >"$WORK/d.json" ||
	fail "cloister enclave create --network: $(cat "$WORK/d.json")"
D=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['enclave']['id'])" "$WORK/d.json")
ENCLAVES+=("$D")
KEYS[$D]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['access_key'])" "$WORK/d.json")
wait_for 60 "enclave D running" enclave_is "$D" running
wait_for 20 "D's address reported" has_address "$D"
net_of "$D"
[ "$ADDR" = "$ADDR_A" ] || fail "D got $ADDR, not the freed $ADDR_A (lowest free /30)"
[ "$EXPOSE" = 9000 ] || fail "D's expose (CLI --expose 9000): $EXPOSE"

for e in $B $C $D; do enclave_destroy "$e"; done
for e in $B $C $D; do wait_for 30 "$e gone" enclave_is "$e" absent; done
for l in "$LINK_A" "$LINK_B"; do wait_for 10 "$l deleted" link_gone "$l"; done
[ -z "$(ip -o -4 addr show | awk -v p="${POOL%.0/24}." 'index($4, p) == 1')" ] ||
	fail "addresses of the pool left on the host: $(ip -o -4 addr show | grep "${POOL%.0/24}.")"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['guests'] == {}" "$HDATA/net.json" ||
	fail "net.json at the end: $(cat "$HDATA/net.json")"
echo "PASS"
