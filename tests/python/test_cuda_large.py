"""The CUDA op on an input of more than 2^31 elements (x of 65537 x 32768 bf16: 4.3 GB), forward and backward: any
32-bit index or offset in the kernels, the launchers or the op would wrap there. The property checked is cheap and
exact in what it asks: the rows at the start, in the middle and past the 2^31-th element (row 65536 starts at
element 2^31) equal, within the dtype's bar, the float64 CPU op run on those rows alone (each output row depends only
on its own tile of `a` rows); the bias gradient equals dY's column sums. Needs about 40 GB of GPU memory; runs in
`make gpu-test` (about 10 s on an H200)."""
import pytest
import torch

import strassentile  # noqa: F401  (loads the op library)
from tolerances import assert_close

ROWS, K, N, TILE, RANK = 65537, 32768, 64, (4, 4, 4), 24

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; run on the device"),
    pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.get_device_properties(0).total_memory < 40 * 2**30,
                       reason="needs 40 GB of GPU memory"),
]


def stl(x, params):
    w_hat, enc_x, dec, bias = params
    return torch.ops.strassentile.stl_matmul(x, w_hat, enc_x, dec, list(TILE), bias, "tile", N)


def test_more_than_2_to_the_31_elements_forward_and_backward():
    assert ROWS * K > 2**31
    g = torch.Generator(device="cuda").manual_seed(0)
    bf = dict(device="cuda", dtype=torch.bfloat16)
    a, b, c = TILE
    x = torch.randn(ROWS, K, generator=g, **bf).requires_grad_()
    params = [torch.randn(RANK, K // b, N // c, generator=g, **bf) / 100,
              torch.randn(RANK, a * b, generator=g, **bf) / 4, torch.randn(a * c, RANK, generator=g, **bf) / 5,
              torch.randn(N, generator=g, **bf)]
    params = [p.requires_grad_() for p in params]
    y = stl(x, params)
    grad_y = torch.randn(ROWS, N, generator=g, **bf)
    y.backward(grad_y)
    assert y.shape == (ROWS, N) and x.grad.shape == (ROWS, K)

    cpu_params = [p.detach().double().cpu() for p in params]
    # Blocks of whole row tiles (starts multiples of a = 4); the last one holds the rows past element 2^31.
    for start, stop in [(0, 64), (32768, 32832), (65472, ROWS)]:
        xb = x.detach()[start:stop].double().cpu().requires_grad_()
        yb = stl(xb, cpu_params)
        yb.backward(grad_y[start:stop].double().cpu())
        assert_close(f"y[{start}:{stop}]", y.detach()[start:stop], yb.detach(), torch.bfloat16, c)
        assert_close(f"dx[{start}:{stop}]", x.grad[start:stop], xb.grad, torch.bfloat16, b)
    assert_close("d_bias", params[3].grad, grad_y.double().sum(0).cpu(), torch.bfloat16, c)
    for name, p in zip(("w_hat", "enc_x", "dec"), params):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
