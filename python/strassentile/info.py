"""What the loaded op library was built with (version, CUDA, architectures, ...), for bug reports and checks."""
from __future__ import annotations

import json

import torch


def build_info() -> dict:
    """The op library's build description: ``torch.ops.strassentile.build_info()``'s JSON, parsed."""
    return json.loads(torch.ops.strassentile.build_info())
