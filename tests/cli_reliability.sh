#!/bin/sh
# cli_reliability.sh — the command line under hostile conditions: /dev/zero and FIFOs as
# inputs fail at once, names that are not UTF-8 are refused by `lmg parse`, control
# characters in paths stay escaped on one line, Ctrl-C and SIGTERM during `lmg train` write
# a checkpoint, exit 130/143 and resume, stale temporaries go, and a moved run still works.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
. tests/common.sh
lmg="$root/${LMG_BUILD:-build}/lmg"
need_lmg
T=$tmp
corpus=/usr/share/games/fortunes/art
tiny="--layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4"

# --- no hang ------------------------------------------------------------------------------
r=0
timeout 10 "$lmg" verify /dev/zero >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "^lmg verify: /dev/zero: is a character device" "$T/err" || r=1
[ "$(wc -l <"$T/err")" -eq 1 ] || r=1
mkfifo "$T/fifo"
timeout 10 "$lmg" verify "$T/fifo" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "is a FIFO" "$T/err" || r=1
timeout 10 "$lmg" parse "$T/fifo" -o "$T/x.pb" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "is a FIFO" "$T/err" || r=1
check_rc "lmg verify /dev/zero and a FIFO fail at once with one line" $r

r=0
printf 'lmgraph ir 1 opset 1\ngraph "g" {\n  input "a\\xffb" : f32[2]\n  output "a\\xffb"\n}\n' >"$T/bad.lmgt"
"$lmg" parse "$T/bad.lmgt" -o "$T/bad.pb" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "bad.lmgt:3:.*not UTF-8" "$T/err" || r=1
[ ! -e "$T/bad.pb" ] || r=1
check_rc "lmg parse refuses a name that is not UTF-8 and writes nothing" $r

r=0
evil="$T/$(printf 'x\033[2J\ny')"
mkdir "$evil" && cp "$T/bad.lmgt" "$evil/g.lmgt"
"$lmg" verify "$evil/g.lmgt" >/dev/null 2>"$T/err"
[ $? -eq 1 ] || r=1
[ "$(wc -l <"$T/err")" -eq 1 ] || r=1
grep -q "$(printf '\033')" "$T/err" && r=1
grep -q 'x\\x1b\[2J\\x0ay' "$T/err" || r=1
check_rc "a path with an escape sequence and a newline stays one escaped line" $r
[ $r -eq 0 ] || sed 's/^/#   /' "$T/err" | cat -v

# --- Ctrl-C and SIGTERM during lmg train -------------------------------------------------
# Waits until the run has a metrics line, then sends the signal; prints the exit status.
interrupt() { # signal, then lmg train arguments
    sig=$1
    shift
    "$lmg" train "$@" >"$T/out" 2>"$T/log" &
    pid=$!
    i=0
    while [ $i -lt 600 ] && ! grep -q '"split":"train"' "$T/$run/metrics.jsonl" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill "-$sig" "$pid"
    wait "$pid"
}

run=int
interrupt INT --backend ref --corpus $corpus $tiny --steps 100000 --eval-every 1000 --eval-batches 2 \
    --samples 0 --out "$T/int"
rc=$?
r=0
[ $rc -eq 130 ] || { r=1; echo "# exit status $rc"; }
[ -s "$T/int/checkpoint.safetensors" ] || r=1
grep -q "interrupted by SIGINT at step [0-9]*; checkpoint written to $T/int/checkpoint.safetensors" "$T/log" || r=1
grep -q "resume with: lmg train --resume $T/int" "$T/log" || r=1
step=$(sed -n 's/.*interrupted by SIGINT at step \([0-9]*\).*/\1/p' "$T/log")
lines=$(grep -c '"split":"train"' "$T/int/metrics.jsonl")
[ -n "$step" ] && [ "$step" -ge 1 ] && [ "$lines" -eq "$step" ] || { r=1; echo "# step $step, $lines lines"; }
check_rc "Ctrl-C: exit 130, checkpoint at the step reached, says how to resume" $r
[ $r -eq 0 ] || sed 's/^/#   /' "$T/log" | tail -5

r=0
# A temporary left by a killed writer (its process is gone) is removed on the next write.
dead=$(sh -c 'echo $$')
echo junk >"$T/int/checkpoint.safetensors.tmp$dead"
echo junk >"$T/int/metrics.jsonl.tmp$dead"
"$lmg" train --resume "$T/int" --stop-after $((step + 3)) --samples 0 >/dev/null 2>"$T/log"
[ $? -eq 0 ] || r=1
[ "$(grep -c '"split":"train"' "$T/int/metrics.jsonl")" -eq $((step + 3)) ] || r=1
[ ! -e "$T/int/checkpoint.safetensors.tmp$dead" ] && [ ! -e "$T/int/metrics.jsonl.tmp$dead" ] || r=1
ls "$T/int" | grep -q '\.tmp' && r=1
check_rc "resume after Ctrl-C continues from its step; stale temporaries are gone" $r

run=term
interrupt TERM --backend ref --data "$T/int/data" $tiny --steps 100000 --eval-every 1000 \
    --eval-batches 2 --samples 0 --out "$T/term"
rc=$?
r=0
[ $rc -eq 143 ] || { r=1; echo "# exit status $rc"; }
grep -q "interrupted by SIGTERM" "$T/log" && [ -s "$T/term/checkpoint.safetensors" ] || r=1
check_rc "SIGTERM: exit 143 and a checkpoint" $r

# --- a moved run ----------------------------------------------------------------------------
r=0
mkdir "$T/elsewhere"
mv "$T/int" "$T/elsewhere/moved"
"$lmg" eval "$T/elsewhere/moved" --split val --batches 1 --backend ref >"$T/out" 2>&1 || r=1
grep -q "^val: loss" "$T/out" || r=1
"$lmg" generate "$T/elsewhere/moved" --tokens 4 --backend ref >/dev/null 2>&1 || r=1
check_rc "a moved run evaluates and generates from its own data" $r

r=0
"$lmg" train --backend ref --data "$T/elsewhere/moved/data" $tiny --vocab 320 --steps 2 \
    --out "$T/big" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && tail -n 1 "$T/err" | grep -q "^lmg train: .*larger than the tokenizer's.*--vocab 300\$" || r=1
[ ! -e "$T/big/train.pb" ] || r=1
check_rc "a model vocabulary larger than the tokenizer's is refused at start" $r

[ "$fails" -eq 0 ]
