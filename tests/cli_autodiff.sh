#!/bin/sh
# cli_autodiff.sh — `lmg autodiff` (text and binary in and out, errors, exit codes) and
# `lmg demo` (gradient check verdict, falling loss, usage errors).
. "$(dirname "$0")/common.sh"
need_lmg

cat >"$tmp/fwd.lmgt" <<'EOF'
lmgraph ir 1 opset 1
graph "tiny" {
  input x : f32[2,3]
  param w : f32[3,2] = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6]
  param b : f32[2] = [0.01, -0.02]
  param unused : f32[4] = zeros
  node mm: f32[2,2] = MatMul(x, w)
  node h: f32[2,2] = Add(mm, b)
  node t: f32[2,2] = Tanh(h)
  node sq: f32[2,2] = Mul(t, t)
  node [sum] loss: f32[] = ReduceSum(sq) {axes = ints[], keepdims = 0}
  node [sum2] notscalar: f32[2] = ReduceSum(sq) {axes = [0], keepdims = 0}
  output loss
  output notscalar
}
EOF

"$lmg" autodiff "$tmp/fwd.lmgt" --loss loss -o "$tmp/train.pb" >"$tmp/out" 2>"$tmp/err"
check "autodiff .lmgt -> .pb exits 0" test $? -eq 0
check "autodiff reports what it did" grep -q "3 parameters" "$tmp/out"
"$lmg" print "$tmp/train.pb" >"$tmp/train.txt" 2>"$tmp/err"
check "the training graph prints" test $? -eq 0
for v in grad/w grad/b grad/unused loss; do
    check "training graph has output $v" grep -q "^ *output $v\$" "$tmp/train.txt"
done
check "gradient nodes are named grad/..." grep -q "node grad/t/" "$tmp/train.txt"

"$lmg" autodiff "$tmp/fwd.lmgt" --loss=loss -o "$tmp/train.lmgt" -q >"$tmp/out" 2>"$tmp/err"
check "autodiff -> .lmgt exits 0" test $? -eq 0
check "-q prints nothing" test ! -s "$tmp/out"
check "text output is the text form" grep -q "output grad/w" "$tmp/train.lmgt"
"$lmg" verify "$tmp/train.lmgt" >/dev/null 2>&1
check "the text training graph verifies" test $? -eq 0
"$lmg" autodiff "$tmp/train.pb" --loss loss -o "$tmp/twice.pb" -q >/dev/null 2>"$tmp/err"
check "differentiating a training graph again fails (1): grad/<p> exists" test $? -eq 1
check "... and says which value is in the way" grep -q "grad/" "$tmp/err"

"$lmg" autodiff "$tmp/fwd.lmgt" --loss nope -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
rc=$?
check "unknown loss exits 1" test $rc -eq 1
check "unknown loss is named" grep -q "nope" "$tmp/err"
check "no file written on failure" test ! -e "$tmp/x.pb"
"$lmg" autodiff "$tmp/fwd.lmgt" --loss notscalar -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
rc=$?
check "non-scalar loss exits 1" test $rc -eq 1
check "non-scalar loss message names it" grep -q "notscalar" "$tmp/err"
"$lmg" autodiff "$tmp/missing.pb" --loss loss -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
check "missing input file exits 1" test $? -eq 1
"$lmg" autodiff "$tmp/fwd.lmgt" -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
check "no --loss is a usage error (2)" test $? -eq 2
"$lmg" autodiff "$tmp/fwd.lmgt" --loss loss >/dev/null 2>"$tmp/err"
check "no -o is a usage error (2)" test $? -eq 2
"$lmg" autodiff "$tmp/fwd.lmgt" --loss loss -o "$tmp/x.pb" --frobnicate >/dev/null 2>"$tmp/err"
check "unknown option is a usage error (2)" test $? -eq 2
check "usage error names the option" grep -q "frobnicate" "$tmp/err"
"$lmg" autodiff "$tmp/fwd.lmgt" --loss >/dev/null 2>"$tmp/err"
check "--loss without a value is a usage error (2)" test $? -eq 2
"$lmg" autodiff --help >"$tmp/out" 2>&1
check "autodiff --help exits 0" test $? -eq 0
check "autodiff --help shows usage" grep -q "usage: lmg autodiff" "$tmp/out"

"$lmg" demo -q --steps 12 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "demo exits 0" test $rc -eq 0
check "demo gradient check passes" grep -q "PASS" "$tmp/out"
# The loss line reads "loss A -> B over N steps": B must be below A.
check "demo loss falls" awk '/^loss / { seen = 1; fell = $4 < $2 } END { exit !(seen && fell) }' "$tmp/out"
"$lmg" demo --steps nope >/dev/null 2>&1
check "demo --steps nope is a usage error (2)" test $? -eq 2
"$lmg" demo --help >"$tmp/out" 2>&1
check "demo --help exits 0 and shows usage" grep -q "usage: lmg demo" "$tmp/out"

[ "$fails" -eq 0 ]
