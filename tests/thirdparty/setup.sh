#!/bin/sh
# tests/thirdparty/setup.sh DIR — installs the verifiers Cloister did not
# write (package.json, pinned by package-lock.json) and verify.js into DIR,
# with `npm ci` from the npm registry. Fails — never skips — when node, npm
# or the registry cannot be had: the third-party proof is not optional.
# (scripts/install-deps.sh installs node and npm.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: setup.sh DIR}
command -v node >/dev/null 2>&1 || { echo "setup.sh: node is not installed (scripts/install-deps.sh)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup.sh: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$here/verify.js" "$dir/"
cd "$dir"
npm ci --no-audit --no-fund --prefer-online --loglevel=error
