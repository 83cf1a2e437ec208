#!/bin/sh
# Installs the Debian packages Cloister needs to build, test and demo.
# Idempotent: runs `apt-get update` and `apt-get install` only when something is missing.
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libevent-dev libsqlite3-dev sqlite3 \
libjansson-dev libcurl4-openssl-dev libseccomp-dev libcmocka-dev bubblewrap curl iproute2 \
python3 python3-cbor2 python3-cryptography softhsm2 libengine-pkcs11-openssl opensc libcbor-dev xxd libmnl-dev \
libnftables-dev nftables chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm run the third-party attestation verifier (tests/thirdparty,
# tests/integration/attest_thirdparty.sh): Debian's nodejs and npm, unless a
# node and an npm are already there (a nodejs package that bundles npm
# conflicts with Debian's npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# puppeteer-core drives Debian's chromium in tests/integration/console.sh: npm ci
# from the registry into tests/browser/node_modules (pinned by its
# package-lock.json), again only when the lock file changed since the last install.
browser=$(cd "$(dirname "$0")/../tests/browser" && pwd)
if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.cloister-lock"; then
	echo "installing: puppeteer-core (npm ci in tests/browser)"
	(cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$browser/package-lock.json" "$browser/node_modules/.cloister-lock"
fi
