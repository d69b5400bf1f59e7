#!/usr/bin/env python3
"""make_binary.py — regenerate the binary members of the broken-graph corpus from one valid
text graph: truncated and random bytes, newer versions, patched op names, dtypes and sizes,
and external weights whose file is too short. Each FILE.pb gets FILE.pb.expect holding the
substring `lmg verify` must print. Run from the repository root after `ninja`:
    python3 tests/broken/make_binary.py [build/lmg]"""
import os, random, subprocess, sys, tempfile

lmg = sys.argv[1] if len(sys.argv) > 1 else "build/lmg"
here = os.path.dirname(os.path.abspath(__file__))
base_text = """lmgraph ir 1 opset 1
graph "base" {
  input x : f32[2,3]
  const k : f32[3] = [1, 2, 3]
  param big : f32[4] = [1, 2, 3, 4]
  node s = Add(x, k)
  node y = Neg(s)
  output y, big
}
"""

def parse(text, out, external=0):
    with tempfile.NamedTemporaryFile("w", suffix=".lmgt", delete=False) as f:
        f.write(text)
    subprocess.run([lmg, "parse", f.name, "-o", out, "--external", str(external)], check=True)
    os.unlink(f.name)
    with open(out, "rb") as f:
        return f.read()

def put(name, data, expect):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
    with open(os.path.join(here, name + ".expect"), "w") as f:
        f.write(expect + "\n")

def patch(data, old, new):
    assert len(old) == len(new) and data.count(old) == 1, old
    return data.replace(old, new)

tmp = tempfile.mkdtemp()
base = parse(base_text, os.path.join(tmp, "base.pb"))
n = len(base)
assert base[:4] == b"\x08\x01\x10\x01", base[:4]
put("truncated_1.pb", base[:1], "not an lmgraph model (malformed or truncated protobuf, 1 bytes)")
put("truncated_3.pb", base[:3], "not an lmgraph model (malformed or truncated protobuf, 3 bytes)")
put("truncated_half.pb", base[:n // 2], "not an lmgraph model (malformed or truncated protobuf, %d bytes)" % (n // 2))
put("truncated_last_byte.pb", base[:n - 1], "not an lmgraph model (malformed or truncated protobuf, %d bytes)" % (n - 1))
put("header_only.pb", base[:4], "the model has no graph")
put("empty.pb", b"", "ir_version 0: not an lmgraph model (the field is missing)")
rng = random.Random(1234)
put("random.pb", bytes(rng.randrange(256) for _ in range(300)), "not an lmgraph model")
put("newer_ir.pb", base[:1] + b"\x07" + base[2:], "newer_ir.pb: ir_version 7 is newer than this lmgraph (1); upgrade lmgraph")
put("newer_opset.pb", base[:3] + b"\x05" + base[4:], "newer_opset.pb: opset_version 5 is newer than this lmgraph (1); upgrade lmgraph")
put("unknown_op.pb", patch(base, b"\x12\x03Neg", b"\x12\x03Foo"), "node 'y': unknown op 'Foo'")
put("bad_dtype.pb", patch(base, b"\x0a\x01k\x10\x01", b"\x0a\x01k\x10\x07"), "initializer 'k': bad dtype 7")
put("raw_data_length.pb", patch(base, b"\x0a\x01k\x10\x01\x1a\x01\x03", b"\x0a\x01k\x10\x01\x1a\x01\x02"),
    "initializer 'k': raw_data has 12 bytes, but f32[2] needs 8")
put("missing_value.pb", patch(base, b"\x1a\x01s", b"\x1a\x01t"),
    "node 'y' (Neg): input 't' is missing: no node produces it and it is not a graph input or initializer")
put("value_info_mismatch.pb", patch(base, b"\x0a\x01s\x10\x01\x1a\x02\x02\x03", b"\x0a\x01s\x10\x01\x1a\x02\x02\x04"),
    "node 's' (Add): output 's' is declared f32[2,4] but infers as f32[2,3]")
# Weights outside the .pb, in a file cut short.
ext = parse(base_text, os.path.join(here, "external_range.pb"), external=8)
os.unlink(os.path.join(here, "external_range.pb"))
st = os.path.join(here, "external_range.safetensors")
with open(st, "rb") as f:
    st_bytes = f.read()
with open(st, "wb") as f:
    f.write(st_bytes[:-8])
put("external_range.pb", ext, "initializer 'big': external bytes")
