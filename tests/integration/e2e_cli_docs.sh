#!/usr/bin/env bash
# e2e_cli_docs.sh — the CLI and its documentation do not drift apart: every
# verb that `cloister <noun> --help` lists for dev, enclave, host and token has
# a page docs/cli/<noun>-<verb>.md (dev: dev.md), and every --option that the
# verb's own --help shows is described on that page. Also: --help exits 0 and
# prints to stdout everywhere; an unknown verb exits 2 with one error line.
source "$(dirname "$0")/lib.sh"
DOCS="$(dirname "$0")/../../docs/cli"

# check_page PAGE HELP_ARGS...: every option in the help text appears in PAGE.
check_page() {
	local page=$1; shift
	[ -f "$DOCS/$page" ] || fail "missing docs/cli/$page"
	cli "$@" --help
	[ "$RC" = 0 ] || fail "cloister $* --help exited $RC"
	[ -n "$OUT" ] && [ -z "$ERR" ] || fail "cloister $* --help: help must go to stdout only"
	local opt n=0
	for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$OUT" | sort -u); do
		grep -qF -- "$opt" "$DOCS/$page" || fail "docs/cli/$page does not document $opt (cloister $*)"
		n=$((n + 1))
	done
	echo "   $page: $n options documented"
}

step "enclave verbs"
cli enclave --help
verbs=$(awk '/^  [a-z]+ /{print $1}' <<<"$OUT")
[ "$(wc -w <<<"$verbs")" -ge 11 ] || fail "enclave --help lists too few verbs: $verbs"
for v in $verbs; do check_page "enclave-$v.md" enclave "$v"; done

step "dev, host, token"
check_page dev.md dev
check_page host-list.md host list
check_page host-remove.md host remove
check_page token-create.md token create
check_page token-list.md token list
check_page token-revoke.md token revoke
check_page ca-get.md ca get
check_page cloister.md # the global options

step "unknown verbs are usage errors"
for n in enclave host token dev; do
	cli "$n" frobnicate
	expect_cli_error 2 "unknown verb"
done
cli frobnicate
expect_cli_error 2 "unknown command"
echo "PASS e2e_cli_docs"
