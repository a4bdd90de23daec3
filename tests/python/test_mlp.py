"""stl_mlp / STLMLP: two STL layers with an activation between them, against the einsum formulation and against
stl_matmul → activation → stl_matmul; the inference op (no gradients) and the differentiable form; errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import strassentile
from conftest import TOLERANCE
from test_ops import einsum_stl

ACTS = {"none": lambda h: h, "relu": torch.relu, "gelu_tanh": lambda h: torch.nn.functional.gelu(h, approximate="tanh")}


def random_mlp(tile, r1, r2, K, H, N, bias, dtype=torch.float64, seed=0):
    a, b, c = tile
    g = torch.Generator().manual_seed(seed)

    def layer(r, fin, fout):
        w_hat = torch.randn(r, math.ceil(fin / b), math.ceil(fout / c), generator=g, dtype=dtype) / math.sqrt(fin)
        enc_x = torch.randn(r, a * b, generator=g, dtype=dtype) / math.sqrt(a * b)
        dec = torch.randn(a * c, r, generator=g, dtype=dtype) / math.sqrt(r)
        bb = torch.randn(fout, generator=g, dtype=dtype) if bias else None
        return w_hat, enc_x, dec, bb

    return layer(r1, K, H), layer(r2, H, N)


def composition(x, layer1, layer2, tile, act, H, N):
    h = strassentile.stl_matmul(x, *layer1[:3], tile, layer1[3], out_features=H)
    return strassentile.stl_matmul(ACTS[act](h), *layer2[:3], tile, layer2[3], out_features=N)


mlp_shapes = st.fixed_dictionaries({
    "tile": st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    "r1": st.integers(1, 20), "r2": st.integers(1, 20),
    "batch": st.integers(1, 3), "seq": st.integers(1, 9),
    "K": st.integers(1, 13), "H": st.integers(1, 17), "N": st.integers(1, 11),
    "bias": st.booleans(), "act": st.sampled_from(sorted(ACTS)),
})


@settings(max_examples=40, deadline=None)
@given(mlp_shapes)
def test_stl_mlp_matches_einsum_reference(s):
    tile = s["tile"]
    l1, l2 = random_mlp(tile, s["r1"], s["r2"], s["K"], s["H"], s["N"], s["bias"])
    x = torch.randn(s["batch"], s["seq"], s["K"], dtype=torch.float64)
    y = strassentile.stl_mlp(x, l1, l2, tile, s["act"], hidden_features=s["H"], out_features=s["N"])
    h = einsum_stl(x, *l1[:3], tile, s["H"]) + (0 if l1[3] is None else l1[3])
    ref = einsum_stl(ACTS[s["act"]](h), *l2[:3], tile, s["N"]) + (0 if l2[3] is None else l2[3])
    assert y.shape == (s["batch"], s["seq"], s["N"])
    scale = ref.abs().max().clamp_min(1e-30)
    assert (y - ref).abs().max() / scale <= TOLERANCE["float64"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_inference_op_equals_composition_on_cpu(dtype, act):
    tile = (4, 4, 4)
    l1, l2 = random_mlp(tile, 24, 16, 20, 36, 12, True, dtype=dtype, seed=1)
    x = torch.randn(2, 10, 20).to(dtype)
    with torch.no_grad():
        y = strassentile.stl_mlp(x, l1, l2, tile, act, hidden_features=36, out_features=12)
        y_direct = torch.ops.strassentile.stl_mlp_inference(x, *l1, *l2, [4, 4, 4], act, "tile", 36, 12, None, None)
        ref = composition(x, l1, l2, tile, act, 36, 12)
    # On CPU both are the composition: the same calls, bit for bit.
    assert torch.equal(y, ref) and torch.equal(y_direct, ref)


def test_gradients_flow_as_through_the_composition():
    tile = (2, 2, 2)
    l1, l2 = random_mlp(tile, 7, 5, 6, 10, 4, True, seed=2)
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    leaves = [x, *l1, *l2]
    for t in leaves:
        t.requires_grad_(True)
    y = strassentile.stl_mlp(x, l1, l2, tile, "gelu_tanh", hidden_features=10, out_features=4)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, leaves, g)
    ref_grads = torch.autograd.grad(composition(x, l1, l2, tile, "gelu_tanh", 10, 4), leaves, g)
    for got, want in zip(grads, ref_grads):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda xx, w1, w2: strassentile.stl_mlp(xx, (w1, *l1[1:]), (w2, *l2[1:]), tile, "relu", hidden_features=10,
                                                out_features=4),
        (x.detach()[:1, :3].requires_grad_(), l1[0].detach().requires_grad_(), l2[0].detach().requires_grad_()))


def test_autocast_casts_like_two_autocast_stl_matmul_calls():
    tile = (4, 4, 4)
    l1, l2 = random_mlp(tile, 24, 24, 32, 64, 32, True, dtype=torch.float32, seed=4)
    x = torch.randn(3, 8, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = strassentile.stl_mlp(x, l1, l2, tile, "relu")
        ref = composition(x, l1, l2, tile, "relu", 64, 32)
    assert y.dtype == torch.bfloat16 and torch.equal(y, ref)


def test_meta_tensors_give_the_output_shape():
    tile = (4, 4, 4)
    l1, l2 = random_mlp(tile, 24, 24, 64, 256, 64, True, dtype=torch.float32)
    meta = lambda t: None if t is None else t.to("meta")  # noqa: E731
    x = torch.empty(2, 7, 64, device="meta")
    y = strassentile.stl_mlp(x, tuple(map(meta, l1)), tuple(map(meta, l2)), tile)
    assert y.shape == (2, 7, 64) and y.device.type == "meta"


def test_module_equals_its_layers_in_turn():
    torch.manual_seed(3)
    fc1 = strassentile.STLLinear(32, 80, tile=4, rank=24)
    fc2 = strassentile.STLLinear(80, 32, tile=4, rank=16)
    mlp = strassentile.STLMLP(fc1, fc2, "gelu_tanh")
    x = torch.randn(4, 12, 32)
    y = mlp(x)
    ref = fc2(torch.nn.functional.gelu(fc1(x), approximate="tanh"))
    assert torch.allclose(y, ref, rtol=0, atol=0)
    y.sum().backward()
    assert fc1.w_hat.grad is not None and fc2.dec.grad is not None
    with torch.no_grad():
        assert torch.equal(mlp(x), ref.detach())


def test_errors_name_the_argument_and_the_fix():
    tile = (4, 4, 4)
    l1, l2 = random_mlp(tile, 24, 24, 16, 32, 16, False, dtype=torch.float32)
    x = torch.randn(8, 16)
    with pytest.raises(RuntimeError, match="activation 'gelu' is unknown: use 'none', 'relu' or 'gelu_tanh'"):
        strassentile.stl_mlp(x, l1, l2, tile, "gelu")
    _, l2_wrong = random_mlp(tile, 24, 24, 16, 48, 16, False, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="must match the layer's in_features"):
        strassentile.stl_mlp(x, l1, l2_wrong, tile)
    fc1, fc2 = strassentile.STLLinear(16, 32, tile=4, rank=24), strassentile.STLLinear(48, 16, tile=4, rank=24)
    with pytest.raises(ValueError, match=r"fc2.in_features \(48\) must equal fc1.out_features \(32\)"):
        strassentile.STLMLP(fc1, fc2)
    with pytest.raises(ValueError, match="activation must be one of"):
        strassentile.STLMLP(fc1, strassentile.STLLinear(32, 16, tile=4, rank=24), "gelu")
