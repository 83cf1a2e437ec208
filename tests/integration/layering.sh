#!/usr/bin/env bash
# layering.sh — the house cut along trust lines (issue 8) holds:
#
#   src/control  includes no header of host/, sandbox/, fwguard/, guestif/
#                or keyholder/ (the control plane shares wire constants with
#                the host through common/proto.h, the window policy format
#                through fw/fw_tools.h), and cloister-control links none of
#                their functions;
#   src/cli      includes no header of sandbox/ or fwguard/ (`cloister dev`
#                cleans up through the host agent; the window policy format
#                is libcloister-fw's), and cloister links no sandbox code.
#
# Three views of the same rule: the source's #include lines (any path that
# names the folder, "../" included), every header the compiler actually read
# for each object (BUILD/obj/<component>/*.d: what a header pulls in
# counts), and the linked program's symbols. The include check is run once
# against a copy with a bad include, so it is shown to be able to fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
T=$(mktemp -d /tmp/layering.XXXXXX)
trap 'rm -rf "$T"' EXIT

# forbidden_includes DIR FOLDER... — prints every #include in DIR's sources
# that names one of the folders; returns 1 if there is one.
forbidden_includes() {
	local dir=$1; shift
	local alt; alt=$(IFS='|'; echo "$*")
	if grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]([^\">]*/)?($alt)/" \
		"$dir"/*.c "$dir"/*.h; then
		return 1
	fi
	return 0
}

# forbidden_deps COMPONENT FOLDER... — every header the build read for
# COMPONENT's objects (dependency files), against the folders.
forbidden_deps() {
	local comp=$1; shift
	local alt; alt=$(IFS='|'; echo "$*")
	local deps=("$B"/obj/"$comp"/*.d)
	[ -f "${deps[0]}" ] || { echo "no dependency files in $B/obj/$comp: build first"; return 1; }
	if cat "${deps[@]}" | tr ' \\' '\n\n' | grep -E "^src/($alt)/"; then
		return 1
	fi
	return 0
}

control_forbidden=(host sandbox fwguard guestif keyholder)
cli_forbidden=(sandbox fwguard)
bad=0

forbidden_includes src/control "${control_forbidden[@]}" || { echo "src/control includes a host-side header"; bad=1; }
forbidden_includes src/cli "${cli_forbidden[@]}" || { echo "src/cli includes a sandbox/fwguard header"; bad=1; }
forbidden_deps control "${control_forbidden[@]}" || { echo "a control object reads a host-side header"; bad=1; }
forbidden_deps cli "${cli_forbidden[@]}" || { echo "a cli object reads a sandbox/fwguard header"; bad=1; }

# The programs: prefixes of the host-side components' functions.
syms() { nm --defined-only "$1" | awk 'NF == 3 && $2 ~ /[TtDdBbRr]/ {print $3}'; }
for bin in cloister-control cloister; do
	[ -x "$B/bin/$bin" ] || { echo "no $B/bin/$bin: build first"; exit 1; }
done
ctl_syms=$(syms "$B/bin/cloister-control")
cli_syms=$(syms "$B/bin/cloister")
if grep -E '^(cl_sandbox_|cl_shim_|fwg_|fwa_|cl_agent_|cl_guestif_|cl_kh_|cl_keyholder_)' <<<"$ctl_syms"; then
	echo "cloister-control links host-side code"; bad=1
fi
if grep -E '^(cl_sandbox_|cl_shim_)' <<<"$cli_syms"; then
	echo "cloister links the sandbox"; bad=1
fi
# The symbol check sees what it should: the host agent's binary has them.
grep -qE '^cl_sandbox_' <<<"$(syms "$B/bin/cloister-host")" || { echo "no cl_sandbox_ symbol in cloister-host: the check is blind"; exit 1; }
grep -qE '^fwg_' <<<"$(syms "$B/bin/cloister-host")" || { echo "no fwg_ symbol in cloister-host: the check is blind"; exit 1; }

[ "$bad" = 0 ] || exit 1
echo "control includes and links no host-side part; cli includes no sandbox/fwguard header and links no sandbox"

# The include check must be able to fail: a copy of src/control and src/cli
# with one bad include each (one by a relative path) is refused.
mkdir -p "$T/control" "$T/cli"
cp src/control/*.[ch] "$T/control/"
cp src/cli/*.[ch] "$T/cli/"
sed -i '1i #include "../keyholder/keyholder.h"' "$T/control/routes.c"
if forbidden_includes "$T/control" "${control_forbidden[@]}" >/dev/null; then
	echo "a keyholder/ include in control was not caught"; exit 1
fi
sed -i '1i #  include <sandbox/sandbox.h>' "$T/cli/main.c"
if forbidden_includes "$T/cli" "${cli_forbidden[@]}" >/dev/null; then
	echo "a sandbox/ include in cli was not caught"; exit 1
fi
echo "a bad include is caught"
