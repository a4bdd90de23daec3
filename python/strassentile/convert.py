"""Swap the nn.Linear layers of a model for STLLinear, in place, in the style of torchao's ``quantize_``."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from .config import Exact, Fit, FromDense, Random, STLConfig
from .convert_summary import ConvertSummary, LayerReport
from .modules import STLLinear
from .speed_model import GpuSpec, SpeedModel, resolve

# Hooks that fire around forward/backward: moved to the new layer (the dicts themselves, so that the users'
# RemovableHandles still remove them).
_CALL_HOOKS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_backward_pre_hooks", "_backward_hooks")
_HOOK_FUNCTIONS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")  # the others: flags
_STATE_DICT_HOOKS = ("_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks")


def convert(model: nn.Module, config: STLConfig | None = None, *,
            filter_fn: Callable[[nn.Module, str], bool] | None = None, min_speedup: float | None = None,
            tokens: int | None = None, training: bool = True, speed_model: SpeedModel = None) -> ConvertSummary:
    """Replaces the ``nn.Linear`` submodules of ``model`` by STLLinear layers built as ``config`` says (default:
    <4,4,4>, r = 24, ``FromDense()``: an approximate copy of each trained layer), and returns what was done.

    ``filter_fn(module, fqn)`` chooses the layers; without it every layer at least one tile wide and tall is
    converted. A layer is skipped, with the reason in the summary, when converting it would change or break the
    model: a subclass with its own forward, a parametrized or uninitialized weight, a weight or bias tied to
    another parameter, or nn.MultiheadAttention's out_proj (computed inside F.multi_head_attention_forward). A
    layer registered under several names is replaced under all of them by one STLLinear; frozen layers stay
    frozen; forward and backward hooks move to the new layer. Code that reads ``layer.weight`` gets an STLWeight,
    whose ``F.linear`` runs STL.

    ``min_speedup`` converts only the layers whose STL form is predicted at least that many times faster than
    nn.Linear (1.0: faster at all) at ``tokens`` rows per call (batch · sequence length, required with it), for a
    training step (forward and backward of every parameter the converted layer trains: enc_x and dec too unless the
    dense weight was frozen; under ``set_keep_for_backward``, ``set_keep_z_for_backward`` and ``set_lean_backward``
    as they are set when convert runs; ``training=False``: forward only), in the layer's dtype. The prediction is the speed model's
    (strassentile.speed_model) for ``speed_model`` (a GpuSpec, a JSON file from ``python -m strassentile.benchmark
    --calibrate``, or a CUDA device), else the file named by STRASSENTILE_SPEED_MODEL, else the current CUDA device.
    ``tokens`` alone reports the predictions and filters nothing. Each layer's prediction is in its report
    (``predicted_speedup``) and in the skip reason.

    Like ``quantize_``, it works in place, so ``model`` itself cannot be an nn.Linear: use
    ``STLLinear.from_linear`` for a single layer.
    """
    if isinstance(model, nn.Linear):
        raise ValueError("convert: the model is itself an nn.Linear; convert replaces submodules in place and cannot "
                         "replace the module it was given. Convert a single layer with STLLinear.from_linear(linear, "
                         "...), or wrap it (nn.Sequential(linear)) and convert that")
    config = config or STLConfig()
    tile, rank = config.resolved()
    gpu = _speed_model_for(min_speedup, tokens, speed_model)
    # The backward's switches as they are set now: each prediction prices the backward as it will run.
    keep, lean, keep_z = torch.ops.strassentile.backward_switches() if gpu is not None else (False, False, False)
    inputs = _capture_linear_inputs(model, config.init.calibration) if isinstance(config.init, Fit) else {}
    owners = _parameter_names(model)
    basis_cache: dict[str, tuple[torch.Tensor, ...]] = {}
    summary = ConvertSummary()
    for module, places in _linear_places(model).items():
        names = [fqn for _, _, fqn in places]
        reason = _skip_reason(module, places, owners, filter_fn, tile)
        if reason:
            summary.layers.append(LayerReport(names, converted=False, reason=reason))
            continue
        predicted = None
        if gpu is not None:
            # The basis trains where the dense weight does (frozen layers stay frozen), unless the config freezes it.
            learn_basis = module.weight.requires_grad and config.train_basis
            predicted = gpu.speedup(tokens, module.in_features, module.out_features, tile, rank,
                                    module.weight.element_size(), training, config.mode,
                                    learn_basis=learn_basis, keep=keep, lean=lean, keep_z=keep_z)
            if min_speedup is not None and predicted < min_speedup:
                why = (f"predicted {predicted:.2f}x < min_speedup {min_speedup:g} at {tokens} tokens (model: "
                       f"{gpu.name}, {'training' if training else 'inference'})")
                summary.layers.append(LayerReport(names, converted=False, reason=why, predicted_speedup=predicted))
                continue
        calibration = next((inputs[n] for n in names if n in inputs), None)
        if isinstance(config.init, Fit) and calibration is None:
            summary.warnings.append(f"{names[0]}: not called on the calibration inputs; converted from its weights only")
        layer = _build(module, config, tile, rank, calibration, basis_cache)
        _keep_trainability(module, layer, config.train_basis)
        _move_hooks(module, layer, names[0], summary)
        for parent, child, _ in places:
            setattr(parent, child, layer)
        summary.layers.append(_report(names, layer, summary, predicted))
    return summary


def _speed_model_for(min_speedup: float | None, tokens: int | None, speed_model: SpeedModel) -> GpuSpec | None:
    """The GPU to predict for when ``min_speedup`` or ``tokens`` asks for predictions; None otherwise."""
    if min_speedup is not None:
        number = isinstance(min_speedup, (int, float)) and not isinstance(min_speedup, bool)
        if not number or not 0 < min_speedup < float("inf"):
            raise ValueError(f"convert: min_speedup must be a number > 0 (1.0: convert only layers predicted faster "
                             f"than nn.Linear), got {min_speedup!r}")
        if tokens is None:
            raise ValueError("convert: min_speedup needs tokens=<tokens per call>, the rows each layer will see in one "
                             "call (batch size x sequence length): the predicted speed-up depends on it")
    if tokens is None:
        if speed_model is not None:
            raise ValueError("convert: speed_model is used only with tokens=<tokens per call> (and min_speedup); pass "
                             "them, or leave speed_model out")
        return None
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f"convert: tokens must be a positive int (batch size x sequence length), got {tokens!r}")
    return resolve(speed_model, "min_speedup" if min_speedup is not None else "tokens")


def _linear_places(model: nn.Module) -> dict[nn.Linear, list[tuple[nn.Module, str, str]]]:
    """Every nn.Linear with all the (parent, attribute, fqn) it is registered under, in model order."""
    places: dict[nn.Linear, list[tuple[nn.Module, str, str]]] = {}
    for parent_name, parent in model.named_modules(remove_duplicate=False):
        for child, module in parent._modules.items():  # named_children() would drop the second name
            if isinstance(module, nn.Linear):
                fqn = f"{parent_name}.{child}" if parent_name else child
                places.setdefault(module, []).append((parent, child, fqn))
    return places


def _parameter_names(model: nn.Module) -> dict[int, set[str]]:
    names: dict[int, set[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), set()).add(name)
    return names


def _skip_reason(module: nn.Linear, places, owners: dict[int, set[str]], filter_fn, tile) -> str:
    fqn = places[0][2]
    a, b, c = tile
    if filter_fn is not None and not filter_fn(module, fqn):
        return "filtered out"
    if any(isinstance(parent, nn.MultiheadAttention) for parent, _, _ in places):
        return ("nn.MultiheadAttention uses out_proj.weight directly inside F.multi_head_attention_forward, "
                "not out_proj(x)")
    if type(module).forward is not nn.Linear.forward:
        return f"{type(module).__name__} overrides nn.Linear.forward"
    if parametrize.is_parametrized(module):
        return "its weight is parametrized (torch.nn.utils.parametrize)"
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        return "its weight is uninitialized (nn.LazyLinear before its first forward)"
    for attr in ("weight", "bias"):
        p = getattr(module, attr)
        others = owners.get(id(p), set()) - {f"{name}.{attr}" for _, _, name in places} if p is not None else set()
        if others:
            return f"its {attr} is tied to {sorted(others)[0]}: converting would untie them"
    if filter_fn is None and (module.in_features < b or module.out_features < c):
        return f"smaller than one tile ({module.in_features}->{module.out_features} for <{a},{b},{c}>)"
    return ""


def _build(module: nn.Linear, config: STLConfig, tile, rank: int, calibration, basis_cache) -> STLLinear:
    init, mode = config.init, config.mode
    if isinstance(init, Exact):
        return STLLinear.from_linear(module, init.algorithm, mode=mode)
    if isinstance(init, Random):
        w = module.weight
        return STLLinear(module.in_features, module.out_features, bias=module.bias is not None, tile=tile, rank=rank,
                         init=init.basis, mode=mode, device=w.device, dtype=w.dtype)
    if isinstance(init, Fit):
        return STLLinear.from_linear(module, None, mode, tile=tile, rank=rank, init=init.basis, calibration=calibration,
                                     steps=init.steps, lr=init.lr, train_basis=init.train_basis)
    assert isinstance(init, FromDense)
    if mode == "causal":  # causal bases carry per-layer levels: no sharing
        return STLLinear.from_linear(module, None, mode, tile=tile, rank=rank, init=init.basis)
    # The data-free basis is the same for every layer and an ALS fit takes seconds: compute it once.
    if init.basis not in basis_cache:
        _, *basis_cache[init.basis] = torch.ops.strassentile.init_parameters(tile[1], tile[2], list(tile), rank,
                                                                             init.basis)
    return STLLinear.from_basis(module, *basis_cache[init.basis], tile=tile, init=init.basis)


def _keep_trainability(module: nn.Linear, layer: STLLinear, train_basis: bool) -> None:
    """A frozen dense layer gives a frozen STL layer (basis included); a frozen bias stays frozen; ``train_basis``
    False freezes the basis of every layer."""
    if not train_basis:
        layer.set_train_basis(False)
    if not module.weight.requires_grad:
        for p in (layer.w_hat, layer.enc_x, layer.dec):
            p.requires_grad_(False)
    if module.bias is not None:
        layer.bias.requires_grad_(module.bias.requires_grad)


def _move_hooks(module: nn.Linear, layer: STLLinear, name: str, summary: ConvertSummary) -> None:
    moved = sum(len(getattr(module, attr)) for attr in _HOOK_FUNCTIONS)
    for attr in _CALL_HOOKS:
        if hasattr(module, attr):
            setattr(layer, attr, getattr(module, attr))
    if moved:
        summary.warnings.append(f"{name}: {moved} forward/backward hook(s) moved to the STL layer (they now receive it "
                                "as the module)")
    if any(len(getattr(module, attr, {})) for attr in _STATE_DICT_HOOKS):
        summary.warnings.append(f"{name}: its state-dict hooks were not moved (STL has other keys than weight/bias)")


def _report(names: list[str], layer: STLLinear, summary: ConvertSummary, predicted_speedup: float | None) -> LayerReport:
    a = layer.tile[0]
    cost = layer.cost(a)  # one row tile holds `a` tokens
    report = LayerReport(names, converted=True, dense_params=cost["dense_params"], stl_params=cost["stl_params"],
                         dense_flops_per_token=cost["dense_flops"] / a, stl_flops_per_token=cost["stl_flops"] / a,
                         calibration_error=getattr(layer, "calibration_error", None),
                         predicted_speedup=predicted_speedup)
    if report.stl_params > report.dense_params:
        summary.warnings.append(f"{names[0]}: STL has more parameters than the dense layer "
                                f"({report.stl_params:.0f} > {report.dense_params:.0f})")
    if report.stl_flops_per_token > report.dense_flops_per_token:
        summary.warnings.append(f"{names[0]}: STL needs more FLOPs per token than the dense layer "
                                f"({report.dense_flops_per_token / report.stl_flops_per_token:.2f}x fewer: none saved)")
    return report


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
