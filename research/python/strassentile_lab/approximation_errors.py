"""Relative errors of rank-r STL algorithms, the measurements of docs/APPROXIMATION.md.

Every figure is a relative Frobenius error of the matrix product part, ‖X·W − STL(X, E_W(W))‖ / ‖X·W‖ (bias
left out: STL reproduces it exactly), with w_hat = E_W(W) the plain projection of the dense weight."""
from __future__ import annotations

import torch

from strassentile import algorithms
from strassentile.ops import encode_weight, stl_matmul


def layer_error(alg: algorithms.Algorithm, x: torch.Tensor, w: torch.Tensor) -> float:
    """Measured error of the layer x·W (x: (sequences, seq_len, K), W: (K, N)) through ``alg``, in float64."""
    x, w = x.to(torch.float64), w.to(torch.float64)
    tile = list(alg.tile)
    w_hat = encode_weight(w, alg.enc_w, tile)
    y = stl_matmul(x, w_hat, alg.enc_x, alg.dec, tile, None, "tile", w.shape[1])
    exact = x @ w
    return float((y - exact).norm() / exact.norm())


def gaussian_sample_error(alg: algorithms.Algorithm, rows: int, inner: int, cols: int, seed: int) -> float:
    """layer_error on one draw of X (rows × inner) and W (inner × cols) with i.i.d. N(0, 1) entries: a Monte-Carlo
    check of the tensor error relative_error(alg), which is its expectation's square root."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, rows, inner, generator=g, dtype=torch.float64)
    w = torch.randn(inner, cols, generator=g, dtype=torch.float64)
    return layer_error(alg, x, w)


def data_free_algorithms(rank: int, restarts: int, seed: int) -> dict[str, algorithms.Algorithm | None]:
    """The <4,4,4> rank-``rank`` candidates fitted or chosen on Gaussian tiles; None where a method has no
    algorithm at this rank (dps-4x4x4-48 has 48 products)."""
    return {
        "fit": algorithms.fit(4, rank, restarts=restarts, seed=seed),
        "truncate:strassen2": algorithms.truncate("strassen2", rank),
        "truncate:dps-4x4x4-48": algorithms.truncate("dps-4x4x4-48", rank) if rank <= 48 else None,
        "truncate:naive": algorithms.truncate("naive-4x4x4", rank),
    }


def data_aware_algorithms(rank: int, moments: algorithms.TileMoments, restarts: int,
                          seed: int) -> dict[str, algorithms.Algorithm | None]:
    """The same methods, fitted or chosen for the expected output error on tiles with ``moments``."""
    return {
        "fit": algorithms.fit(4, rank, restarts=restarts, seed=seed, moments=moments),
        "truncate:strassen2": algorithms.truncate("strassen2", rank, moments),
        "truncate:dps-4x4x4-48": algorithms.truncate("dps-4x4x4-48", rank, moments) if rank <= 48 else None,
        "truncate:naive": algorithms.truncate("naive-4x4x4", rank, moments),
    }


def w_hat_error(alg: algorithms.Algorithm, w_hat: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> float:
    """‖x·W − STL(x; w_hat)‖ / ‖x·W‖ for a given w_hat (float64)."""
    x, w = x.to(torch.float64), w.to(torch.float64)
    y = stl_matmul(x, w_hat.to(torch.float64), alg.enc_x, alg.dec, list(alg.tile), None, "tile", w.shape[1])
    exact = x @ w
    return float((y - exact).norm() / exact.norm())


def calibrated_w_hats(alg: algorithms.Algorithm, x_cal: torch.Tensor, w: torch.Tensor, steps: int,
                      lr: float) -> dict[str, torch.Tensor]:
    """w_hat for ``alg``'s basis three ways: the projection E_W(W); Adam on w_hat fitted to x_cal·W (``steps``
    full-batch steps of ``lr`` on the mean squared error, its last iterate: the calibration the library used
    before); and strassentile's calibrate (``steps`` iterations of preconditioned least squares). float32, as
    calibration runs."""
    tile = list(alg.tile)
    ex, ew, dec = alg.enc_x.float(), alg.enc_w.float(), alg.dec.float()
    x, y = x_cal.float(), (x_cal.double() @ w.double()).float()
    projection = encode_weight(w.float(), ew, tile)
    w_hat = projection.clone().requires_grad_(True)
    opt = torch.optim.Adam([w_hat], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = (stl_matmul(x, w_hat, ex, dec, tile, None, "tile", w.shape[1]) - y).pow(2).mean()
        loss.backward()
        opt.step()
    least_squares = torch.ops.strassentile.calibrate(x, y, projection, ex, dec, tile, None, steps, lr, False)[0]
    return {"projection": projection, "adam": w_hat.detach(), "least_squares": least_squares}
