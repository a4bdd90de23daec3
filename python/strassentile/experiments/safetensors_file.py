"""Reads tensors from a ``.safetensors`` file without the safetensors package: 8 bytes little-endian header
length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data."""
from __future__ import annotations

import json
import pathlib
import struct

import torch

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32}


def read_header(path: str | pathlib.Path) -> dict:
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return header


def load_tensor(path: str | pathlib.Path, name: str) -> torch.Tensor:
    """One tensor by name; raises KeyError listing a few names when it is absent."""
    header = read_header(path)
    if name not in header:
        raise KeyError(f"{path}: no tensor {name!r}; it has e.g. {sorted(header)[:5]}")
    entry = header[name]
    if entry["dtype"] not in _DTYPES:
        raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
    begin, end = entry["data_offsets"]
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + length + begin)
        raw = bytearray(f.read(end - begin))
    return torch.frombuffer(raw, dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"]).clone() if raw else \
        torch.empty(entry["shape"], dtype=_DTYPES[entry["dtype"]])
