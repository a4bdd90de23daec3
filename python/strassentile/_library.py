"""Finds and loads the C++ op library that registers ``torch.ops.strassentile.*``, and points it at the
exact-algorithm data shipped with the package."""
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
    # The Makefile's build folders: with the CUDA kernels (a GPU machine) first, then the CPU build.
    found += [repo / build / "lib" / _LIB_NAME for build in ("build-cuda", "build")]
    return found


def _use_packaged_data() -> None:
    """A wheel carries data/fmm; a build from source already defaults to the checkout's data/fmm."""
    packaged = pathlib.Path(__file__).resolve().parent / "data" / "fmm"
    if not os.environ.get("STRASSENTILE_FMM_DIR") and packaged.is_dir():
        torch.ops.strassentile.set_data_dir(str(packaged))


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
            _use_packaged_data()
            return _loaded
    tried = "\n  ".join(str(p) for p in candidates)
    raise ImportError(
        f"strassentile: the C++ op library {_LIB_NAME} was not found. Tried:\n  {tried}\n"
        "Build it with `make test` (or cmake -DSTRASSENTILE_WITH_TORCH=ON), install the package with "
        "`pip install --no-build-isolation .`, or point STRASSENTILE_TORCH_LIB at the file."
    )
