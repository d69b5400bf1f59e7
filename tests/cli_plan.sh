#!/bin/sh
# cli_plan.sh — `lmg plan`: totals and the per-value table of a small graph (in-place reuse,
# keep-all, alignment), a GPT-S training graph within 1.25x of its arena lower bound, errors.
. "$(dirname "$0")/common.sh"
need_lmg

cat >"$tmp/g.lmgt" <<'EOF'
lmgraph ir 1 opset 1
graph "chain" {
  input x : f32[4,8]
  param w : f32[8,8] = zeros
  node mm: f32[4,8] = MatMul(x, w)
  node h: f32[4,8] = Tanh(mm)
  node g: f32[4,8] = Gelu(h)
  node s: f32[4,8] = Softmax(g)
  node [sum] loss: f32[] = ReduceSum(s) {axes = ints[], keepdims = 0}
  output loss
}
EOF

"$lmg" plan "$tmp/g.lmgt" --values >"$tmp/out" 2>"$tmp/err"
check "plan exits 0" test $? -eq 0
check "plan prints the planned peak" grep -q "^planned peak *640 bytes" "$tmp/out"
check "plan prints the arena against its bound" grep -q "arena / bound = 1.000" "$tmp/out"
check "Tanh runs in place over the dying MatMul output" grep -q " h  (shares 'mm')" "$tmp/out"
check "Gelu runs in place too" grep -q " g  (shares 'mm')" "$tmp/out"
check "Softmax does not run in place" grep -q " s\$" "$tmp/out"
check "the parameter sits in params" grep -Eq "^1 +params +0 +256 +start +0 +w\$" "$tmp/out"
check "the output lives to the end" grep -Eq " end +loss\$" "$tmp/out"
check "the arena's peak is at Softmax, with two storage groups live" \
    grep -q "^arena peak at node 3 's' (Softmax): .* in 2 storage groups" "$tmp/out"
check "the peak lists the in-place chain's owner and Softmax's output" \
    sh -c "grep -Eq '^ +128 +0 +3 +mm\$' '$tmp/out' && grep -Eq '^ +128 +3 +4 +s\$' '$tmp/out'"

"$lmg" plan "$tmp/g.lmgt" --values --keep-all >"$tmp/out" 2>"$tmp/err"
check "keep-all plan exits 0" test $? -eq 0
check "keep-all shares nothing" sh -c "! grep -q shares '$tmp/out'"
check "keep-all arena is every value side by side (4 x 128 + 64)" grep -q "^arena *576 bytes" "$tmp/out"

"$lmg" plan "$tmp/g.lmgt" --alignment 256 >"$tmp/out" 2>"$tmp/err"
check "alignment 256 rounds the arena up" grep -q "^arena *512 bytes" "$tmp/out"
"$lmg" plan "$tmp/g.lmgt" --alignment 48 >"$tmp/out" 2>"$tmp/err"
check "alignment 48 is a usage error" test $? -eq 2
"$lmg" plan "$tmp/none.pb" >"$tmp/out" 2>"$tmp/err"
check "a missing graph fails with exit 1" test $? -eq 1
check "the error names the file" grep -q "none.pb" "$tmp/err"
"$lmg" plan >"$tmp/out" 2>"$tmp/err"
check "no graph is a usage error" test $? -eq 2
"$lmg" plan --help >"$tmp/out" 2>"$tmp/err"
check "--help exits 0 and explains" grep -q "usage: lmg plan GRAPH" "$tmp/out"

# GPT-S's training step (BENCH.md shapes) keeps its arena within 1.25x of the lower bound.
if "$lmg" build --model gpt --layers 4 --heads 4 --d-model 256 --d-ff 1024 --vocab 4096 \
    --seq 128 --batch 8 -o "$tmp/gpt.pb" >"$tmp/out" 2>"$tmp/err" &&
    "$lmg" autodiff "$tmp/gpt.pb" --loss loss -o "$tmp/train.pb" -q >"$tmp/out" 2>"$tmp/err"; then
    "$lmg" plan "$tmp/train.pb" >"$tmp/out" 2>"$tmp/err"
    ratio=$(sed -n 's/.*arena \/ bound = \([0-9.]*\)).*/\1/p' "$tmp/out" | head -n 1)
    check "GPT-S training graph: arena / bound = $ratio <= 1.25" \
        awk -v r="$ratio" 'BEGIN { exit !(r != "" && r + 0 <= 1.25) }'
else
    notok "building the GPT-S training graph: $(head -c 300 "$tmp/err")"
fi

test $fails -eq 0
