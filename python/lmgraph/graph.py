"""graph.py — the Python graph builder: a Graph wraps the C library's lmg_graph, so every node
is checked by the C shape inference as it is added (an error raises LmgError with the C
message), and save/print/verify are the C library's own."""
import ctypes

import numpy as np

from . import _clib
from ._clib import lib
from ._ops import OPS, OpMethods

DTYPES = {"f32": 1, "i32": 2, "f16": 3, "bf16": 4}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
NUMPY = {"f32": np.float32, "i32": np.int32, "f16": np.float16}
_N_OUT = {info[0]: info[3] for info in OPS.values()}
_KIND_INIT = 2
_FILL_ZEROS = 1


class LmgError(Exception):
    """A failure reported by the C library; str() is its one-line message."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status


def _check(status, what=None):
    if status != 0:
        msg = lib.lmg_last_error().decode(errors="replace")
        raise LmgError(f"{what}: {msg}" if what else msg, status)


def _shape(dims):
    dims = [int(d) for d in dims]
    if len(dims) > _clib.LMG_MAX_DIMS:
        raise ValueError(f"shape {dims}: rank {len(dims)} is above {_clib.LMG_MAX_DIMS}")
    s = _clib.Shape()
    s.rank = len(dims)
    for i, d in enumerate(dims):
        s.dims[i] = d
    return s


def _dtype(t):
    if isinstance(t, str) and t in DTYPES:
        return DTYPES[t]
    if isinstance(t, str) or t is None:
        raise ValueError(f"dtype {t!r}: expected one of {', '.join(DTYPES)}")
    dt = np.dtype(t)
    for name, np_t in NUMPY.items():
        if dt == np.dtype(np_t):
            return DTYPES[name]
    raise ValueError(f"dtype {dt}: lmgraph stores f32, i32 (and f16)")


def _take_string(ptr):
    """A malloc'd C string returned through an out-parameter, freed after the copy."""
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _clib.free(ptr)


class Value:
    """One value of a graph (an input, initializer or node output), by id."""

    __slots__ = ("graph", "id")

    def __init__(self, graph, vid):
        self.graph, self.id = graph, vid

    def _c(self):
        return self.graph._ptr.contents.values[self.id]

    @property
    def name(self):
        return self._c().name.decode()

    @property
    def dtype(self):
        return DTYPE_NAMES.get(self._c().dtype, "undefined")

    @property
    def shape(self):
        s = self._c().shape
        return tuple(s.dims[i] for i in range(s.rank))

    def __repr__(self):
        return f"<lmgraph.Value '{self.name}' {self.dtype}{list(self.shape)}>"

    def _other(self, x):
        return x if isinstance(x, Value) else self.graph.scalar(x, self.dtype)

    def __add__(self, x): return self.graph.add(self, self._other(x))
    def __radd__(self, x): return self.graph.add(self._other(x), self)
    def __sub__(self, x): return self.graph.sub(self, self._other(x))
    def __rsub__(self, x): return self.graph.sub(self._other(x), self)
    def __mul__(self, x): return self.graph.mul(self, self._other(x))
    def __rmul__(self, x): return self.graph.mul(self._other(x), self)
    def __truediv__(self, x): return self.graph.div(self, self._other(x))
    def __rtruediv__(self, x): return self.graph.div(self._other(x), self)
    def __neg__(self): return self.graph.neg(self)
    def __matmul__(self, x): return self.graph.matmul(self, x)


class Graph(OpMethods):
    """A graph under construction. Op methods (g.matmul, g.layer_norm, ...) come from
    ops/ops.def; each takes input Values, then name=, out_names= and attributes as keywords
    (ints, floats, strings, lists of ints or floats), and returns the output Value (a tuple
    for ops with several outputs). A failed check raises LmgError; the graph keeps that error
    (like the C builder) and must be built again."""

    def __init__(self, name="graph", _ptr=None):
        self._ptr = _ptr if _ptr is not None else lib.lmg_graph_new(name.encode())
        if not self._ptr:
            raise MemoryError("lmg_graph_new")
        self._error = None
        self._n_scalars = 0

    def __del__(self):
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            lib.lmg_graph_free(ptr)

    # ---- reading graphs -------------------------------------------------------------
    @classmethod
    def load(cls, path):
        """A .pb file (external weights beside it are read too)."""
        out = _clib.GraphP()
        _check(lib.lmg_graph_load(str(path).encode(), ctypes.byref(out)))
        return cls(_ptr=out)

    @classmethod
    def parse(cls, text, filename="<text>"):
        """The text form (.lmgt)."""
        out = _clib.GraphP()
        _check(lib.lmg_graph_parse(text.encode(), filename.encode(), ctypes.byref(out)))
        return cls(_ptr=out)

    @property
    def name(self):
        return self._ptr.contents.name.decode()

    def __getitem__(self, name):
        vid = lib.lmg_graph_find(self._ptr, name.encode())
        if vid < 0:
            raise KeyError(f"graph '{self.name}' has no value '{name}'")
        return Value(self, vid)

    def __contains__(self, name):
        return lib.lmg_graph_find(self._ptr, name.encode()) >= 0

    @property
    def inputs(self):
        g = self._ptr.contents
        return [Value(self, g.inputs[i]) for i in range(g.n_inputs)]

    @property
    def outputs(self):
        g = self._ptr.contents
        return [Value(self, g.outputs[i]) for i in range(g.n_outputs)]

    @property
    def n_nodes(self):
        return self._ptr.contents.n_nodes

    # ---- building -------------------------------------------------------------------
    def _made(self, vid, what):
        if vid >= 0:
            return Value(self, vid)
        if self._error is None:
            self._error = lib.lmg_last_error().decode(errors="replace")
            raise LmgError(self._error, self._ptr.contents.status)
        raise LmgError(f"graph '{self.name}' stopped at an earlier error ({self._error}); "
                       f"{what} was not added", self._ptr.contents.status)

    def input(self, name, dtype, shape):
        """A value fed at run time (or, in an objective graph, a model value by name)."""
        return self._made(lib.lmg_graph_input(self._ptr, name.encode(), _dtype(dtype),
                                              _shape(shape)), f"input '{name}'")

    def _init(self, fn, name, array, dtype, shape):
        if array is None:
            if dtype is None or shape is None:
                raise ValueError(f"'{name}': give an array, or dtype and shape for zeros")
            return self._made(fn(self._ptr, name.encode(), _dtype(dtype), _shape(shape), None),
                              f"'{name}'")
        a = np.asarray(array)
        t = _dtype(dtype if dtype is not None else a.dtype)
        # np.array, not ascontiguousarray, which would turn a scalar into shape (1,).
        a = np.array(a, dtype=np.dtype(NUMPY[DTYPE_NAMES[t]]).newbyteorder("<"), order="C")
        if shape is not None and tuple(shape) != a.shape:
            raise ValueError(f"'{name}': array of shape {a.shape}, shape {tuple(shape)} asked")
        return self._made(fn(self._ptr, name.encode(), t, _shape(a.shape),
                             a.ctypes.data_as(ctypes.c_void_p)), f"'{name}'")

    def param(self, name, array=None, dtype=None, shape=None):
        """A trainable parameter: from an array (copied), or zeros of dtype and shape."""
        return self._init(lib.lmg_graph_param, name, array, dtype, shape)

    def const(self, name, array=None, dtype=None, shape=None):
        """A constant initializer: from an array (copied), or zeros of dtype and shape."""
        return self._init(lib.lmg_graph_const, name, array, dtype, shape)

    def scalar(self, v, dtype="f32"):
        """A rank-0 constant."""
        while f"scalar_{self._n_scalars}" in self:
            self._n_scalars += 1
        return self.const(f"scalar_{self._n_scalars}", np.asarray(v, NUMPY[dtype]))

    def output(self, value, name=None):
        """Make a value a graph output, renamed to `name` when given."""
        if name is not None and value.name != name:
            _check(lib.lmg_graph_rename(self._ptr, value.id, name.encode()), f"rename to '{name}'")
        _check(lib.lmg_graph_add_output(self._ptr, value.id))
        return value

    def set_meta(self, key, value):
        _check(lib.lmg_graph_set_meta(self._ptr, str(key).encode(), str(value).encode()))

    def _op(self, op, inputs, name, out_names, attrs):
        opid = lib.lmg_op_from_name(op.encode())
        if opid < 0:
            raise LmgError(f"op {op}: the loaded liblmg.so does not know it (older library?)")
        ids = []
        for k, x in enumerate(inputs):
            if x is None:
                ids.append(-1)
            elif isinstance(x, Value) and x.graph is self:
                ids.append(x.id)
            else:
                raise TypeError(f"{op} input {k}: expected a Value of graph '{self.name}', "
                                f"got {type(x).__name__}")
        keep, c_attrs = [], (_clib.Attr * max(1, len(attrs)))()
        for a, (key, v) in zip(c_attrs, sorted(attrs.items())):
            a.name = key.encode()
            if isinstance(v, (bool, int, np.integer)):
                a.type, a.i = 1, int(v)
            elif isinstance(v, (float, np.floating)):
                a.type, a.f = 2, float(v)
            elif isinstance(v, str):
                a.type, a.s = 3, v.encode()
            elif isinstance(v, (list, tuple, np.ndarray)):
                v = list(v)
                if all(isinstance(e, (bool, int, np.integer)) for e in v):
                    arr = (ctypes.c_int64 * max(1, len(v)))(*[int(e) for e in v])
                    a.type, a.n, a.ints = 4, len(v), arr
                else:
                    arr = (ctypes.c_double * max(1, len(v)))(*[float(e) for e in v])
                    a.type, a.n, a.floats = 5, len(v), arr
                keep.append(arr)
            else:
                raise TypeError(f"{op} attribute '{key}': {type(v).__name__} is not an int, "
                                "float, string or list")
        n_out = _N_OUT[op]
        outs = (ctypes.c_int * 8)(*([-1] * 8))
        names = None
        if out_names is not None:
            names = (ctypes.c_char_p * 8)(*[n.encode() if n else None for n in out_names])
        vid = lib.lmg_graph_node(self._ptr, opid, name.encode() if name else None,
                                 (ctypes.c_int * max(1, len(ids)))(*ids), len(ids), c_attrs,
                                 len(attrs), names, outs)
        first = self._made(vid, f"node {op}")
        res = [Value(self, outs[k]) for k in range(n_out) if outs[k] >= 0]
        return first if len(res) <= 1 else tuple(res)

    # ---- passes and output ----------------------------------------------------------
    def verify(self):
        """The C verifier: raises LmgError naming the node and value of the first problem."""
        _check(lib.lmg_graph_verify(self._ptr))

    def autodiff(self, loss="loss"):
        """Append the backward pass of scalar `loss`: outputs "grad/<param>"."""
        _check(lib.lmg_autodiff(self._ptr, loss.encode()))

    def save(self, path, external_min_bytes=0):
        """Write the binary .pb (verified first); tensors above external_min_bytes (0: never)
        go to a .safetensors file beside it."""
        self.verify()
        _check(lib.lmg_graph_save(self._ptr, str(path).encode(), external_min_bytes),
               str(path))

    def to_bytes(self):
        """The serialized lmg.Model (proto/lmg.proto), weights inline."""
        buf, n = ctypes.c_void_p(), ctypes.c_size_t()
        _check(lib.lmg_graph_save_bytes(self._ptr, ctypes.byref(buf), ctypes.byref(n)))
        try:
            return ctypes.string_at(buf, n.value)
        finally:
            _clib.free(buf)

    def to_proto(self):
        """The graph as an lmg_pb2.Model message (the protobuf bindings of proto/lmg.proto)."""
        from . import lmg_pb2
        return lmg_pb2.Model.FromString(self.to_bytes())

    def to_text(self, weights=True):
        """The text form (.lmgt), which `lmg parse` reads back to the same graph; with
        weights=False each initializer is its size and CRC-32 (zlib.crc32 of its bytes)."""
        out = ctypes.c_void_p()
        fn = lib.lmg_graph_print if weights else lib.lmg_graph_print_summary
        _check(fn(self._ptr, ctypes.byref(out)))
        return _take_string(out)

    def to_dot(self, depth=None, forward_only=False):
        """Graphviz DOT, clustered by scope; scopes deeper than `depth` (None: all) collapse
        to one box each; forward_only leaves out the backward pass and the optimizer."""
        opts = _clib.DotOpts(-1 if depth is None else int(depth), int(bool(forward_only)))
        out = ctypes.c_void_p()
        _check(lib.lmg_graph_dot(self._ptr, ctypes.byref(opts), ctypes.byref(out)))
        return _take_string(out)

    def weights(self, trainable_only=False):
        """Initializers as a dict name -> NumPy array (copies)."""
        g = self._ptr.contents
        out = {}
        for vid in range(g.n_values):
            v = g.values[vid]
            if v.kind != _KIND_INIT or (trainable_only and not v.trainable):
                continue
            t = NUMPY.get(DTYPE_NAMES.get(v.dtype))
            shape = tuple(v.shape.dims[i] for i in range(v.shape.rank))
            if t is None:
                continue
            if v.fill == _FILL_ZEROS or not v.data:
                out[v.name.decode()] = np.zeros(shape, t)
            else:
                n = int(np.prod(shape, dtype=np.int64)) * np.dtype(t).itemsize
                raw = ctypes.string_at(v.data, n)
                out[v.name.decode()] = np.frombuffer(raw, np.dtype(t).newbyteorder("<")) \
                    .reshape(shape).astype(t)
        return out
