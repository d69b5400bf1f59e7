#!/bin/sh
# cli_devices.sh — `lmg devices` and the OpenCL backend from the command line: the listing
# and its default mark, LMG_DEVICE and --device errors that list the devices, the message
# when no platform exists, a kernel build failure showing its log, and a run matching ref.
. "$(dirname "$0")/common.sh"
need_lmg

# Without any platform the loader finds nothing: the hint names the ICD packages.
mkdir "$tmp/no-icd"
OCL_ICD_VENDORS="$tmp/no-icd" "$lmg" devices >"$tmp/out" 2>"$tmp/err"
check "devices without a platform exits 1" test $? -eq 1
check "devices without a platform says to install pocl-opencl-icd" grep -q "pocl-opencl-icd" "$tmp/err"

if ! "$lmg" devices >"$tmp/out" 2>"$tmp/err"; then
    echo "ok - devices, LMG_DEVICE, --device, build logs # SKIP no OpenCL device ($(head -n 1 "$tmp/err" | head -c 200))"
    exit "$fails"
fi
check "devices lists device 0:0" grep -q "^  device 0:0 " "$tmp/out"
check "devices marks one default" test "$(grep -c '\[default\]' "$tmp/out")" -eq 1
check "devices shows memory and limits" grep -q "global memory .*, max allocation " "$tmp/out"
check "devices shows compute units and fp16/fp64" grep -q "compute units [0-9]*, .*fp16 \(yes\|no\), fp64 \(yes\|no\)" "$tmp/out"

"$lmg" devices extra >/dev/null 2>"$tmp/err"
check "devices with an argument is a usage error" test $? -eq 2

LMG_DEVICE=7:7 "$lmg" devices >"$tmp/out" 2>"$tmp/err"
check "a bad LMG_DEVICE is reported by devices" grep -q "LMG_DEVICE 7:7 does not exist; the devices are: 0:0" "$tmp/err"
LMG_DEVICE=0:0 "$lmg" devices >"$tmp/out" 2>"$tmp/err"
check "LMG_DEVICE=0:0 is marked as chosen" grep -q "0:0 .*\[chosen by LMG_DEVICE\]" "$tmp/out"

cat >"$tmp/g.lmgt" <<'EOF2'
lmgraph ir 1 opset 1
graph "small" {
  input x : f32[2,3]
  const c : f32[3] = [0.5, -1, 2]
  node a: f32[2,3] = Add(x, c)
  node r: f32[2,3] = Relu(a)
  output r
}
EOF2
printf '\000\000\200\077\000\000\000\300\000\000\100\100\000\000\200\300\000\000\000\000\000\000\040\101' >"$tmp/x.bin"

"$lmg" run "$tmp/g.lmgt" --inputs "x=$tmp/x.bin" --backend opencl >"$tmp/ocl" 2>"$tmp/err"
check "run on opencl exits 0" test $? -eq 0
"$lmg" run "$tmp/g.lmgt" --inputs "x=$tmp/x.bin" --backend ref >"$tmp/ref" 2>&1
check "run on opencl prints what ref prints" cmp -s "$tmp/ocl" "$tmp/ref"

"$lmg" run "$tmp/g.lmgt" --backend opencl --device 3:0 >"$tmp/out" 2>"$tmp/err"
check "run --device 3:0 exits 1" test $? -eq 1
check "run --device 3:0 lists the devices" grep -q "3:0 does not exist; the devices are: 0:0" "$tmp/err"
"$lmg" run "$tmp/g.lmgt" --backend opencl --device first >"$tmp/out" 2>"$tmp/err"
check "run --device first says what a device looks like" grep -q "expected P:D" "$tmp/err"

# A kernel build failure shows the compiler's log (here ops/philox.h's include guard set from
# the command line hides the Philox types from the random kernels).
LMG_CL_BUILD_OPTIONS="-DLMG_PHILOX_H=1" "$lmg" run "$tmp/g.lmgt" --backend opencl \
    >"$tmp/out" 2>"$tmp/err"
check "a failing kernel build exits 1" test $? -eq 1
check "a failing kernel build names clBuildProgram and shows the log" \
    grep -q "clBuildProgram(...) failed at backends/opencl/device.c:[0-9]*: CL_BUILD_PROGRAM_FAILURE" "$tmp/err"
check "the build log names the culprit" grep -q "unknown type name 'lmg_philox4'" "$tmp/err"

exit "$fails"
