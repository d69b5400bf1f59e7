#!/bin/sh
# cli_python.sh — the Python package in a venv under build/: `pip install ./python` (lmg_pb2.py
# and the op methods generated at build time), C shape errors as exceptions, text and .pb
# round trips through the lmg command, safetensors helpers, and samples/python/next2.py
# training its objective with `lmg train --objective-graph`.
. "$(dirname "$0")/common.sh"
dir=${LMG_BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
lmg=$root/$dir/lmg
if [ ! -e "$root/$dir/liblmg.so.0" ]; then
    echo "ok - # SKIP $dir has no liblmg.so (the release build makes it)"
    exit 0
fi
venv=$root/build/pyvenv
py=$venv/bin/python
if [ ! -x "$py" ]; then
    ${PYTHON:-python3} -m venv "$venv" >"$tmp/log" 2>&1 ||
        { notok "python3 -m venv (Debian: python3-venv): $(tail -n 1 "$tmp/log")"; exit 1; }
fi
"$py" -m pip install -q --disable-pip-version-check "$root/python" >"$tmp/log" 2>&1
rc=$?
rm -rf "$root/python/build" "$root/python/lmgraph.egg-info"
if [ $rc -ne 0 ]; then
    notok "pip install ./python: $(tail -n 3 "$tmp/log" | tr '\n' ' ')"
    exit 1
fi
ok "pip install ./python into build/pyvenv"
export LMG_LIBRARY="$root/$dir/liblmg.so.0"

# The ctypes mirrors of lmgraph.h's structs must keep the C layout: a field added in C only
# shifts every element of g.values after the first.
cat >"$tmp/layout.c" <<'EOF'
#include <stdio.h>
#include "lmgraph.h"
int main(void)
{
    printf("Shape %zu\nAttr %zu\nValue %zu\nGraph %zu\nDotOpts %zu\n", sizeof(lmg_shape),
           sizeof(lmg_attr), sizeof(lmg_value), sizeof(lmg_graph), sizeof(lmg_dot_opts));
    return 0;
}
EOF
if ${CC:-gcc} -std=c11 -I "$root/include" "$tmp/layout.c" -o "$tmp/layout" 2>"$tmp/log" &&
    "$tmp/layout" >"$tmp/sizes"; then
    bad=$("$py" -c '
import ctypes, sys
from lmgraph import _clib
for line in open(sys.argv[1]):
    name, size = line.split()
    if ctypes.sizeof(getattr(_clib, name)) != int(size):
        print(f"{name}: C {size}, ctypes {ctypes.sizeof(getattr(_clib, name))}")
' "$tmp/sizes" | tr '\n' ' ')
    if [ -z "$bad" ]; then ok "the ctypes structs have the sizes of lmgraph.h's"
    else notok "ctypes structs differ from lmgraph.h: $bad"; fi
else
    notok "the layout probe does not build: $(head -n 1 "$tmp/log")"
fi

cd "$tmp" || exit 1
"$py" - "$root/ops/ops.def" <<'PYEOF'
import re, sys
import numpy as np
import lmgraph as lg
from lmgraph import lmg_pb2

def check(name, cond):
    print(("ok - " if cond else "not ok - ") + name)

ops = [l for l in open(sys.argv[1]) if l.startswith("LMG_OP(")]
names = [re.match(r"LMG_OP\(\s*(\w+),", l).group(1).lower() for l in ops]
check(f"the builder has one method per op of ops.def ({len(ops)})",
      len(lg.OPS) == len(ops) and all(callable(getattr(lg.Graph, n, None)) for n in names))

g = lg.Graph("bad")
x = g.input("x", "f32", [4, 8])
try:
    g.matmul(x, x, name="mm")
    check("a shape error raises LmgError", False)
except lg.LmgError as e:
    check("a shape error raises LmgError with the C message naming node and values",
          "node 'mm' (MatMul)" in str(e) and "[4,8]" in str(e))

g = lg.Graph("mlp")
x = g.input("x", "f32", [4, 8])
w = g.param("w", np.arange(24, dtype=np.float32).reshape(8, 3) / 10)
b = g.param("b", dtype="f32", shape=[3])
h = g.gelu(x @ w + b)
y = g.reduce_mean(g.mul(h, h), name="loss")
g.output(y)
check("shapes come back from the C inference", h.shape == (4, 3) and y.shape == () and
      y.dtype == "f32")
open("mlp.lmgt", "w").write(g.to_text())
import zlib
w_line = [l for l in g.to_text(weights=False).splitlines() if l.startswith("  param w ")]
check("to_text(weights=False) gives zlib's CRC-32 of the array",
      w_line == ["  param w : f32[8,3] = <96 bytes, crc32 0x%08x>" %
                 zlib.crc32((np.arange(24, dtype=np.float32).reshape(8, 3) / 10).tobytes())])
d = g.to_dot(depth=0)
check("to_dot(depth=0) draws a DOT digraph", d.startswith('digraph "mlp"'))
g.save("mlp.pb", external_min_bytes=16)
m = g.to_proto()
check("to_proto gives an lmg_pb2.Model with the nodes in order",
      isinstance(m, lmg_pb2.Model) and [n.op for n in m.graph.nodes] ==
      ["MatMul", "Add", "Gelu", "Mul", "ReduceMean"])
check("load_proto reads the saved .pb", [n.name for n in lg.load_proto("mlp.pb").graph.nodes]
      == [n.name for n in m.graph.nodes])
st = lg.load_safetensors("mlp.safetensors")
check("the C writer's external weights read back as the arrays given",
      np.array_equal(st["w"], np.arange(24, dtype=np.float32).reshape(8, 3) / 10))
back = lg.Graph.load("mlp.pb")
check("Graph.load gives the same weights", all(np.array_equal(back.weights()[k], v)
                                               for k, v in g.weights().items()))
t = {"a": np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32),
     "ids": np.arange(7, dtype=np.int32), "s": np.float32(2.5)}
lg.save_safetensors("t.safetensors", t, {"step": 7})
r, meta = lg.load_safetensors("t.safetensors", with_metadata=True)
check("save_safetensors/load_safetensors round trip (f32, i32, scalar, metadata)",
      all(np.array_equal(r[k], v) and r[k].dtype == np.asarray(v).dtype and
          r[k].shape == np.shape(v) for k, v in t.items()) and meta == {"step": "7"})
PYEOF
[ $? -eq 0 ] || notok "the Python checks ran to the end"

"$lmg" parse mlp.lmgt -o parsed.pb >/dev/null 2>"$tmp/err" && "$lmg" print parsed.pb >printed.lmgt 2>>"$tmp/err"
check "to_text parses with lmg parse and prints back identically" cmp -s mlp.lmgt printed.lmgt
check "lmg verify accepts the saved .pb" "$lmg" verify -q mlp.pb

LMG=$lmg "$py" "$root/samples/python/next2.py" --out run --save next2.pb --batch 4 --seq 16 \
    --d-model 32 --vocab 300 -- --layers 1 --heads 2 --d-ff 64 --backend ref --steps 4 \
    --eval-every 4 --eval-batches 1 --samples 0 --corpus /usr/share/games/fortunes/art \
    >"$tmp/out" 2>&1
check "samples/python/next2.py trains (exit 0)" test $? -eq 0
check "its run has 4 finite training losses near 1.5 ln(300) = 8.56" awk -F'"loss":' '
    /"split":"train"/ { n++; split($2, a, ","); v = a[1] + 0; if (!(v > 7 && v < 10)) bad = 1 }
    END { exit !(n == 4 && !bad) }' run/metrics.jsonl
check "the Python objective is linked into the training graph (obj/logits2, trainable obj/P)" \
    sh -c "'$lmg' print run/train.pb 2>/dev/null | grep -q 'obj/logits2' &&
           '$lmg' print run/train.pb 2>/dev/null | grep -q '^  param obj/P '"
[ "$fails" -eq 0 ]
