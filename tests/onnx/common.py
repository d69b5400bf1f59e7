"""common.py — what the ONNX checks share: TAP output, running `lmg`, the relative error
used for every parity figure, and an onnxruntime session on the CPU."""
import subprocess
import sys

import numpy as np
import onnxruntime as ort


class Tap:
    """Prints `ok - name` / `not ok - name` lines; done() is the exit status."""

    def __init__(self):
        self.failed = 0

    def ok(self, name):
        print(f"ok - {name}", flush=True)

    def fail(self, name, why=""):
        self.failed += 1
        print(f"not ok - {name}", flush=True)
        for line in str(why).splitlines()[:12]:
            print(f"#   {line}", flush=True)

    def check(self, name, cond, why=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why)
        return cond

    def done(self):
        return 1 if self.failed else 0


def lmg(exe, *args, expect=0):
    """Run `lmg ARGS`; its stdout, or an exception naming the command and its stderr."""
    r = subprocess.run([exe, *args], capture_output=True, text=True, errors="replace")
    if r.returncode != expect:
        raise RuntimeError(f"lmg {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout + r.stderr


def max_rel(got, want):
    """max |got - want| / max |want|: the error relative to the tensor's scale (an element
    near zero would make an elementwise ratio meaningless)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    scale = np.max(np.abs(want)) if want.size else 0.0
    diff = np.max(np.abs(got - want)) if want.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def ort_session(path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
