#!/bin/sh
# cli_objectives.sh — objectives as graphs from the command line: lmg verify --objective
# (the contract and its errors), named dimensions across model sizes, and the logged loss
# terms of lmg train (progress line and metrics.jsonl), on the ref backend with tiny models.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
. tests/common.sh
lmg="$root/${LMG_BUILD:-build}/lmg"
T=$tmp

corpus=/usr/share/games/fortunes/art
tiny="--layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4"

# --- the contract -----------------------------------------------------------------------
r=0
for f in samples/objectives/*.lmgt; do
    "$lmg" verify --objective "$f" >"$T/out" 2>&1 || { r=1; cat "$T/out"; }
done
"$lmg" verify --help | grep -q -- "--objective" || r=1
check_rc "every sample objective passes lmg verify --objective" $r

r=0
cat >"$T/vec.lmgt" <<'G'
lmgraph ir 1 opset 1
graph "vec" {
  input logits : f32[B,T,V]
  node loss = Exp(logits)
  output loss
}
G
"$lmg" verify "$T/vec.lmgt" >/dev/null 2>&1 || r=1
"$lmg" verify --objective "$T/vec.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "vec.lmgt:4:8: objective graph 'vec': output 'loss' is f32\[B,T,V\], not a scalar f32" "$T/err" || { r=1; cat "$T/err"; }
sed 's/output loss/output l2/; s/node loss/node l2/' "$T/vec.lmgt" >"$T/noloss.lmgt"
"$lmg" verify --objective "$T/noloss.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "has no output named 'loss'" "$T/err" || { r=1; cat "$T/err"; }
"$lmg" build $tiny --objective-graph "$T/vec.lmgt" -o "$T/x.pb" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "not a scalar f32" "$T/err" || { r=1; cat "$T/err"; }
check_rc "a missing or non-scalar loss is refused by verify --objective and by linking" $r

r=0
cat >"$T/cycle.lmgt" <<'G'
lmgraph ir 1 opset 1
graph "cycle" {
  input ids : i32[B,T]
  input v/logits : f32[B,T,V]
  node best = ArgMax(v/logits)
  node v/ids = Add(ids, best)
  node loss = ReduceMean(v/logits)
  output loss, v/ids
}
G
"$lmg" verify --objective "$T/cycle.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "cycle.lmgt:6:8: objective graph 'cycle': view 'v' makes a cycle through the model" "$T/err" || { r=1; cat "$T/err"; }
cat >"$T/clash.lmgt" <<'G'
lmgraph ir 1 opset 1
graph "clash" {
  input hidden : f32[B,T,C]
  input ids : i32[B,C]
  node loss = ReduceMean(hidden)
  output loss
}
G
"$lmg" verify --objective "$T/clash.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "clash.lmgt:4:9: objective graph 'clash': dimension 'C' is 128 from input 'hidden' (the model's 'hidden' is f32\[8,64,128\]) but 64 from input 'ids'" "$T/err" || { r=1; cat "$T/err"; }
sed 's/hidden/hiddn/g' "$T/clash.lmgt" | sed '/input ids/d' >"$T/typo.lmgt"
"$lmg" train --objective-graph "$T/typo.lmgt" --out "$T/typo_run" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "typo.lmgt:3:9: objective graph 'clash': input 'hiddn' names no value of the model (did you mean 'hidden'?)" "$T/err" || { r=1; cat "$T/err"; }
[ ! -e "$T/typo_run" ] || { r=1; echo "# a run directory was made before the objective was checked"; }
check_rc "cycle, two bindings, a misspelt input: one line with file:line:col, before any data is prepared" $r

# --- data binds named dimensions ---------------------------------------------------------
r=0
printf 'lmgraph ir 1 opset 1\ngraph "r" {\n  input x : f32[B,T]\n  node s = ReduceSum(x) {axes = [1]}\n  output s\n}\n' >"$T/r.lmgt"
printf '\000\000\200\077\000\000\000\100\000\000\100\100\000\000\200\100\000\000\240\100\000\000\300\100' >"$T/x.bin"
"$lmg" run "$T/r.lmgt" --backend ref --inputs x="$T/x.bin" --dims B=2,T=3 >"$T/out" 2>&1 || { r=1; cat "$T/out"; }
grep -q "s f32\[2\]: \[6, 15\]" "$T/out" || { r=1; cat "$T/out"; }
"$lmg" run "$T/r.lmgt" --backend ref --inputs x="$T/x.bin" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "dimension 'B' of 'x' f32\[B,T\] is not bound" "$T/err" && grep -q -- "--dims" "$T/err" || { r=1; cat "$T/err"; }
check_rc "lmg run --dims binds a graph's named dimensions to the data's sizes; without it, one clear line" $r

# --- lmg ops ----------------------------------------------------------------------------
r=0
"$lmg" ops >"$T/ops" 2>&1 || r=1
n=$(grep -c "^[A-Z][A-Za-z]* *inputs [0-9.]* *outputs [0-9] *\(not \)\{0,1\}differentiable$" "$T/ops")
grep -q "^$n ops$" "$T/ops" && [ "$n" -ge 50 ] || { r=1; echo "# $n op lines"; tail -1 "$T/ops"; }
for op in $(grep -o "^LMG_OP([A-Z_]*, *[A-Za-z]*" ops/ops.def | sed 's/.*, *//'); do
    grep -q "^$op " "$T/ops" || { r=1; echo "# $op missing"; }
done
"$lmg" ops spanmask >"$T/one" || r=1
grep -q "^SpanMask .*not differentiable" "$T/one" && grep -q "max_len (required, 1..64)" "$T/one" &&
    grep -q "notes of its group" "$T/one" || r=1
"$lmg" ops Softmx >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "no op named 'Softmx'" "$T/err" || r=1
"$lmg" ops sigmoid >"$T/one" || r=1
grep -q "^    kernel: y = 1 / (1 + exp(-WIDE(x)))$" "$T/one" || r=1
check_rc "lmg ops lists every op of ops.def with arity, gradient and semantics (the kernel's expression for those of ops/elementwise.def); one op by name" $r

# --- logged terms -----------------------------------------------------------------------
r=0
"$lmg" train --backend ref --corpus $corpus $tiny --objective-graph samples/objectives/next2.lmgt \
    --steps 2 --eval-every 2 --eval-batches 1 --samples 0 --out "$T/next2" >/dev/null 2>"$T/log" || { r=1; cat "$T/log"; }
grep -q '"split":"train".*"loss/next":[0-9.]*,"loss/after_next":[0-9.]*' "$T/next2/metrics.jsonl" || r=1
grep -q '"split":"val".*"loss/next":[0-9.]*,"loss/after_next":[0-9.]*' "$T/next2/metrics.jsonl" || r=1
grep -q "step 1/2  loss [0-9.]*  loss/next [0-9.]*  loss/after_next [0-9.]*" "$T/log" || r=1
grep -q "val loss [0-9.]*  loss/next [0-9.]*  loss/after_next" "$T/log" || r=1
[ $r = 0 ] || { cat "$T/log"; cat "$T/next2/metrics.jsonl"; }
check_rc "loss/... outputs of an objective are logged: progress line and metrics.jsonl, train and val" $r

# --- every sample trains from the command line (the README's commands, tiny sizes) -------
r=0
for f in span denoise simcse_mlm; do
    "$lmg" train --backend ref --model bert --data "$T/next2/data" $tiny --dropout 0.1 \
        --objective-graph samples/objectives/$f.lmgt --steps 3 --eval-every 3 --eval-batches 1 \
        --samples 0 --out "$T/$f" >/dev/null 2>"$T/log" || { r=1; echo "# $f"; cat "$T/log"; }
    grep -q '"step":3,"split":"val","loss":[0-9]' "$T/$f/metrics.jsonl" || r=1
    "$lmg" eval "$T/$f" --split val --batches 1 --backend ref >/dev/null 2>"$T/log" || { r=1; cat "$T/log"; }
done
grep -q '"loss/mlm":[0-9.]*,"loss/infonce":[0-9.]*' "$T/simcse_mlm/metrics.jsonl" || r=1
# train and val loss, and each term dashed for the training steps and dotted for validation
grep -q "loss/mlm (train)" "$T/simcse_mlm/loss.svg" && grep -q "loss/infonce (val)" "$T/simcse_mlm/loss.svg" &&
    [ "$(grep -c '<polyline' "$T/simcse_mlm/loss.svg")" -eq 6 ] || r=1
grep -q '"loss/masked_fraction":0\.[0-9]*' "$T/span/metrics.jsonl" || r=1
check_rc "span, denoise and simcse_mlm train and evaluate; loss.svg draws the logged terms per split" $r

# A run of a view objective resumes exactly: objective.pb keeps the named dimensions.
r=0
args="--backend ref --model bert --data $T/next2/data $tiny --dropout 0.1 --steps 6 --eval-every 3 --eval-batches 1 --samples 0"
"$lmg" train $args --objective-graph samples/objectives/simcse_mlm.lmgt --out "$T/straight" >/dev/null 2>&1 || r=1
"$lmg" train $args --objective-graph samples/objectives/simcse_mlm.lmgt --out "$T/split" --stop-after 3 >/dev/null 2>&1 || r=1
"$lmg" train --resume "$T/split" --backend ref --samples 0 >/dev/null 2>"$T/log" || { r=1; cat "$T/log"; }
grep '"step":6,"split":"train"' "$T/straight/metrics.jsonl" | sed 's/"tokens_per_s.*"loss\/mlm"/"loss\/mlm"/' >"$T/a"
grep '"step":6,"split":"train"' "$T/split/metrics.jsonl" | sed 's/"tokens_per_s.*"loss\/mlm"/"loss\/mlm"/' >"$T/b"
[ -s "$T/a" ] && cmp -s "$T/a" "$T/b" || { r=1; cat "$T/a" "$T/b"; }
check_rc "a view objective's run stopped and resumed gives the straight run's step-6 losses" $r

# --- a user's model graph ---------------------------------------------------------------
r=0
# The tokenizer is trained for the graph's own vocabulary (1024), so generate can decode.
"$lmg" train --backend ref --model-graph samples/models/decoder.lmgt --corpus $corpus --batch 2 \
    --steps 4 --eval-every 2 --eval-batches 1 --samples 0 --out "$T/mg" >/dev/null 2>"$T/log" || { r=1; cat "$T/log"; }
margs="--backend ref --model-graph samples/models/decoder.lmgt --data $T/mg/data --batch 2 --steps 4 --eval-every 2 --eval-batches 1 --samples 0"
grep -q "model graph samples/models/decoder.lmgt, vocab 1024, seq 64, batch 2" "$T/log" || r=1
"$lmg" train $margs --out "$T/mg_again" >/dev/null 2>&1 || r=1
[ -s "$T/mg/model.pb" ] || r=1
"$lmg" train $margs --out "$T/mg_split" --stop-after 2 >/dev/null 2>&1 || r=1
"$lmg" train --resume "$T/mg_split" --backend ref --samples 0 >/dev/null 2>&1 || r=1
for d in mg_again mg_split; do
    grep '"step":4,"split":"train"' "$T/$d/metrics.jsonl" | sed 's/"tokens_per_s.*//' >"$T/$d.last"
done
[ -s "$T/mg_again.last" ] && cmp -s "$T/mg_again.last" "$T/mg_split.last" || { r=1; cat "$T/mg_again.last" "$T/mg_split.last"; }
"$lmg" eval "$T/mg" --split val --batches 1 --backend ref >/dev/null 2>&1 || r=1
"$lmg" generate "$T/mg" --backend ref --tokens 8 --prompt "The" >"$T/gen" 2>"$T/err" || { r=1; cat "$T/err"; }
[ -s "$T/gen" ] || r=1
"$lmg" build --model-graph samples/models/decoder.lmgt --batch 3 -o "$T/dec.lmgt" >/dev/null 2>&1 || r=1
grep -q "input ids : i32\[3,64\]" "$T/dec.lmgt" && grep -q "node loss: f32\[\] = CrossEntropy(logits, targets)" "$T/dec.lmgt" || r=1
check_rc "lmg train/build --model-graph: samples/models/decoder.lmgt trains, resumes exactly, evaluates, generates" $r

# Evaluation runs a model graph's Dropout as the identity: a run with Dropout(p 0.5) on the
# first attention output evaluates exactly as the same weights in the graph without it.
r=0
sed 's/^  node h0.x1 = Add(x0, h0.proj)$/  node h0.projd = Dropout(h0.proj) {p = 0.5, key = 7}\n  node h0.x1 = Add(x0, h0.projd)/' \
    samples/models/decoder.lmgt >"$T/drop.lmgt"
grep -q "Dropout(h0.proj)" "$T/drop.lmgt" || r=1
"$lmg" train --backend ref --model-graph "$T/drop.lmgt" --data "$T/mg/data" --batch 2 --steps 2 \
    --eval-every 2 --eval-batches 1 --samples 0 --out "$T/drop" >/dev/null 2>&1 || r=1
cp -r "$T/drop" "$T/nodrop" && "$lmg" parse samples/models/decoder.lmgt -o "$T/nodrop/model.pb" || r=1
"$lmg" eval "$T/drop" --split val --batches 2 --backend ref >"$T/e1" 2>&1 || r=1
"$lmg" eval "$T/nodrop" --split val --batches 2 --backend ref >"$T/e2" 2>&1 || r=1
grep -q "^val: loss" "$T/e1" && cmp -s "$T/e1" "$T/e2" || { r=1; cat "$T/e1" "$T/e2"; }
check_rc "lmg eval runs a model graph's Dropout as the identity (the same loss as without it)" $r

r=0
"$lmg" train $margs --objective-graph samples/objectives/span.lmgt --out "$T/mg_span" >/dev/null 2>"$T/log" || { r=1; cat "$T/log"; }
grep -q '"loss/span":[0-9.]*' "$T/mg_span/metrics.jsonl" || r=1
"$lmg" train $margs --objective mlm --out "$T/x" >/dev/null 2>"$T/err"; [ $? -eq 2 ] || r=1
printf 'lmgraph ir 1 opset 1\ngraph "m" {\n  input ids : i32[B,T]\n  output ids\n}\n' >"$T/nologits.lmgt"
"$lmg" train --backend ref --model-graph "$T/nologits.lmgt" --data "$T/next2/data" --steps 1 \
    --out "$T/y" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "neither an output 'loss' nor 'logits'" "$T/err" || { r=1; cat "$T/err"; }
check_rc "a model graph with an objective graph (views apply it); --objective and a graph without logits refused" $r

# --- next-token prediction plus a supervised term, on labelled data ----------------------
# A GPT with a classification head: the objective graph reads class_logits and labels; each
# logged term's mean over the last 10 steps is below its mean over the first 10, and both
# are logged for validation too (dotted in loss.svg).
r=0
"$lmg" tokenizer train --vocab 300 -o "$T/tok.bpe" /usr/share/games/fortunes/zippy >/dev/null 2>&1 || r=1
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels topics --classes definitions,songs-poems,zippy \
    --seq 32 --out "$T/lab" >/dev/null 2>&1 || r=1
"$lmg" train --backend ref --data "$T/lab" --layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 300 \
    --seq 32 --batch 8 --steps 80 --eval-every 40 --lr 3e-3 --samples 0 \
    --objective-graph samples/objectives/clm_sup.lmgt --out "$T/clm_sup" >/dev/null 2>"$T/err" || { r=1; cat "$T/err"; }
grep -q "step 80  val loss [0-9.]*  loss/clm [0-9.]*  loss/sup [0-9.]*  accuracy" "$T/err" || r=1
for term in clm sup; do
    grep '"split":"train"' "$T/clm_sup/metrics.jsonl" | sed -n "s/.*\"loss\/$term\":\([0-9.]*\).*/\1/p" >"$T/$term"
    [ "$(wc -l <"$T/$term")" -eq 80 ] || r=1
    awk -v t=$term 'NR <= 10 { a += $1 } NR > 70 { b += $1 }
        END { printf "# loss/%s: first 10 steps %.4f, last 10 steps %.4f\n", t, a / 10, b / 10; exit !(b < a) }' "$T/$term" || r=1
done
[ "$(grep -c '"split":"val".*"loss/clm":[0-9.]*,"loss/sup":[0-9.]*' "$T/clm_sup/metrics.jsonl")" -eq 2 ] || r=1
grep -q "loss/sup (val)" "$T/clm_sup/loss.svg" && [ "$(grep -c '<polyline' "$T/clm_sup/loss.svg")" -eq 6 ] || r=1
"$lmg" train --backend ref --corpus $corpus $tiny --steps 1 --samples 0 -q \
    --objective-graph samples/objectives/clm_sup.lmgt --out "$T/nolab" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "input 'class_logits' names no value of the model" "$T/err" && [ ! -e "$T/nolab/data" ] || { r=1; cat "$T/err"; }
cat >"$T/lab5.lmgt" <<'G'
lmgraph ir 1 opset 1
graph "lab5" {
  input labels : i32[5]
  node f = Cast(labels) {to = 1}
  node loss = ReduceSum(f)
  output loss
}
G
"$lmg" verify --objective "$T/lab5.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "lab5.lmgt:3:9: objective graph 'lab5': input 'labels' is declared i32\[5\] but the model's 'labels' is i32\[8\]" "$T/err" || { r=1; cat "$T/err"; }
check_rc "clm_sup: next-token + 0.5 x supervised on labelled data, both terms fall and are logged per split; refused without labels or with labels of another shape" $r

r=0
"$lmg" train --help | grep -q -- "--graph FILE, --model-graph FILE" || r=1
"$lmg" train --backend ref --graph samples/models/decoder.lmgt --data "$T/mg/data" --batch 2 --steps 2 \
    --eval-every 2 --eval-batches 1 --samples 0 -q --out "$T/alias" >/dev/null 2>&1 || r=1
grep -q '"step":2,"split":"val"' "$T/alias/metrics.jsonl" || r=1
check_rc "lmg train --graph is --model-graph" $r

[ "$fails" -eq 0 ]
