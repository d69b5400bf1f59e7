#!/bin/sh
# cli_bench.sh — `lmg bench` argument handling (the benchmark itself is run by hand, its
# figures are measurements, not test verdicts).
. "$(dirname "$0")/common.sh"
need_lmg

"$lmg" bench --help >"$tmp/out" 2>"$tmp/err"
check "--help exits 0" test $? -eq 0
check "--help names the models and the OpenBLAS comparison" \
    sh -c "grep -q 'GPT-S and BERT-S' '$tmp/out' && grep -q 'OpenBLAS' '$tmp/out'"
for args in "--model gpt3" "--steps many" "--warmup -1" "--bogus" "--steps 0 --warmup 0" \
    "--backend nosuch"; do
    # shellcheck disable=SC2086
    "$lmg" bench $args >"$tmp/out" 2>"$tmp/err"
    rc=$?
    check "bench $args is a usage error (exit 2)" test $rc -eq 2
    check "bench $args says what is wrong" test -s "$tmp/err"
done
"$lmg" bench --steps >"$tmp/out" 2>"$tmp/err"
check "a flag without its value is a usage error" test $? -eq 2

test $fails -eq 0
