#!/bin/sh
# cli_summary.sh — `lmg summary`: GPT-S's 4,240,896 parameters with per-scope rows that add up
# to the total and the tied embedding counted once, about 26.6 GFLOP per training step
# (BENCH.md), the planned memory's regions, a run folder summarised as its model, errors.
. "$(dirname "$0")/common.sh"
need_lmg
# The value of the row labelled $2 (first field) in file $1, commas dropped.
field() { awk -v k="$2" '$1 == k { gsub(/,/, "", $2); print $2; exit }' "$1"; }

"$lmg" build --d-model 256 --d-ff 1024 --vocab 4096 --seq 128 --batch 8 -o "$tmp/s.pb" >/dev/null 2>&1
"$lmg" summary "$tmp/s.pb" >"$tmp/out" 2>"$tmp/err"
check "summary of GPT-S's forward graph exits 0" test $? -eq 0
total=$(field "$tmp/out" total)
check "GPT-S has 4,240,896 parameters ($total)" test "$total" = 4240896
# Top-level rows are indented by two spaces, their sub-scopes by four.
top=$(awk '/^parameters by scope/ { on = 1; next } /^total/ { on = 0 }
           on && /^  [^ ]/ { gsub(/,/, "", $2); s += $2; n++ } END { printf "%d %d", s, n }' "$tmp/out")
set -- $top
check "the $2 top-level scope rows sum to the total ($1)" test "$1" = "$total" -a "$2" -ge 7
h0=$(field "$tmp/out" h0)
sub=$(awk '/^    h0\./ { gsub(/,/, "", $2); s += $2 } END { print s + 0 }' "$tmp/out")
check "h0's sub-scopes (ln1, attn, ln2, mlp) sum to h0 ($sub of $h0)" test "$sub" = "$h0" -a "$h0" = 789760
check "the tied embedding is shared by tok_emb and lm_head and counted once" \
    grep -q "^shared: wte (1,048,576 params) is read by tok_emb, lm_head; counted once$" "$tmp/out"
gflop=$(awk '/^GFLOP per training step/ { on = 1 } on && $1 == "total" { print $4; exit }' "$tmp/out")
check "about 26.6 GFLOP per training step ($gflop)" \
    awk -v g="$gflop" 'BEGIN { exit !(g > 26.5 && g < 26.7) }'
fwd=$(awk '$1 == "forward" { print $2; exit }' "$tmp/out")
bwd=$(awk '$1 == "backward" { print $2; exit }' "$tmp/out")
check "backward products are twice the forward ones ($bwd, $fwd)" \
    awk -v f="$fwd" -v b="$bwd" 'BEGIN { exit !(f > 8 && b > 2 * f - 0.01 && b < 2 * f + 0.01) }'
params=$(awk '$1 == "parameters" && /MB$/ { print $2 }' "$tmp/out")
grads=$(awk '$1 == "gradients" { print $2 }' "$tmp/out")
state=$(awk '$1 == "optimizer" { print $3 }' "$tmp/out")
check "planned memory: 4 bytes per parameter, as much for gradients, twice for AdamW state" \
    awk -v p="$params" -v g="$grads" -v s="$state" \
    'BEGIN { exit !(p > 16.9 && p < 17.0 && g == p && s > 2 * p - 0.02 && s < 2 * p + 0.02) }'
check "the arena and its lower bound are reported" grep -q "^  arena lower bound  *[0-9.]* MB" "$tmp/out"

# A run folder: its training graph (train.pb) and model.
"$lmg" train --backend ref --corpus /usr/share/games/fortunes/art --layers 2 --heads 2 \
    --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4 --steps 1 --eval-every 1 \
    --eval-batches 1 --samples 0 -q --out "$tmp/run" >/dev/null 2>&1
"$lmg" build --layers 2 --heads 2 --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4 \
    -o "$tmp/r.pb" >"$tmp/build" 2>&1
want=$(sed -n 's/.*; \([0-9]*\) parameters.*/\1/p' "$tmp/build")
"$lmg" summary "$tmp/run" >"$tmp/run.out" 2>"$tmp/err"
got=$(field "$tmp/run.out" total)
check "a run folder is summarised as its model ($got parameters, lmg build says $want)" \
    sh -c "test -n '$want' && test '$got' = '$want' && grep -q \"^run '$tmp/run'\" '$tmp/run.out' &&
           grep -q '^model: gpt, 2 layers' '$tmp/run.out'"
check "a run's training graph is counted as it is" grep -q "a training graph, counted as it is" "$tmp/run.out"

"$lmg" summary "$tmp/missing.pb" >"$tmp/out" 2>"$tmp/err"
check "a missing file: exit 1 naming it" sh -c "test $? -eq 1 && grep -q 'missing.pb' '$tmp/err'"
mkdir "$tmp/empty"
"$lmg" summary "$tmp/empty" >"$tmp/out" 2>"$tmp/err"
check "a folder without train.pb: exit 1, not a run" \
    sh -c "test $? -eq 1 && grep -q 'not a run directory' '$tmp/err'"
"$lmg" summary >"$tmp/out" 2>"$tmp/err"
check "no argument is a usage error" test $? -eq 2
"$lmg" summary "$tmp/s.pb" --depth 0 >"$tmp/out" 2>"$tmp/err"
check "--depth 0 is a usage error naming the value" sh -c "test $? -eq 2 && grep -q \"not '0'\" '$tmp/err'"
"$lmg" summary --help >"$tmp/out" 2>"$tmp/err"
check "--help exits 0" grep -q "^usage: lmg summary GRAPH|RUN" "$tmp/out"
[ "$fails" -eq 0 ]
