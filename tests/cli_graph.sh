#!/bin/sh
# cli_graph.sh — the graph commands end to end: print/parse round trips through files
# (inline and with external weights), dot output accepted by Graphviz (skipped when `dot`
# is not installed), `lmg run` on the reference backend, --help and usage errors.
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
check() { # name, then a command that must succeed
    name=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$name"; else
        bad "$name"
        sed 's/^/#   /' "$tmp/err" | head -n 10
    fi
}

cat >"$tmp/g.lmgt" <<'G'
# a small graph in the text form
lmgraph ir 1 opset 1
graph "cli test" {
  meta "purpose" = "cli"
  input x : f32[2,3]
  input ids : i32[2]
  param w : f32[3] = [0.5, -1, 2]
  param "emb table" : f32[4,3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  state m : f32[3] = zeros
  node y = Mul(x, w)
  node e = Embedding("emb table", ids)
  node z = Add(y, e)
  node [sum] s = ReduceSum(z) {axes = ints[], keepdims = 0}
  node grad/w = Scale(w) {alpha = 2.0}
  output s, z, grad/w
}
G

check "parse text to .pb" "$lmg" parse "$tmp/g.lmgt" -o "$tmp/a.pb"
check "print .pb" sh -c "'$lmg' print '$tmp/a.pb' > '$tmp/a.lmgt'"
check "parse the printed text" "$lmg" parse "$tmp/a.lmgt" -o "$tmp/b.pb"
check "parse(print(pb)) gives the same bytes" cmp "$tmp/a.pb" "$tmp/b.pb"
check "print -o writes the same text" sh -c "'$lmg' print '$tmp/b.pb' -o '$tmp/b.lmgt' && cmp '$tmp/a.lmgt' '$tmp/b.lmgt'"
check "printed text has inferred types" grep -q '^  node z: f32\[2,3\] = Add(y, e)$' "$tmp/a.lmgt"
check "default output name replaces .lmgt by .pb" sh -c "cp '$tmp/a.lmgt' '$tmp/c.lmgt' && '$lmg' parse '$tmp/c.lmgt' && cmp '$tmp/a.pb' '$tmp/c.pb'"

check "parse --external writes a safetensors file" sh -c \
    "'$lmg' parse '$tmp/g.lmgt' -o '$tmp/ext.pb' --external 16 && test -s '$tmp/ext.safetensors'"
check "external weights print the same text" sh -c "'$lmg' print '$tmp/ext.pb' | cmp - '$tmp/a.lmgt'"
check "verify accepts both files" sh -c "'$lmg' verify '$tmp/a.pb' '$tmp/ext.pb' | grep -c ': ok: 5 nodes' | grep -qx 2"

check "dot writes a digraph with a legend" sh -c "'$lmg' dot '$tmp/a.pb' -o '$tmp/a.dot' && grep -q '^digraph' '$tmp/a.dot' && grep -q legend '$tmp/a.dot'"
if command -v dot >/dev/null 2>&1; then
    check "dot -Tsvg accepts the output" sh -c "dot -Tsvg '$tmp/a.dot' -o '$tmp/a.svg' && grep -q '<svg' '$tmp/a.svg'"
else
    ok "dot -Tsvg accepts the output # SKIP graphviz (dot) is not installed"
fi

# run on the reference backend: x = 1..6, ids = [3, 0].
printf '\000\000\200\077\000\000\000\100\000\000\100\100\000\000\200\100\000\000\240\100\000\000\300\100' >"$tmp/x.bin"
printf '\003\000\000\000\000\000\000\000' >"$tmp/ids.bin"
# z = x*w + emb[ids] = [0.5,-2,6]+[10,11,12], [2,-5,12]+[1,2,3]; s = 52.5
check "run prints the outputs" sh -c "'$lmg' run '$tmp/a.pb' --backend ref --inputs x='$tmp/x.bin',ids='$tmp/ids.bin' > '$tmp/run.txt'"
check "run: loss value" grep -qx 's f32\[\]: \[52.5\] sum 52.5' "$tmp/run.txt"
check "run: first values and sum" grep -qx 'z f32\[2,3\]: \[10.5, 9, 18, 3, -3, 15\] sum 52.5' "$tmp/run.txt"
check "run --output picks an intermediate" sh -c "'$lmg' run '$tmp/a.pb' --backend ref --inputs x='$tmp/x.bin' --inputs ids='$tmp/ids.bin' --output y | grep -qx 'y f32\[2,3\]: \[0.5, -2, 6, 2, -5, 12\] sum 13.5'"
check "run --save writes raw files" sh -c "'$lmg' run '$tmp/a.pb' --backend ref --inputs x='$tmp/x.bin',ids='$tmp/ids.bin' --save '$tmp/saved' >/dev/null && test \$(wc -c < '$tmp/saved/grad_w.bin') -eq 12 && test \$(wc -c < '$tmp/saved/z.bin') -eq 24"
"$lmg" run "$tmp/a.pb" --backend ref --inputs x="$tmp/ids.bin" >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "ids.bin: 8 bytes, but input 'x' (f32\[2,3\]) needs exactly 24" "$tmp/err"; then
    ok "run refuses an input file of the wrong size"
else
    bad "run refuses an input file of the wrong size (exit $rc)"
    sed 's/^/#   /' "$tmp/err"
fi

for cmd in print parse dot verify run; do
    if "$lmg" "$cmd" --help >"$tmp/out" 2>&1 && grep -q "^usage: lmg $cmd" "$tmp/out"; then
        ok "$cmd --help"
    else
        bad "$cmd --help"
    fi
    "$lmg" "$cmd" >/dev/null 2>&1
    rc=$?
    if [ "$rc" -eq 2 ]; then ok "$cmd without arguments is a usage error"; else bad "$cmd without arguments exits $rc"; fi
    "$lmg" "$cmd" --no-such-flag "$tmp/a.pb" >/dev/null 2>&1
    rc=$?
    if [ "$rc" -eq 2 ]; then ok "$cmd with an unknown flag is a usage error"; else bad "$cmd --no-such-flag exits $rc"; fi
done

"$lmg" print "$tmp/missing.pb" >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^lmg print: $tmp/missing.pb: " "$tmp/err"; then
    ok "a missing file is one line naming it, exit 1"
else
    bad "a missing file (exit $rc)"
    sed 's/^/#   /' "$tmp/err"
fi
"$lmg" run "$tmp/a.pb" --backend ref --inputs x="$tmp/no-such.bin" >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -qx "lmg run: $tmp/no-such.bin: cannot open: No such file or directory" "$tmp/err"; then
    ok "a missing input file is one line naming it once, exit 1"
else
    bad "a missing input file (exit $rc)"
    sed 's/^/#   /' "$tmp/err"
fi

# f16 and bf16 values print their numbers, not zeros.
printf 'lmgraph ir 1 opset 1\ngraph "h" {\n  const h : f16[3] = [0x3c00, 0xc000, 0x3555]\n  const b : bf16[2] = [0x3f80, 0xc040]\n  output h, b\n}\n' >"$tmp/half.lmgt"
check "run prints f16 values" sh -c "'$lmg' run '$tmp/half.lmgt' --backend ref | grep -qx 'h f16\[3\]: \[1, -2, 0.333252\] sum -0.666748047'"
check "run prints bf16 values" sh -c "'$lmg' run '$tmp/half.lmgt' --backend ref | grep -qx 'b bf16\[2\]: \[1, -3\] sum -2'"

# An unwritable output: one line naming the target (not a temporary beside it), exit 1.
for cmd in parse print dot; do
    case $cmd in parse) src="$tmp/a.lmgt" ;; *) src="$tmp/a.pb" ;; esac
    "$lmg" "$cmd" "$src" -o "$tmp/no-dir/out" >/dev/null 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
        grep -qx "lmg $cmd: $tmp/no-dir/out: cannot create: .*" "$tmp/err"; then
        ok "$cmd to an unwritable path names it, exit 1"
    else
        bad "$cmd to an unwritable path (exit $rc)"
        sed 's/^/#   /' "$tmp/err"
    fi
done
[ "$failed" -eq 0 ]
