#!/bin/sh
# gpu-check.sh — what to run on a machine with a GPU: lists the OpenCL devices, runs the
# OpenCL parity tests (every op against the reference backend) and the GPT-S/BERT-S bench
# on the first GPU, and ends with one summary line. Exit 0 when every parity case passed,
# 1 when one failed or a step failed, 2 when there is no GPU (or a usage error).
#
#   tools/gpu-check.sh                     the first GPU
#   tools/gpu-check.sh --device 1:0        that device, GPU or not (e.g. PoCL, to try it)
#   tools/gpu-check.sh --steps 20          timed bench steps per model (default 10)
usage() {
    sed -n '2,9s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
device=""
steps=10
while [ $# -gt 0 ]; do
    case "$1" in
    --device) [ $# -ge 2 ] || usage; device=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; steps=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$steps" in '' | *[!0-9]*) echo "gpu-check: --steps wants a number" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.." || exit 1
b=${LMG_BUILD:-build}
if [ ! -x "$b/lmg" ] || [ ! -x "$b/tests/test_opencl" ]; then
    ninja "$b/lmg" "$b/tests/test_opencl" >/dev/null || exit 1
fi

list=$("$b/lmg" devices) || exit 1
echo "$list"
if [ -z "$device" ]; then
    # The device line "  device P:D  NAME" comes before its "    type GPU, ..." line.
    device=$(echo "$list" | awk '/^  device /{d=$2} /^    type GPU,/{print d; exit}')
    if [ -z "$device" ]; then
        echo "gpu-check: no GPU among the OpenCL devices above (--device P:D takes another)"
        exit 2
    fi
fi
name=$(echo "$list" | awk -v d="$device" '$1 == "device" && $2 == d {$1 = $2 = ""; sub(/^ +/, ""); sub(/ +\[.*$/, ""); print}')
[ -n "$name" ] || { echo "gpu-check: no device $device" >&2; exit 2; }
export LMG_DEVICE="$device"
echo
echo "== OpenCL parity tests on $device ($name)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$b/tests/test_opencl" >"$log" 2>&1
prc=$?
grep -v '^ok ' "$log"
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
[ "$prc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1

echo
echo "== GPT-S and BERT-S steps on $device"
"$b/lmg" bench --model both --steps "$steps" >"$log" 2>&1
brc=$?
cat "$log"
gpt=$(awk '$1 == "GPT-S" && $2 ~ /^[0-9.]+$/ {print $2}' "$log")
bert=$(awk '$1 == "BERT-S" && $2 ~ /^[0-9.]+$/ {print $2}' "$log")

echo
echo "gpu-check: $device $name: parity $passed passed, $failed failed;" \
    "GPT-S ${gpt:-?} ms/step, BERT-S ${bert:-?} ms/step"
[ "$failed" -eq 0 ] && [ "$brc" -eq 0 ] && [ -n "$gpt" ] && [ -n "$bert" ]
