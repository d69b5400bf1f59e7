#!/bin/sh
# cli_fuzz.sh — a short run of every libFuzzer harness (tests/fuzz/) under ASan/UBSan:
# each seed corpus (crashes found earlier included) and then new inputs, for at most 8 s or
# 30000 inputs per harness, from a fixed random seed so every run tries the same inputs.
# `./setup.sh fuzz SECONDS` runs them for longer, exploring anew each time.
cd "$(dirname "$0")/.." || exit 1
if [ ! -x build/fuzz/fuzz_checkpoint ] && ! ninja build/fuzz/fuzzers >/dev/null; then
    echo "not ok - fuzz: the harnesses do not build (ninja build/fuzz/fuzzers)"
    exit 1
fi
exec tests/fuzz/run.sh --scratch --seed 1 8 30000
