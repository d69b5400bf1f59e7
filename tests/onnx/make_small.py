"""make_small.py — writes tests/onnx/small.onnx, the model `lmg import onnx` is tested on: a
small MLP as another framework would export it (Reshape/Transpose, Gemm, LayerNormalization,
Tanh, MatMul, Sigmoid, Softmax, a squared-error loss with Pow and ReduceMean), symbolic batch.
`forward` is the same model in NumPy, the reference the test differentiates numerically.

usage: python make_small.py [OUT.onnx]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weights():
    rng = np.random.default_rng(2024)
    return {
        "w1": (rng.standard_normal((6, 8)) * 0.5).astype(np.float32),
        "b1": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "ln_g": (1.0 + rng.standard_normal(8) * 0.1).astype(np.float32),
        "ln_b": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((8, 4)) * 0.5).astype(np.float32),
        "b2": (rng.standard_normal(4) * 0.1).astype(np.float32),
    }


def forward(w, x, t):
    """The model in float64: returns y, probs, loss."""
    B = x.shape[0]
    h = x.reshape(B, 2, 3).transpose(0, 2, 1).reshape(B, 6)
    h = h @ w["w1"] + w["b1"]
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    h = (h - mu) / np.sqrt(var + 1e-5) * w["ln_g"] + w["ln_b"]
    h = np.tanh(h)
    y = 1.0 / (1.0 + np.exp(-(h @ w["w2"] + w["b2"])))
    e = np.exp(y - y.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    loss = ((y - t) ** 2).mean()
    return y, probs, loss


def build():
    w = weights()
    inits = [numpy_helper.from_array(v, k) for k, v in w.items()]
    inits += [numpy_helper.from_array(np.array([-1, 2, 3], np.int64), "shape3"),
              numpy_helper.from_array(np.array([-1, 6], np.int64), "shape2"),
              numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    nodes = [
        helper.make_node("Reshape", ["x", "shape3"], ["x3"], name="split"),
        helper.make_node("Transpose", ["x3"], ["xt"], perm=[0, 2, 1], name="swap"),
        helper.make_node("Reshape", ["xt", "shape2"], ["x2"], name="merge"),
        helper.make_node("Gemm", ["x2", "w1", "b1"], ["h1"], name="fc1"),
        helper.make_node("LayerNormalization", ["h1", "ln_g", "ln_b"], ["hn"], axis=-1,
                         epsilon=1e-5, name="ln"),
        helper.make_node("Tanh", ["hn"], ["ha"], name="act"),
        helper.make_node("MatMul", ["ha", "w2"], ["h2"], name="fc2"),
        helper.make_node("Add", ["h2", "b2"], ["z"], name="fc2_bias"),
        helper.make_node("Sigmoid", ["z"], ["y"], name="squash"),
        helper.make_node("Softmax", ["y"], ["probs"], axis=-1, name="softmax"),
        helper.make_node("Sub", ["y", "t"], ["err"], name="err"),
        helper.make_node("Pow", ["err", "two"], ["sq"], name="square"),
        helper.make_node("ReduceMean", ["sq"], ["loss"], keepdims=0, name="mse"),
    ]
    graph = helper.make_graph(
        nodes, "small_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6]),
         helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="tests/onnx/make_small.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    onnx.save(build(), sys.argv[1] if len(sys.argv) > 1 else "small.onnx")
