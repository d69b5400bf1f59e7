"""check_training.py — `lmg export onnx --training`: one training step (forward, backward,
clipping, AdamW) run by onnxruntime against the same step of lmgraph's reference backend, for
a GPT with dropout, a BERT (MLM corruption) and BERTs with the sample objectives span.lmgt
(SpanMask) and denoise.lmgt (ArgSort, TakeAlong, RandomInt, Bernoulli): the random draws are
fed to onnxruntime from `--write-draws`, and both start from the same non-zero AdamW moments
at step 5.

usage: python check_training.py LMG WORKDIR [gpt-s]   (gpt-s: BENCH.md's GPT-S, GPT only)
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from common import Tap, lmg, max_rel, ort_session

TOL = 1e-5
B, T, STEP = 2, 8, 5
MODEL = ["--layers", "2", "--heads", "2", "--d-model", "32", "--d-ff", "64", "--vocab", "64",
         "--seq", str(T), "--batch", str(B)]


def main():
    global B, T, MODEL
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    rng = np.random.default_rng(3)
    objectives = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples",
                              "objectives")
    kinds = (("gpt", ["--model", "gpt", "--dropout", "0.1"]), ("bert", ["--model", "bert"]),
             ("span", ["--model", "bert", "--objective-graph", f"{objectives}/span.lmgt"]),
             ("denoise", ["--model", "bert", "--objective-graph", f"{objectives}/denoise.lmgt"]))
    if sys.argv[3:] == ["gpt-s"]:
        B, T = 8, 128
        MODEL = ["--layers", "4", "--heads", "4", "--d-model", "256", "--d-ff", "1024",
                 "--vocab", "4096", "--seq", str(T), "--batch", str(B)]
        kinds = kinds[:1]
    for kind, extra in kinds:
        fwd = os.path.join(work, f"{kind}_fwd.pb")
        lmg(exe, "build", *MODEL, *extra, "-o", fwd, "-q")
        model = os.path.join(work, f"{kind}_train.onnx")
        step_pb = os.path.join(work, f"{kind}_train.pb")
        draws = os.path.join(work, f"{kind}_draws.npz")
        lmg(exe, "export", "onnx", fwd, "--training", "-o", model, "--save-graph", step_pb,
            "--write-draws", draws, "--step", str(STEP), "-q")
        try:
            onnx.checker.check_model(model, full_check=True)
            tap.ok(f"{kind} training step: onnx.checker accepts the export")
        except Exception as e:  # noqa: BLE001
            tap.fail(f"{kind} training step: onnx.checker accepts the export", str(e))
        m = onnx.load(model)
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        sess = ort_session(model)
        in_names = {i.name for i in m.graph.input}
        V = int(MODEL[MODEL.index("--vocab") + 1])
        feeds = {"ids": rng.integers(5, V, (B, T)).astype(np.int32),
                 "lr": np.array(3e-3, dtype=np.float32),
                 "step": np.array(STEP, dtype=np.int32)}
        if "targets" in in_names:
            t = rng.integers(0, V, (B, T)).astype(np.int32)
            t[0, 0] = -100
            feeds["targets"] = t
        params = sorted(n[len("adam.m/"):] for n in in_names if n.startswith("adam.m/"))
        for p in params:  # moments of an earlier step: m any sign, v positive
            feeds[p] = inits[p]
            feeds["adam.m/" + p] = (rng.standard_normal(inits[p].shape) * 1e-3).astype(np.float32)
            feeds["adam.v/" + p] = (rng.random(inits[p].shape) * 1e-5).astype(np.float32)
        args = []
        for name, arr in feeds.items():
            path = os.path.join(work, f"{kind}_in_{name.replace('/', '_')}.npy")
            np.save(path, arr)
            args.append(f"{name}={path}")
        with np.load(draws) as z:
            for k in z.files:
                feeds[k] = z[k]
        tap.check(f"{kind}: the draws cover every draw input",
                  all(n in feeds for n in in_names if n.startswith("draw/")),
                  sorted(n for n in in_names if n.startswith("draw/") and n not in feeds))
        outs = ["loss", "grad_norm"] + [q for p in params for q in (p, "adam.m/" + p, "adam.v/" + p)]
        res = os.path.join(work, f"{kind}_step.npz")
        cmd = ["run", step_pb, "--backend", "ref", "--inputs", ",".join(args), "--step", str(STEP),
               "--save", res]
        for o in outs:
            cmd += ["--output", o]
        lmg(exe, *cmd)
        names = [o.name for o in sess.get_outputs()]
        got = dict(zip(names, sess.run(None, feeds)))
        with np.load(res) as z:
            want = {k: z[k] for k in z.files}
        worst = {}
        for o in outs:
            key = o if o in ("loss", "grad_norm") else "new/" + o
            group = "loss" if o == "loss" else "grad_norm" if o == "grad_norm" else \
                "adam.m" if o.startswith("adam.m/") else "adam.v" if o.startswith("adam.v/") else "param"
            err = max_rel(got[key], want[o])
            if err >= worst.get(group, (-1, ""))[0]:
                worst[group] = (err, o)
        for group in ("loss", "grad_norm", "param", "adam.m", "adam.v"):
            err, o = worst[group]
            tap.check(f"{kind} step {STEP}: {group} max rel err {err:.2e} <= {TOL:g} (worst: {o})",
                      err <= TOL)
        moved = max(float(np.max(np.abs(got["new/" + p] - feeds[p]))) for p in params)
        tap.check(f"{kind}: the step moves the parameters ({moved:.2e})", moved > 1e-4)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
