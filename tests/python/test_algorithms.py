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
