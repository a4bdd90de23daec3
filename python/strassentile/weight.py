"""STLWeight: what ``STLLinear.weight`` returns, for code that reads ``layer.weight`` instead of calling the layer.

It has the shape (out_features, in_features), dtype, device and requires_grad of the dense weight it stands for
but holds no dense values: ``F.linear(x, layer.weight, bias)`` runs the layer's STL product (differentiable in the
layer's parameters), and any other use raises an error that says so. Because it is a tensor subclass, PyTorch's
fused fast paths (nn.TransformerEncoderLayer, nn.MultiheadAttention in eval) see ``has_torch_function`` and take
their plain path, which calls the layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class STLWeight(torch.Tensor):
    @staticmethod
    def __new__(cls, layer):
        ref = layer.w_hat
        return torch.Tensor._make_wrapper_subclass(cls, (layer.out_features, layer.in_features), dtype=ref.dtype,
                                                   device=ref.device, requires_grad=ref.requires_grad)

    def __init__(self, layer):
        self.layer = layer

    def __repr__(self) -> str:
        return f"STLWeight({self.shape[0]}, {self.shape[1]}, of {self.layer.extra_repr()})"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            x, weight, bias = _linear_arguments(*args, **kwargs)
            if isinstance(weight, STLWeight) and not isinstance(x, STLWeight):
                return weight.layer.product(x, bias)
        # Metadata (shape, dtype, device, ...) answers as for any tensor; an op on the values reaches
        # __torch_dispatch__ and raises.
        return super().__torch_function__(func, types, args, kwargs)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise NotImplementedError(f"STLLinear.weight has no dense values: only F.linear(x, layer.weight, bias) is supported, "
                        f"not {func}. Call the layer instead (its tiles mix rows: there is no dense matrix to read)")


def _linear_arguments(input, weight, bias=None):
    return input, weight, bias
