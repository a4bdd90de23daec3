"""Layers of one-row tiles run as their dense equivalent (set_dense_equivalent): W built from Ŵ, E_X and D, then one
GEMM; the backward takes dŴ, dE_X and dD from dW. The same function as the STL pipeline: checked against the C++ core
reference and the pipeline's own gradients in float64 over random a = 1 layers (ragged sizes, both modes that have
one), by gradcheck, and in float32 / bfloat16 against float64."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import strassentile
from conftest import TOLERANCE, dense_equivalent


one_row_layers = st.fixed_dictionaries({
    "tile": st.tuples(st.just(1), st.integers(1, 4), st.integers(1, 4)),
    "rank": st.integers(1, 30),
    "batch": st.integers(1, 3),
    "seq": st.integers(1, 9),
    "in_features": st.integers(1, 19),
    "out_features": st.integers(1, 17),
    "bias": st.booleans(),
    "mode": st.sampled_from(["tile", "token-local"]),
})


def random_layer(s, dtype=torch.float64):
    a, b, c = s["tile"]
    k, n = math.ceil(s["in_features"] / b), math.ceil(s["out_features"] / c)
    g = dict(dtype=dtype)
    return [torch.randn(s["batch"], s["seq"], s["in_features"], **g), torch.randn(s["rank"], k, n, **g),
            torch.randn(s["rank"], a * b, **g), torch.randn(a * c, s["rank"], **g),
            torch.randn(s["out_features"], **g) if s["bias"] else None]


def forward_and_gradients(s, inputs, policy):
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in inputs]
    with dense_equivalent(policy):
        y = strassentile.stl_matmul(*leaves[:4], s["tile"], leaves[4], mode=s["mode"], out_features=s["out_features"])
        grad_y = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        y.backward(grad_y.to(y.dtype))
    return y.detach(), [t.grad if t is not None else None for t in leaves]


@settings(max_examples=60, deadline=None)
@given(one_row_layers)
def test_the_dense_equivalent_is_the_stl_layer_in_float64(s):
    inputs = random_layer(s)
    y, grads = forward_and_gradients(s, inputs, "always")
    y_stl, grads_stl = forward_and_gradients(s, inputs, "never")
    x, w_hat, enc_x, dec, bias = inputs
    core = strassentile.stl_matmul_reference(x.reshape(-1, s["in_features"]), w_hat, enc_x, dec, s["tile"],
                                             s["out_features"], seq_len=s["seq"]).reshape(y.shape)
    torch.testing.assert_close(y, core + (bias if bias is not None else 0), rtol=1e-12, atol=1e-11)
    torch.testing.assert_close(y, y_stl, rtol=1e-12, atol=1e-11)
    for name, got, want in zip(("x", "w_hat", "enc_x", "dec", "bias"), grads, grads_stl):
        assert (got is None) == (want is None), name
        if want is not None:
            assert got.shape == want.shape and got.dtype == want.dtype, name
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m: f"d{name}: {m}")


@settings(max_examples=10, deadline=None)
@given(one_row_layers)
def test_gradcheck_through_the_dense_equivalent(s):
    s = {**s, "bias": True, "batch": min(s["batch"], 2), "seq": min(s["seq"], 4)}
    inputs = [t.requires_grad_() for t in random_layer(s)]
    f = lambda x, w, e, d, bias: strassentile.stl_matmul(x, w, e, d, s["tile"], bias, mode=s["mode"],  # noqa: E731
                                                         out_features=s["out_features"])
    with dense_equivalent("always"):
        assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_lower_precision_against_float64(dtype):
    torch.manual_seed(0)
    s = {"tile": (1, 4, 2), "rank": 3, "batch": 2, "seq": 33, "in_features": 70, "out_features": 45, "bias": True,
         "mode": "token-local"}
    low = [t.to(dtype) for t in random_layer(s)]
    y, grads = forward_and_gradients(s, low, "always")
    assert y.dtype == dtype
    scale = lambda ref: ref.abs().max().item()  # noqa: E731
    # The float64 STL layer of the same (rounded) inputs.
    y_ref, grads_ref = forward_and_gradients(s, [t.double() for t in low], "never")
    assert (y.double() - y_ref).abs().max().item() <= TOLERANCE[str(dtype).split(".")[-1]] * scale(y_ref)
    for name, got, want in zip(("x", "w_hat", "enc_x", "dec", "bias"), grads, grads_ref):
        assert got.dtype == dtype, name
        error = (got.double() - want).abs().max().item() / scale(want)
        assert error <= 4 * TOLERANCE[str(dtype).split(".")[-1]], f"d{name}: {error:.3g}"


@pytest.mark.parametrize("tile, mode", [((2, 2, 2), "tile"), ((4, 4, 4), "tile"), ((4, 4, 4), "causal"),
                                        ((1, 4, 4), "causal")])
def test_layers_without_a_dense_equivalent_keep_the_stl_pipeline(tile, mode):
    torch.manual_seed(0)
    s = {"tile": tile, "rank": 5, "batch": 1, "seq": 8, "in_features": 12, "out_features": 9, "bias": False,
         "mode": mode}
    inputs = random_layer(s)
    y, grads = forward_and_gradients(s, inputs, "always")
    y_stl, grads_stl = forward_and_gradients(s, inputs, "never")
    assert torch.equal(y, y_stl)
    for got, want in zip(grads[:4], grads_stl[:4]):
        assert torch.equal(got, want)


def test_the_setting_is_checked_and_returned():
    with dense_equivalent("always"):
        assert strassentile.set_dense_equivalent("auto") == "always"
        assert strassentile.set_dense_equivalent("never") == "auto"
        with pytest.raises(RuntimeError, match="policy must be 'auto'.*'always' or 'never'"):
            strassentile.set_dense_equivalent("dense")
        assert strassentile.set_dense_equivalent("always") == "never"


def test_a_layer_of_one_row_tiles_trains_the_same_through_stllinear():
    torch.manual_seed(0)
    layer = strassentile.STLLinear(40, 24, tile=(1, 4, 4), rank=7, mode="token-local").double()
    x = torch.randn(5, 40, dtype=torch.float64)
    grads = {}
    for policy in ("always", "never"):
        layer.zero_grad()
        with dense_equivalent(policy):
            layer(x).square().sum().backward()
        grads[policy] = {name: p.grad.clone() for name, p in layer.named_parameters()}
    for name, g in grads["never"].items():
        torch.testing.assert_close(grads["always"][name], g, rtol=1e-10, atol=1e-10, msg=lambda m: f"{name}: {m}")


def test_auto_keeps_the_pipeline_on_the_cpu():
    # No speed model on the CPU: "auto" runs the STL pipeline, bit for bit; "always" rounds differently.
    torch.manual_seed(0)
    s = {"tile": (1, 4, 4), "rank": 7, "batch": 2, "seq": 16, "in_features": 64, "out_features": 48, "bias": True,
         "mode": "token-local"}
    inputs = [t.float() for t in random_layer(s)]
    y_auto, grads_auto = forward_and_gradients(s, inputs, "auto")
    y_never, grads_never = forward_and_gradients(s, inputs, "never")
    y_always, _ = forward_and_gradients(s, inputs, "always")
    assert torch.equal(y_auto, y_never) and not torch.equal(y_auto, y_always)
    assert all(torch.equal(a, b) for a, b in zip(grads_auto, grads_never))
