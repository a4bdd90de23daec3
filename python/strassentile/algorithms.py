"""Exact bilinear algorithms (Strassen, Laderman, AlphaTensor's catalogue, ...) from the C++ core."""
from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class Algorithm:
    name: str
    tile: tuple[int, int, int]
    enc_x: torch.Tensor  # (r, a·b) float64
    enc_w: torch.Tensor  # (r, b·c) float64
    dec: torch.Tensor  # (a·c, r) float64
    source: str

    @property
    def rank(self) -> int:
        return self.enc_x.shape[0]


def get(name: str) -> Algorithm:
    """An algorithm by name: see :func:`available`. Catalogue names need :func:`set_data_dir`."""
    enc_x, enc_w, dec, tile, source = torch.ops.strassentile.algorithm(name)
    return Algorithm(name=name, tile=tuple(tile), enc_x=enc_x, enc_w=enc_w, dec=dec, source=source)


@dataclasses.dataclass(frozen=True)
class TileMoments:
    """Second moments E[v vᵀ] of vectorised activation tiles (``x``, (ab, ab)) and weight tiles (``w``, (bc, bc))."""
    tile: tuple[int, int, int]
    x: torch.Tensor
    w: torch.Tensor


def tile_moments(x: torch.Tensor, w: torch.Tensor, tile) -> TileMoments:
    """Moments of a layer's data: activations ``x`` (..., K), each slice along dim -2 one sequence as in
    stl_matmul, and weight ``w`` (K, N) — ``linear.weight.t()``. Partial edge tiles are left out."""
    from .ops import tile_list
    t = tile_list(tile)
    mx, mw = torch.ops.strassentile.tile_moments(x, w, t)
    return TileMoments(tile=tuple(t), x=mx, w=mw)


def _moments(moments: TileMoments | None):
    return (None, None) if moments is None else (moments.x, moments.w)


def _algorithm(result) -> Algorithm:
    enc_x, enc_w, dec, t, source = result
    return Algorithm(name=source.split(":")[0], tile=tuple(t), enc_x=enc_x, enc_w=enc_w, dec=dec, source=source)


def fit(tile, rank: int, restarts: int = 8, iterations: int = 2000, seed: int = 0,
        moments: TileMoments | None = None) -> Algorithm:
    """ALS fit of the <a,b,c> matmul tensor at ``rank`` (best of ``restarts``); see :func:`relative_error`.
    With ``moments`` (:func:`tile_moments`) it minimises the expected output error on that data instead."""
    from .ops import tile_list
    return _algorithm(torch.ops.strassentile.fit_algorithm(tile_list(tile), rank, restarts, iterations, seed,
                                                           *_moments(moments)))


def truncate(name: str, rank: int, moments: TileMoments | None = None) -> Algorithm:
    """Keeps ``rank`` products of exact algorithm ``name`` (greedy), decoder refitted by least squares; with
    ``moments``, both for the expected output error on that data."""
    return _algorithm(torch.ops.strassentile.truncate_algorithm(name, rank, *_moments(moments)))


def relative_error(alg: Algorithm, moments: TileMoments | None = None) -> float:
    """‖T − T̂‖_F/‖T‖_F: the relative RMS output error on tiles with i.i.d. Gaussian entries; with ``moments``,
    √(E‖XW − STL(X,W)‖² / E‖XW‖²) over independent tiles with those moments."""
    return torch.ops.strassentile.relative_error(alg.enc_x, alg.enc_w, alg.dec, list(alg.tile), *_moments(moments))


def available() -> list[str]:
    return list(torch.ops.strassentile.available_algorithms())


def set_data_dir(path: str) -> None:
    """Directory laid out like data/fmm (alphatensor/, dumas-pernet-sedoglavic/); default $STRASSENTILE_FMM_DIR."""
    torch.ops.strassentile.set_data_dir(str(path))
