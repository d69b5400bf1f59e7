#!/usr/bin/env python3
"""next2.py — a training objective written in Python: next-token cross-entropy plus half the
cross-entropy of predicting the token after next through a second, adapted head (the same
objective as samples/objectives/next2.lmgt). Builds it, saves it and trains it with
`lmg train --objective-graph`.

  pip install ./python
  python3 samples/python/next2.py --out runs/next2 -- --steps 200    # after -- : lmg train
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

import lmgraph as lg


def next2_objective(batch, seq, d_model, vocab, weight2=0.5):
    """The objective graph over the model's values, by name and shape."""
    g = lg.Graph("next2")
    g.set_meta("objective", f"next-token + {weight2} * token-after-next")
    hidden = g.input("hidden", "f32", [batch, seq, d_model])
    logits = g.input("logits", "f32", [batch, seq, vocab])
    wte = g.input("wte", "f32", [vocab, d_model])
    targets = g.input("targets", "i32", [batch, seq])

    # The second head's own parameter: a residual adapter that starts as the identity map.
    adapter = g.param("P", np.zeros((d_model, d_model), np.float32))
    pad = g.const("pad", np.full((batch, 1), -100, np.int32))

    ce1 = g.cross_entropy(logits, targets, name="ce1")
    tail = g.slice(targets, axis=1, start=1, end=seq, name="tail")
    targets2 = g.concat(tail, pad, axis=1, name="targets2")
    h2 = hidden + hidden @ adapter
    logits2 = g.matmul(h2, wte, trans_b=1, name="logits2")
    ce2 = g.cross_entropy(logits2, targets2, name="ce2")
    g.output(ce1 + weight2 * ce2, name="loss")
    g.output(ce2)
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the run directory for lmg train")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--save", default="next2.pb", help="where the objective graph goes "
                    "(default next2.pb; lmg train keeps a copy in the run)")
    ap.add_argument("--lmg", default=os.environ.get("LMG", shutil.which("lmg") or "lmg"),
                    help="the lmg binary (default $LMG, else lmg on PATH)")
    ap.add_argument("train_args", nargs="*", help="more options for lmg train (after --)")
    a = ap.parse_args()

    g = next2_objective(a.batch, a.seq, a.d_model, a.vocab)
    path = a.save
    g.save(path)
    print(f"objective: {g.n_nodes} nodes, parameters {list(g.weights(trainable_only=True))}, "
          f"saved to {path}", flush=True)
    cmd = [a.lmg, "train", "--objective-graph", path, "--out", a.out, "--batch", str(a.batch),
           "--seq", str(a.seq), "--d-model", str(a.d_model), "--vocab", str(a.vocab)]
    return subprocess.call(cmd + a.train_args)


if __name__ == "__main__":
    sys.exit(main())
