"""check_classifier.py — `lmg export onnx CLS_RUN` of classifier runs (lmg finetune): GPT with
last-token pooling, BERT with <cls> pooling, and a frozen GPT body with mean pooling. The
export's class_probs and class_logits must equal `lmg run` of the exported graph fed the
checkpoint's tensors (within 1e-5 relative; class_probs also against a float64 softmax of
lmg run's logits), and the probabilities `lmg classify` prints for texts. Batch and seq are
symbolic: five rows cut to their longest text give the rows' results at the built size.

usage: python check_classifier.py LMG WORKDIR
"""
import json
import os
import random
import sys

import numpy as np
import onnx

from check_run import safetensors
from common import Tap, lmg, max_rel, ort_session

TOL = 1e-5
SMALL = ["--layers", "1", "--heads", "2", "--d-model", "16", "--d-ff", "32", "--vocab", "300",
         "--seq", "16", "--batch", "4"]
WORDS = {"cats": "meow purr whisker tail nap", "dogs": "bark woof fetch bone walk",
         "birds": "tweet wing nest fly feather"}
TEXTS = ["meow purr nap", "bark bone walk woof", "tweet", "fly nest wing feather tweet fly nest"]
SHORT = ["tweet", "nap", "woof", "bark", "meow purr nap"]
CLS, EOS, PAD = 2, 4, 0


def task(work):
    r = random.Random(1)
    path = os.path.join(work, "task.tsv")
    with open(path, "w") as f:
        for _ in range(20):
            for label, words in WORDS.items():
                ws = words.split()
                f.write(label + "\t" + " ".join(r.choice(ws) for _ in range(r.randint(1, 8))) + "\n")
    return path


def row(exe, tok, text, T):
    """The row lmg classify makes of a text: <cls>, its tokens (at most T-2), <eos>, <pad>..."""
    ids = [int(t) for t in lmg(exe, "tokenizer", "encode", tok, "--text", text).split()]
    r = [CLS] + ids[:T - 2] + [EOS]
    return r + [PAD] * (T - len(r))


def classify(exe, run):
    """lmg classify's probabilities (4 decimals), by text and class name."""
    args = ["classify", run, "--backend", "ref", "--top", str(len(WORDS))]
    for t in TEXTS:
        args += ["--text", t]
    out = {}
    for line in lmg(exe, *args).splitlines():
        pairs, text = line.split("\t")
        out[text] = {p.split(":")[0]: float(p.split(":")[1]) for p in pairs.split(" ")}
    return out


def check(exe, work, tap, name, run):
    model = os.path.join(work, f"{name}.onnx")
    saved = os.path.join(work, f"{name}.pb")
    lmg(exe, "export", "onnx", run, "-o", model, "--save-graph", saved, "-q")
    onnx.checker.check_model(model, full_check=True)
    m = onnx.load(model)
    meta = {p.key: p.value for p in m.metadata_props}
    outs = [o.name for o in m.graph.output]
    with open(os.path.join(run, "data", "labels.tsv")) as f:
        names = [ln.split("\t")[1] for ln in f if not ln.startswith("#") and ln.strip()]
    labels = json.loads(meta.get("lmgraph.labels", "null"))
    tap.check(f"{name}: outputs {outs}, labels {labels} in metadata, kind classifier",
              outs == ["class_probs", "class_logits"] and labels == names
              and meta.get("lmgraph.kind") == "classifier", meta)
    B, T = int(meta["model.batch"]), int(meta["model.seq"])
    tok = os.path.join(run, "data", "tok.bpe")
    ids = np.array([row(exe, tok, t, T) for t in TEXTS[:B]], dtype=np.int32)
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    odims = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    tap.check(f"{name}: ids {dims} and class_probs {odims} keep the symbolic axes",
              dims == ["batch", "seq"] and odims == ["batch", len(names)],
              meta.get("lmgraph.static_axes", ""))
    sess = ort_session(model)
    got = dict(zip(outs, sess.run(None, {"ids": ids})))

    params = []
    for pname, arr in safetensors(os.path.join(run, "best.safetensors")).items():
        p = os.path.join(work, f"{name}_{pname.replace('/', '_')}.npy")
        np.save(p, arr)
        params.append(f"{pname}={p}")

    def ref(rows):
        """lmg run of the exported graph (built at B rows) on `rows`, B at a time."""
        res = {}
        for i in range(0, len(rows), B):
            chunk = rows[i:i + B]
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], B - len(chunk), axis=0)])
            np.save(os.path.join(work, f"{name}_ids.npy"), chunk)
            path = os.path.join(work, f"{name}_out.npz")
            lmg(exe, "run", saved, "--backend", "ref", "--save", path, "--inputs",
                ",".join([f"ids={work}/{name}_ids.npy"] + params))
            with np.load(path) as z:
                for k in z.files:
                    res.setdefault(k, []).append(z[k])
        return {k: np.concatenate(v)[:len(rows)] for k, v in res.items()}

    want = ref(ids)
    lg = want["class_logits"].astype(np.float64)
    e = np.exp(lg - lg.max(axis=1, keepdims=True))
    soft = e / e.sum(axis=1, keepdims=True)
    for out in outs:
        err = max_rel(got[out], want[out])
        tap.check(f"{name}: {out} max rel err {err:.1e} <= {TOL:g} (lmg run)", err <= TOL)
    err = max_rel(got["class_probs"], soft)
    tap.check(f"{name}: class_probs vs float64 softmax of lmg run's logits {err:.1e} <= {TOL:g}",
              err <= TOL)
    shown = classify(exe, run)
    worst = max(abs(shown[t][names[k]] - float(got["class_probs"][i][k]))
                for i, t in enumerate(TEXTS[:B]) for k in range(len(names)))
    tap.check(f"{name}: lmg classify prints the export's probabilities (max diff {worst:.1e} "
              f"<= 5e-5, its 4 decimals)", worst <= 5.01e-5, shown)
    rows = np.array([row(exe, tok, t, T) for t in SHORT], dtype=np.int32)
    T2 = int(max((r != PAD).sum() for r in rows))
    got2 = dict(zip(outs, sess.run(None, {"ids": rows[:, :T2]})))
    want2 = ref(rows)
    err = max(max_rel(got2[o], want2[o]) for o in outs)
    tap.check(f"{name}: {len(SHORT)} rows cut to seq {T2} < {T}: max rel err {err:.1e} <= {TOL:g}",
              T2 < T and err <= TOL)


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    tsv = task(work)
    corpus = "/usr/share/games/fortunes/art"
    for arch in ("gpt", "bert"):
        lmg(exe, "train", "--backend", "ref", "--model", arch, "--corpus", corpus, *SMALL,
            "--steps", "4", "--eval-every", "4", "--eval-batches", "1",
            "--out", os.path.join(work, f"pre_{arch}"))
    runs = [("gpt_last", "gpt", []), ("bert_cls", "bert", []),
            ("gpt_mean_frozen", "gpt", ["--pool", "mean", "--freeze"])]
    for name, arch, extra in runs:
        run = os.path.join(work, name)
        lmg(exe, "finetune", os.path.join(work, f"pre_{arch}"), "--task", tsv, "--min-docs", "5",
            "--steps", "12", "--eval-every", "6", "--lr", "3e-3", "--backend", "ref", *extra,
            "--out", run)
        check(exe, work, tap, name, run)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
