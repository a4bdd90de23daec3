"""STLLinear: an nn.Linear look-alike whose product is a Strassen-Tile operator."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from . import algorithms
from .ops import Tile, encode_weight, stl_matmul, stl_mlp, tile_format, tile_list
from .weight import STLWeight


MODES = ("tile", "token-local", "causal")


@dataclass
class STLDecodeCache:
    """State of one layer for token-by-token decoding (STLLinear.forward_step).

    ``rows`` (batch, u, in_features) holds rows 0..u-1 of the current tile (None at a tile start: at most a-1 rows
    are kept); ``position`` counts the tokens consumed. Tiles are aligned to the start of each sequence: use one
    cache per layer per generation and ``reset()`` it when a new batch of sequences starts.
    """

    rows: torch.Tensor | None = None
    position: int = 0

    def reset(self) -> None:
        self.rows, self.position = None, 0


class STLLinear(nn.Module):
    """y = STL(x, Ŵ) + b with learnable Ŵ (w_hat), encoder enc_x and decoder dec.

    Args:
        in_features, out_features, bias: as in nn.Linear.
        tile: 4 means <4,4,4>; or (a, b, c).
        rank: number of products r (FLOPs of the products: abc/r fewer than dense).
        init: "random"; the name of an exact algorithm of this tile and rank (see strassentile.algorithms),
            which starts as an exact STL copy of a freshly initialised nn.Linear; "fit" (ALS fit of the tile's
            matmul tensor at this rank); "truncate:<algorithm>" (greedy truncation of an exact algorithm); or
            "poly" (the DFT evaluation/interpolation algorithm, truncated). Approximate inits are scaled to
            nn.Linear's output variance.
        mode: "tile" (rows of a tile mix: bidirectional models), "token-local" (needs a = 1, e.g. tile=(1, 4, 4))
            or "causal" (output row u of a tile depends only on input rows <= u: autoregressive models). Causal
            inits: "random" (masked), an algorithm ("naive-AxBxC" stays exact) or "truncate:<algorithm>" (levels =
            the highest row each product reads, decoder refitted by least squares under the mask).
        levels: mode "causal" only: the level in [0, a) of every product; default: chosen by the init
            (random: ⌊p·a/rank⌋). Kept in the "levels" buffer.
        train_basis: learn enc_x and dec (else they stay fixed).

    Shapes: x (..., in_features) → (..., out_features); rows grouped in runs of a along dim -2.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        tile: Tile = 4,
        rank: int = 24,
        init: str = "random",
        mode: str = "tile",
        train_basis: bool = True,
        device=None,
        dtype=None,
        levels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        # Validate mode now rather than at the first forward.
        if mode not in MODES:
            raise ValueError(f"mode must be 'tile', 'token-local' or 'causal', got {mode!r}")
        if levels is not None and mode != "causal":
            raise ValueError(f"levels apply only to mode='causal', got mode={mode!r}")
        self.in_features, self.out_features = in_features, out_features
        self.tile, self.rank, self.init, self.mode = tile_format(tile), rank, init, mode
        if mode == "token-local" and self.tile[0] != 1:
            raise ValueError(f"mode='token-local' needs tiles of one row (a = 1, e.g. tile=(1, 4, 4)), got tile={self.tile}")
        self._levels: list[int] | None = None  # host copy of the "levels" buffer (no device sync per forward)
        w_hat, enc_x, enc_w, dec = self._initial_values(levels)
        kw = {"device": device, "dtype": dtype}
        self.w_hat = nn.Parameter(w_hat.to(**kw))
        self.enc_x = nn.Parameter(enc_x.to(**kw), requires_grad=train_basis)
        self.dec = nn.Parameter(dec.to(**kw), requires_grad=train_basis)
        self.register_buffer("enc_w", enc_w.to(**kw))
        if mode == "causal":
            self.register_buffer("levels", torch.tensor(self._levels, dtype=torch.int64))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        self._reset_bias()

    def _initial_values(self, levels: Sequence[int] | None) -> tuple[torch.Tensor, ...]:
        """(w_hat, enc_x, enc_w, dec) of ``self.init``; in mode causal also sets the host copy of the levels."""
        if self.mode == "causal":
            w_hat, enc_x, enc_w, dec, lv = torch.ops.strassentile.init_causal_parameters(
                self.in_features, self.out_features, list(self.tile), self.rank, self.init,
                None if levels is None else [int(v) for v in levels])
            self._levels = list(lv)
            return w_hat, enc_x, enc_w, dec
        return torch.ops.strassentile.init_parameters(self.in_features, self.out_features, list(self.tile), self.rank,
                                                      self.init)

    def _reset_bias(self) -> None:
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            with torch.no_grad():
                self.bias.uniform_(-bound, bound)

    def reset_parameters(self) -> None:
        """Re-initialises every parameter in place (as nn.Linear.reset_parameters does), from ``init``: a fresh
        layer's values, with the same tile, rank, mode and causal levels. Optimisers keep their references."""
        values = self._initial_values(self._levels)
        with torch.no_grad():
            for tensor, value in zip((self.w_hat, self.enc_x, self.enc_w, self.dec), values):
                tensor.copy_(value)
        self._reset_bias()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.product(x, self.bias)

    def product(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """STL(x, Ŵ) + ``bias``: the layer with another bias (what ``F.linear(x, layer.weight, bias)`` runs)."""
        # The op itself, not the checking wrapper (strassentile.stl_matmul): the layer's own arguments are valid by
        # construction and the op checks the rest; a forward's host time bounds the narrow layers on a GPU.
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"STLLinear: x must be a torch.Tensor, got {type(x).__name__}")
        return torch.ops.strassentile.stl_matmul(x, self.w_hat, self.enc_x, self.dec, list(self.tile), bias, self.mode,
                                                 self.out_features, self._levels, self.in_features)

    def dense_weight(self) -> torch.Tensor:
        """The (out_features, in_features) weight W with ``layer(x) == F.linear(x, W, layer.bias)`` for every x, where
        one exists: tiles of one row (a = 1, as mode "token-local" requires), whose output rows each depend on their
        own input row only. Computed in float64 from the layer applied to the identity, returned in Ŵ's dtype.
        With a > 1 a row's output depends on the other rows of its tile and no such W exists: ValueError."""
        if self.tile[0] != 1:
            raise ValueError(f"dense_weight: tile {self.tile} has a = {self.tile[0]} rows, so each output row depends "
                             "on the other rows of its tile and no dense weight reproduces the layer; only layers of "
                             "one-row tiles (a = 1, mode 'token-local') have one")
        with torch.no_grad():
            eye = torch.eye(self.in_features, dtype=torch.float64, device=self.w_hat.device)
            y = stl_matmul(eye, self.w_hat.double(), self.enc_x.double(), self.dec.double(), list(self.tile), None,
                           self.mode, self.out_features, self._levels, self.in_features)
        return y.t().to(self.w_hat.dtype).contiguous()

    def to_linear(self) -> nn.Linear:
        """An nn.Linear that computes what this layer computes (see dense_weight; a = 1 only), on the same device and
        dtype, with the same bias and trainability."""
        w = self.dense_weight()
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, device=w.device,
                           dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        linear.weight.requires_grad_(self.w_hat.requires_grad)
        if self.bias is not None:
            linear.bias.requires_grad_(self.bias.requires_grad)
        return linear

    @property
    def weight(self) -> STLWeight:
        """A stand-in for nn.Linear's weight, for code that reads it: see strassentile.weight.STLWeight."""
        return STLWeight(self)

    def forward_step(self, x_t: torch.Tensor, cache: STLDecodeCache) -> torch.Tensor:
        """The next token of every sequence: x_t (batch, in_features) → (batch, out_features), equal to that row of
        ``forward`` over the whole sequences. Mode "causal" keeps the current tile's earlier rows in ``cache``;
        "token-local" needs none; mode "tile" raises (its outputs depend on later tokens of the tile)."""
        if self.mode == "tile":
            raise RuntimeError("STLLinear.forward_step: mode 'tile' cannot decode token by token: output row u of a tile "
                               "depends on the later rows (future tokens) of its tile. Build autoregressive layers with "
                               "mode='causal' (or 'token-local' with a = 1)")
        if x_t.dim() != 2 or x_t.shape[1] != self.in_features:
            raise ValueError(f"forward_step: x_t must be (batch, {self.in_features}), one token per sequence, got "
                             f"{tuple(x_t.shape)}")
        a = self.tile[0]
        u = cache.position % a  # row of the current tile this token is
        if u > 0 and (cache.rows is None or cache.rows.shape[:2] != (x_t.shape[0], u)):
            raise ValueError(f"forward_step: the cache does not hold rows 0..{u - 1} of this tile for a batch of "
                             f"{x_t.shape[0]}: use one STLDecodeCache per layer and reset() it for new sequences")
        # Rows 0..u as one short sequence: the op pads it to a whole tile, and in mode causal output row u reads
        # rows <= u only, so it equals row u of the full forward.
        window = x_t.unsqueeze(1) if u == 0 else torch.cat([cache.rows, x_t.unsqueeze(1)], 1)
        y = self.forward(window)[:, u]
        cache.rows = window if u + 1 < a else None
        cache.position += 1
        return y

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # PyTorch reports each size mismatch on its own; say which tile and rank the checkpoint was built with.
        mismatch = self._checkpoint_mismatch(state_dict, prefix)
        if mismatch:
            error_msgs.append(mismatch)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if self._levels is not None:  # keep the host copy in step with a loaded checkpoint
            self._levels = [int(v) for v in self.levels.tolist()]

    def _checkpoint_mismatch(self, state_dict, prefix) -> str | None:
        """A message when the checkpoint's STL tensors do not fit this layer's tile, rank or features, else None."""
        names = ("w_hat", "enc_x", "dec", "enc_w")
        saved = {n: tuple(state_dict[prefix + n].shape) for n in names if prefix + n in state_dict}
        ours = {n: tuple(getattr(self, n).shape) for n in saved}
        if saved == ours:
            return None
        a, b, c = self.tile
        theirs = ", ".join(f"{n} {saved[n]}" for n in saved)
        rank = f"rank {saved['enc_x'][0]}, a·b = {saved['enc_x'][1]}" if "enc_x" in saved else "another shape"
        return (f"STLLinear {prefix.rstrip('.') or '(root)'}: the checkpoint holds an STL layer of {rank} ({theirs}) but "
                f"this layer is in_features={self.in_features}, out_features={self.out_features}, tile=<{a},{b},{c}>, "
                f"rank={self.rank} ({', '.join(f'{n} {ours[n]}' for n in ours)}); build the model with the "
                f"checkpoint's tile, rank and features (or convert it the same way) before loading")

    def set_train_basis(self, train: bool) -> None:
        """Freezes (False) or unfreezes (True) the change of basis enc_x and dec."""
        self.enc_x.requires_grad_(train)
        self.dec.requires_grad_(train)

    @classmethod
    def from_linear(cls, linear: nn.Linear, algorithm: str | None = "strassen2", mode: str = "tile", *,
                    tile: Tile = 4, rank: int = 24, init: str = "fit", calibration: torch.Tensor | None = None,
                    steps: int = 300, lr: float = 1e-3, train_basis: bool = False) -> "STLLinear":
        """An STL copy of ``linear``.

        With an exact ``algorithm`` (default "strassen2") the copy computes exactly what ``linear`` computes; its
        tile and rank are the algorithm's. With ``algorithm=None`` it uses ``tile``, ``rank`` and ``init`` (any
        init STLLinear takes): w_hat starts as the projection E_W(Wᵀ) and, given ``calibration`` inputs
        (..., in_features), the basis of "fit", "truncate:…" and "poly" is first fitted to the moments of this
        layer's activation and weight tiles (data-aware), then w_hat is fitted to reproduce ``linear(calibration)``:
        by preconditioned least squares (``steps`` iterations), or, with ``train_basis``, together with enc_x and
        dec by Adam (``steps``, ``lr``). The relative errors before and after fitting are stored in
        ``layer.calibration_error``.
        """
        if algorithm is None:
            return cls._approximate_linear(linear, tile, rank, init, mode, calibration, steps, lr, train_basis)
        alg = algorithms.get(algorithm)
        w = linear.weight.detach()
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, tile=alg.tile, rank=alg.rank,
                    init=algorithm, mode=mode, device=w.device, dtype=w.dtype)
        if mode == "causal":
            # The layer holds the algorithm refitted under the causal masks; only a causal algorithm stays exact.
            enc_x, enc_w, dec = (t.detach().clone() for t in (layer.enc_x, layer.enc_w, layer.dec))
            err = torch.ops.strassentile.relative_error(enc_x.double(), enc_w.double(), dec.double(), list(alg.tile))
            if err > 1e-6:
                raise ValueError(f"from_linear: algorithm {algorithm!r} is not causal (its products mix rows of a tile): "
                                 f"under mode='causal' its relative error is {err:.3f}. Use 'naive-AxBxC', or "
                                 f"algorithm=None with init='truncate:{algorithm}' for an approximation")
        else:
            enc_x, enc_w, dec = alg.enc_x, alg.enc_w, alg.dec
        # Coefficients straight from float64: rational ones lose nothing beyond w's own dtype.
        layer._set_basis(enc_x, enc_w, dec)
        layer._copy_dense(linear)
        return layer

    @classmethod
    def from_basis(cls, linear: nn.Linear, enc_x: torch.Tensor, enc_w: torch.Tensor, dec: torch.Tensor, *,
                   tile: Tile, init: str, mode: str = "tile") -> "STLLinear":
        """A copy of ``linear`` in a given change of basis (computed once for many layers): w_hat = E_W(Wᵀ), the
        bias copied. ``init`` names where the basis came from (kept for reset_parameters and repr)."""
        w = linear.weight.detach()
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, tile=tile,
                    rank=enc_x.shape[0], init="random", mode=mode, device=w.device, dtype=w.dtype)
        layer.init = init
        layer._set_basis(enc_x, enc_w, dec)
        layer._copy_dense(linear)
        return layer

    def _set_basis(self, enc_x: torch.Tensor, enc_w: torch.Tensor, dec: torch.Tensor) -> None:
        with torch.no_grad():
            self.enc_x.copy_(enc_x)
            self.enc_w.copy_(enc_w)
            self.dec.copy_(dec)

    def _copy_dense(self, linear: nn.Linear) -> None:
        """w_hat = E_W(Wᵀ) in this layer's basis; the bias copied."""
        with torch.no_grad():
            self.w_hat.copy_(encode_weight(linear.weight.detach().t(), self.enc_w, list(self.tile)))
            if linear.bias is not None:
                self.bias.copy_(linear.bias.detach())

    @classmethod
    def _approximate_linear(cls, linear, tile, rank, init, mode, calibration, steps, lr, train_basis) -> "STLLinear":
        w = linear.weight.detach()
        if mode == "causal" and calibration is not None and train_basis:
            raise ValueError("from_linear: train_basis=True is not supported with mode='causal' (calibration fits in "
                             "mode 'tile'); calibrate w_hat alone")
        # A causal basis comes from its own (masked) inits; the data-aware fits are not causal.
        data_aware = calibration is not None and init != "random" and mode != "causal"
        # A data-aware basis replaces the data-free one, so don't compute that one (a <4,4,4> fit takes seconds).
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, tile=tile, rank=rank,
                    init="random" if data_aware else init, mode=mode, device=w.device, dtype=w.dtype)
        layer.init = init
        if data_aware:
            # Data-aware basis: fit/truncate/poly for the expected output error on this layer's own tiles.
            moments = algorithms.tile_moments(calibration, w.t(), layer.tile)
            _, enc_x, enc_w, dec = torch.ops.strassentile.init_parameters(
                linear.in_features, linear.out_features, list(layer.tile), rank, init, moments.x, moments.w)
            layer._set_basis(enc_x, enc_w, dec)
        layer._copy_dense(linear)
        layer.calibration_error = None
        if calibration is not None:
            with torch.no_grad():
                target = linear(calibration.to(w.device, w.dtype))
            w_hat, enc_x, dec, before, after = torch.ops.strassentile.calibrate(
                calibration, target, layer.w_hat, layer.enc_x, layer.dec, list(layer.tile), layer.bias, steps, lr,
                train_basis)
            with torch.no_grad():
                layer.w_hat.copy_(w_hat)
                layer.enc_x.copy_(enc_x)
                layer.dec.copy_(dec)
            layer.calibration_error = (before, after)
        return layer

    def cost(self, tokens: int) -> dict[str, float]:
        """Forward FLOPs and parameters over ``tokens`` rows, against the dense layer (encode/decode included)."""
        dense_flops, stl_flops, gemm_flops, dense_params, stl_params = torch.ops.strassentile.layer_cost(
            tokens, self.in_features, self.out_features, list(self.tile), self.rank)
        return {"dense_flops": dense_flops, "stl_flops": stl_flops, "gemm_flops": gemm_flops,
                "dense_params": dense_params, "stl_params": stl_params}

    def extra_repr(self) -> str:
        a, b, c = self.tile
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"tile=<{a},{b},{c}>, rank={self.rank}, init={self.init!r}, mode={self.mode!r}")


ACTIVATIONS = ("none", "relu", "gelu_tanh")


class STLMLP(nn.Module):
    """y = fc2(act(fc1(x))) over two STLLinear layers, as one ``stl_mlp`` call.

    Same result and gradients as calling the layers in turn; without gradients (inference) the op fuses fc1's decode,
    bias and activation with fc2's encode on CUDA (bf16/fp16, tile <4,4,4>, ranks <= 32), so the hidden activations
    never go to memory. ``activation``: "none", "relu" or "gelu_tanh" (GELU's tanh form; erf GELU is not fused).

    Args:
        fc1, fc2: STLLinear layers of one tile format and mode, fc2.in_features == fc1.out_features.
    """

    def __init__(self, fc1: STLLinear, fc2: STLLinear, activation: str = "gelu_tanh") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if fc2.in_features != fc1.out_features:
            raise ValueError(f"fc2.in_features ({fc2.in_features}) must equal fc1.out_features ({fc1.out_features})")
        if fc1.tile != fc2.tile or fc1.mode != fc2.mode:
            raise ValueError(f"fc1 and fc2 must share tile and mode, got {fc1.tile}/{fc1.mode!r} and "
                             f"{fc2.tile}/{fc2.mode!r}")
        self.fc1, self.fc2, self.activation = fc1, fc2, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.fc1, self.fc2
        return stl_mlp(x, (a.w_hat, a.enc_x, a.dec, a.bias), (b.w_hat, b.enc_x, b.dec, b.bias), list(a.tile),
                       self.activation, a.mode, a.out_features, b.out_features, a._levels, b._levels, a.in_features)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
