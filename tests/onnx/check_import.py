"""check_import.py — `lmg import onnx`: the shipped tests/onnx/small.onnx (made by
make_small.py) imports, runs like onnxruntime and NumPy, and differentiates like central
differences of the NumPy model; export -> import -> export reaches a fixed point (the small
model and a GPT); GatherElements on the last axis imports as TakeAlong, negative indices
counted from the end as in ONNX; ops that do not map are listed all at once with their nodes.

usage: python check_import.py LMG WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

import make_small
from common import Tap, lmg, max_rel, ort_session

HERE = os.path.dirname(os.path.abspath(__file__))
B = 5


def graph_part(path):
    """Nodes in order; initializers by name (their order carries no meaning)."""
    m = onnx.load(path)
    return (list(m.graph.node), sorted(m.graph.initializer, key=lambda t: t.name),
            list(m.graph.input), list(m.graph.output))


def fixed_point(tap, exe, work, name, first, dims):
    """export(import(E)) must equal export(import(export(import(E))))."""
    p1, e1 = os.path.join(work, f"{name}_p1.pb"), os.path.join(work, f"{name}_e1.onnx")
    p2, e2 = os.path.join(work, f"{name}_p2.pb"), os.path.join(work, f"{name}_e2.onnx")
    lmg(exe, "import", "onnx", first, "-o", p1, *dims, "-q")
    lmg(exe, "export", "onnx", p1, "--static", "-o", e1, "-q")
    lmg(exe, "import", "onnx", e1, "-o", p2, "-q")
    lmg(exe, "export", "onnx", p2, "--static", "-o", e2, "-q")
    a, b = graph_part(e1), graph_part(e2)
    same = [x == y for x, y in zip(a, b)]
    tap.check(f"{name}: export -> import -> export is a fixed point (nodes {len(a[0])}, "
              f"initializers {len(a[1])})", all(same), f"nodes, inits, inputs, outputs equal: {same}")
    return e1


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    shipped = os.path.join(HERE, "small.onnx")
    tap.check("tests/onnx/small.onnx is what make_small.py makes",
              onnx.load(shipped).graph == make_small.build().graph)

    # import and run
    pb = os.path.join(work, "small.pb")
    out = lmg(exe, "import", "onnx", shipped, "-o", pb, "--dim", "batch=5")
    tap.check("import names its parameters (6)", "6 parameters" in out, out)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, 6)).astype(np.float32)
    t = rng.random((B, 4)).astype(np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "t.npy"), t)
    feeds = f"x={work}/x.npy,t={work}/t.npy"
    res = os.path.join(work, "small_out.npz")
    lmg(exe, "run", pb, "--backend", "ref", "--inputs", feeds, "--save", res)
    with np.load(res) as z:
        got = {k: z[k] for k in z.files}
    ort_out = dict(zip([o.name for o in ort_session(shipped).get_outputs()],
                       ort_session(shipped).run(None, {"x": x, "t": t})))
    w = make_small.weights()
    ref = dict(zip(("y", "probs", "loss"), make_small.forward(
        {k: v.astype(np.float64) for k, v in w.items()}, x.astype(np.float64), t.astype(np.float64))))
    for name in ("y", "probs", "loss"):
        e1, e2 = max_rel(got[name], ort_out[name]), max_rel(got[name], ref[name])
        tap.check(f"imported model runs: {name} vs onnxruntime {e1:.1e}, vs NumPy f64 {e2:.1e} "
                  "(<= 1e-5)", e1 <= 1e-5 and e2 <= 1e-5)

    # differentiate
    gpb = os.path.join(work, "small_grad.pb")
    lmg(exe, "autodiff", pb, "--loss", "loss", "-o", gpb)
    gres = os.path.join(work, "small_grad.npz")
    lmg(exe, "run", gpb, "--backend", "ref", "--inputs", feeds, "--save", gres)
    with np.load(gres) as z:
        grads = {k: z[k] for k in z.files}
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    worst = (0.0, "")
    for p in w:
        num = np.zeros_like(w64[p])
        for i in np.ndindex(*w64[p].shape):
            h = 1e-6
            wp = {k: v.copy() for k, v in w64.items()}
            wp[p][i] += h
            lp = make_small.forward(wp, x.astype(np.float64), t.astype(np.float64))[2]
            wp[p][i] -= 2 * h
            lm = make_small.forward(wp, x.astype(np.float64), t.astype(np.float64))[2]
            num[i] = (lp - lm) / (2 * h)
        err = max_rel(grads["grad/" + p], num)
        worst = max(worst, (err, p))
    tap.check(f"imported model differentiates: every grad/<param> vs central differences, worst "
              f"{worst[0]:.1e} ({worst[1]}) <= 1e-4", worst[0] <= 1e-4)

    # fixed points
    e1 = fixed_point(tap, exe, work, "small", shipped, ["--dim", "batch=5"])
    r1 = ort_session(e1).run(None, {"x": x, "t": t})
    tap.check("the re-exported small model runs in onnxruntime like the original",
              max_rel(r1[0], ort_out["y"]) <= 1e-6)
    gpt = os.path.join(work, "gpt_none.pb")
    lmg(exe, "build", "--model", "gpt", "--layers", "2", "--heads", "2", "--d-model", "32",
        "--d-ff", "64", "--vocab", "64", "--seq", "8", "--batch", "2", "--objective", "none",
        "-o", gpt, "-q")
    e0 = os.path.join(work, "gpt_e0.onnx")
    lmg(exe, "export", "onnx", gpt, "--static", "-o", e0, "-q")
    e1 = fixed_point(tap, exe, work, "gpt", e0, [])
    ids = rng.integers(0, 64, (2, 8)).astype(np.int32)
    a = ort_session(e0).run(["logits"], {"ids": ids})[0]
    b = ort_session(e1).run(["logits"], {"ids": ids})[0]
    tap.check(f"the imported GPT re-exported gives the same logits ({max_rel(b, a):.1e})",
              max_rel(b, a) <= 1e-6)

    # GatherElements -> TakeAlong: f32 and int32 data, int64 and int32 indices from -N to N-1
    g = helper.make_graph(
        [helper.make_node("GatherElements", ["x", "i"], ["y"], name="pick", axis=-1),
         helper.make_node("GatherElements", ["xi", "j"], ["yi"], name="pick_i", axis=2)],
        "gather", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5]),
                   helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3, 7]),
                   helper.make_tensor_value_info("xi", TensorProto.INT32, [2, 3, 5]),
                   helper.make_tensor_value_info("j", TensorProto.INT32, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 7]),
         helper.make_tensor_value_info("yi", TensorProto.INT32, [2, 3, 4])])
    gm = os.path.join(work, "gather.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), gm)
    gpb = os.path.join(work, "gather.pb")
    lmg(exe, "import", "onnx", gm, "-o", gpb, "-q")
    feeds = {"x": rng.standard_normal((2, 3, 5)).astype(np.float32),
             "i": rng.integers(-5, 5, (2, 3, 7)).astype(np.int64),
             "xi": rng.integers(-99, 99, (2, 3, 5)).astype(np.int32),
             "j": rng.integers(-5, 5, (2, 3, 4)).astype(np.int32)}
    for k, v in feeds.items():
        np.save(os.path.join(work, f"g_{k}.npy"), v)
    res = os.path.join(work, "gather_out.npz")
    lmg(exe, "run", gpb, "--backend", "ref", "--save", res,
        "--inputs", ",".join(f"{k}={work}/g_{k}.npy" for k in feeds))
    with np.load(res) as z:
        mine = {k: z[k] for k in z.files}
    theirs = dict(zip(("y", "yi"), ort_session(gm).run(None, feeds)))
    text = lmg(exe, "print", gpb)
    tap.check("GatherElements on the last axis imports as TakeAlong: equal to onnxruntime with "
              "negative indices", "TakeAlong" in text and np.array_equal(mine["y"], theirs["y"])
              and np.array_equal(mine["yi"], theirs["yi"]), f"{mine}\n{theirs}")

    # ops that do not map: every one is listed, with its node, in one line
    g = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["e"], name="gelu_erf"),
         helper.make_node("Add", ["e", "x"], ["s"], name="fine"),
         helper.make_node("Sin", ["s"], ["y"], name="wave")],
        "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    bad = os.path.join(work, "unmapped.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), bad)
    r = subprocess.run([exe, "import", "onnx", bad, "-o", os.path.join(work, "bad.pb")],
                       capture_output=True, text=True)
    err = r.stderr.strip()
    tap.check("unmapped ops: exit 1, one line listing Erf (node 'gelu_erf') and Sin (node 'wave')",
              r.returncode == 1 and len(err.splitlines()) == 1 and "Erf (node 'gelu_erf')" in err
              and "Sin (node 'wave')" in err and "fine" not in err, err)
    g = helper.make_graph(
        [helper.make_node("GatherElements", ["x", "k"], ["z"], name="rows", axis=0)], "rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [2, 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])])
    bad = os.path.join(work, "rows.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), bad)
    r = subprocess.run([exe, "import", "onnx", bad, "-o", os.path.join(work, "rows.pb")],
                       capture_output=True, text=True)
    err = r.stderr.strip()
    tap.check("GatherElements on axis 0: exit 1, one line naming node 'rows' and the last axis",
              r.returncode == 1 and len(err.splitlines()) == 1 and "'rows'" in err
              and "last axis" in err, err)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
