#!/bin/sh
# cli_perf.sh — the performance tooling's claims: lmg bench --profile's tables and trace,
# the GEMM ceiling's report, the choice of matrix-product route, and both routes' results.
. "$(dirname "$0")/common.sh"
need_lmg
tests=${LMG_BUILD:-build}/tests
if ! "$lmg" devices >/dev/null 2>&1; then
    echo "ok - skipped: no OpenCL device"
    exit 0
fi

# --profile: the op-type table accounts for the whole step, MatMul carries FLOPs, and the
# trace is JSON with one event per node, in order, of positive length.
"$lmg" bench --model gpt --steps 2 --warmup 1 --no-blas --profile --trace "$tmp/t.json" \
    >"$tmp/out" 2>"$tmp/err"
check "bench --profile exits 0" test $? -eq 0
check "the profile names the matrix-product route" grep -q "matrix products: " "$tmp/out"
awk '/^op type/ {on = 1; next} on && NF == 0 {exit} on {s += $5; if ($1 == "MatMul" && $6 > 0) mm = 1}
     END {exit !(s > 99 && s < 101 && mm)}' "$tmp/out"
check "op-type shares add up to 100% and MatMul has a GFLOP/s" test $? -eq 0
python3 - "$tmp/t.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = [e["name"] for e in ev]
assert len(ev) > 100 and len(set(names)) == len(names), "one event per node"
assert all(e["ph"] == "X" and e["dur"] >= 0 for e in ev)
assert all(a["ts"] <= b["ts"] for a, b in zip(ev, ev[1:])), "in queue order"
assert any(e["cat"] == "MatMul" and e["args"]["gflop"] > 0 for e in ev)
PY
check "the Chrome trace is JSON with one ordered event per node" test $? -eq 0

# The ceiling names OpenBLAS's kernels; a forced old core is reported with the right one.
"$lmg" bench --ceiling-only >"$tmp/out" 2>&1
check "bench --ceiling-only names OpenBLAS's kernels" grep -q "kernels: " "$tmp/out"
if grep -q ' avx2 ' /proc/cpuinfo; then
    OPENBLAS_CORETYPE=Prescott "$lmg" bench --ceiling-only >"$tmp/out" 2>&1
    check "OpenBLAS on Prescott kernels is called out, with the CPU's own measured" \
        grep -q "newer than the Prescott kernels.*measured in a child process" "$tmp/out"
fi

# The route: a bad LMG_CL_GEMM is refused by name; CLBlast and host BLAS train alike.
LMG_CL_GEMM=fast "$lmg" bench --steps 1 --warmup 0 --no-blas >"$tmp/out" 2>"$tmp/err"
check "LMG_CL_GEMM=fast fails (exit 1)" test $? -eq 1
check "and names the variable and its values" grep -q "LMG_CL_GEMM.*auto, host or clblast" "$tmp/err"
"$lmg" bench --steps 2 --warmup 0 --no-blas >"$tmp/a" 2>&1
LMG_CL_GEMM=clblast LMG_CL_ATTENTION=kernels "$lmg" bench --steps 2 --warmup 0 --no-blas \
    >"$tmp/b" 2>&1
la=$(sed -n 's/.*loss: step 1 [0-9.]*, step 2 \([0-9.]*\)/\1/p' "$tmp/a")
lb=$(sed -n 's/.*loss: step 1 [0-9.]*, step 2 \([0-9.]*\)/\1/p' "$tmp/b")
check "CLBlast was used when forced" grep -q "matrix products: CLBlast (LMG_CL_GEMM=clblast)" "$tmp/b"
awk -v a="$la" -v b="$lb" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(a > 0 && d < 1e-3)}'
check "GPT-S loss after two steps agrees between the routes ($la, $lb)" test $? -eq 0

# The loss, AdamW, LayerNorm, copies, sums and GELU as host code: named on the host route,
# refused by name with a bad LMG_CL_HOST_OPS, and the kernels they replace keep their parity
# bounds.
check "the host route names the checked host code" \
    grep -q "LayerNorm, sums, copies, GELU: host code (checked)" "$tmp/a"
LMG_CL_HOST_OPS=fast "$lmg" bench --steps 1 --warmup 0 --no-blas >"$tmp/out" 2>"$tmp/err"
check "LMG_CL_HOST_OPS=fast fails (exit 1)" test $? -eq 1
check "and names the variable and its values" grep -q "LMG_CL_HOST_OPS.*auto or off" "$tmp/err"
if [ -x "$tests/test_opencl" ]; then
    LMG_CL_HOST_OPS=off "$tests/test_opencl" CrossEntropy x/CrossEntropy AdamW LayerNorm \
        x/LayerNorm Transpose Slice Concat Expand ReduceSum ReduceMean x/Reduce Attention \
        x/Attention Gelu models >"$tmp/out" 2>&1
    rc=$?
    check "test_opencl's loss, AdamW, LayerNorm, copies, sums and GELU pass on the kernels too" \
        sh -c "test $rc -eq 0 && ! grep -q '^not ok' '$tmp/out' && grep -q '^ok - opencl forward CrossEntropy/4x5' '$tmp/out' && grep -q '^ok - opencl forward GeluGrad/wide' '$tmp/out'"
fi

# GELU on the host route: GPT-S's Gelu and GeluGrad nodes run as native kernels (the trace
# names the host code), and LMG_CL_HOST_OPS=off puts them back on the OpenCL kernels.
"$lmg" bench --model gpt --steps 1 --warmup 0 --no-blas --profile --trace "$tmp/g.json" \
    >/dev/null 2>&1
LMG_CL_HOST_OPS=off "$lmg" bench --model gpt --steps 1 --warmup 0 --no-blas --profile \
    --trace "$tmp/k.json" >/dev/null 2>&1
python3 - "$tmp/g.json" "$tmp/k.json" <<'PY'
import json, sys
def kernels(path, cat):
    ev = json.load(open(path))["traceEvents"]
    return {e["args"]["kernel"] for e in ev if e["cat"] == cat}
for cat in ("Gelu", "GeluGrad"):
    host, dev = kernels(sys.argv[1], cat), kernels(sys.argv[2], cat)
    assert host and all("host" in k for k in host), (cat, host)
    assert dev and not any("host" in k for k in dev), (cat, dev)
PY
check "Gelu and GeluGrad run as host code, and as kernels with LMG_CL_HOST_OPS=off" test $? -eq 0

# The OpenCL parity cases of products and attention keep their bounds on the CLBlast route and
# the OpenCL attention kernels too (the default run of test_opencl takes the host route).
if [ -x "$tests/test_opencl" ]; then
    LMG_CL_GEMM=clblast LMG_CL_ATTENTION=kernels "$tests/test_opencl" MatMul Attention x/Attention \
        models >"$tmp/out" 2>&1
    rc=$?
    check "test_opencl's products and attention on CLBlast and the kernels pass" \
        sh -c "test $rc -eq 0 && ! grep -q '^not ok' '$tmp/out' && grep -q '^ok - opencl forward MatMul' '$tmp/out'"
fi
test $fails -eq 0
