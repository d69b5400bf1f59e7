#!/bin/sh
# cli_onnx.sh — lmg export / lmg import and lmg run's NumPy edges: help, usage errors, the
# one-line error of an op without an ONNX form, .npy inputs and .npz/.safetensors outputs;
# then the Python checks of tests/onnx/ (onnx.checker, onnxruntime parity of forward graphs,
# the ops of user objectives, a training step, a trained run, classifier runs, import) in
# build/pyenv, made by tests/onnx/pyenv.sh.
# Without that environment the Python checks fail under CI=true and are skipped otherwise.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
lmg="$root/${LMG_BUILD:-build}/lmg"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
ok() { echo "ok - $1"; }
bad() {
    echo "not ok - $1"
    failed=$((failed + 1))
}
check() { if [ "$2" = 0 ]; then ok "$1"; else bad "$1"; sed 's/^/#   /' "$tmp/err" 2>/dev/null | head -5; fi; }

small="--layers 1 --heads 2 --d-model 16 --d-ff 32 --vocab 32 --seq 6 --batch 2"

# --- help and usage ----------------------------------------------------------------------
r=0
"$lmg" export --help | grep -q "lmg export onnx RUN|GRAPH" || r=1
"$lmg" import --help | grep -q "lmg import onnx MODEL.onnx" || r=1
"$lmg" export onnx >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || r=1
"$lmg" export tflite x -o y >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] && grep -q "unknown format 'tflite'" "$tmp/err" || r=1
"$lmg" import onnx "$tmp/none.onnx" -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "none.onnx" "$tmp/err" || r=1
"$lmg" import onnx "$tmp/x.onnx" --dim batch -o y >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || r=1
head -c 3000 "$lmg" >"$tmp/junk.onnx"
"$lmg" import onnx "$tmp/junk.onnx" -o "$tmp/x.pb" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "junk.onnx: not an ONNX model" "$tmp/err" && [ ! -e "$tmp/x.pb" ] || r=1
check "export/import: --help, usage errors exit 2, a missing or non-ONNX file exits 1 naming it" $r

# --- an op without an ONNX form ------------------------------------------------------------
r=0
"$lmg" build --model gpt $small --dropout 0.1 -o "$tmp/drop.pb" -q || r=1
"$lmg" export onnx "$tmp/drop.pb" -o "$tmp/drop.onnx" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || r=1
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "op Dropout (node 'emb.drop') has no ONNX form" "$tmp/err" || r=1
[ ! -e "$tmp/drop.onnx" ] || r=1
"$lmg" export onnx "$tmp/drop.pb" --draws -o "$tmp/drop.onnx" >/dev/null 2>"$tmp/err" || r=1
check "a random op without --draws: one line naming op and node, exit 1, no file; with --draws it exports" $r

# --- an ONNX operator of the elementwise table's ONNX column imports as that one op ---------
r=0
"$lmg" import onnx tests/onnx/small.onnx --dim batch=2 -o "$tmp/small.pb" >/dev/null 2>"$tmp/err" || r=1
"$lmg" print "$tmp/small.pb" --no-weights >"$tmp/small.txt" 2>"$tmp/err" || r=1
grep -q "node y: f32\[2,4\] = Sigmoid(z)$" "$tmp/small.txt" && ! grep -q "= Exp(" "$tmp/small.txt" || r=1
check "import: ONNX Sigmoid becomes one Sigmoid node (ops/elementwise.def's ONNX column)" $r

# --- lmg run: .npy in, .npz / .safetensors out ----------------------------------------------
r=0
cat >"$tmp/g.lmgt" <<'G'
lmgraph ir 1 opset 1
graph "np" {
  input x : f32[2,3]
  input ids : i32[2]
  param w : f32[3] = [0.5, -1, 2]
  node y = Mul(x, w)
  node s = ReduceSum(y) {axes = ints[1], keepdims = 0}
  output y, s
}
G
# x = [[1,2,3],[4,5,6]] as a version-1 .npy (float32, C order), ids as int64 (narrowed)
{
    printf '%b' '\0223NUMPY\0001\0000v\0000'
    printf "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }%58s\n" ''
    printf '%b' '\0000\0000\0200\0077\0000\0000\0000\0100\0000\0000\0100\0100'
    printf '%b' '\0000\0000\0200\0100\0000\0000\0240\0100\0000\0000\0300\0100'
} >"$tmp/x.npy"
"$lmg" run "$tmp/g.lmgt" --backend ref --inputs x="$tmp/x.npy" >"$tmp/out" 2>"$tmp/err" || r=1
grep -q "^s f32\[2\]: \[4.5, 9\]" "$tmp/out" || r=1
"$lmg" run "$tmp/g.lmgt" --backend ref --inputs x="$tmp/x.npy" --save "$tmp/o.npz" >/dev/null 2>"$tmp/err" || r=1
"$lmg" run "$tmp/g.lmgt" --backend ref --inputs x="$tmp/x.npy" --save "$tmp/o.safetensors" >/dev/null 2>"$tmp/err" || r=1
[ -s "$tmp/o.npz" ] && [ -s "$tmp/o.safetensors" ] || r=1
grep -q "y.npy" "$tmp/o.npz" && grep -q "s.npy" "$tmp/o.npz" || r=1
"$lmg" run "$tmp/g.lmgt" --backend ref --inputs ids="$tmp/x.npy" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "x.npy: f32\[2,3\], but input 'ids' is i32\[2\]" "$tmp/err" || r=1
check "lmg run: .npy input, outputs saved as .npz (y.npy, s.npy) and .safetensors, a mismatch named" $r

# --- the Python checks ------------------------------------------------------------------------
if ! py=$("$root/tests/onnx/pyenv.sh" 2>"$tmp/pyerr"); then
    if [ "${CI:-}" = true ]; then
        bad "the Python environment (tests/onnx/requirements.txt) can be made"
        sed 's/^/#   /' "$tmp/pyerr" | tail -n 5
    else
        ok "onnxruntime checks # SKIP no Python environment: $(tail -n 1 "$tmp/pyerr")"
    fi
    exit $((failed > 0))
fi
cd "$root/tests/onnx" || exit 1
export PYTHONDONTWRITEBYTECODE=1
for c in check_forward check_objectives check_training check_import check_classifier; do
    "$py" "$c.py" "$lmg" "$tmp/$c" || failed=$((failed + 1))
done
"$lmg" train --backend ref --corpus /usr/share/games/fortunes/art $small --vocab 300 --steps 4 \
    --eval-every 2 --eval-batches 2 --out "$tmp/run" >/dev/null 2>"$tmp/err"
check "a tiny run to export" $?
"$py" check_run.py "$lmg" "$tmp/run" "$tmp/check_run" || failed=$((failed + 1))
exit $((failed > 0))
