#!/usr/bin/env bash
# docs_cli.sh — the CLI docs and error docs do not drift from the code:
# every noun and verb that `cloister --help` / `cloister NOUN --help` lists
# has its page docs/cli/NOUN-VERB.md (or docs/cli/NOUN.md for verb-less
# nouns), every page names a command that exists, the caps the enclave
# verbs' --help texts print are on their pages, and every error code of
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
# The caps a verb's --help prints (from src/common/proto.h: sizes like
# "512 KiB" and numbers of 4+ digits) appear on its page, so the docs follow
# when a cap changes.
for verb in create send recv grow shrink; do
	page="docs/cli/enclave-$verb.md"
	help=$("$cli" enclave "$verb" --help)
	caps=$( { grep -oE '[0-9]+ (KiB|MiB|GiB)' <<<"$help" || true; grep -oE '\b[0-9]{4,}\b' <<<"$help" || true; } | sort -u)
	while read -r cap; do
		[ -z "$cap" ] || grep -qF -- "$cap" "$page" || fail "$page does not give the cap '$cap' that 'cloister enclave $verb --help' prints"
	done <<<"$caps"
done
while read -r num name; do
	grep -q "| $num | \`$name\` |" docs/errors.md || fail "error $num ($name) missing from docs/errors.md"
done < <(sed -n 's/.*\[CL_E[A-Z]*\] = {"\([a-z_]*\)".*/\1/p; s/.*\[CL_OK\] = {"\([a-z_]*\)".*/\1/p' src/common/err.c |
	awk '{print NR-1, $1}')
echo "docs_cli: ok"
