#!/bin/sh
# cli_broken.sh — runs `lmg verify` on every file of the broken-graph corpus (tests/broken):
# each must fail with exit status 1 (not a crash or sanitizer report), print exactly one
# line on stderr starting "lmg verify: ", and that line must contain the expected text:
# the first line "# expect: TEXT" of a .lmgt file, or the contents of FILE.pb.expect.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
lmg=${LMG_BUILD:-build}/lmg
if [ ! -x "$lmg" ]; then
    echo "not ok - $lmg is not built"
    exit 1
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
failed=0
count=0
for f in tests/broken/*.lmgt tests/broken/*.pb; do
    [ -e "$f" ] || continue
    count=$((count + 1))
    case "$f" in
    *.lmgt) expect=$(head -n 1 "$f" | sed -n 's/^# expect: //p') ;;
    *) expect=$(cat "$f.expect" 2>/dev/null) ;;
    esac
    name=$(basename "$f")
    if [ -z "$expect" ]; then
        echo "not ok - $name: no expected message"
        failed=$((failed + 1))
        continue
    fi
    "$lmg" verify "$f" >/dev/null 2>"$err"
    rc=$?
    lines=$(wc -l <"$err")
    msg=$(head -n 1 "$err")
    problem=""
    if [ "$rc" -ge 128 ] || [ "$rc" -eq 0 ] || [ "$rc" -ne 1 ]; then
        problem="exit status $rc"
    elif [ "$lines" -ne 1 ]; then
        problem="$lines lines on stderr"
    else
        case "$msg" in
        "lmg verify: "*"$expect"*) ;;
        *) problem="message does not contain: $expect" ;;
        esac
    fi
    if [ -n "$problem" ]; then
        echo "not ok - $name: $problem"
        sed 's/^/#   /' "$err" | head -n 20
        failed=$((failed + 1))
    else
        echo "ok - $name"
    fi
done
if [ "$count" -lt 40 ]; then
    echo "not ok - corpus has only $count files"
    failed=$((failed + 1))
fi
[ "$failed" -eq 0 ]
