"""strassentile::stl_mlp on CUDA tensors (stl_mlp_forward: layer 1's decode fused with layer 2's encode where it
applies) against the same op on the CPU in float64, over dtypes, activations, fused and unfused ranks, sequences and
mode causal; that inference really runs the fused kernel, and that with gradients it is the composition."""
import math

import pytest
import torch

import strassentile
from tolerances import assert_close

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; run on the device")

# Two layers, each rounding X̂, Z and its output to the storage dtype: tolerances.py's bar for kind "mlp".


def make_mlp(x_shape, H, N, tile, r1, r2, seed=0):
    a, b, c = tile
    g = torch.Generator().manual_seed(seed)
    K = x_shape[-1]

    def layer(r, fin, fout):
        return (torch.randn(r, math.ceil(fin / b), math.ceil(fout / c), generator=g, dtype=torch.float64) / math.sqrt(fin),
                torch.randn(r, a * b, generator=g, dtype=torch.float64) / math.sqrt(a * b),
                torch.randn(a * c, r, generator=g, dtype=torch.float64) / math.sqrt(r),
                torch.randn(fout, generator=g, dtype=torch.float64))

    return torch.randn(*x_shape, generator=g, dtype=torch.float64), layer(r1, K, H), layer(r2, H, N)


def cast(t, device, dtype):
    return None if t is None else t.to(device, dtype)


def rel_error(got, ref):
    return ((got.double().cpu() - ref).abs().max() / ref.abs().max().clamp_min(1e-300)).item()


CASES = [  # x shape, H, N, r1, r2: fused (<4,4,4>, ranks <= 32) and not (rank 48)
    ((4, 64, 256), 1024, 256, 24, 24),
    ((3, 30, 100), 132, 44, 16, 29),  # sequences of 30 rows; k, n not multiples of 8
    ((37, 64), 256, 64, 48, 24),      # rank 48: unfused
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("act", ["none", "relu", "gelu_tanh"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-r{c[3]},{c[4]}")
def test_inference_matches_the_cpu_op(case, act, dtype):
    x_shape, H, N, r1, r2 = case
    x, l1, l2 = make_mlp(x_shape, H, N, (4, 4, 4), r1, r2)
    # The CPU reference sees the inputs rounded to the tested dtype.
    xr, l1r, l2r = x.to(dtype).double(), [t.to(dtype).double() for t in l1], [t.to(dtype).double() for t in l2]
    ref = strassentile.stl_mlp(xr, l1r, l2r, 4, act, hidden_features=H, out_features=N)
    with torch.no_grad():
        y = strassentile.stl_mlp(cast(x, "cuda", dtype), [cast(t, "cuda", dtype) for t in l1],
                                 [cast(t, "cuda", dtype) for t in l2], 4, act, hidden_features=H, out_features=N)
    assert y.dtype == dtype and y.shape == ref.shape
    assert_close("y", y, ref, dtype, 4, kind="mlp")


def test_inference_runs_the_fused_kernel_and_training_the_composition(kernel_names):
    x, l1, l2 = make_mlp((2, 64, 256), 1024, 256, (4, 4, 4), 24, 24, seed=1)
    xc = x.cuda().to(torch.bfloat16)
    p1 = [t.cuda().to(torch.bfloat16).requires_grad_() for t in l1]
    p2 = [t.cuda().to(torch.bfloat16).requires_grad_() for t in l2]
    with torch.no_grad():
        y, names = kernel_names(lambda: strassentile.stl_mlp(xc, p1, p2, 4))
    assert any("decode_encode" in n for n in names), names
    assert strassentile.build_info()["cuda_kernels"] is True
    y_grad, names_grad = kernel_names(lambda: strassentile.stl_mlp(xc, p1, p2, 4))
    assert not any("decode_encode" in n for n in names_grad), names_grad
    h = strassentile.stl_matmul(xc, *p1[:3], 4, p1[3])
    ref = strassentile.stl_matmul(torch.nn.functional.gelu(h, approximate="tanh"), *p2[:3], 4, p2[3])
    assert torch.equal(y_grad, ref)  # the same calls
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(y_grad, p1 + p2, g)
    ref_grads = torch.autograd.grad(ref, p1 + p2, g)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))
    # Fused inference against the composition: one rounding of the hidden activations less (the activation is
    # applied in fp32 before rounding), so close, not equal.
    assert rel_error(y, ref.detach().double().cpu()) <= 5e-2


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_causal_mode_matches_the_cpu_op(dtype):
    x, l1, l2 = make_mlp((2, 40, 128), 256, 64, (4, 4, 4), 24, 16, seed=2)
    xr, l1r, l2r = x.to(dtype).double(), [t.to(dtype).double() for t in l1], [t.to(dtype).double() for t in l2]
    ref = strassentile.stl_mlp(xr, l1r, l2r, 4, "relu", "causal", 256, 64)
    with torch.no_grad():
        y = strassentile.stl_mlp(cast(x, "cuda", dtype), [cast(t, "cuda", dtype) for t in l1],
                                 [cast(t, "cuda", dtype) for t in l2], 4, "relu", "causal", 256, 64)
    assert_close("y", y, ref, dtype, 4, kind="mlp")


def test_autocast_runs_the_fused_kernel_in_bf16(kernel_names):
    """fp32 parameters under torch.autocast: x, Ŵ and the biases are cast to bf16 (as two autocast stl_matmul calls
    do) and the fused kernel runs."""
    x, l1, l2 = make_mlp((2, 64, 256), 1024, 256, (4, 4, 4), 24, 24, seed=3)
    xc, p1, p2 = x.float().cuda(), [t.float().cuda() for t in l1], [t.float().cuda() for t in l2]
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        y, names = kernel_names(lambda: strassentile.stl_mlp(xc, p1, p2, 4))
    assert y.dtype == torch.bfloat16
    assert any("decode_encode" in n for n in names), names
    bf = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
    ref = strassentile.stl_mlp(bf(x), [bf(l1[0]), l1[1], l1[2], bf(l1[3])], [bf(l2[0]), l2[1], l2[2], bf(l2[3])], 4)
    assert_close("y", y, ref, torch.bfloat16, 4, kind="mlp")
