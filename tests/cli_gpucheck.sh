#!/bin/sh
# cli_gpucheck.sh — tools/gpu-check.sh, the script to run on a machine with a GPU, tried on
# the default OpenCL device: its summary line carries the parity counts and both models'
# step times, a machine without a GPU and a bad device exit 2 with a message.
cd "$(dirname "$0")/.." || exit 1
b=${LMG_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; failed=1; }
check() { if [ "$2" = 0 ]; then ok "$1"; else bad "$1"; fi; }

if ! "$b/lmg" devices >"$tmp/list" 2>&1; then
    echo "ok - gpu-check # SKIP no OpenCL device works here"
    exit 0
fi
dev=$(awk '/^  device /{print $2; exit}' "$tmp/list")

r=0
LMG_BUILD=$b tools/gpu-check.sh --device "$dev" --steps 1 >"$tmp/out" 2>&1 || r=1
tail -n 1 "$tmp/out" | grep -Eq "^gpu-check: $dev .*: parity [1-9][0-9]* passed, 0 failed; GPT-S [0-9.]+ ms/step, BERT-S [0-9.]+ ms/step$" || r=1
# The parity count is test_opencl's own.
n=$(LMG_DEVICE=$dev "$b/tests/test_opencl" 2>/dev/null | grep -c '^ok ')
tail -n 1 "$tmp/out" | grep -q "parity $n passed" || r=1
check "gpu-check on device $dev: one summary line with the parity counts and both step times" $r
[ $r -eq 0 ] || sed 's/^/#   /' "$tmp/out" | tail -5

r=0
if grep -q '^    type GPU,' "$tmp/list"; then
    LMG_BUILD=$b tools/gpu-check.sh --steps 1 >"$tmp/out" 2>&1 || r=1
else
    LMG_BUILD=$b tools/gpu-check.sh >"$tmp/out" 2>&1
    [ $? -eq 2 ] && grep -q "no GPU among the OpenCL devices" "$tmp/out" || r=1
fi
check "gpu-check without --device takes the first GPU, or says there is none (exit 2)" $r

r=0
LMG_BUILD=$b tools/gpu-check.sh --device 9:9 >"$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "no device 9:9" "$tmp/out" || r=1
LMG_BUILD=$b tools/gpu-check.sh --steps x >"$tmp/out" 2>&1
[ $? -eq 2 ] || r=1
LMG_BUILD=$b tools/gpu-check.sh --help >"$tmp/out" 2>&1
[ $? -eq 2 ] && grep -q "first GPU" "$tmp/out" || r=1
check "gpu-check: a device that does not exist, a bad --steps and --help exit 2" $r

exit $failed
