"""check_objectives.py — the ops of user objectives in onnxruntime against `lmg run`: ArgSort
(ties, NaN, -0, +inf), TakeAlong (f32 and i32, indices out of range) and SpanMask (fed its
draws) in a small graph at two sizes on the symbolic axes, with the Slices that keep seq
symbolic (seq-1 and back by a Concat) or take a static range; then BERT trained by the
sample objectives span.lmgt and denoise.lmgt. Ids and masks must be equal; losses within 1e-5.

usage: python check_objectives.py LMG WORKDIR
"""
import os
import sys

import numpy as np
import onnx

from common import Tap, lmg, max_rel, ort_session

TOL = 1e-5
SIZES = [(3, 16), (2, 41)]  # the first is the exported graph's own size
MODEL_SIZES = [(3, 16), (2, 11)]  # learned positions: no longer than the exported seq
MODEL = ["--model", "bert", "--layers", "1", "--heads", "2", "--d-model", "16", "--d-ff", "32",
         "--vocab", "64"]

OPS = """lmgraph ir 1 opset 1
graph "objective_ops" {{
  input x : f32[{B},{T}]
  input xi : i32[{B},{T}]
  input idx : i32[{B},{T}]
  const zcol : f32[{B},1] = zeros
  node order = ArgSort(x)
  node sorted = TakeAlong(x, order)
  node picked = TakeAlong(x, idx)
  node picked_i = TakeAlong(xi, idx)
  node spans = SpanMask(x) {{p = 0.3, len_p = 0.35, max_len = 7, seed = 5, key = 11}}
  node single = SpanMask(xi) {{p = 0.5, len_p = 0.5, max_len = 1, key = 12}}
  node long = SpanMask(x) {{p = 0.05, len_p = 0.02, max_len = 64, key = 13}}
  node whole = SpanMask(x) {{p = 1.0, len_p = 1.0, max_len = 3, key = 14}}
  node tail = Slice(x) {{axis = 1, start = 1}}
  node inner = Slice(x) {{axis = 1, start = 0, end = -1}}
  node head2 = Slice(x) {{axis = 1, start = 0, end = 2}}
  node last2 = Slice(x) {{axis = 1, start = -2}}
  node shifted = Concat(tail, zcol) {{axis = 1}}
  output order, sorted, picked, picked_i, spans, single, long, whole
  output tail, inner, head2, last2, shifted
}}
"""


def feeds_for(rng, B, T):
    # keys from a few values so rows have many ties, with NaN, +-inf and -0 among them
    x = rng.choice(np.array([0.5, -1.0, 2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 0.5, 2.0],
                            dtype=np.float32), (B, T))
    x[0, :4] = [np.nan, np.inf, np.nan, np.inf]  # NaN after +inf, each in its own order
    xi = rng.integers(-50, 50, (B, T)).astype(np.int32)
    idx = rng.integers(-3, T + 3, (B, T)).astype(np.int32)  # some outside [0, T)
    idx[0, :3] = [-1, T, -T]
    return {"x": x, "xi": xi, "idx": idx}


def draws(exe, graph, work, tag):
    """The draws `lmg run --step 0` makes, as the export's draw inputs."""
    path = os.path.join(work, f"{tag}_draws.npz")
    lmg(exe, "export", "onnx", graph, "-o", os.path.join(work, "scratch.onnx"), "--draws",
        "--write-draws", path, "--step", "0", "-q")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def run_ref(exe, graph, work, tag, feeds):
    inputs = []
    for name, arr in feeds.items():
        p = os.path.join(work, f"{tag}_{name.replace('/', '_')}.npy")
        np.save(p, arr)
        inputs.append(f"{name}={p}")
    res = os.path.join(work, f"{tag}_out.npz")
    args = ["run", graph, "--backend", "ref", "--step", "0", "--save", res]
    if inputs:
        args += ["--inputs", ",".join(inputs)]
    lmg(exe, *args)
    with np.load(res) as z:
        return {k: z[k] for k in z.files}


def equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def export_symbolic(exe, graph, model, tap, what):
    """Export graph with its draws to model, check it with onnx.checker and that batch and
    seq stay symbolic; an onnxruntime session of it and its output names."""
    out = lmg(exe, "export", "onnx", graph, "-o", model, "--draws")
    onnx.checker.check_model(model, full_check=True)
    m = onnx.load(model)
    seq = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    tap.check(f"{what}: checker accepts the export, batch and seq symbolic ({seq})",
              seq == ["batch", "seq"], out)
    sess = ort_session(model)
    return sess, [o.name for o in sess.get_outputs()]


def check_ops(exe, work, tap):
    rng = np.random.default_rng(3)
    graphs = {}
    for B, T in SIZES:
        graphs[B, T] = os.path.join(work, f"ops_{B}x{T}.lmgt")
        with open(graphs[B, T], "w") as f:
            f.write(OPS.format(B=B, T=T))
    model = os.path.join(work, "ops.onnx")
    sess, names = export_symbolic(exe, graphs[SIZES[0]], model, tap, "objective ops")
    for B, T in SIZES:
        feeds = feeds_for(rng, B, T)
        want = run_ref(exe, graphs[B, T], work, f"ops_{B}x{T}", feeds)
        feeds.update(draws(exe, graphs[B, T], work, f"ops_{B}x{T}"))
        got = dict(zip(names, sess.run(None, feeds)))
        for name in names:
            same = equal(got[name], want[name])
            diff = "" if same else f"got {got[name][0][:12]}\nwant {want[name][0][:12]}"
            tap.check(f"objective ops B={B} T={T}: {name} equals lmg run", same, diff)
        spans = want["spans"]
        tap.check(f"objective ops B={B} T={T}: the span masks are not trivial "
                  f"({spans.mean():.2f} of spans, {want['whole'].mean():.2f} of whole)",
                  0.1 < spans.mean() < 0.95 and want["whole"].min() == 1.0)


def check_sample(exe, work, tap, name):
    rng = np.random.default_rng(5)
    src = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "objectives",
                       f"{name}.lmgt")
    graphs = {}
    for B, T in MODEL_SIZES:
        graphs[B, T] = os.path.join(work, f"{name}_{B}x{T}.pb")
        lmg(exe, "build", *MODEL, "--seq", str(T), "--batch", str(B), "--objective-graph", src,
            "-o", graphs[B, T], "-q")
    model = os.path.join(work, f"{name}.onnx")
    sess, names = export_symbolic(exe, graphs[MODEL_SIZES[0]], model, tap, f"{name}.lmgt")
    for B, T in MODEL_SIZES:
        feeds = {"ids": rng.integers(5, 64, (B, T)).astype(np.int32)}
        want = run_ref(exe, graphs[B, T], work, f"{name}_{B}x{T}", feeds)
        feeds.update(draws(exe, graphs[B, T], work, f"{name}_{B}x{T}"))
        wanted = {i.name for i in sess.get_inputs()}
        got = dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in wanted})))
        for out_name in names:
            w, g = want[out_name], got[out_name]
            if w.dtype == np.int32 or out_name.endswith("mask"):
                tap.check(f"{name} B={B} T={T}: {out_name} equals lmg run", equal(g, w),
                          f"got {g.ravel()[:12]}\nwant {w.ravel()[:12]}")
            elif out_name.startswith("loss") or out_name == "logits":
                err = max_rel(g, w)
                tap.check(f"{name} B={B} T={T}: {out_name} max rel err {err:.1e} <= {TOL:g}",
                          err <= TOL)


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    check_ops(exe, work, tap)
    for name in ("span", "denoise"):
        check_sample(exe, work, tap, name)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
