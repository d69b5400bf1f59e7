"""weights.py — NumPy arrays to and from safetensors files (the format lmgraph writes beside a
.pb and for checkpoints): a little-endian JSON header, then the raw tensors."""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "I32": np.int32, "F16": np.float16, "F64": np.float64,
           "I64": np.int64, "U8": np.uint8}
_NAMES = {np.dtype(v).str.lstrip("<|="): k for k, v in _DTYPES.items()}


def save_safetensors(path, tensors, metadata=None):
    """Write a dict name -> array (C order, little-endian) with optional str metadata."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        a = np.array(tensors[name], order="C")  # keeps a scalar rank 0
        key = a.dtype.newbyteorder("<").str.lstrip("<|=")
        if key not in _NAMES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {a.dtype}, which safetensors "
                             f"here does not store ({', '.join(sorted(_DTYPES))})")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[key], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path, with_metadata=False):
    """Read a safetensors file into a dict name -> array (and its metadata when asked)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end ({len(data)} bytes)")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has unknown dtype {dt}")
        start, end = info["data_offsets"]
        if not 0 <= start <= end <= len(data) - 8 - n:
            raise ValueError(f"{path}: tensor '{name}' lies outside the file")
        a = np.frombuffer(data, dtype=np.dtype(_DTYPES[dt]).newbyteorder("<"),
                          count=(end - start) // np.dtype(_DTYPES[dt]).itemsize,
                          offset=8 + n + start)
        out[name] = a.reshape(info["shape"]).copy()
    return (out, meta) if with_metadata else out
