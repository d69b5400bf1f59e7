#!/bin/sh
# cli_view.sh — looking at graphs: `lmg print --no-weights` (size and CRC-32 per initializer,
# checked against zlib's values) and `lmg dot` clusters by scope: every node drawn once or
# counted in a collapsed box, --forward-only leaves exactly the forward nodes, edges stay few
# (merged at boxes, no edge labels), and Graphviz lays out a 4-layer training graph (GPT-S's
# 460 nodes) in under 10 s at the default depth.
. "$(dirname "$0")/common.sh"
need_lmg

cat >"$tmp/w.lmgt" <<'EOF2'
lmgraph ir 1 opset 1
graph "w" {
  input x : f32[4]
  param w : f32[4] = [1, 2, 3, 4]
  const k : i32[3] = [-1, 0, 7]
  state m : f32[4] = zeros
  node y = Mul(x, w)
  output y
}
EOF2
"$lmg" print --no-weights "$tmp/w.lmgt" >"$tmp/w.txt" 2>&1
# Golden values from zlib.crc32 over the little-endian bytes.
check "--no-weights: f32 data as its size and zlib's CRC-32" \
    grep -qx '  param w : f32\[4\] = <16 bytes, crc32 0x8ba71454>' "$tmp/w.txt"
check "--no-weights: i32 data too, zeros stay zeros" sh -c \
    "grep -qx '  const k : i32\[3\] = <12 bytes, crc32 0x6228c746>' '$tmp/w.txt' &&
     grep -qx '  state m : f32\[4\] = zeros' '$tmp/w.txt'"

# A 2-layer model: the whole text against the summary.
"$lmg" build --layers 2 -o "$tmp/fwd.pb" >/dev/null 2>&1
"$lmg" autodiff "$tmp/fwd.pb" --loss loss -o "$tmp/bwd.pb" >/dev/null 2>&1
full=$("$lmg" print "$tmp/bwd.pb" | wc -l)
short=$("$lmg" print --no-weights "$tmp/bwd.pb" | wc -l)
check "a 2-layer model prints in $short lines with --no-weights ($full in full)" \
    test "$short" -lt 1000 -a "$full" -gt 10000

n_nodes=$("$lmg" verify "$tmp/bwd.pb" | sed -n 's/.*: ok: \([0-9]*\) nodes.*/\1/p')
n_fwd=$("$lmg" verify "$tmp/fwd.pb" | sed -n 's/.*: ok: \([0-9]*\) nodes.*/\1/p')
# Drawn ops (n<i> boxes) plus the ops counted in collapsed scope boxes.
count_ops() {
    awk '/^ *n[0-9]+ \[label=/ { n++ } /shape=folder/ { if (match($0, /\\n[0-9]+ op/)) n += substr($0, RSTART + 2, RLENGTH - 5) }
         END { print n + 0 }' "$1"
}
for depth in 0 1 2 all; do
    "$lmg" dot "$tmp/bwd.pb" --depth $depth -o "$tmp/d$depth.dot" 2>"$tmp/err"
    c=$(count_ops "$tmp/d$depth.dot")
    check "dot --depth $depth accounts for every node once ($c of $n_nodes)" test "$c" = "$n_nodes"
done
check "dot --depth 1 clusters layers and the backward, boxes attention and MLP" sh -c \
    "grep -q 'subgraph cluster_.*' '$tmp/d1.dot' && grep -q 'label=\"h1\"' '$tmp/d1.dot' &&
     grep -q 'label=\"grad\"' '$tmp/d1.dot' && grep -q 'label=\"h0/attn' '$tmp/d1.dot' &&
     grep -q 'label=\"grad/h1.n' '$tmp/d1.dot'"
check "dot --depth all has no collapsed box" sh -c "! grep -q 'shape=folder' '$tmp/dall.dot'"
"$lmg" dot "$tmp/bwd.pb" --forward-only --depth all -o "$tmp/f.dot" 2>"$tmp/err"
c=$(count_ops "$tmp/f.dot")
check "dot --forward-only draws exactly the forward graph's $n_fwd nodes ($c)" sh -c \
    "test '$c' = '$n_fwd' && ! grep -v '^  legend' '$tmp/f.dot' | grep -q 'grad/'"
"$lmg" dot "$tmp/bwd.pb" --depth x >/dev/null 2>"$tmp/err"
check "dot --depth x is a usage error naming the value" sh -c \
    "test $? -eq 2 && grep -q \"not 'x'\" '$tmp/err'"

"$lmg" train --backend ref --corpus /usr/share/games/fortunes/art --layers 4 --heads 2 \
    --d-model 32 --d-ff 64 --vocab 300 --seq 16 --batch 4 --steps 1 --eval-every 1 \
    --eval-batches 1 --samples 0 -q --out "$tmp/run" >/dev/null 2>&1
# What Graphviz's time grows with, on the whole training step (optimizer included): edges
# between the same two ends are drawn once when either end is a collapsed box or a source
# (only two ops may be joined by several edges, one per value), edges stay within a small
# multiple of the vertices, and no edge has a `label` (dot ranks each one as a node of its
# own; values are xlabels).
for depth in 1 2 3 all; do
    "$lmg" dot "$tmp/run/train.pb" --depth $depth -o "$tmp/t$depth.dot" 2>"$tmp/err"
    stats=$(awk '/ -> / { e++; a = $1; b = $3; sub(/;$/, "", b)
                          if (a !~ /^n/ || b !~ /^n/) { if (seen[a " " b]++) dup++ }
                          if ($0 ~ /[[ ]label=/) lab++ }
                 /^ *[nvs][0-9]+ \[/ { v++ }
                 END { printf "%d %d %d %d", e, v, dup + 0, lab + 0 }' "$tmp/t$depth.dot")
    set -- $stats
    check "dot --depth $depth of the training step: $1 edges for $2 vertices, $3 parallel \
edges at boxes or sources, $4 edge labels" sh -c \
        "test $2 -gt 0 && test $1 -le \$((3 * $2)) && test $3 -eq 0 && test $4 -eq 0"
done
check "the picture bounds dot's node placement passes (nslimit)" grep -q "nslimit=2;" "$tmp/t2.dot"

if command -v dot >/dev/null 2>&1; then
    "$lmg" dot "$tmp/run/train.pb" -o "$tmp/t.dot" 2>"$tmp/err"
    start=$(date +%s.%N)
    timeout 60 dot -Tsvg "$tmp/t.dot" -o "$tmp/t.svg" 2>"$tmp/err"
    rc=$?
    secs=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.2f", $1 - $2 }')
    nodes=$("$lmg" verify "$tmp/run/train.pb" | sed -n 's/.*: ok: \([0-9]*\) nodes.*/\1/p')
    check "Graphviz lays out the 4-layer training graph ($nodes nodes) in ${secs} s (< 10 s)" \
        sh -c "test $rc -eq 0 && grep -q '<svg' '$tmp/t.svg' && awk 'BEGIN { exit !($secs < 10) }'"
else
    ok "Graphviz layout time # SKIP graphviz is not installed"
fi
[ "$fails" -eq 0 ]
