#!/bin/sh
# run.sh — runs every libFuzzer harness of build/fuzz/ for SECONDS each (and at most RUNS
# inputs), one after another, over its seed corpus; prints `ok - fuzz NAME (N execs)` or
# `not ok` with the crash report and the input that caused it, then the total.
#   tests/fuzz/run.sh [--scratch] [--seed N] SECONDS [RUNS]
# New inputs are kept in build/fuzz/corpus/NAME for the next run (--scratch: in a temporary
# folder, thrown away); crashing inputs are written to build/fuzz/crashes/. --seed fixes
# libFuzzer's random choices, so a run of at most RUNS inputs replays the same inputs every
# time (the test suite's short run); without it each run explores anew.
cd "$(dirname "$0")/../.." || exit 1
scratch=0
[ "$1" = "--scratch" ] && scratch=1 && shift
seed=0
[ "$1" = "--seed" ] && seed=$2 && shift 2
secs=${1:-60}
runs=${2:--1}
dir=build/fuzz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dir/crashes"
total=0
fails=0
for name in pb text safetensors tokenizer shard checkpoint; do
    bin=$dir/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "not ok - fuzz $name: $bin is not built (ninja $dir/fuzzers)"
        fails=$((fails + 1))
        continue
    fi
    work=$dir/corpus/$name
    [ "$scratch" -eq 1 ] && work=$tmp/$name
    mkdir -p "$work"
    # Inputs up to 64 KiB: the seeds are under 2 KiB, and the loaders' limits are tested
    # by the unit tests; -timeout catches a hang, -rss_limit_mb memory that runs away.
    "$bin" -seed="$seed" -max_total_time="$secs" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/$name-" "$work" "tests/fuzz/corpus/$name" \
        >"$tmp/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log" | tail -n 1)
    execs=${execs:-0}
    total=$((total + execs))
    if [ "$rc" -eq 0 ]; then
        echo "ok - fuzz $name ($execs execs)"
    else
        echo "not ok - fuzz $name: exit status $rc after $execs execs"
        grep -E 'ERROR|SUMMARY|Test unit written|^tests/fuzz|^    #[0-9]' "$tmp/log" | head -n 30 | sed 's/^/#   /'
        fails=$((fails + 1))
    fi
done
echo "# fuzz: $total execs in all, $fails harnesses failed"
[ "$fails" -eq 0 ]
