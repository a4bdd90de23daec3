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


def available() -> list[str]:
    return list(torch.ops.strassentile.available_algorithms())


def set_data_dir(path: str) -> None:
    """Directory laid out like shared/data/fmm (alphatensor/, dumas-pernet-sedoglavic/); default $STRASSENTILE_FMM_DIR."""
    torch.ops.strassentile.set_data_dir(str(path))
