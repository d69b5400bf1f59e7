#!/bin/sh
# cli_options.sh — the options each command's --help lists are the ones its parser takes: for
# every command in `lmg --help` (and every action of a command made of actions), --help exits
# 0, each listed option is accepted as "--opt V" and "--opt=V", a made-up option and an option
# without its value are usage errors (exit 2) told in one line that names them.
b=${LMG_BUILD:-build}
lmg="$(cd "$b" && pwd)/lmg"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/cwd" && cd "$tmp/cwd" || exit 1 # whatever a slip of the parser writes lands here
failed=0
ok() { echo "ok - $1"; }
bad() {
    echo "not ok - $1"
    failed=1
}
bogus=--no-such-option-zz

# The commands: "  name   summary" lines of lmg --help.
"$lmg" --help >"$tmp/top" || bad "lmg --help exits 0"
commands=$(sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' "$tmp/top")
[ "$(echo "$commands" | wc -w)" -ge 20 ] && ok "lmg --help lists $(echo "$commands" | wc -w) commands" ||
    bad "lmg --help lists only: $commands"

# A command made of actions shows "lmg CMD ACTION ..." usage lines; others "lmg CMD [--x|X...]".
targets=""
for c in $commands; do
    "$lmg" "$c" --help >"$tmp/help" 2>"$tmp/err"
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q "^usage: " "$tmp/help"; then
        bad "lmg $c --help exits 0 with a usage line (exit $rc)"
        continue
    fi
    actions=$(sed -n "s/^\(usage:\|      \) lmg $c \([a-z][a-z]*\)\( .*\)\{0,1\}$/\2/p" "$tmp/help" | sort -u)
    if [ -n "$actions" ]; then
        for a in $actions; do targets="$targets $c:$a"; done
    else
        targets="$targets $c"
    fi
done

total=0
for t in $targets; do
    cmd=$(echo "$t" | tr ':' ' ')
    # shellcheck disable=SC2086
    "$lmg" $cmd --help >"$tmp/help" 2>"$tmp/err"
    if [ $? -ne 0 ] || [ -s "$tmp/err" ]; then
        bad "lmg $cmd --help exits 0, quietly"
        continue
    fi
    # Option lines: "  -o, --output PATH   help" or "  --graph FILE, --model-graph FILE"
    # alone; the option column ends at three spaces, and a short name shares the long one's
    # value ("-o, --output PATH"). One "NAME [VALUE]" per line of $tmp/opts.
    grep '^  -' "$tmp/help" | sed 's/^  //; s/   .*//' |
        awk -F', ' '{ n = split($NF, last, " "); for (i = 1; i <= NF; i++) {
                          k = split($i, w, " "); print w[1], (k > 1 ? w[2] : (n > 1 ? last[2] : "")) } }' \
        >"$tmp/opts"
    grep -q -- '^-h *$' "$tmp/opts" || bad "lmg $cmd --help lists -h"
    rejected=""
    missing=""
    n=0
    while read -r name value; do
        case "$name" in -h | --help) continue ;; esac
        n=$((n + 1))
        for form in spaced joined; do
            if [ -z "$value" ]; then
                [ $form = joined ] && continue
                set -- "$name"
            elif [ $form = spaced ]; then
                set -- "$name" 1
            else
                set -- "$name=1"
            fi
            # shellcheck disable=SC2086
            "$lmg" $cmd "$@" $bogus >/dev/null 2>"$tmp/err" </dev/null
            rc=$?
            # Accepted: the parser went past it to the made-up option, or judged its value.
            if [ $rc -ne 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
                grep -q -- "unknown option '$name'" "$tmp/err"; then
                rejected="$rejected $*(exit $rc: $(head -c 120 "$tmp/err"))"
            fi
        done
        if [ -n "$value" ]; then
            # shellcheck disable=SC2086
            "$lmg" $cmd "$name" >/dev/null 2>"$tmp/err" </dev/null
            rc=$?
            if [ $rc -ne 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
                ! grep -q -- "$name needs a value" "$tmp/err"; then
                missing="$missing $name(exit $rc)"
            fi
        fi
    done <"$tmp/opts"
    total=$((total + n))
    if [ -z "$rejected" ]; then ok "lmg $cmd: the $n options its --help lists are accepted"
    else bad "lmg $cmd: listed but not accepted:$rejected"; fi
    if [ -z "$missing" ]; then ok "lmg $cmd: an option without its value is a one-line usage error"
    else bad "lmg $cmd: no one-line 'needs a value' error for:$missing"; fi
    # shellcheck disable=SC2086
    "$lmg" $cmd $bogus >/dev/null 2>"$tmp/err" </dev/null
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
        grep -q -- "^lmg $cmd: unknown option '$bogus' (lmg $cmd --help lists them)$" "$tmp/err"; then
        ok "lmg $cmd: a made-up option exits 2 with one line naming it"
    else
        bad "lmg $cmd $bogus: exit $rc, $(cat "$tmp/err")"
    fi
done
# The parse of the help above must have found the options, or the checks above prove nothing.
[ "$total" -ge 150 ] && ok "$total listed options checked" || bad "only $total listed options found"

# A value out of range names the option and the value, in one line.
"$lmg" train --steps 0 >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
    grep -q "^lmg train: --steps wants an integer in 1..1000000000, not '0'" "$tmp/err" &&
    ok "a value out of range names option, range and value" || bad "train --steps 0: exit $rc, $(cat "$tmp/err")"
"$lmg" build --model=gtp -o x.pb >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "^lmg build: --model wants gpt or bert, not 'gtp'" "$tmp/err" &&
    ok "a choice names its words" || bad "build --model=gtp: exit $rc, $(cat "$tmp/err")"
"$lmg" tokenizer frobnicate >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "unknown action 'frobnicate' (train, encode, decode, info)" "$tmp/err" &&
    ok "an unknown action names the actions" || bad "tokenizer frobnicate: exit $rc, $(cat "$tmp/err")"
# After "--" everything is a positional, and a flag takes no value.
"$lmg" print -- --missing.pb >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "^lmg print: --missing.pb: " "$tmp/err" &&
    ok "after -- a name starting with - is a file" || bad "print -- --missing.pb: exit $rc, $(cat "$tmp/err")"
"$lmg" print --no-weights=1 g.pb >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "^lmg print: --no-weights takes no value, not '1'" "$tmp/err" &&
    ok "a flag given a value is a usage error" || bad "print --no-weights=1: exit $rc, $(cat "$tmp/err")"
exit $failed
