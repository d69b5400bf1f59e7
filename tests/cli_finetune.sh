#!/bin/sh
# cli_finetune.sh — labelled data, fine-tuning, the classification report, classify, compare
# and run extension end to end on the ref backend with tiny models, and the one-line errors
# (exit 1) on bad labels, bad runs and output folders that are not empty.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
. tests/common.sh
lmg="$root/${LMG_BUILD:-build}/lmg"
T=$tmp
# exit status $1 and a message matching $2 in $T/err
exits_with() { [ "$rc" -eq "$1" ] && grep -q -- "$2" "$T/err"; }

tiny="--layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 300 --seq 32 --batch 8"
classes="definitions,songs-poems,zippy"

# --- help -------------------------------------------------------------------------------
r=0
for c in finetune classify compare; do
    "$lmg" $c --help >"$T/help" 2>&1 || r=1
    grep -q "usage: lmg $c" "$T/help" || r=1
done
"$lmg" data --help | grep -q -- "--labels" || r=1
"$lmg" --help | grep -q "finetune" || r=1
check_rc "help of finetune, classify, compare; data prepare documents --labels" $r

# --- labelled data -----------------------------------------------------------------------
"$lmg" tokenizer train --vocab 300 -o "$T/tok.bpe" /usr/share/games/fortunes/zippy >/dev/null 2>&1
r=0
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels topics --seq 32 --out "$T/lab" >"$T/out" 2>"$T/err" || r=1
grep -q "left out.*pratchett (2 documents)" "$T/err" || r=1
grep -q "fewer than 50 documents" "$T/err" || r=1
grep -Eq "^ +[0-9]+ +zippy +[0-9]+ +[0-9]+ +[0-9]+$" "$T/out" || r=1
grep -q "truncated to fit" "$T/out" || r=1
for f in train.lab val.lab test.lab labels.tsv tok.bpe; do [ -f "$T/lab/$f" ] || r=1; done
# the printed counts are the label map's
z=$(awk -F'\t' '$2 == "zippy" {print $3, $4, $5}' "$T/lab/labels.tsv")
grep -Eq "zippy +$(echo "$z" | sed 's/ / +/g')$" "$T/out" || r=1
check_rc "data prepare --labels topics: label map and per-split counts printed and saved, small classes left out" $r

r=0
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels topics --seq 32 --out "$T/lab" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "already exists" || r=1
printf 'a\thello\n\tno label\n' >"$T/bad.tsv"
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels "$T/bad.tsv" --seq 32 --out "$T/x" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "bad.tsv:2: empty label" || r=1
printf '{"text": "a", "label": "x"}\n{"text": "", "label": "y"}\n' >"$T/bad.jsonl"
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels "$T/bad.jsonl" --seq 32 --out "$T/x" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "bad.jsonl:2: empty text" || r=1
printf 'a\t1\na\t2\na\t3\na\t4\na\t5\nb\t6\nb\t7\n' >"$T/small.tsv"
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels "$T/small.tsv" --seq 32 --out "$T/x" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "class 'b' has 2 documents: none left for" || r=1
"$lmg" data prepare --tokenizer "$T/tok.bpe" --labels topics --out "$T/x" >/dev/null 2>"$T/err"; rc=$?
exits_with 2 "needs --seq" || r=1
[ ! -e "$T/x/train.lab" ] || r=1
check_rc "data prepare --labels: no overwrite, empty labels and texts, a class missing from a split" $r

# --- pretrain, fine-tune, report ---------------------------------------------------------
"$lmg" train --model bert $tiny --steps 20 --eval-every 20 --backend ref --corpus /usr/share/games/fortunes/zippy \
    --out "$T/pre" -q >/dev/null 2>&1
r=0
"$lmg" finetune "$T/pre" --task topics --classes $classes --out "$T/ft" --steps 60 --eval-every 30 --batch 8 \
    --lr 3e-3 --backend ref >"$T/out" 2>"$T/err" || r=1
grep -q "best validation macro-F1" "$T/out" || r=1
grep -q "val loss .* macro-F1" "$T/err" || r=1
for f in train.pb checkpoint.safetensors best.safetensors metrics.jsonl loss.svg data/labels.tsv; do
    [ -f "$T/ft/$f" ] || r=1
done
grep -q '"split":"val".*"macro_f1"' "$T/ft/metrics.jsonl" || r=1
check_rc "finetune: pretrained bert with a head, validation macro-F1, run files" $r

r=0
"$lmg" eval "$T/ft" --backend ref >"$T/out" 2>"$T/err" || r=1
grep -Eq "^ +precision +recall +f1-score +support$" "$T/out" || r=1
for w in definitions songs-poems zippy accuracy "macro avg" "weighted avg" "majority-class baseline" "confusion matrix"; do
    grep -q "$w" "$T/out" || r=1
done
[ -f "$T/ft/report.json" ] && [ -f "$T/ft/confusion.svg" ] || r=1
grep -q "<svg" "$T/ft/confusion.svg" || r=1
# the printed accuracy is report.json's, and the supports add up to the documents
acc=$(awk '$1 == "accuracy" {print $2}' "$T/out")
jacc=$(sed -n 's/^  "accuracy": \([0-9.]*\),$/\1/p' "$T/ft/report.json")
[ -n "$acc" ] && awk -v a="$acc" -v b="$jacc" 'BEGIN { exit !(a - b < 0.006 && b - a < 0.006) }' || r=1
sup=$(sed -n 's/.*"support": \([0-9]*\)}.*/\1/p' "$T/ft/report.json" | awk '{s += $1} END {print s}')
docs=$(sed -n 's/^  "documents": \([0-9]*\),$/\1/p' "$T/ft/report.json")
[ "$sup" = "$docs" ] && [ "$docs" -gt 0 ] || r=1
check_rc "eval of a classifier: scikit-learn layout, baseline, confusion matrix, report.json agrees" $r

# --batches N evaluates the first N batches: one batch's documents, then twice as many.
r=0
"$lmg" eval "$T/ft" --backend ref --batches 1 >"$T/out1" 2>&1 || r=1
"$lmg" eval "$T/ft" --backend ref --batches 2 >"$T/out2" 2>&1 || r=1
d1=$(sed -n 's/^test split of .*: \([0-9]*\) documents.*/\1/p' "$T/out1")
d2=$(sed -n 's/^test split of .*: \([0-9]*\) documents.*/\1/p' "$T/out2")
[ -n "$d1" ] && [ -n "$d2" ] && [ "$d1" -gt 0 ] && [ "$d2" -eq $((2 * d1)) ] && [ "$d2" -lt "$docs" ] ||
    { r=1; echo "# documents: $d1 and $d2 of $docs"; }
check_rc "eval --batches N of a classifier reports on the first N batches only" $r

r=0
"$lmg" classify "$T/ft" --backend ref --text "Yow! Are we having fun yet?" >"$T/out" 2>"$T/err" || r=1
grep -Eq "^(definitions|songs-poems|zippy)	0\.[0-9]{4}	Yow" "$T/out" || r=1
printf 'first line\nsecond line\n\nthird line\n' | "$lmg" classify "$T/ft" --backend ref --top 3 >"$T/out" 2>"$T/err" || r=1
[ "$(wc -l <"$T/out")" -eq 3 ] || r=1
# all three probabilities of a line sum to 1
awk -F'\t' '{ n = split($1, p, " "); s = 0; for (i = 1; i <= n; i++) { split(p[i], kv, ":"); s += kv[2] }
             if (n != 3 || s < 0.998 || s > 1.002) exit 1 }' "$T/out" || r=1
check_rc "classify: --text and stdin lines, --top K probabilities sum to 1" $r

r=0
"$lmg" finetune "$T/pre" --task topics --classes $classes --out "$T/scratch" --steps 60 --eval-every 30 \
    --batch 8 --lr 3e-3 --from-scratch --backend ref -q >/dev/null 2>&1 || r=1
"$lmg" compare "$T/scratch" "$T/ft" --backend ref >"$T/out" 2>"$T/err" || r=1
for w in accuracy "macro F1" "weighted F1" "majority-class baseline" zippy; do grep -q "$w" "$T/out" || r=1; done
check_rc "finetune --from-scratch and compare side by side" $r

# --- errors --------------------------------------------------------------------------------
r=0
"$lmg" finetune "$T/nothing" --task topics --out "$T/e1" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "not a pretrained run" || r=1
"$lmg" finetune "$T/pre" --task topics --out "$T/ft" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "is not empty" || r=1
"$lmg" finetune "$T/ft" --task topics --classes $classes --out "$T/e2" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "already a classifier" || r=1
"$lmg" tokenizer train --vocab 290 -o "$T/tok2.bpe" /usr/share/games/fortunes/zippy >/dev/null 2>&1
"$lmg" data prepare --tokenizer "$T/tok2.bpe" --labels topics --classes $classes --seq 32 --out "$T/lab2" >/dev/null 2>&1
"$lmg" finetune "$T/pre" --data "$T/lab2" --out "$T/e3" >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "is not the tokenizer of" || r=1
"$lmg" classify "$T/pre" --text hi --backend ref >/dev/null 2>"$T/err"; rc=$?
exits_with 1 "not a classifier" || r=1
"$lmg" finetune "$T/pre" --task topics --out "$T/e4" --objective mlm >/dev/null 2>"$T/err"; rc=$?
exits_with 2 "no 'sup' term" || r=1
[ ! -e "$T/e1" ] && [ ! -e "$T/e3" ] || r=1
check_rc "errors: not a run, output folder not empty, a classifier as pretrained run, another tokenizer, classify of a non-classifier" $r

# --- resume, mixing, extension ---------------------------------------------------------------
r=0
"$lmg" finetune "$T/pre" --task topics --classes $classes --out "$T/mix" --objective mlm:1.0,sup:0.5 \
    --steps 30 --eval-every 15 --batch 8 --stop-after 15 --backend ref -q >/dev/null 2>&1 || r=1
"$lmg" finetune --resume "$T/mix" --backend ref -q >/dev/null 2>&1 || r=1
[ "$(grep -c '"split":"train"' "$T/mix/metrics.jsonl")" -eq 30 ] || r=1
grep -q '"loss/mlm":.*"loss/sup":' "$T/mix/metrics.jsonl" || r=1
grep -q "loss/sup" "$T/mix/loss.svg" || r=1
check_rc "finetune --objective mlm:1.0,sup:0.5: both terms logged and drawn; stop and resume" $r

# Ctrl-C during a fine-tune: the step under way finishes, a checkpoint is written, exit 130,
# and the printed command resumes it.
r=0
"$lmg" finetune "$T/pre" --task topics --classes $classes --out "$T/intr" --steps 100000 \
    --eval-every 100000 --batch 8 --backend ref >/dev/null 2>"$T/err" &
pid=$!
i=0
while [ $i -lt 600 ] && ! grep -q '"split":"train"' "$T/intr/metrics.jsonl" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
kill -INT "$pid"
# A command that ignored the signal would run 100000 steps: end it after 60 s.
( sleep 60; kill -9 "$pid" 2>/dev/null ) >/dev/null 2>&1 &
dog=$!
wait "$pid"
rc=$?
kill "$dog" 2>/dev/null
[ "$rc" -eq 130 ] || { r=1; echo "# exit status $rc"; }
grep -q "lmg finetune: interrupted by SIGINT at step [0-9]*; checkpoint written to $T/intr/checkpoint.safetensors" "$T/err" || r=1
grep -q "resume with: lmg finetune --resume $T/intr" "$T/err" || r=1
step=$(sed -n 's/.*interrupted by SIGINT at step \([0-9]*\).*/\1/p' "$T/err")
[ -n "$step" ] && [ "$(grep -c '"split":"train"' "$T/intr/metrics.jsonl")" -eq "$step" ] || r=1
"$lmg" finetune --resume "$T/intr" --stop-after $((step + 2)) --backend ref -q >/dev/null 2>&1 || r=1
[ "$(grep -c '"split":"train"' "$T/intr/metrics.jsonl")" -eq $((step + 2)) ] || r=1
check_rc "Ctrl-C during finetune: exit 130, a checkpoint at the step reached, resumable as printed" $r
[ $r -eq 0 ] || sed 's/^/#   /' "$T/err" | tail -5

r=0
"$lmg" train $tiny --steps 10 --eval-every 10 --eval-batches 2 --backend ref --corpus /usr/share/games/fortunes/zippy \
    --out "$T/gpt" -q --samples 0 >/dev/null 2>&1 || r=1
"$lmg" train --resume "$T/gpt" --steps 16 --backend ref -q --samples 0 >"$T/out" 2>"$T/err" || r=1
grep -q "step 16" "$T/out" || r=1
[ "$(grep -c '"split":"train"' "$T/gpt/metrics.jsonl")" -eq 16 ] || r=1
"$lmg" eval "$T/gpt" --backend ref >"$T/out" 2>&1 || r=1
grep -q "next-token accuracy 0\.[0-9]" "$T/out" || r=1
check_rc "train --resume --steps N extends a finished run; eval reports next-token accuracy" $r

[ "$fails" -eq 0 ]
