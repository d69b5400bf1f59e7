#!/bin/sh
# cli_train.sh — the model and training commands end to end on the ref backend with tiny
# models: lmg build (built-in and user objectives), lmg train (fresh, stop and resume, bert,
# a user objective graph), lmg eval, lmg generate, and their usage errors.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
. tests/common.sh
lmg="$root/${LMG_BUILD:-build}/lmg"
T=$tmp

corpus=/usr/share/games/fortunes/art
tiny="--layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4"

# --- help and usage errors --------------------------------------------------------------
r=0
for c in build train generate eval; do
    "$lmg" $c --help >"$T/help" 2>&1 || r=1
    grep -q "usage: lmg $c" "$T/help" || r=1
done
"$lmg" train --help | grep -q -- "--resume DIR" || r=1
check_rc "help of build, train, generate, eval" $r

r=0
"$lmg" train --steps x >/dev/null 2>"$T/err"; [ $? -eq 2 ] && grep -q "steps" "$T/err" || r=1
"$lmg" train --bogus >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" train --steps >/dev/null 2>"$T/err"; [ $? -eq 2 ] && grep -q "needs a value" "$T/err" || r=1
"$lmg" build --layers 2 >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" build --model llama -o "$T/x.pb" >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" build --d-model 30 --heads 4 -o "$T/x.pb" >/dev/null 2>"$T/err"; [ $? -eq 2 ] && grep -q "heads" "$T/err" || r=1
"$lmg" build --objective clm:zero -o "$T/x.pb" >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" train --resume "$T/nothing" --layers 3 >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" eval >/dev/null 2>&1; [ $? -eq 2 ] || r=1
"$lmg" generate "$T/nothing" >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "train.pb" "$T/err" || r=1
check_rc "usage errors exit 2, bad runs exit 1 with a message" $r

# --- build ------------------------------------------------------------------------------
r=0
"$lmg" build $tiny -o "$T/gpt.pb" >"$T/out" 2>&1 || r=1
grep -q "parameters" "$T/out" || r=1
"$lmg" verify "$T/gpt.pb" >/dev/null 2>&1 || r=1
"$lmg" print "$T/gpt.pb" >"$T/gpt.txt" 2>&1 || r=1
grep -q "input ids : i32\[4,16\]" "$T/gpt.txt" || r=1
grep -q "input targets : i32\[4,16\]" "$T/gpt.txt" || r=1
grep -q "Attention" "$T/gpt.txt" || r=1
check_rc "build a gpt: verifies, inputs ids and targets" $r

r=0
"$lmg" build --model bert $tiny --objective mlm:1.0,clm:0.5 -o "$T/bert.lmgt" >/dev/null 2>&1 || r=1
grep -q "loss/mlm" "$T/bert.lmgt" && grep -q "loss/clm" "$T/bert.lmgt" && grep -q "MlmCorrupt" "$T/bert.lmgt" || r=1
"$lmg" verify "$T/bert.lmgt" >/dev/null 2>&1 || r=1
check_rc "build a bert with mlm:1.0,clm:0.5 as text" $r

r=0
"$lmg" build --objective-graph samples/objectives/next2.lmgt -o "$T/next2.pb" >/dev/null 2>&1 || r=1
"$lmg" print "$T/next2.pb" 2>/dev/null | grep -q "param obj/P" || r=1
"$lmg" build --seq 32 --objective-graph samples/objectives/next2.lmgt -o "$T/x.pb" >/dev/null 2>&1 || r=1
sed -e 's/\[B,T,C\]/[8,64,128]/' -e 's/\[B,T,V\]/[8,64,1024]/' -e 's/\[V,C\]/[1024,128]/' \
    -e 's/\[B,T\]/[8,64]/' -e 's/\[C,C\]/[128,128]/' samples/objectives/next2.lmgt >"$T/fixed.lmgt"
"$lmg" build --seq 32 --objective-graph "$T/fixed.lmgt" -o "$T/x.pb" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "'hidden'" "$T/err" && grep -q "f32\[8,32,128\]" "$T/err" || r=1
check_rc "build with the sample objective graph at two sizes; a fixed shape that differs names the value" $r

# --- train, eval, generate --------------------------------------------------------------
r=0
"$lmg" train --backend ref --corpus $corpus $tiny --steps 20 --eval-every 10 --eval-batches 4 \
    --out "$T/run" >"$T/out" 2>"$T/log" || r=1
for f in train.pb checkpoint.safetensors best.safetensors metrics.jsonl loss.svg data/tok.bpe data/train.tok; do
    [ -s "$T/run/$f" ] || { r=1; echo "# missing $f"; }
done
[ "$(grep -c '"split":"train"' "$T/run/metrics.jsonl")" = 20 ] || r=1
[ "$(grep -c '"split":"val"' "$T/run/metrics.jsonl")" = 2 ] || r=1
grep -q "val loss" "$T/log" || r=1
grep -q "^samples" "$T/out" && grep -q "^--- 3" "$T/out" || r=1
check_rc "train a tiny gpt: run directory, metrics, progress lines and samples" $r

r=0
"$lmg" eval "$T/run" --backend ref >"$T/out" 2>&1 || r=1
grep -q "^test: loss [0-9.]* nats/token, perplexity" "$T/out" || r=1
"$lmg" eval "$T/run" --split val --batches 2 --backend ref >"$T/out" 2>&1 || r=1
grep -q "(2 batches)" "$T/out" || r=1
check_rc "eval on the test and val splits" $r

r=0
"$lmg" generate "$T/run" --prompt "The cat" --tokens 8 --seed 3 --backend ref >"$T/g1" 2>&1 || r=1
"$lmg" generate "$T/run" --prompt "The cat" --tokens 8 --seed 3 --backend ref >"$T/g2" 2>&1 || r=1
head -c 7 "$T/g1" | grep -q "^The cat" || r=1
cmp -s "$T/g1" "$T/g2" || r=1
"$lmg" generate "$T/run" --temperature 0 --tokens 4 --samples 2 --backend ref >"$T/g3" 2>&1 || r=1
[ "$(grep -c '^--- ' "$T/g3")" = 2 ] || r=1
check_rc "generate continues the prompt, same seed same text" $r

r=0
"$lmg" train --backend ref --data "$T/run/data" $tiny --steps 20 --eval-every 10 --eval-batches 4 \
    --stop-after 10 --samples 0 --out "$T/half" >/dev/null 2>"$T/log" || r=1
[ "$(grep -c '"split":"train"' "$T/half/metrics.jsonl")" = 10 ] || r=1
"$lmg" train --backend ref --resume "$T/half" --samples 0 >/dev/null 2>"$T/log" || r=1
grep -q "restoring" "$T/log" || r=1
sed 's/,"tokens_per_s.*//' "$T/run/metrics.jsonl" >"$T/m1"
sed 's/,"tokens_per_s.*//' "$T/half/metrics.jsonl" >"$T/m2"
cmp -s "$T/m1" "$T/m2" || r=1
"$lmg" train --backend ref --data "$T/run/data" $tiny --steps 5 --out "$T/half" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "already holds a run" "$T/err" || r=1
check_rc "stop after 10 steps, resume: the same losses as a straight run" $r

r=0
"$lmg" train --backend ref --model bert --data "$T/run/data" $tiny --steps 10 --eval-every 10 \
    --eval-batches 2 --out "$T/bert" >"$T/out" 2>&1 || r=1
"$lmg" eval "$T/bert" --split val --backend ref >"$T/out" 2>&1 || r=1
grep -q "masked-token accuracy 0\.[0-9]*" "$T/out" || r=1
"$lmg" generate "$T/bert" --backend ref >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "only gpt" "$T/err" || r=1
check_rc "train and eval a tiny bert; generate refuses it" $r

r=0
"$lmg" train --backend ref --corpus $corpus --objective-graph samples/objectives/next2.lmgt \
    --steps 2 --eval-every 2 --eval-batches 1 --samples 0 --out "$T/next2" >/dev/null 2>"$T/log" || r=1
[ -s "$T/next2/objective.pb" ] || r=1
grep -q '"step":2,"split":"val"' "$T/next2/metrics.jsonl" || r=1
"$lmg" eval "$T/next2" --split val --batches 1 --backend ref >/dev/null 2>&1 || r=1
check_rc "train the default gpt with the sample objective graph" $r

[ "$fails" -eq 0 ]
