"""STLLinear: an nn.Linear look-alike whose product is a Strassen-Tile operator."""
from __future__ import annotations

import math

import torch
from torch import nn

from . import algorithms
from .ops import Tile, encode_weight, stl_matmul, tile_format, tile_list


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
        mode: "tile" (rows of a tile mix: bidirectional models) or "token-local" (needs a = 1).
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
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.tile, self.rank, self.init, self.mode = tile_format(tile), rank, init, mode
        w_hat, enc_x, enc_w, dec = torch.ops.strassentile.init_parameters(in_features, out_features, list(self.tile), rank, init)
        kw = {"device": device, "dtype": dtype}
        self.w_hat = nn.Parameter(w_hat.to(**kw))
        self.enc_x = nn.Parameter(enc_x.to(**kw), requires_grad=train_basis)
        self.dec = nn.Parameter(dec.to(**kw), requires_grad=train_basis)
        self.register_buffer("enc_w", enc_w.to(**kw))
        if bias:
            bound = 1.0 / math.sqrt(in_features)
            self.bias = nn.Parameter(torch.empty(out_features, **kw).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)
        # Validate mode now rather than at the first forward.
        if mode not in ("tile", "token-local", "causal"):
            raise ValueError(f"mode must be 'tile', 'token-local' or 'causal', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stl_matmul(x, self.w_hat, self.enc_x, self.dec, list(self.tile), self.bias, self.mode, self.out_features)

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
        layer's activation and weight tiles (data-aware), then w_hat is fitted with Adam (``steps``, ``lr``; also enc_x and dec when ``train_basis``) to
        reproduce ``linear(calibration)``. The relative errors before and after fitting are stored in
        ``layer.calibration_error``.
        """
        if algorithm is None:
            return cls._approximate_linear(linear, tile, rank, init, mode, calibration, steps, lr, train_basis)
        alg = algorithms.get(algorithm)
        w = linear.weight.detach()
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, tile=alg.tile, rank=alg.rank,
                    init=algorithm, mode=mode, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            # Coefficients straight from float64: rational ones lose nothing beyond w's own dtype.
            layer.enc_x.copy_(alg.enc_x)
            layer.enc_w.copy_(alg.enc_w)
            layer.dec.copy_(alg.dec)
            layer.w_hat.copy_(encode_weight(w.t(), layer.enc_w, list(alg.tile)))
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.detach())
        return layer

    @classmethod
    def _approximate_linear(cls, linear, tile, rank, init, mode, calibration, steps, lr, train_basis) -> "STLLinear":
        w = linear.weight.detach()
        data_aware = calibration is not None and init != "random"
        # A data-aware basis replaces the data-free one, so don't compute that one (a <4,4,4> fit takes seconds).
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, tile=tile, rank=rank,
                    init="random" if data_aware else init, mode=mode, device=w.device, dtype=w.dtype)
        layer.init = init
        with torch.no_grad():
            if data_aware:
                # Data-aware basis: fit/truncate/poly for the expected output error on this layer's own tiles.
                moments = algorithms.tile_moments(calibration, w.t(), layer.tile)
                _, enc_x, enc_w, dec = torch.ops.strassentile.init_parameters(
                    linear.in_features, linear.out_features, list(layer.tile), rank, init, moments.x, moments.w)
                layer.enc_x.copy_(enc_x)
                layer.enc_w.copy_(enc_w)
                layer.dec.copy_(dec)
            layer.w_hat.copy_(encode_weight(w.t(), layer.enc_w, list(layer.tile)))
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.detach())
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
