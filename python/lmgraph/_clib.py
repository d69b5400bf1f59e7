"""_clib.py — liblmg.so through ctypes: finding it, the public structs of lmgraph.h that the
builder reads, and the prototypes of the calls it makes.

Search order: $LMG_LIBRARY, the copy bundled into this package at build time, then the system
(liblmg.so.0 from `ninja install`)."""
import ctypes
import ctypes.util
import os

LMG_MAX_DIMS = 8
LMG_MAX_DIM_NAMES = 16
LMG_DIM_NAME_MAX = 32


class Shape(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int), ("dims", ctypes.c_int64 * LMG_MAX_DIMS)]


class Attr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("i", ctypes.c_int64),
                ("f", ctypes.c_double), ("s", ctypes.c_char_p), ("n", ctypes.c_int),
                ("ints", ctypes.POINTER(ctypes.c_int64)),
                ("floats", ctypes.POINTER(ctypes.c_double))]


class Value(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("shape", Shape),
                ("kind", ctypes.c_int), ("producer", ctypes.c_int),
                ("trainable", ctypes.c_int), ("fill", ctypes.c_int), ("data", ctypes.c_void_p),
                ("dim_sym", ctypes.c_int8 * LMG_MAX_DIMS)]


class Graph(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("ir_version", ctypes.c_int64),
                ("opset_version", ctypes.c_int64), ("producer", ctypes.c_char_p),
                ("values", ctypes.POINTER(Value)), ("n_values", ctypes.c_int),
                ("cap_values", ctypes.c_int), ("nodes", ctypes.c_void_p),
                ("n_nodes", ctypes.c_int), ("cap_nodes", ctypes.c_int),
                ("inputs", ctypes.POINTER(ctypes.c_int)), ("n_inputs", ctypes.c_int),
                ("outputs", ctypes.POINTER(ctypes.c_int)), ("n_outputs", ctypes.c_int),
                ("meta", ctypes.c_void_p), ("n_meta", ctypes.c_int),
                ("index", ctypes.POINTER(ctypes.c_int)), ("index_cap", ctypes.c_int),
                ("status", ctypes.c_int), ("name_counter", ctypes.c_int),
                ("dim_names", (ctypes.c_char * LMG_DIM_NAME_MAX) * LMG_MAX_DIM_NAMES),
                ("n_dim_names", ctypes.c_int)]


GraphP = ctypes.POINTER(Graph)


class DotOpts(ctypes.Structure):
    _fields_ = [("depth", ctypes.c_int), ("forward_only", ctypes.c_int)]


def _candidates():
    env = os.environ.get("LMG_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "liblmg.so.0")
    yield "liblmg.so.0"
    found = ctypes.util.find_library("lmg")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("lmgraph: cannot load liblmg.so (build it with `ninja`, install it with "
                      "`ninja install`, or point LMG_LIBRARY at it): " + "; ".join(errors))


lib = _load()
_libc = ctypes.CDLL(None)
free = _libc.free
free.argtypes = [ctypes.c_void_p]
free.restype = None

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
for name, res, args in [
    ("lmg_last_error", _S, []),
    ("lmg_error_clear", None, []),
    ("lmg_op_from_name", _I, [_S]),
    ("lmg_op_name", _S, [_I]),
    ("lmg_graph_new", GraphP, [_S]),
    ("lmg_graph_free", None, [GraphP]),
    ("lmg_graph_find", _I, [GraphP, _S]),
    ("lmg_graph_input", _I, [GraphP, _S, _I, Shape]),
    ("lmg_graph_param", _I, [GraphP, _S, _I, Shape, _P]),
    ("lmg_graph_const", _I, [GraphP, _S, _I, Shape, _P]),
    ("lmg_graph_add_output", _I, [GraphP, _I]),
    ("lmg_graph_set_meta", _I, [GraphP, _S, _S]),
    ("lmg_graph_rename", _I, [GraphP, _I, _S]),
    ("lmg_graph_node", _I, [GraphP, _I, _S, ctypes.POINTER(_I), _I, ctypes.POINTER(Attr), _I,
                            ctypes.POINTER(_S), ctypes.POINTER(_I)]),
    ("lmg_graph_verify", _I, [GraphP]),
    ("lmg_graph_load", _I, [_S, ctypes.POINTER(GraphP)]),
    ("lmg_graph_save", _I, [GraphP, _S, ctypes.c_size_t]),
    ("lmg_graph_save_bytes", _I, [GraphP, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t)]),
    ("lmg_graph_load_bytes", _I, [_P, ctypes.c_size_t, _S, ctypes.POINTER(GraphP)]),
    ("lmg_graph_print", _I, [GraphP, ctypes.POINTER(_P)]),
    ("lmg_graph_parse", _I, [_S, _S, ctypes.POINTER(GraphP)]),
    ("lmg_graph_dot", _I, [GraphP, ctypes.POINTER(DotOpts), ctypes.POINTER(_P)]),
    ("lmg_graph_print_summary", _I, [GraphP, ctypes.POINTER(_P)]),
    ("lmg_autodiff", _I, [GraphP, _S]),
]:
    fn = getattr(lib, name)
    fn.restype = res
    fn.argtypes = args
