#!/usr/bin/env python3
"""make_corpus.py — regenerate the fuzzers' seed corpora in tests/fuzz/corpus/<harness>/:
valid files made by lmg from tiny graphs, texts and tokenizers, and broken ones cut or
patched from them. Run from the repository root after `ninja`:
    python3 tests/fuzz/make_corpus.py [build/lmg]
Files found by fuzzing (crashes turned into regressions) live beside them as crash-*."""
import json
import os, re, shutil, struct, subprocess, sys, tempfile

lmg = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/lmg")
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
corpus = os.path.join(here, "corpus")
tmp = tempfile.mkdtemp()

TINY = """lmgraph ir 1 opset 1
graph "tiny" {
  meta "objective" = "none"
  input x : f32[2,3]
  input ids : i32[2]
  param w : f32[3] = [0.5, -1, 2]
  const k : f32[3] = external("w.bin", 16, 12)
  state m : f32[3] = zeros
  param e : f32[4,3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  node y = Mul(x, w)
  node [ln] h, mean, rstd = LayerNorm(y, w, k) {eps = 1e-05}
  node r = ReduceSum(h) {axes = [1], keepdims = 0}
  node g = Embedding(e, ids)
  node t = Transpose(g) {perm = [1, 0]}
  output r, t, m
}
"""
# The checkpoint harness's graph, taken from its source so the two cannot drift apart.
# A scalar loss over trainable parameters: the graph harnesses differentiate it.
LOSS = """lmgraph ir 1 opset 1
graph "mlp" {
  input ids : i32[2,3]
  input targets : i32[2,3]
  param wte : f32[8,4] = zeros
  param w1 : f32[4,4] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
  param g : f32[4] = [1, 1, 1, 1]
  param b : f32[4] = zeros
  param wo : f32[4,8] = zeros
  node x = Embedding(wte, ids)
  node [ln] h, mean, rstd = LayerNorm(x, g, b) {eps = 1e-05}
  node m = MatMul(h, w1)
  node a = Gelu(m)
  node r = Reshape(a) {shape = [6, 4]}
  node t = Tanh(r)
  node u = Reshape(t) {shape = [2, 3, 4]}
  node s = Add(u, x)
  node logits = MatMul(s, wo)
  node loss = CrossEntropy(logits, targets)
  output loss, logits
}
"""
ATTENTION = """lmgraph ir 1 opset 1
graph "attn" {
  input q : f32[1,2,3,4]
  param k : f32[1,2,3,4] = zeros
  param v : f32[1,2,3,4] = zeros
  node [att] o, lse = Attention(q, k, v) {causal = 1}
  node s = ReduceSum(o) {axes = ints[], keepdims = 0}
  node d = Dropout(s) {p = 0.5, key = 3}
  output d, lse
}
"""
CHECKPOINT = "".join(
    bytes(m, "ascii").decode("unicode_escape")
    for m in re.findall(r'^    "(.*)";?$', open(os.path.join(here, "fuzz_checkpoint.c")).read(), re.M))
TEXT = ("The quick brown fox jumps over the lazy dog.\n%\nA stitch in time saves nine.\n%\n"
        "Caf\u00e9 cr\u00e8me, the the the end.\n%\n") * 4


def run(*args):
    subprocess.run([lmg] + list(args), check=True, stdout=subprocess.DEVNULL)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def put(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def parse(text, name, external=0):
    src = os.path.join(tmp, name + ".lmgt")
    with open(src, "w") as f:
        f.write(text)
    with open(os.path.join(tmp, "w.bin"), "wb") as f:  # the harnesses' w.bin (fuzz.h)
        f.write(bytes(range(256)))
    out = os.path.join(tmp, name + ".pb")
    run("parse", src, "-o", out, "--external", str(external))
    return out


def flip(data, at):
    b = bytearray(data)
    b[at % len(b)] ^= 0x41
    return bytes(b)


for h in ("pb", "text", "safetensors", "tokenizer", "shard", "checkpoint"):
    shutil.rmtree(os.path.join(corpus, h), ignore_errors=True)

# .pb: a valid graph, the same with weights outside, cut and patched copies.
pb = read(parse(TINY, "tiny"))
put("pb", "tiny.pb", pb)
put("pb", "loss.pb", read(parse(LOSS, "loss")))
put("pb", "attention.pb", read(parse(ATTENTION, "attention")))
put("pb", "tiny_external.pb", read(parse(TINY, "ext", external=8)))
put("pb", "truncated.pb", pb[: len(pb) // 2])
put("pb", "flipped.pb", flip(pb, len(pb) // 3))
put("pb", "empty.pb", b"")
for name in ("unknown_op.pb", "value_info_mismatch.pb", "raw_data_length.pb", "newer_opset.pb"):
    put("pb", name, read(os.path.join(root, "tests", "broken", name)))

# Text form: the valid graph (its external() reads the fuzzer's w.bin) and broken ones.
put("text", "tiny.lmgt", TINY)
put("text", "loss.lmgt", LOSS)
put("text", "attention.lmgt", ATTENTION)
put("text", "objective.lmgt", read(os.path.join(root, "samples", "objectives", "next2.lmgt")))
put("text", "checkpoint.lmgt", CHECKPOINT)
for name in ("cycle.lmgt", "parse_bad_escape.lmgt", "attribute_wrong_type.lmgt",
             "parse_unterminated_string.lmgt", "alias_written_twice.lmgt"):
    put("text", name, read(os.path.join(root, "tests", "broken", name)))
put("text", "truncated.lmgt", TINY[: len(TINY) // 2])

# safetensors: weights lmg wrote beside a .pb, cut, with a bad header, and empty.
parse(TINY, "st", external=8)
st = read(os.path.join(tmp, "st.safetensors"))
put("safetensors", "weights.safetensors", st)
put("safetensors", "truncated.safetensors", st[: len(st) - 5])
put("safetensors", "header_flipped.safetensors", flip(st, 20))
put("safetensors", "empty_header.safetensors", struct.pack("<Q", 2) + b"{}")
put("safetensors", "external_range.safetensors",
    read(os.path.join(root, "tests", "broken", "external_range.safetensors")))

# Tokenizer: one trained on a small text, cut, with a wrong fingerprint and a bad merge.
txt = os.path.join(tmp, "corpus.txt")
with open(txt, "w") as f:
    f.write(TEXT)
tok = os.path.join(tmp, "tok.bpe")
run("tokenizer", "train", "--vocab", "300", txt, "-o", tok)
t = read(tok)
put("tokenizer", "tok.bpe", t)
put("tokenizer", "truncated.bpe", t[: len(t) * 2 // 3])
lines = t.split(b"\n")
fp = [i for i, l in enumerate(lines) if l.startswith(b"fingerprint ")][0]
put("tokenizer", "fingerprint.bpe", b"\n".join(lines[:fp] + [b"fingerprint 0123456789abcdef"] + lines[fp + 1:]))
put("tokenizer", "merge_id.bpe", b"\n".join(lines[:3] + [b"5 99999"] + lines[4:]))
put("tokenizer", "header.bpe", b"lmgraph-bpe 1\nvocab 261\nmerges 0\n")

# Shards: those lmg data wrote with that tokenizer, a 4-byte-id one, cut and patched.
data = os.path.join(tmp, "data")
run("data", "prepare", "--tokenizer", tok, txt, "--out", data, "--val", "0.3", "--test", "0")
train = read(os.path.join(data, "train.tok"))
put("shard", "train.tok", train)
put("shard", "val.tok", read(os.path.join(data, "val.tok")))
ids = struct.unpack("<%dH" % ((len(train) - 64) // 2), train[64:])
wide = train[:12] + struct.pack("<I", 4) + train[16:64] + struct.pack("<%di" % len(ids), *ids)
put("shard", "wide.tok", wide)
put("shard", "truncated.tok", train[: len(train) - 3])
put("shard", "bad_id.tok", train[:64] + b"\xff\xff" + train[66:])
put("shard", "header.tok", train[:64])

# Checkpoints of the harness's graph: its weights
# written by lmg, one tensor short, and one with another shape.
parse(CHECKPOINT, "ck", external=1)
ck = read(os.path.join(tmp, "ck.safetensors"))
put("checkpoint", "ckpt.safetensors", ck)
parse(CHECKPOINT.replace("  state adam.v/b : f32[3] = [0, 0, 0]\n", ""), "ck2", external=1)
put("checkpoint", "missing.safetensors", read(os.path.join(tmp, "ck2.safetensors")))
parse(CHECKPOINT.replace("param b : f32[3] = [0.5, -0.5, 1]", "param b : f32[1,3] = [0.5, -0.5, 1]"),
      "ck3", external=1)
put("checkpoint", "shape.safetensors", read(os.path.join(tmp, "ck3.safetensors")))
put("checkpoint", "truncated.safetensors", ck[: len(ck) // 2])


def with_meta(st, meta):
    """The safetensors file st with its __metadata__ replaced (data offsets unchanged)."""
    n = struct.unpack("<Q", st[:8])[0]
    head = json.loads(st[8 : 8 + n])
    head["__metadata__"] = meta
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + st[8 + n :]


# The trainer's metadata as a run writes it, so the fuzzer starts from fields it accepts.
trainer = {"format": "lmgraph-checkpoint-1", "step": "40", "steps_total": "100",
           "rng.data_seed": "1", "rng.model_seed": "1337", "best_val_loss": "3.25",
           "best_step": "40", "bad_evals": "0", "elapsed_s": "12.5"}
put("checkpoint", "trainer.safetensors", with_meta(ck, trainer))
put("checkpoint", "trainer_none.safetensors",
    with_meta(ck, dict(trainer, best_val_loss="inf", best_step="0")))

shutil.rmtree(tmp)
