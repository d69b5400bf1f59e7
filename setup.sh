#!/bin/sh
# setup.sh — installs what lmgraph needs on Debian 12 (when missing), builds it, and runs
# the main job. `./setup.sh` trains a small model; `./setup.sh test` runs every test;
# `./setup.sh asan` runs them under AddressSanitizer/UBSan; `./setup.sh build` only builds;
# `./setup.sh fuzz [SECONDS]` runs each libFuzzer harness for SECONDS (default 60).
set -e
cd "$(dirname "$0")"

packages="gcc ninja-build protobuf-c-compiler libprotobuf-c-dev ocl-icd-opencl-dev
opencl-headers libclblast-dev pocl-opencl-icd libopenblas-dev fortunes pkg-config
python3-venv protobuf-compiler graphviz libonnx-dev clang-15 openmpi-bin libopenmpi-dev"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

mode=${1:-train}
[ $# -gt 0 ] && shift
case "$mode" in
build) exec ninja ;;
test) # build/pyenv: onnx, onnxruntime, numpy for tests/cli_onnx.sh (which fails without it in CI)
    ninja && { tests/onnx/pyenv.sh >/dev/null || true; } && exec ninja test ;;
asan) ninja build/asan/all && exec ninja asan ;;
train) ninja && exec build/lmg train "$@" ;;
fuzz) ninja build/fuzz/fuzzers && exec tests/fuzz/run.sh "${1:-60}" ;;
*) echo "usage: ./setup.sh [train|test|asan|build|fuzz [SECONDS]]" >&2; exit 2 ;;
esac
