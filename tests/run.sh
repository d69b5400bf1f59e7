#!/bin/sh
# run.sh — runs every test of one build variant (build/ or build/asan/): the C test
# binaries and the command-line tests, counts "ok"/"not ok" lines ("ok ... # SKIP why" as
# skipped: a case that cannot run on this machine), and ends with the line
# "N passed, N failed, N skipped". Exits non-zero when anything failed or crashed.
dir=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export LMG_BUILD="$dir"
for t in "$dir"/tests/test_* tests/cli_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    name=$(basename "$t")
    start=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    s=$(grep -c '^ok .*# SKIP' "$log")
    p=$(($(grep -c '^ok ' "$log") - s))
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    skip_note=""
    [ "$s" -ne 0 ] && skip_note=", $s skipped"
    if [ "$f" -ne 0 ]; then
        echo "== $name: $p passed, $f FAILED$skip_note (${secs}s)"
        grep -v '^ok ' "$log" | tail -n 60
    else
        echo "== $name: $p passed$skip_note (${secs}s)"
    fi
    grep '^ok .*# SKIP' "$log" | sed 's/^/   /'
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
