"""bench_gpts.py — the figures of the README's ONNX section for GPT-S (BENCH.md): export times
of `lmg export onnx` and of `--training` (wall clock, median of 5) and the parity of onnxruntime with `lmg run`
(reference backend) for logits and loss at the built size and a smaller one on the symbolic
axes. Not a test: it prints what it measured. The training step's parity at GPT-S is
`check_training.py LMG WORKDIR gpt-s`.

usage: python bench_gpts.py LMG WORKDIR
"""
import os
import statistics
import sys
import time

import numpy as np
import onnx

from common import lmg, max_rel, ort_session

GPTS = ["--model", "gpt", "--layers", "4", "--heads", "4", "--d-model", "256", "--d-ff", "1024",
        "--vocab", "4096"]


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    sizes = [(8, 128), (2, 64)]
    graphs = {}
    for B, T in sizes:
        graphs[B, T] = os.path.join(work, f"gpts_{B}x{T}.pb")
        lmg(exe, "build", *GPTS, "--seq", str(T), "--batch", str(B), "-o", graphs[B, T], "-q")
    model = os.path.join(work, "gpts.onnx")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        lmg(exe, "export", "onnx", graphs[sizes[0]], "-o", model, "-q")
        times.append(time.perf_counter() - t0)
    size = os.path.getsize(model) + (os.path.getsize(model + ".data")
                                     if os.path.exists(model + ".data") else 0)
    print(f"GPT-S export: median {statistics.median(times):.3f} s (min {min(times):.3f}, "
          f"max {max(times):.3f}) over 5, {size / 1e6:.1f} MB written")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        lmg(exe, "export", "onnx", graphs[sizes[0]], "--training", "-o",
            os.path.join(work, "gpts_train.onnx"), "-q")
        times.append(time.perf_counter() - t0)
    print(f"GPT-S training-step export: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}) over 5")
    t0 = time.perf_counter()
    onnx.checker.check_model(model, full_check=True)
    print(f"onnx.checker full_check: ok ({time.perf_counter() - t0:.2f} s)")
    sess = ort_session(model)
    rng = np.random.default_rng(0)
    for B, T in sizes:
        ids = rng.integers(0, 4096, (B, T)).astype(np.int32)
        tg = rng.integers(0, 4096, (B, T)).astype(np.int32)
        np.save(os.path.join(work, "ids.npy"), ids)
        np.save(os.path.join(work, "t.npy"), tg)
        res = os.path.join(work, "out.npz")
        t0 = time.perf_counter()
        lmg(exe, "run", graphs[B, T], "--backend", "ref", "--inputs",
            f"ids={work}/ids.npy,targets={work}/t.npy", "--save", res)
        t_lmg = time.perf_counter() - t0
        with np.load(res) as z:
            want = {k: z[k] for k in z.files}
        t0 = time.perf_counter()
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"ids": ids, "targets": tg})))
        t_ort = time.perf_counter() - t0
        print(f"B={B} T={T}: logits max rel err {max_rel(got['logits'], want['logits']):.2e}, "
              f"loss {max_rel(got['loss'], want['loss']):.2e} "
              f"(lmg run ref {t_lmg:.1f} s, onnxruntime {t_ort:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
