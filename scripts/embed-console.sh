#!/bin/sh
# scripts/embed-console.sh FILE... — writes to stdout a C header that embeds
# the console's static files (console/) into cloister-control, so an
# installed control plane serves them without a file path
# (src/control/console.c includes the output, build/gen/console_files.h).
# Each file becomes a byte array (xxd -i; a 0 byte ends it so an empty file
# is still a valid array, and is not counted in its length) and a row of
# console_files[]: its base name, which is the only name it is served under.
set -eu
i=0
for f in "$@"; do
	printf 'static const unsigned char console_file_%d[] = {\n' "$i"
	if [ -s "$f" ]; then xxd -i <"$f"; printf ',\n'; fi
	printf '0x00};\n'
	i=$((i + 1))
done
printf 'static const struct console_file console_files[] = {\n'
i=0
for f in "$@"; do
	name=$(basename "$f")
	case "$name" in *[!A-Za-z0-9._-]*) echo "embed-console.sh: bad file name $name" >&2; exit 1 ;; esac
	printf '\t{"%s", console_file_%d, sizeof(console_file_%d) - 1},\n' "$name" "$i" "$i"
	i=$((i + 1))
done
printf '};\n'
