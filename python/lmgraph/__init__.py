"""lmgraph — build, check and save lmgraph computation graphs from Python.

Graph: the builder (one method per op of ops/ops.def, shapes inferred by liblmg.so);
lmg_pb2: the protobuf bindings of proto/lmg.proto; save_safetensors/load_safetensors: weights
as NumPy arrays."""
from ._ops import OPS
from .graph import DTYPES, Graph, LmgError, Value
from .weights import load_safetensors, save_safetensors

__version__ = "0.1.0"
__all__ = ["Graph", "Value", "LmgError", "OPS", "DTYPES", "save_safetensors",
           "load_safetensors", "load_proto"]


def load_proto(path):
    """A .pb file as an lmg_pb2.Model message, without the C library's checks."""
    from . import lmg_pb2
    with open(path, "rb") as f:
        return lmg_pb2.Model.FromString(f.read())
