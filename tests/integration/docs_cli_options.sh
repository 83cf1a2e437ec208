#!/usr/bin/env bash
# docs_cli_options.sh — the CLI pages and `--help` agree on options, both
# ways, for every page docs/cli/NOUN-VERB.md (and NOUN.md):
#   - every --option the command's help shows is on its page;
#   - every --option of the page's synopsis (its first code block) is one
#     the help shows, or a global option of `cloister --help`.
# (docs_cli.sh checks that the pages and commands exist; e2e_cli_docs.sh the
# help's own behaviour.)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cli="$BUILD/bin/cloister"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$cli" ] || fail "missing $cli"
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
echo "docs_cli_options: ok"
