"""Undo ``convert`` where the STL layer has a dense equivalent: back to nn.Linear, in place."""
from __future__ import annotations

from torch import nn

from .modules import STLLinear


def revert(model: nn.Module) -> dict[str, str]:
    """Replaces every STLLinear of ``model`` that has a dense equivalent (tiles of one row, a = 1: mode
    "token-local") by the nn.Linear that computes the same function (``STLLinear.to_linear``), under every name it is
    registered under, and returns {qualified name: "reverted" or the reason it was kept}. Layers with a > 1 mix the
    rows of a tile, so no nn.Linear computes them: they stay, with that reason. Like ``convert``, it works in place,
    so ``model`` itself cannot be an STLLinear: use ``layer.to_linear()``."""
    if isinstance(model, STLLinear):
        raise ValueError("revert: the model is itself an STLLinear; revert replaces submodules in place. Use "
                         "layer.to_linear() for a single layer")
    places: dict[STLLinear, list[tuple[nn.Module, str, str]]] = {}
    for parent_name, parent in model.named_modules(remove_duplicate=False):
        for child_name, child in parent.named_children():
            if isinstance(child, STLLinear):
                fqn = f"{parent_name}.{child_name}" if parent_name else child_name
                places.setdefault(child, []).append((parent, child_name, fqn))
    report: dict[str, str] = {}
    for layer, where in places.items():
        names = sorted({fqn for _, _, fqn in where})
        if layer.tile[0] != 1:
            for fqn in names:
                report[fqn] = (f"kept: tile {layer.tile} mixes the {layer.tile[0]} rows of a tile, so no nn.Linear "
                               "computes it")
            continue
        linear = layer.to_linear()
        linear.train(layer.training)
        for parent, child_name, _ in where:
            setattr(parent, child_name, linear)
        for fqn in names:
            report[fqn] = "reverted"
    return report
