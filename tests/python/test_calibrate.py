"""strassentile::calibrate with a fixed basis: w_hat alone is linear least squares, and calibrate must solve it."""
import pytest
import torch

from strassentile import algorithms, encode_weight, stl_matmul


@pytest.mark.parametrize("seed", [0, 1])
def test_calibrate_reaches_the_least_squares_optimum_of_w_hat(seed):
    torch.manual_seed(seed)
    alg = algorithms.truncate("strassen", 5)  # approximate <2,2,2>:5, so the projection E_W(W) is not optimal
    ex, ew, dec = alg.enc_x.float(), alg.enc_w.float(), alg.dec.float()
    # Ragged sizes (K=5, N=3, 7 rows per sequence): edge tiles are zero-padded; inputs with unequal scales.
    x = torch.randn(3, 7, 5) * torch.tensor([3.0, 0.1, 1.0, 2.0, 0.5])
    w, bias = torch.randn(5, 3), torch.randn(3)
    y = x @ w + bias
    w_hat0 = encode_weight(w, ew, [2])
    # The optimum, from the explicit matrix of the linear map w_hat -> STL(x; w_hat).
    columns = []
    for i in range(w_hat0.numel()):
        e = torch.zeros(w_hat0.numel())
        e[i] = 1
        columns.append(stl_matmul(x, e.reshape(w_hat0.shape), ex, dec, [2], None, "tile", 3).reshape(-1))
    a = torch.stack(columns, 1).double()
    target = (y - bias).reshape(-1).double()
    best = torch.linalg.pinv(a) @ target  # SVD-based: the map is rank-deficient (padded coordinates do nothing)
    best_error = float((a @ best - target).norm() / y.double().norm())

    w_hat, enc_x, d, before, after = torch.ops.strassentile.calibrate(x, y, w_hat0, ex, dec, [2], bias, 80, 1e-3, False)
    assert after < before
    assert after == pytest.approx(best_error, abs=1e-4)
    assert torch.equal(enc_x, ex) and torch.equal(d, dec)  # the basis is left alone
    fitted = float((stl_matmul(x, w_hat, ex, dec, [2], bias, "tile", 3) - y).norm() / y.norm())
    assert fitted == pytest.approx(after, abs=1e-6)
