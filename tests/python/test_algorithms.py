import pytest
import torch

from strassentile import algorithms


def matmul_tensor_error(alg):
    """max |Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p] − T| computed in Python, independently of the C++ verify()."""
    a, b, c = alg.tile
    t = torch.einsum("px,pw,yp->xwy", alg.enc_x, alg.enc_w, alg.dec)
    for u in range(a):
        for v in range(b):
            for w in range(c):
                t[u * b + v, v * c + w, u * c + w] -= 1
    return t.abs().max().item()


@pytest.mark.parametrize("name, tile, rank", [("strassen", (2, 2, 2), 7), ("winograd", (2, 2, 2), 7),
                                              ("laderman", (3, 3, 3), 23), ("strassen2", (4, 4, 4), 49),
                                              ("naive-1x4x4", (1, 4, 4), 16)])
def test_builtin_algorithms_are_exact(name, tile, rank):
    alg = algorithms.get(name)
    assert alg.tile == tile and alg.rank == rank
    assert alg.enc_x.dtype == torch.float64
    assert matmul_tensor_error(alg) <= 1e-12


def test_catalogue_through_data_dir(fmm_dir):
    algorithms.set_data_dir(fmm_dir)
    try:
        names = algorithms.available()
        assert len(names) == 10 + 93 + 1
        dps = algorithms.get("dps-4x4x4-48")
        assert dps.rank == 48 and matmul_tensor_error(dps) <= 1e-12
        assert matmul_tensor_error(algorithms.get("alphatensor-3x4x5")) <= 1e-12
    finally:
        algorithms.set_data_dir("")


def test_unknown_algorithm_lists_names():
    with pytest.raises(RuntimeError, match="unknown algorithm 'strasen'.*laderman"):
        algorithms.get("strasen")


def test_fit_rediscovers_strassen_rank_and_beats_naive_truncation():
    exact = algorithms.fit(2, 7)
    assert exact.rank == 7 and matmul_tensor_error(exact) <= 1e-8
    approx = algorithms.fit(4, 24, restarts=2)
    assert algorithms.relative_error(approx) < (40 / 64) ** 0.5


def test_truncate():
    t = algorithms.truncate("strassen2", 24)
    assert t.rank == 24 and t.tile == (4, 4, 4)
    assert abs(algorithms.relative_error(algorithms.truncate("naive-4x4x4", 24)) - (40 / 64) ** 0.5) < 1e-12
    with pytest.raises(RuntimeError, match="rank must be in 1..7"):
        algorithms.truncate("strassen", 8)


def structured_layer(seed=0, rows=256, k=32, n=16):
    """Activations with a few dominant directions and correlated neighbouring rows, like real ones, and a weight."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(4, k, generator=g, dtype=torch.float64)
    x = torch.randn(rows, 4, generator=g, dtype=torch.float64) @ basis + 0.1 * torch.randn(rows, k, generator=g, dtype=torch.float64)
    x[1:] += 0.7 * x[:-1].clone()
    w = torch.randn(k, n, generator=g, dtype=torch.float64) * torch.linspace(1, 0.1, k, dtype=torch.float64)[:, None]
    return x, w


def test_tile_moments_are_second_moments_of_whole_tiles():
    x, w = structured_layer()
    m = algorithms.tile_moments(x, w, 2)
    tiles = x.reshape(128, 2, 16, 2).permute(0, 2, 1, 3).reshape(-1, 4)  # row-major 2×2 tiles of x
    torch.testing.assert_close(m.x, tiles.T @ tiles / tiles.shape[0])
    wt = w.reshape(16, 2, 8, 2).permute(0, 2, 1, 3).reshape(-1, 4)
    torch.testing.assert_close(m.w, wt.T @ wt / wt.shape[0])
    with pytest.raises(RuntimeError, match="pass w as \\(in_features, out_features\\)"):
        algorithms.tile_moments(x, w.T, 2)


def test_data_aware_fit_and_truncate_beat_data_free_on_structured_data():
    x, w = structured_layer()
    m = algorithms.tile_moments(x, w, 2)
    blind, aware = algorithms.fit(2, 5, restarts=2), algorithms.fit(2, 5, restarts=2, moments=m)
    assert algorithms.relative_error(aware, m) < 0.9 * algorithms.relative_error(blind, m)
    t_blind, t_aware = algorithms.truncate("strassen", 5), algorithms.truncate("strassen", 5, moments=m)
    assert algorithms.relative_error(t_aware, m) <= algorithms.relative_error(t_blind, m) + 1e-12
    assert t_aware.name == "truncate-strassen-r5-data"
    # Gaussian moments: the data-aware error is the tensor error.
    eye = algorithms.TileMoments(tile=(2, 2, 2), x=torch.eye(4, dtype=torch.float64), w=torch.eye(4, dtype=torch.float64))
    assert abs(algorithms.relative_error(blind, eye) - algorithms.relative_error(blind)) < 1e-12


def test_poly_algorithm_is_exact_and_named():
    alg = algorithms.get("poly-2x2x2")
    assert alg.rank == 13 and matmul_tensor_error(alg) <= 1e-12
