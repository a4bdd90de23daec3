"""strassentile: Strassen-Tile (STL) layers for PyTorch.

The operators live in a C++ library (``torch.ops.strassentile.*``); this package is a thin layer over it.
Importing it loads that library and never initialises CUDA.
"""
from ._library import load_library

load_library()

from . import algorithms  # noqa: E402
from .convert import ConvertSummary, convert  # noqa: E402
from .modules import STLMLP, STLDecodeCache, STLLinear  # noqa: E402
from .ops import encode_weight, set_keep_for_backward, stl_matmul, stl_matmul_reference, stl_mlp  # noqa: E402

__all__ = ["algorithms", "convert", "ConvertSummary", "STLDecodeCache", "STLLinear", "stl_matmul", "encode_weight", "stl_matmul_reference",
           "set_keep_for_backward", "stl_mlp", "STLMLP"]
__version__ = "0.1.0"
