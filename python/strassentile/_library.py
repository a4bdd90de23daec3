"""Finds and loads the C++ op library that registers ``torch.ops.strassentile.*``."""
from __future__ import annotations

import os
import pathlib

import torch

_LIB_NAME = "libstrassentile_torch.so"
_loaded: str | None = None


def _candidates() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).resolve().parent
    found = []
    if os.environ.get("STRASSENTILE_TORCH_LIB"):
        found.append(pathlib.Path(os.environ["STRASSENTILE_TORCH_LIB"]))
    found.append(here / "lib" / _LIB_NAME)  # installed wheel (scikit-build-core)
    repo = here.parent.parent  # source checkout: python/strassentile → repo root
    found += [repo / build / "lib" / _LIB_NAME for build in ("build", "build-torch")]
    return found


def load_library() -> str:
    """Loads the op library once; returns its path. Loading never initialises CUDA."""
    global _loaded
    if _loaded is not None:
        return _loaded
    candidates = _candidates()
    for path in candidates:
        if path.is_file():
            torch.ops.load_library(str(path))
            _loaded = str(path)
            return _loaded
    tried = "\n  ".join(str(p) for p in candidates)
    raise ImportError(
        f"strassentile: the C++ op library {_LIB_NAME} was not found. Tried:\n  {tried}\n"
        "Build it with `make test` (or cmake -DSTRASSENTILE_WITH_TORCH=ON), install the package with "
        "`pip install --no-build-isolation .`, or point STRASSENTILE_TORCH_LIB at the file."
    )
