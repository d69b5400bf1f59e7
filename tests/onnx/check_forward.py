"""check_forward.py — exported forward graphs against `lmg run`: GPT, BERT and a user graph (with
ops that are one ONNX node from ops/elementwise.def's ONNX column, as Sigmoid),
each exported once and run by onnxruntime at two (batch, seq) sizes on the symbolic axes,
compared with lmgraph's reference backend on graphs built at those sizes. Prints TAP lines.

usage: python check_forward.py LMG WORKDIR
"""
import os
import sys

import numpy as np
import onnx

from common import Tap, lmg, max_rel, ort_session

TOL = 1e-5
SIZES = [(2, 8), (3, 5)]  # the first is the exported graph's own size
MODEL = ["--layers", "2", "--heads", "2", "--d-model", "32", "--d-ff", "64", "--vocab", "64"]

USER = """lmgraph ir 1 opset 1
graph "user" {{
  input x : f32[{B},{T},16]
  input targets : i32[{B},{T}]
  param w1 : f32[16,24] = zeros
  param w2 : f32[24,10] = zeros
  param pos : f32[{T},16] = zeros
  node xp = Add(x, pos)
  node h = MatMul(xp, w1)
  node a = Relu(h)
  node s = Softmax(a)
  node logits = MatMul(s, w2)
  node sq = Mul(logits, logits)
  node m = ReduceMean(sq) {{axes = ints[-1], keepdims = 0}}
  node r = Rsqrt(m)
  node ce = CrossEntropy(logits, targets)
  node half = Scale(ce) {{alpha = 0.5, beta = 0.25}}
  node loss = Add(half, r)
  node squash = Sigmoid(logits)
  output loss, logits, squash
}}
"""


def user_graph(work, B, T):
    """The user graph at size (B, T) with weights that do not depend on the size: pos is
    the first T rows of one fixed table, so the two sizes share their parameters."""
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((16, 24)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((24, 10)).astype(np.float32) * 0.3
    pos = rng.standard_normal((8, 16)).astype(np.float32)[:T]
    text = USER.format(B=B, T=T)
    for name, arr in (("w1", w1), ("w2", w2), ("pos", pos)):
        vals = ", ".join(repr(float(v)) for v in arr.ravel())
        shape = ",".join(str(d) for d in arr.shape)
        text = text.replace(f"param {name} : f32[{shape}] = zeros",
                            f"param {name} : f32[{shape}] = [{vals}]")
    path = os.path.join(work, f"user_{B}x{T}.lmgt")
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    rng = np.random.default_rng(1)
    for kind in ("gpt", "bert", "user"):
        graphs = {}
        for B, T in SIZES:
            if kind == "user":
                graphs[B, T] = user_graph(work, B, T)
            else:
                graphs[B, T] = os.path.join(work, f"{kind}_{B}x{T}.pb")
                lmg(exe, "build", "--model", kind, *MODEL, "--seq", str(T), "--batch", str(B),
                    "-o", graphs[B, T], "-q")
        model = os.path.join(work, f"{kind}.onnx")
        out = lmg(exe, "export", "onnx", graphs[SIZES[0]], "-o", model, "--draws")
        try:
            onnx.checker.check_model(model, full_check=True)
            tap.ok(f"{kind}: onnx.checker accepts the export")
        except Exception as e:  # noqa: BLE001 - any checker failure is the test's failure
            tap.fail(f"{kind}: onnx.checker accepts the export", str(e))
        m = onnx.load(model)
        dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
                for i in m.graph.input}
        first = dims["x" if kind == "user" else "ids"]
        tap.check(f"{kind}: batch and seq are symbolic ({first})", first[:2] == ["batch", "seq"],
                  out)
        sess = ort_session(model)
        names = [o.name for o in sess.get_outputs()]
        for B, T in SIZES:
            feeds = {}
            if kind == "user":
                feeds["x"] = rng.standard_normal((B, T, 16)).astype(np.float32)
                t = rng.integers(0, 10, (B, T)).astype(np.int32)
            else:
                feeds["ids"] = rng.integers(5, 64, (B, T)).astype(np.int32)
                t = rng.integers(0, 64, (B, T)).astype(np.int32)
            t[0, 0] = -100  # an ignored position
            feeds["targets"] = t
            wanted = {i.name for i in sess.get_inputs()}
            feeds = {k: v for k, v in feeds.items() if k in wanted}
            inputs = []
            for name, arr in feeds.items():
                p = os.path.join(work, f"{kind}_{B}x{T}_{name}.npy")
                np.save(p, arr)
                inputs.append(f"{name}={p}")
            if kind == "bert":  # the corruption's draws, as lmg run draws them at step 0
                dpath = os.path.join(work, f"{kind}_{B}x{T}_draws.npz")
                lmg(exe, "export", "onnx", graphs[B, T], "-o", os.path.join(work, "scratch.onnx"),
                    "--draws", "--write-draws", dpath, "--step", "0", "-q")
                with np.load(dpath) as z:
                    for k in z.files:
                        feeds[k] = z[k]
            res = os.path.join(work, f"{kind}_{B}x{T}_out.npz")
            lmg(exe, "run", graphs[B, T], "--backend", "ref", "--inputs", ",".join(inputs),
                "--step", "0", "--save", res)
            got = dict(zip(names, sess.run(None, feeds)))
            with np.load(res) as z:
                want = {k: z[k] for k in z.files}
            for name in ("logits", "loss") + (("squash",) if kind == "user" else ()):
                err = max_rel(got[name], want[name])
                tap.check(f"{kind} B={B} T={T}: {name} max rel err {err:.2e} <= {TOL:g}",
                          err <= TOL, f"shapes {got[name].shape} {want[name].shape}")
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
