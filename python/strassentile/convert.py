"""Swap the nn.Linear layers of a model for STLLinear, in the style of torchao's ``quantize_``."""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from . import algorithms
from .modules import STLLinear
from .ops import Tile, tile_format


@dataclasses.dataclass
class ConvertSummary:
    converted: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (name, reason)
    dense_params: float = 0.0  # over converted layers, biases excluded
    stl_params: float = 0.0
    dense_flops_per_token: float = 0.0  # forward, over converted layers, encode/decode included
    stl_flops_per_token: float = 0.0
    # Approximate conversions: relative output error on the calibration inputs (before, after fitting), per layer.
    calibration_error: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        text = f"converted {len(self.converted)} layer(s), skipped {len(self.skipped)}"
        if self.dense_params:
            text += (f"; parameters {self.dense_params:.0f} -> {self.stl_params:.0f} ({self.stl_params / self.dense_params:.2f}x)"
                     f"; FLOPs/token {self.dense_flops_per_token:.0f} -> {self.stl_flops_per_token:.0f} "
                     f"({self.dense_flops_per_token / self.stl_flops_per_token:.2f}x fewer)")
        return text + "".join(f"\n  skipped {name}: {why}" for name, why in self.skipped)


def convert(
    model: nn.Module,
    *,
    tile: Tile = 4,
    rank: int = 24,
    init: str = "random",
    mode: str = "tile",
    filter_fn: Callable[[nn.Module, str], bool] | None = None,
    calibration=None,
    steps: int = 300,
    lr: float = 1e-3,
    train_basis: bool = False,
) -> ConvertSummary:
    """Replaces ``nn.Linear`` submodules of ``model`` in place and returns what was done.

    ``init`` = an exact algorithm's name converts each layer exactly from its trained weights (tile and rank must
    be the algorithm's); ``"random"`` gives fresh STL layers (to train from scratch). ``filter_fn(module, fqn)``
    chooses layers; by default every layer at least one tile wide and tall is converted and the rest are skipped
    with a reason.

    ``init`` = "fit" or "truncate:<algorithm>" makes approximate copies of the trained layers: w_hat starts as
    the projection E_W(Wᵀ); with ``calibration`` (a tensor, or a tuple of positional arguments, fed to ``model``
    once) each layer is then fitted to reproduce its own dense output on the inputs it saw (layer by layer,
    from the dense model's activations), and the summary records the errors.
    """
    a, b, c = tile_format(tile)
    approximate = init == "fit" or init.startswith("truncate:")
    if init != "random" and not approximate:
        alg = algorithms.get(init)
        if alg.tile != (a, b, c) or alg.rank != rank:
            raise ValueError(f"convert: init={init!r} is <{alg.tile}>:{alg.rank} but tile <{a},{b},{c}> and rank {rank} "
                             "were asked; pass the algorithm's tile and rank")
    summary = ConvertSummary()
    inputs = _capture_linear_inputs(model, calibration) if (approximate and calibration is not None) else {}
    for fqn, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear):
            continue
        parent_name, _, child = fqn.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(parent, nn.MultiheadAttention):
            # Its forward reads out_proj.weight directly instead of calling out_proj: a swap would break it.
            summary.skipped.append((fqn, "nn.MultiheadAttention uses out_proj.weight directly, not out_proj(x)"))
            continue
        if filter_fn is not None and not filter_fn(module, fqn):
            summary.skipped.append((fqn, "filtered out"))
            continue
        if filter_fn is None and (module.in_features < b or module.out_features < c):
            summary.skipped.append((fqn, f"smaller than one tile ({module.in_features}->{module.out_features} for <{a},{b},{c}>)"))
            continue
        if approximate:
            layer = STLLinear.from_linear(module, None, mode, tile=(a, b, c), rank=rank, init=init,
                                          calibration=inputs.get(fqn), steps=steps, lr=lr, train_basis=train_basis)
            if layer.calibration_error is not None:
                summary.calibration_error[fqn] = layer.calibration_error
        elif init != "random":
            layer = STLLinear.from_linear(module, init, mode=mode)
        else:
            w = module.weight
            layer = STLLinear(module.in_features, module.out_features, bias=module.bias is not None, tile=(a, b, c),
                              rank=rank, init="random", mode=mode, device=w.device, dtype=w.dtype)
        setattr(parent, child, layer)
        cost = layer.cost(a)  # one row tile holds `a` tokens
        summary.converted.append(fqn)
        summary.dense_params += cost["dense_params"]
        summary.stl_params += cost["stl_params"]
        summary.dense_flops_per_token += cost["dense_flops"] / a
        summary.stl_flops_per_token += cost["stl_flops"] / a
    return summary


def _capture_linear_inputs(model: nn.Module, calibration) -> dict[str, torch.Tensor]:
    """Runs ``model`` once on ``calibration`` and records the input of every nn.Linear."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, args, out, name=fqn: seen.__setitem__(name, args[0].detach()))
             for fqn, m in model.named_modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            model(*calibration) if isinstance(calibration, tuple) else model(calibration)
    finally:
        for h in hooks:
            h.remove()
    return seen
