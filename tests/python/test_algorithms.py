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
        assert len(names) == 7 + 93 + 1
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
