#!/usr/bin/env bash
# docs_cli.sh — the CLI docs and error docs do not drift from the code:
# every noun and verb that `cloister --help` / `cloister NOUN --help` lists
# has its page docs/cli/NOUN-VERB.md (or docs/cli/NOUN.md for verb-less
# nouns), every page names a command that exists, and every error code of
# src/common/err.h is documented in docs/errors.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cli="$BUILD/bin/cloister"
fail() { echo "FAIL: $*"; exit 1; }
declare -A known
nouns=$("$cli" --help | awk '/^nouns:/{f=1; next} f && /^  [a-z]/{print $1} f && /^$/{exit}')
[ -n "$nouns" ] || fail "cloister --help lists no nouns"
# A verb is a word the noun's help shows (as "cloister NOUN VERB" or as the
# first word of an indented line) for which `cloister NOUN VERB --help` succeeds.
for noun in $nouns; do
	known[$noun]=1
	help=$("$cli" "$noun" --help 2>&1 || true)
	cands=$( { grep -o "cloister $noun [a-z][a-z-]*" <<<"$help" | awk '{print $3}' || true;
		   grep -oE '^ {0,4}[a-z][a-z-]+( |$)' <<<"$help" | tr -d ' ' || true; } | sort -u)
	verbs=""
	for v in $cands; do
		"$cli" "$noun" "$v" --help >/dev/null 2>&1 && verbs="$verbs $v"
	done
	if [ -z "$verbs" ]; then
		[ -f "docs/cli/$noun.md" ] || fail "no docs/cli/$noun.md for 'cloister $noun'"
		continue
	fi
	for verb in $verbs; do
		known[$noun-$verb]=1
		[ -f "docs/cli/$noun-$verb.md" ] || [ -f "docs/cli/$noun.md" ] ||
			fail "no docs/cli/$noun-$verb.md for 'cloister $noun $verb'"
	done
done
for page in docs/cli/*.md; do
	name=$(basename "$page" .md)
	[ "$name" = cloister ] && continue
	[ -n "${known[$name]:-}" ] || fail "$page documents a command the CLI does not have"
	noun=${name%%-*} verb=${name#*-}
	[ "$noun" = "$name" ] || "$cli" "$noun" "$verb" --help >/dev/null 2>&1 ||
		fail "$page: 'cloister $noun $verb --help' fails"
done
while read -r num name; do
	grep -q "| $num | \`$name\` |" docs/errors.md || fail "error $num ($name) missing from docs/errors.md"
done < <(sed -n 's/.*\[CL_E[A-Z]*\] = {"\([a-z_]*\)".*/\1/p; s/.*\[CL_OK\] = {"\([a-z_]*\)".*/\1/p' src/common/err.c |
	awk '{print NR-1, $1}')
echo "docs_cli: ok"
