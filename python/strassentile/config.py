"""What ``convert`` builds: the STL format of the new layers (STLConfig) and where their weights come from."""
from __future__ import annotations

import dataclasses
from typing import Union

import torch

from . import algorithms
from .ops import Tile, tile_format


@dataclasses.dataclass(frozen=True)
class FromDense:
    """An approximate copy of the trained layer, without data: the change of basis is ``basis`` ("fit": an ALS fit
    of the tile's matmul tensor at the rank, "truncate:<algorithm>" or "poly"), and w_hat = E_W(Wᵀ), the projection
    of the trained weight. Keeps what the layer learnt as far as the rank allows; fine-tune afterwards."""

    basis: str = "fit"


@dataclasses.dataclass(frozen=True)
class Fit:
    """``FromDense`` with data: ``calibration`` (a tensor, or a tuple of positional arguments) is fed to the model
    once; each layer's basis is fitted to the tiles it saw, then w_hat (and, with ``train_basis``, enc_x and dec)
    to reproduce the layer's dense output on them (``steps`` iterations; Adam's ``lr`` with ``train_basis``)."""

    calibration: Union[torch.Tensor, tuple]
    basis: str = "fit"
    steps: int = 300
    lr: float = 1e-3
    train_basis: bool = False


@dataclasses.dataclass(frozen=True)
class Exact:
    """An exact copy of the trained layer through the exact algorithm ``algorithm`` (see
    ``strassentile.algorithms.available()``): same outputs, up to rounding. Tile and rank are the algorithm's."""

    algorithm: str


@dataclasses.dataclass(frozen=True)
class Random:
    """Fresh STL layers scaled like nn.Linear's init: the trained weights are discarded (train from scratch).
    ``basis`` is where the change of basis starts: "random" (Gaussian), or any approximate init STLLinear takes
    ("truncate:<algorithm>", "fit", "poly"; w_hat drawn fresh and scaled to nn.Linear's output variance). From
    scratch, ``"truncate:strassen2"`` trained to higher accuracy than "random" at <4,4,4> (docs/RESULTS.md)."""

    basis: str = "random"


Init = Union[FromDense, Fit, Exact, Random]


@dataclasses.dataclass(frozen=True)
class STLConfig:
    """The STL layers ``convert`` makes: ``tile`` (4 means <4,4,4>, or (a, b, c)), ``rank`` (products per tile),
    ``init`` (FromDense, Fit, Exact or Random) and ``mode`` ("tile", "token-local" or "causal", as STLLinear's).
    With ``Exact`` leave tile and rank out (they are the algorithm's) or give the algorithm's. ``train_basis``
    (STLLinear's): whether the converted layers learn enc_x and dec; False freezes them, so a training step skips
    their gradients (the setting advised at width >= 4096, docs/TRAINING_GUIDE.md), and ``min_speedup`` prices the
    backward without them."""

    tile: Tile | None = None
    rank: int | None = None
    init: Init = dataclasses.field(default_factory=FromDense)
    mode: str = "tile"
    train_basis: bool = True

    def resolved(self) -> tuple[tuple[int, int, int], int]:
        """(tile, rank) after defaults: the algorithm's for Exact, else <4,4,4> and 24."""
        if not isinstance(self.train_basis, bool):
            raise TypeError(f"STLConfig.train_basis must be True or False, got {self.train_basis!r}")
        if isinstance(self.init, Exact):
            alg = algorithms.get(self.init.algorithm)
            asked_tile = alg.tile if self.tile is None else tile_format(self.tile)
            asked_rank = alg.rank if self.rank is None else self.rank
            if asked_tile != alg.tile or asked_rank != alg.rank:
                a, b, c = asked_tile
                raise ValueError(f"STLConfig: Exact({self.init.algorithm!r}) is <{alg.tile}>:{alg.rank} but tile "
                                 f"<{a},{b},{c}> and rank {asked_rank} were asked; leave tile and rank out or pass the "
                                 "algorithm's")
            return alg.tile, alg.rank
        if not isinstance(self.init, (FromDense, Fit, Random)):
            raise TypeError(f"STLConfig.init must be FromDense(), Fit(...), Exact(name) or Random(), got {self.init!r}")
        if isinstance(self.init, Random):
            basis = self.init.basis
            if not (basis in ("random", "fit", "poly") or basis.startswith("truncate:")):
                raise ValueError(f"STLConfig: Random(basis={basis!r}): the basis must be 'random', "
                                 "'truncate:<algorithm>' (e.g. 'truncate:strassen2'), 'fit' or 'poly'")
        return tile_format(4 if self.tile is None else self.tile), 24 if self.rank is None else self.rank
