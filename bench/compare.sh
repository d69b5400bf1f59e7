#!/bin/sh
# compare.sh — lmgraph against PyTorch (CPU, eager) on GPT-S / BERT-S of BENCH.md, run
# interleaved in rounds on one machine; prints every round, each one's median and the ratio.
#
# usage: bench/compare.sh [--model gpt|bert|both] [--rounds N] [--steps N] [--threads N]
#                         [--clblast]  (also lmgraph with CLBlast and its attention kernels)
# First use installs PyTorch from PyPI into build/bench-venv (a few GB; set BENCH_VENV to put
# it elsewhere). lmgraph's timings come from `build/lmg bench`; extra LMG_* variables pass
# through (LMG_CL_GEMM=clblast, LMG_DEVICE=...).
set -e
cd "$(dirname "$0")/.."
model=gpt rounds=5 steps=5 threads=0 clblast=
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --clblast) clblast=lmg-clblast; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
case "$model" in gpt|bert) models=$model ;; both) models="gpt bert" ;;
*) echo "compare.sh: --model wants gpt, bert or both, got '$model'" >&2; exit 2 ;; esac

lmg=${LMG_BUILD:-build}/lmg
[ -x "$lmg" ] || { echo "compare.sh: $lmg is missing: run ./setup.sh build first" >&2; exit 1; }
venv=${BENCH_VENV:-build/bench-venv}
py=$venv/bin/python
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "compare.sh: installing PyTorch into $venv (first use only)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q torch numpy
fi
# The reference must run on the CPU whatever wheel PyPI served.
"$py" -c "import torch; assert (torch.ones(4, 4) @ torch.ones(4, 4)).device.type == 'cpu'"

med() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
"$lmg" bench --ceiling-only 2>/dev/null || true
"$py" -c "import torch; print('pytorch', torch.__version__, '(threads: ' + ('$threads' if $threads else 'its own choice, %d' % torch.get_num_threads()) + ')')"
for m in $models; do
    lf=$(mktemp) pf=$(mktemp) lc=$(mktemp) pc=$(mktemp) bf=$(mktemp) bc=$(mktemp) out=$(mktemp)
    r=1
    while [ "$r" -le "$rounds" ]; do
        # Alternate who goes first, so neither always runs on a cooler (or busier) machine.
        for who in $( [ $((r % 2)) -eq 1 ] && echo "lmg torch $clblast" || echo "$clblast torch lmg" ); do
            if [ "$who" != torch ]; then
                if [ "$who" = lmg ]; then
                    "$lmg" bench --model "$m" --steps "$steps" --warmup 2 --no-blas > "$out"
                else
                    LMG_CL_GEMM=clblast LMG_CL_ATTENTION=kernels "$lmg" bench --model "$m" \
                        --steps "$steps" --warmup 2 --no-blas > "$out"
                fi
                t=$(sed -n 's/.*warm-up: median \([0-9.]*\) ms\/step.*/\1/p' "$out")
                c=$(sed -n 's/.*cores: median \([0-9.]*\) ms\/step.*/\1/p' "$out")
                if [ "$who" = lmg ]; then echo "$t" >> "$lf"; echo "$c" >> "$lc"
                else echo "$t" >> "$bf"; echo "$c" >> "$bc"; fi
            else
                "$py" bench/reference.py --model "$m" --steps "$steps" --warmup 2 \
                    --threads "$threads" > "$out" 2>/dev/null
                t=$(sed -n 's/.*, median \([0-9.]*\) ms\/step (min.*/\1/p' "$out")
                c=$(sed -n 's/.*cores: median \([0-9.]*\) ms\/step.*/\1/p' "$out")
                echo "$t" >> "$pf"; echo "$c" >> "$pc"
            fi
            printf '%s round %d: %-11s %8s ms/step  (CPU time / cores %s ms)\n' "$m" "$r" "$who" "$t" "$c"
        done
        r=$((r + 1))
    done
    lm=$(med < "$lf") pm=$(med < "$pf") lcm=$(med < "$lc") pcm=$(med < "$pc")
    printf '%s: lmgraph median %s ms/step, PyTorch median %s ms/step, lmgraph / PyTorch = %s\n' \
        "$m" "$lm" "$pm" "$(awk -v a="$lm" -v b="$pm" 'BEGIN {printf "%.2f", a / b}')"
    printf '%s: by CPU time / cores: lmgraph %s ms, PyTorch %s ms, lmgraph / PyTorch = %s\n' \
        "$m" "$lcm" "$pcm" "$(awk -v a="$lcm" -v b="$pcm" 'BEGIN {printf "%.2f", a / b}')"
    if [ -n "$clblast" ]; then
        printf '%s: lmgraph with CLBlast: median %s ms/step (CPU time / cores %s ms), / PyTorch = %s\n' \
            "$m" "$(med < "$bf")" "$(med < "$bc")" \
            "$(awk -v a="$(med < "$bf")" -v b="$pm" 'BEGIN {printf "%.2f", a / b}')"
    fi
    rm -f "$lf" "$pf" "$lc" "$pc" "$bf" "$bc" "$out"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
