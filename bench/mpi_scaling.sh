#!/bin/sh
# mpi_scaling.sh — steps per second of one GPT trained by 1 process and by 2 MPI ranks with
# the same global batch, each process pinned to one core (PoCL and OpenBLAS on one thread),
# in alternating rounds; prints each round, the medians, the speed-up and the all-reduce bytes.
#
# usage: bench/mpi_scaling.sh [--rounds N] [--steps N] [--backend opencl|ref] [--bucket-mb MB]
#                              [--lmg PATH]
# Needs two cores and an lmg built with MPI (mpirun on PATH); --lmg times another build.
set -e
cd "$(dirname "$0")/.."
rounds=3 steps=30 backend=opencl bucket="" lmg=build/lmg
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --bucket-mb) bucket="--bucket-mb $2"; shift 2 ;;
    --lmg) lmg=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "mpi_scaling.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export POCL_MAX_PTHREAD_COUNT=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
T=$(mktemp -d /tmp/lmg_mpi_scaling.XXXXXX)
trap 'rm -rf "$T"' EXIT
model="--layers 2 --heads 4 --d-model 128 --d-ff 512 --vocab 512 --seq 64"
B=16
common="train --backend $backend $model --steps $steps --eval-batches 1 --patience 0 --samples 0"
build/lmg train --backend ref --layers 1 --heads 2 --d-model 32 --d-ff 64 --vocab 512 --seq 64 \
    --batch 2 --steps 1 --samples 0 --corpus /usr/share/games/fortunes --out "$T/data" >/dev/null 2>&1
data="$T/data/data"
# ms/step of a run's final line ("... 12.3 ms/step ...").
ms() { sed -n 's/.* \([0-9.]*\) ms\/step.*/\1/p' "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
: >"$T/one" && : >"$T/two"
for r in $(seq "$rounds"); do
    rm -rf "$T/r1" "$T/r2"
    taskset -c 0 "$lmg" $common --batch $B --data "$data" --out "$T/r1" >"$T/log1" 2>&1
    mpirun --bind-to core --map-by core -np 2 "$lmg" $common $bucket --batch $((B / 2)) \
        --data "$data" --out "$T/r2" >"$T/log2" 2>&1
    a=$(ms "$T/log1") b=$(ms "$T/log2")
    echo "$a" >>"$T/one"
    echo "$b" >>"$T/two"
    echo "round $r: 1 rank $a ms/step, 2 ranks $b ms/step (global batch $B x seq 64)"
done
m1=$(median <"$T/one") m2=$(median <"$T/two")
params=$(build/lmg print "$T/r2/train.pb" | grep -c "= AllReduce(grad.local/")
floats=$(python3 -c "
import json,struct
b=open('$T/r2/checkpoint.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
h=json.loads(b[8:8+n]); print(sum((v['data_offsets'][1]-v['data_offsets'][0])//4 for k,v in h.items() if k!='__metadata__' and not k.startswith('adam.')))")
echo "median: 1 rank $m1 ms/step ($(echo "1000 / $m1" | bc -l | cut -c1-5) steps/s), 2 ranks $m2 ms/step ($(echo "1000 / $m2" | bc -l | cut -c1-5) steps/s), speed-up $(echo "$m1 / $m2" | bc -l | cut -c1-4)"
echo "all-reduce per step: $params tensors, $floats floats = $((floats * 4)) bytes per rank"
