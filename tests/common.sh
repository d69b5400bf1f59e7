# common.sh — what every CLI test starts with, sourced as `. "$(dirname "$0")/common.sh"`:
# $lmg (the binary of $LMG_BUILD, default build), a scratch folder $tmp removed on exit, and
# the TAP helpers ok, notok and check, which count failures in $fails for the test's last line
# (`[ "$fails" -eq 0 ]`).
lmg=${LMG_BUILD:-build}/lmg
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { # name, then a command that must succeed
    name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}
# check_rc NAME RC: ok when RC is 0 (for a test that gathers its failures in a variable).
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else notok "$1"; fi; }
# Stop at once, with one failure, when the lmg binary is not built.
need_lmg() {
    if [ ! -x "$lmg" ]; then
        echo "not ok - $lmg is not built"
        exit 1
    fi
}
