"""strassentile: Strassen-Tile (STL) layers for PyTorch.

The operators live in a C++ library (``torch.ops.strassentile.*``); this package is a thin layer over it.
Importing it loads that library and never initialises CUDA.
"""
from ._library import load_library

load_library()

from . import algorithms  # noqa: E402
from .config import Exact, Fit, FromDense, Random, STLConfig  # noqa: E402
from .convert import convert  # noqa: E402
from .convert_summary import ConvertSummary, LayerReport  # noqa: E402
from .info import build_info  # noqa: E402
from .modules import STLMLP, STLDecodeCache, STLLinear  # noqa: E402
from .revert import revert  # noqa: E402
from .speed_model import GpuSpec  # noqa: E402
from .ops import (encode_weight, set_dense_equivalent, set_fused_forward, set_keep_for_backward,  # noqa: E402
                  set_keep_z_for_backward, set_lean_backward, stl_matmul, stl_matmul_reference, stl_mlp)
from .weight import STLWeight  # noqa: E402

__all__ = ["algorithms", "build_info", "convert", "revert", "ConvertSummary", "LayerReport", "STLConfig", "FromDense", "Fit",
           "Exact", "Random", "GpuSpec", "STLDecodeCache", "STLLinear", "STLWeight", "STLMLP", "stl_matmul", "stl_mlp",
           "encode_weight", "stl_matmul_reference", "set_keep_for_backward", "set_keep_z_for_backward", "set_lean_backward",
           "set_dense_equivalent", "set_fused_forward"]
__version__ = "0.1.0"
