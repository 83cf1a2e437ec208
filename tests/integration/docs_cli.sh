#!/usr/bin/env bash
# docs_cli.sh — the CLI docs and error docs do not drift from the code:
# every noun and verb that `cloister --help` / `cloister NOUN --help` lists
# has its page docs/cli/NOUN-VERB.md (or docs/cli/NOUN.md for verb-less
# nouns), every page names a command that exists, every --option the
# command's help shows is on its page and every --option of the page's
# synopsis (its first code block) is one the help shows (or a global one),
# and every error code of src/common/err.h is documented in docs/errors.md
# (numbers, names and HTTP statuses: tests/unit/test_errors_doc.c).
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
# Options: the help of a verb without its own --help is its lines in the
# noun's summary (e.g. `cloister fw --help`: "  sign --key ..." and the more
# indented lines after it).
python3 - "$cli" <<'PY' || fail "docs/cli and --help disagree (above)"
import glob, os, re, subprocess, sys
cli = sys.argv[1]
FLAG = re.compile(r"--[a-z][a-z0-9-]*")
def helptext(args):
    p = subprocess.run([cli] + args + ["--help"], capture_output=True, text=True)
    return p.stdout + p.stderr
def verb_lines(h, noun, verb):
    keep, on, vind = [], False, 0
    words = verb.replace("-", " ")
    for line in h.split("\n"):
        m = re.match(r"^( *)(\S.*)$", line)
        if not m:
            on = False
            continue
        ind, body = len(m.group(1)), m.group(2)
        if re.match(r"(usage: )?(cloister %s )?(%s|%s)( |$)" % (noun, re.escape(verb), re.escape(words)), body):
            on, vind = True, ind
            keep.append(body)
        elif on and ind > vind + 2:
            keep.append(body)
        else:
            on = False
    return "\n".join(keep)
globals_ = set(FLAG.findall(helptext([])))
bad = 0
for page in sorted(glob.glob("docs/cli/*.md")):
    name = os.path.basename(page)[:-3]
    if name == "cloister":
        continue
    noun, _, verb = name.partition("-")
    h = helptext([noun, verb] if verb else [noun])
    if verb and not re.search(r"usage: cloister %s %s( |$)" % (noun, re.escape(verb)), h):
        h = verb_lines(h, noun, verb)
    hf = set(FLAG.findall(h)) - {"--help"}
    text = open(page).read()
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    synopsis = set(FLAG.findall(blocks[0])) if blocks else set()
    if not h.strip():
        print("%s: `cloister %s %s --help` says nothing about it" % (page, noun, verb)); bad += 1
    for f in sorted(hf - set(FLAG.findall(text))):
        print("%s does not document %s (its --help shows it)" % (page, f)); bad += 1
    for f in sorted(synopsis - hf - globals_):
        print("%s: synopsis shows %s, which `cloister %s %s --help` does not" % (page, f, noun, verb)); bad += 1
sys.exit(1 if bad else 0)
PY
while read -r num name; do
	grep -q "| $num | \`$name\` |" docs/errors.md || fail "error $num ($name) missing from docs/errors.md"
done < <(sed -n 's/.*\[CL_E[A-Z]*\] = {"\([a-z_]*\)".*/\1/p; s/.*\[CL_OK\] = {"\([a-z_]*\)".*/\1/p' src/common/err.c |
	awk '{print NR-1, $1}')
echo "docs_cli: ok"
