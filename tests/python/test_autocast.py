"""strassentile::stl_matmul under torch.autocast: the op's Autocast kernels (src/torch/stl_matmul_autocast.cpp) run
it in the autocast dtype, like nn.Linear, while the parameters and their gradients stay fp32. Checked here on
the CPU (AutocastCPU); the AutocastCUDA kernel is the same template."""
import pytest
import torch
from torch import nn

import strassentile as st
from conftest import TOLERANCE


def layer_and_input():
    torch.manual_seed(0)
    return st.STLLinear(24, 20, tile=4, rank=24), torch.randn(3, 8, 24)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_runs_in_low_precision_with_fp32_master_parameters(dtype):
    layer, x = layer_and_input()
    reference = layer(x)
    with torch.autocast("cpu", dtype=dtype):
        y = layer(x)
        assert nn.Linear(24, 20)(x).dtype == dtype  # what autocast does to the layer STL replaces
    assert y.dtype == dtype
    err = (y.float() - reference).abs().max() / reference.abs().max()
    assert err < 4 * TOLERANCE[str(dtype).removeprefix("torch.")]  # inputs are rounded too, not only the output
    y.float().square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_autocast_gradients_match_fp32_within_rounding():
    layer, x = layer_and_input()
    layer(x).square().mean().backward()
    fp32 = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().square().mean().backward()
    for name, p in layer.named_parameters():
        rel = (p.grad - fp32[name]).abs().max() / fp32[name].abs().max()
        assert rel < 0.1, (name, rel.item())


def test_float64_stays_float64_under_autocast():
    layer, x = layer_and_input()
    layer = layer.double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x.double()).dtype == torch.float64


def test_autocast_disabled_region_keeps_fp32():
    layer, x = layer_and_input()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.autocast("cpu", enabled=False):
        assert layer(x).dtype == torch.float32


def test_compiled_model_under_autocast():
    layer, x = layer_and_input()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        eager = layer(x)
        torch._dynamo.reset()
        compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)(x)
    assert compiled.dtype == torch.bfloat16
    assert torch.allclose(compiled.float(), eager.float(), rtol=1e-2, atol=1e-2)


def test_autocast_casts_the_operands_and_keeps_the_basis():
    """Under autocast the op sees 16-bit x, w_hat and bias but the fp32 enc_x and dec (the kernels read the basis in
    fp32: a 16-bit copy would only round it)."""
    layer, x = layer_and_input()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    bf = torch.bfloat16
    expected = st.stl_matmul(x.to(bf), layer.w_hat.to(bf), layer.enc_x, layer.dec, layer.tile, layer.bias.to(bf))
    assert torch.equal(y, expected)
    rounded_basis = st.stl_matmul(x.to(bf), layer.w_hat.to(bf), layer.enc_x.to(bf), layer.dec.to(bf), layer.tile,
                                  layer.bias.to(bf))
    assert not torch.equal(y, rounded_basis)  # the random basis is not bf16-representable: the check has teeth


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on the GPU machine)")
def test_cuda_autocast_matches_the_explicit_casts():
    layer, x = layer_and_input()
    layer, x = layer.cuda(), x.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = layer(x)
    bf = torch.bfloat16
    assert y.dtype == bf
    assert torch.equal(y, st.stl_matmul(x.to(bf), layer.w_hat.to(bf), layer.enc_x, layer.dec, layer.tile, layer.bias.to(bf)))
    y.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in layer.parameters())
