"""Functional API: thin wrappers over ``torch.ops.strassentile``."""
from __future__ import annotations

import numbers
from typing import Sequence

import torch

Tile = int | Sequence[int]


def _is_size(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def tile_list(tile: Tile) -> list[int]:
    """``4`` → ``[4]`` (meaning <4,4,4>); ``(2, 3, 4)`` → ``[2, 3, 4]``. Anything else raises, naming ``tile``."""
    fix = "pass an int (4 means <4,4,4>) or three ints (a, b, c), each >= 1"
    if _is_size(tile):
        out = [int(tile)]
    elif isinstance(tile, Sequence) and not isinstance(tile, (str, bytes)) and all(_is_size(t) for t in tile):
        out = [int(t) for t in tile]
    else:
        raise TypeError(f"tile={tile!r}: {fix}")
    if len(out) not in (1, 3) or min(out) < 1:
        raise ValueError(f"tile={tile!r}: {fix}")
    return out


def _check_tensor(name: str, value) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def tile_format(tile: Tile) -> tuple[int, int, int]:
    t = tile_list(tile)
    return (t[0], t[0], t[0]) if len(t) == 1 else (t[0], t[1], t[2])


def stl_matmul(
    x: torch.Tensor,
    w_hat: torch.Tensor,
    enc_x: torch.Tensor,
    dec: torch.Tensor,
    tile: Tile,
    bias: torch.Tensor | None = None,
    mode: str = "tile",
    out_features: int | None = None,
    levels: Sequence[int] | None = None,
    in_features: int | None = None,
) -> torch.Tensor:
    """Y = STL(x, Ŵ) (+ bias).

    Shapes: x (..., K); w_hat (r, ⌈K/b⌉, ⌈N/c⌉); enc_x (r, a·b); dec (a·c, r); bias (N,); result (..., N).
    Rows are grouped in runs of ``a`` along dim -2, within each leading index. Differentiable in x, w_hat,
    enc_x, dec and bias. ``out_features`` defaults to ``bias.numel()``, else ⌈N/c⌉·c. With ``in_features``,
    ``x.size(-1)`` must equal it (as ``nn.Linear`` requires); without, only ⌈K/b⌉ is checked against ``w_hat``.

    ``mode``: "tile" (rows of a tile mix), "token-local" (a = 1) or "causal": product p has level
    ``levels[p]`` in [0, a) (default ⌊p·a/r⌋); enc_x[p] reads only tile rows ≤ levels[p] and dec routes p only to
    output rows ≥ levels[p], so output row u depends only on input rows ≤ u of its tile. Masked coefficients are
    ignored whatever their value and get zero gradient.
    """
    for name, value in (("x", x), ("w_hat", w_hat), ("enc_x", enc_x), ("dec", dec)):
        _check_tensor(name, value)
    lv = None if levels is None else [int(v) for v in levels]
    return torch.ops.strassentile.stl_matmul(x, w_hat, enc_x, dec, tile_list(tile), bias, mode, out_features, lv,
                                             in_features)


def stl_mlp(
    x: torch.Tensor,
    layer1: tuple,
    layer2: tuple,
    tile: Tile,
    activation: str = "gelu_tanh",
    mode: str = "tile",
    hidden_features: int | None = None,
    out_features: int | None = None,
    levels1: Sequence[int] | None = None,
    levels2: Sequence[int] | None = None,
    in_features: int | None = None,
) -> torch.Tensor:
    """y = STL₂(act(STL₁(x) + b₁)) + b₂: two layers with an activation between them (a transformer's MLP).

    ``layer1``, ``layer2``: ``(w_hat, enc_x, dec, bias)`` each, bias may be None. ``activation``: "none", "relu" or
    "gelu_tanh". Equal to ``stl_matmul``, the activation, ``stl_matmul`` and differentiable the same way; without
    gradients (``torch.no_grad()``, or no input requiring one) it runs as one op which on CUDA (bf16/fp16, tile
    <4,4,4>, ranks <= 32) fuses layer 1's decode, bias and activation with layer 2's encode, so the hidden
    activations never go to memory. ``in_features``: layer 1's input width, checked exactly as in ``stl_matmul``.
    """
    w1, e1, d1, b1 = layer1
    w2, e2, d2, b2 = layer2
    lv1 = None if levels1 is None else [int(v) for v in levels1]
    lv2 = None if levels2 is None else [int(v) for v in levels2]
    return torch.ops.strassentile.stl_mlp(x, w1, e1, d1, b1, w2, e2, d2, b2, tile_list(tile), activation, mode,
                                          hidden_features, out_features, lv1, lv2, in_features)


def set_keep_for_backward(keep: bool) -> bool:
    """Whether ``stl_matmul`` on CUDA keeps its encoded input X̂ and products Z for the backward pass.

    Kept, each backward skips one encode kernel (and, when the coefficient gradients are wanted, one batched
    product): faster training, for about 1.5× the input plus 1.5× the output (``<4,4,4>``, r = 24) more memory held
    per layer between forward and backward. Off by default; process-wide; eager mode only (under ``torch.compile``
    the plain op runs). Returns the previous setting.
    """
    return bool(torch.ops.strassentile.set_keep_for_backward(bool(keep)))


def set_keep_z_for_backward(keep: bool) -> bool:
    """Whether ``stl_matmul`` on CUDA keeps only its products Z for the backward pass.

    Kept, each backward that computes the decoder's gradient skips the batched product that recomputes Z (it still
    encodes the input again): most of ``set_keep_for_backward``'s gain for the output's share of its memory, about
    1.5× the output (``<4,4,4>``, r = 24) held per layer between forward and backward. ``set_keep_for_backward(True)``
    keeps both whatever this says. Off by default; process-wide; eager mode only. Returns the previous setting.
    """
    return bool(torch.ops.strassentile.set_keep_z_for_backward(bool(keep)))


def set_lean_backward(lean: bool) -> bool:
    """Whether ``stl_matmul``'s CUDA backward runs its rows in blocks so that its scratch stays within the bytes of
    x and y.

    Lean, a training step's peak memory above its inputs is near 1.5× ``nn.Linear``'s instead of about 2.1×
    (``<4,4,4>``, r = 24), for about a tenth more backward time at 16384×4096×4096 (the blocks' extra launches and
    dŴ summed over them in fp32); see docs/PERFORMANCE.md. Off by default; process-wide. Returns the previous
    setting.
    """
    return bool(torch.ops.strassentile.set_lean_backward(bool(lean)))


def set_dense_equivalent(policy: str) -> str:
    """Whether layers of one-row tiles (a = 1, modes "tile" and "token-local"), which compute a dense layer, run as
    that dense layer, W built from Ŵ, E_X and D on every call (the same function; only the rounding differs).

    "auto" (the default): on CUDA where the speed model predicts it faster than the STL pipeline (narrow layers,
    where the codec passes cost more than the products save); never on the CPU. "always": wherever one exists.
    "never": the STL pipeline always. Process-wide. Returns the previous setting.
    """
    return str(torch.ops.strassentile.set_dense_equivalent(str(policy)))


def set_fused_forward(policy: str | bool) -> str:
    """Where the CUDA forward runs its products and decode as one kernel, among the layers where that applies: bf16,
    rank <= 3, tiles whose (a, c) is (2,2), (1,4), (4,1), (1,2) or (2,1) (``<2,2,2>`` r = 3, ``<1,4,2>`` r = 3, ...),
    an H100 or H200, the forward not keeping Z for the backward.

    "auto" (the default, or True): where the speed model prices it faster than the pipeline for that layer
    (docs/PERFORMANCE.md). "always": wherever it applies. "never" (or False): every forward runs encode → batched
    products → decode. Process-wide. Returns the previous setting.
    """
    if isinstance(policy, bool):
        policy = "auto" if policy else "never"
    return str(torch.ops.strassentile.set_fused_forward(str(policy)))


def encode_weight(w: torch.Tensor, enc_w: torch.Tensor, tile: Tile) -> torch.Tensor:
    """Ŵ = E_W(w) for a dense (in_features, out_features) weight, i.e. ``linear.weight.T``."""
    return torch.ops.strassentile.encode_weight(w, enc_w, tile_list(tile))


def stl_matmul_reference(
    x: torch.Tensor, w_hat: torch.Tensor, enc_x: torch.Tensor, dec: torch.Tensor, tile: Tile, out_features: int, seq_len: int = 0,
    mode: str = "tile", levels: Sequence[int] | None = None,
) -> torch.Tensor:
    """The torch-free C++ core reference (float64, CPU) on a 2-D x; seq_len rows per sequence (0: one sequence)."""
    lv = None if levels is None else [int(v) for v in levels]
    return torch.ops.strassentile.stl_reference(x, w_hat, enc_x, dec, tile_list(tile), out_features, seq_len, mode, lv)
