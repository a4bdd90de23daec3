"""The baselines STL is compared with when converting a trained model (Python twins of the C++ ones in
include/strassentile/torch/baseline_linear.hpp): 2:4 sparsity by magnitude (a fixed mask, or SR-STE's mask that
follows the weights while they train), and low rank by truncated SVD."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn


def sparse24_mask(weight: torch.Tensor) -> torch.Tensor:
    """Keeps the 2 largest-magnitude entries in every group of 4 consecutive inputs of each output row (ties go to
    the earlier entries), as the C++ ``sparse24_mask``: an entry is kept when fewer than 2 of the other three beat it
    (larger, or equal and earlier). Elementwise passes rather than ``topk``, whose CUDA kernel runs one thread block
    per 4-entry group."""
    out_features, in_features = weight.shape
    if in_features % 4:
        raise ValueError(f"sparse24_mask: in_features must be a multiple of 4, got {in_features}")
    magnitude = weight.detach().abs().reshape(out_features, in_features // 4, 4).unbind(-1)
    keep = []
    for i in range(4):
        beaten_by = torch.zeros_like(magnitude[i], dtype=torch.uint8)
        for j in range(4):
            if j != i:
                beaten_by += (magnitude[j] >= magnitude[i]) if j < i else (magnitude[j] > magnitude[i])
        keep.append(beaten_by < 2)
    return torch.stack(keep, -1).reshape(out_features, in_features)


class Sparse24Linear(nn.Module):
    """nn.Linear whose weight is 2:4 sparse: a fixed magnitude mask; pruned weights stay zero while training."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        mask = sparse24_mask(linear.weight)
        self.register_buffer("mask", mask)
        self.weight = nn.Parameter(linear.weight.detach() * mask)
        self.bias = nn.Parameter(linear.bias.detach().clone()) if linear.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.sparse_weight(), self.bias)

    def sparse_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def flops_per_token(self) -> float:
        return self.in_features * self.out_features  # half of dense's 2·in·out


class _SparseRefinedSTE(torch.autograd.Function):
    """Forward: the 2:4 projection of the dense weight. Backward: straight through to every dense weight, plus
    ``decay`` · w on the pruned ones (SR-STE, Zhou et al. 2021: pulls pruned weights towards zero, so that the mask
    stops flipping between near-equal weights)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, decay: float) -> torch.Tensor:
        mask = sparse24_mask(weight)
        ctx.save_for_backward(weight, mask)
        ctx.decay = decay
        return weight * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, mask = ctx.saved_tensors
        return grad + ctx.decay * weight * ~mask, None


class SRSTESparse24Linear(nn.Module):
    """nn.Linear whose weight is 2:4 sparse with a mask recomputed from the dense weights at every call (SR-STE):
    training may move any weight into the kept pair of its group. Starts from the trained layer's weights, so its
    first mask is magnitude 2:4's."""

    def __init__(self, linear: nn.Linear, decay: float = 2e-4) -> None:
        super().__init__()
        if linear.in_features % 4:
            raise ValueError(f"SRSTESparse24Linear: in_features must be a multiple of 4, got {linear.in_features}")
        if decay < 0:
            raise ValueError(f"SRSTESparse24Linear: decay must be >= 0 (SR-STE's lambda_W, 2e-4 in its paper), got {decay}")
        self.in_features, self.out_features, self.decay = linear.in_features, linear.out_features, decay
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = nn.Parameter(linear.bias.detach().clone()) if linear.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, _SparseRefinedSTE.apply(self.weight, self.decay), self.bias)

    def sparse_weight(self) -> torch.Tensor:
        return self.weight * sparse24_mask(self.weight)

    def flops_per_token(self) -> float:
        return self.in_features * self.out_features


class LowRankLinear(nn.Module):
    """y = (x·Vᵀ)·Uᵀ + b, initialised with the truncated SVD of a trained weight (the best rank-`rank` copy)."""

    def __init__(self, linear: nn.Linear, rank: int) -> None:
        super().__init__()
        if not 1 <= rank <= min(linear.in_features, linear.out_features):
            raise ValueError(f"LowRankLinear: rank must be in [1, {min(linear.in_features, linear.out_features)}], got {rank}")
        self.in_features, self.out_features, self.rank = linear.in_features, linear.out_features, rank
        u, s, vh = torch.linalg.svd(linear.weight.detach().double(), full_matrices=False)
        root = s[:rank].sqrt()
        dtype = linear.weight.dtype
        self.u = nn.Parameter((u[:, :rank] * root).to(dtype))
        self.v = nn.Parameter((vh[:rank] * root[:, None]).to(dtype))
        self.bias = nn.Parameter(linear.bias.detach().clone()) if linear.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(nn.functional.linear(x, self.v), self.u, self.bias)

    def flops_per_token(self) -> float:
        return 2.0 * self.rank * (self.in_features + self.out_features)


def rank_matching_flops(in_features: int, out_features: int, flops_per_token: float) -> int:
    """The largest low rank whose FLOPs per token do not exceed ``flops_per_token``, rounded down to a multiple of
    8 when it is at least 8: a bf16 GEMM whose inner size is not a multiple of 8 misses the tensor-core kernels
    (measured: an unaligned rank made the low-rank layers 3x slower than dense), which would be unfair to it."""
    rank = max(1, math.floor(flops_per_token / (2.0 * (in_features + out_features))))
    return rank - rank % 8 if rank >= 8 else rank


def replace_linears(model: nn.Module, make: Callable[[str, nn.Linear], nn.Module | None]) -> list[str]:
    """Replaces every nn.Linear for which ``make(fqn, linear)`` returns a module; returns the replaced names."""
    done = []
    for fqn, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            new = make(fqn, module)
            if new is not None:
                parent_name, _, child = fqn.rpartition(".")
                setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
                done.append(fqn)
    return done
