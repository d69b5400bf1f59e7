"""check_run.py — `lmg export onnx RUN`: a trained run's model with its checkpoint's weights.
The exported logits must equal `lmg run` of the same model (built from the config the export
wrote to metadata_props) fed the checkpoint's tensors as .npy; --checkpoint picks the file;
--external-min moves weights to external data that onnx and onnxruntime load.

usage: python check_run.py LMG RUN WORKDIR
"""
import json
import os
import struct
import sys

import numpy as np
import onnx

from common import Tap, lmg, max_rel, ort_session


def safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "I32": np.int32}[info["dtype"]]
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(info["shape"])
    return out


def main():
    exe, run, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    tap = Tap()
    model = os.path.join(work, "run.onnx")
    lmg(exe, "export", "onnx", run, "-o", model, "--external-min", "1024")
    onnx.checker.check_model(model, full_check=True)
    m = onnx.load(model, load_external_data=False)
    meta = {p.key: p.value for p in m.metadata_props}
    ext = [t.name for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    tap.check(f"run export: {len(ext)} weights in external data, checker and loader accept it",
              len(ext) > 0 and os.path.exists(model + ".data"), ext)
    tap.check("metadata_props: producer, model config, tokenizer, checkpoint",
              m.producer_name == "lmgraph" and meta.get("model.arch") == "gpt"
              and meta.get("tokenizer", "").endswith("tok.bpe")
              and meta.get("lmgraph.checkpoint", "").endswith("best.safetensors"), meta)
    outs = [o.name for o in m.graph.output]
    tap.check(f"outputs of an inference export: {outs}", outs == ["logits", "hidden"])

    cfg = ["--model", meta["model.arch"]]
    for k in ("layers", "heads", "d_model", "d_ff", "vocab", "seq", "batch"):
        cfg += ["--" + k.replace("_", "-"), meta["model." + k]]
    fwd = os.path.join(work, "run_fwd.pb")
    lmg(exe, "build", *cfg, "--objective", "none", "-o", fwd, "-q")
    B, T, V = int(meta["model.batch"]), int(meta["model.seq"]), int(meta["model.vocab"])
    ids = np.random.default_rng(9).integers(0, V, (B, T)).astype(np.int32)
    sess = ort_session(model)
    for ck in ("best", "checkpoint"):
        path = os.path.join(run, ck + ".safetensors")
        if ck != "best":
            lmg(exe, "export", "onnx", run, "--checkpoint", path, "-o", model, "-q")
            sess = ort_session(model)
        feeds = [f"ids={work}/ids.npy"]
        np.save(os.path.join(work, "ids.npy"), ids)
        for name, arr in safetensors(path).items():
            if name.startswith("adam."):
                continue
            p = os.path.join(work, name.replace("/", "_") + ".npy")
            np.save(p, arr)
            feeds.append(f"{name}={p}")
        res = os.path.join(work, "run_out.npz")
        lmg(exe, "run", fwd, "--backend", "ref", "--inputs", ",".join(feeds), "--save", res)
        with np.load(res) as z:
            want = z["logits"]
        got = sess.run(["logits"], {"ids": ids})[0]
        err = max_rel(got, want)
        tap.check(f"run export with {ck}.safetensors: logits max rel err {err:.1e} <= 1e-5",
                  err <= 1e-5)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
