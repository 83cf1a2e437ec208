#!/bin/sh
# bench/tls/deps.sh — installs the TLS peers bench/tls/run.sh measures Cloister
# against: haproxy, nginx, hitch, stunnel4, the load tool wrk, and testssl.sh
# (bench/tls/testssl.sh, the conformance run) — Debian packages.
# Not part of scripts/install-deps.sh on purpose: `make check` never needs them.
# Idempotent: runs `apt-get update` and `apt-get install` only when something is missing.
set -eu
PKGS="haproxy nginx hitch stunnel4 wrk testssl.sh openssl util-linux procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packages' own services are not wanted (run.sh starts each proxy itself on
# port 0-style free ports): keep the maintainer scripts from starting them.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
