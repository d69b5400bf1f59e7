# mpi_compare.py — compares two lmg runs for tests/cli_mpi.sh (Python's standard library
# only): their per-step losses and the tensors of their checkpoints.
#   losses A B TOL      train and val losses of metrics.jsonl equal within TOL relative
#   params A B TOL      checkpoint.safetensors: see below
#   same A B            checkpoint tensors bit for bit, metrics losses exactly
#   sametrain A B       the same, but training losses only (validation batches may differ)
#   tensors A B         checkpoint tensors bit for bit
# Prints one line with the worst figures; exits 1 when a bound fails.
import json
import struct
import sys


def tensors(run):
    b = open(run + "/checkpoint.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        out[k] = (raw, struct.unpack("<%df" % (len(raw) // 4), raw) if v["dtype"] == "F32" else None)
    return out


def losses(run):
    out = {}
    for line in open(run + "/metrics.jsonl"):
        m = json.loads(line)
        key = (m["split"], m["step"])
        if key in out:
            sys.exit("%s/metrics.jsonl has step %d (%s) twice" % (run, m["step"], m["split"]))
        out[key] = m["loss"]
    return out


def main():
    what, a, b = sys.argv[1:4]
    if what == "losses":
        tol = float(sys.argv[4])
        la, lb = losses(a), losses(b)
        if la.keys() != lb.keys():
            sys.exit("the runs logged different steps: %s vs %s" % (sorted(la), sorted(lb)))
        worst = max(abs(la[k] - lb[k]) / abs(lb[k]) for k in la)
        print("%d losses, worst relative difference %.3g (bound %g)" % (len(la), worst, tol))
        sys.exit(0 if worst <= tol else 1)
    ta, tb = tensors(a), tensors(b)
    if ta.keys() != tb.keys():
        sys.exit("the checkpoints hold different tensors")
    if what in ("same", "sametrain", "tensors"):
        diff = [k for k in ta if ta[k][0] != tb[k][0]]
        la, lb = losses(a), losses(b)
        ldiff = [k for k in lb if la.get(k) != lb[k] and (what == "same" or k[0] == "train")]
        if what == "tensors":
            ldiff = []
        print("%d tensors, %d differ; %d losses differ" % (len(ta), len(diff), len(ldiff)))
        sys.exit(0 if not diff and not ldiff else 1)
    tol = float(sys.argv[4])
    # Per tensor: the largest difference relative to the tensor's largest magnitude. The
    # attention's q/k/v bias is left out of that bound: the key part's true gradient is zero
    # (softmax ignores a constant added to every score of a row), so AdamW, which divides by
    # the gradient's own scale, turns rounding noise of either summation order into steps of
    # size lr. The whole parameter vector's relative L2 difference bounds it with the rest.
    worst, worst_name, noise = 0.0, "", 0.0
    d2 = n2 = 0.0
    for k, (_, x) in ta.items():
        y = tb[k][1]
        if x is None:
            continue
        big = max(abs(v) for v in y) or 1.0
        d = max(abs(p - q) for p, q in zip(x, y))
        if not k.startswith("adam."):
            d2 += sum((p - q) ** 2 for p, q in zip(x, y))
            n2 += sum(q * q for q in y)
        if k.endswith(".bqkv"):
            noise = max(noise, d)
            continue
        if d / big > worst:
            worst, worst_name = d / big, k
    l2 = (d2 / n2) ** 0.5
    print("%d tensors: worst per-tensor relative difference %.3g (%s), parameter vector L2 "
          "relative %.3g, q/k/v bias largest difference %.3g (bound %g)"
          % (len(ta), worst, worst_name, l2, noise, tol))
    sys.exit(0 if worst <= tol and l2 <= tol else 1)


main()
