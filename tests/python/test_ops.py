"""stl_matmul against the C++ core reference and an einsum formulation; gradients; errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import strassentile
from conftest import TOLERANCE
from strassentile import algorithms


def einsum_stl(x, w_hat, enc_x, dec, tile, out_features):
    """STL.md §1 written independently with einsum on x (B, S, K), float64."""
    a, b, c = tile
    B, S, K = x.shape
    r, k, n = w_hat.shape
    ms = math.ceil(S / a)
    xp = torch.nn.functional.pad(x, (0, k * b - K, 0, ms * a - S))
    tiles = xp.reshape(B, ms, a, k, b)
    x_hat = torch.einsum("puv,bmukv->pbmk", enc_x.reshape(r, a, b), tiles)
    z = torch.einsum("pbmk,pkn->pbmn", x_hat, w_hat)
    y = torch.einsum("uwp,pbmn->bmunw", dec.reshape(a, c, r), z).reshape(B, ms * a, n * c)
    return y[:, :S, :out_features]


shapes = st.fixed_dictionaries({
    "tile": st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    "rank": st.integers(1, 30),
    "batch": st.integers(1, 3),
    "seq": st.integers(1, 11),
    "in_features": st.integers(1, 19),
    "out_features": st.integers(1, 17),
    "bias": st.booleans(),
})


def random_layer(s, dtype=torch.float64):
    a, b, c = s["tile"]
    k, n = math.ceil(s["in_features"] / b), math.ceil(s["out_features"] / c)
    g = dict(dtype=dtype)
    return (torch.randn(s["batch"], s["seq"], s["in_features"], **g), torch.randn(s["rank"], k, n, **g),
            torch.randn(s["rank"], a * b, **g), torch.randn(a * c, s["rank"], **g),
            torch.randn(s["out_features"], **g) if s["bias"] else None)


@settings(max_examples=60, deadline=None)
@given(shapes)
def test_matches_core_reference_and_einsum(s):
    x, w_hat, enc_x, dec, bias = random_layer(s)
    y = strassentile.stl_matmul(x, w_hat, enc_x, dec, s["tile"], bias, out_features=s["out_features"])
    assert y.shape == (s["batch"], s["seq"], s["out_features"])
    core = strassentile.stl_matmul_reference(x.reshape(-1, s["in_features"]), w_hat, enc_x, dec, s["tile"],
                                             s["out_features"], seq_len=s["seq"]).reshape(y.shape)
    if bias is not None:
        core = core + bias
    torch.testing.assert_close(y, core, rtol=1e-12, atol=1e-11)
    ref = einsum_stl(x, w_hat, enc_x, dec, s["tile"], s["out_features"]) + (bias if bias is not None else 0)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-11)


@settings(max_examples=15, deadline=None)
@given(shapes)
def test_gradcheck_all_differentiable_inputs(s):
    s = {**s, "bias": True, "batch": min(s["batch"], 2), "seq": min(s["seq"], 6)}
    inputs = [t.requires_grad_() for t in random_layer(s)]
    f = lambda x, w, e, d, bias: strassentile.stl_matmul(x, w, e, d, s["tile"], bias, out_features=s["out_features"])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("name", ["strassen", "laderman", "strassen2"])
def test_exact_algorithm_is_the_dense_product_per_dtype(name, dtype):
    torch.manual_seed(0)
    alg = algorithms.get(name)
    dt = getattr(torch, dtype)
    x, w = torch.randn(2, 13, 40, dtype=torch.float64), torch.randn(40, 29, dtype=torch.float64)
    w_hat = strassentile.encode_weight(w.to(dt), alg.enc_w.to(dt), alg.tile)
    y = strassentile.stl_matmul(x.to(dt), w_hat, alg.enc_x.to(dt), alg.dec.to(dt), alg.tile, out_features=29)
    assert y.dtype == dt
    expected = x @ w
    assert ((y.double() - expected).abs().max() / expected.abs().max()).item() <= TOLERANCE[dtype]


def test_rows_never_mix_across_batch_elements():
    torch.manual_seed(1)
    x, w_hat, enc_x, dec = torch.randn(3, 5, 8), torch.randn(6, 2, 2), torch.randn(6, 16), torch.randn(16, 6)
    y = strassentile.stl_matmul(x, w_hat, enc_x, dec, 4)
    x2 = x.clone()
    x2[0] += 1.0
    y2 = strassentile.stl_matmul(x2, w_hat, enc_x, dec, 4)
    assert torch.equal(y[1:], y2[1:])
    assert not torch.equal(y[0], y2[0])


def test_nan_and_inf_propagate():
    alg = algorithms.get("strassen")
    x = torch.randn(4, 4, dtype=torch.float64)
    x[1, 2] = float("inf")
    w_hat = strassentile.encode_weight(torch.randn(4, 4, dtype=torch.float64), alg.enc_w, 2)
    assert not torch.isfinite(strassentile.stl_matmul(x, w_hat, alg.enc_x, alg.dec, 2)).all()
    x[1, 2] = float("nan")
    assert torch.isnan(strassentile.stl_matmul(x, w_hat, alg.enc_x, alg.dec, 2)).any()


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=torch.randn(4, 9)), "x has in_features K=9"),
    (dict(w_hat=torch.randn(6, 4, 2)), "w_hat has 6 products but enc_x has rank 7"),
    (dict(dec=torch.randn(4, 6)), r"dec must be \(a\*c, rank\) = \(4, 7\)"),
    (dict(enc_x=torch.randn(7, 9)), r"enc_x must be \(rank, a\*b\) = \(r, 4\)"),
    (dict(tile=3), r"enc_x must be \(rank, a\*b\) = \(r, 9\)"),
    (dict(x=torch.randn(4, 8).int()), "x must be float64, float32, float16 or bfloat16"),
    (dict(x=torch.randn(4, 8, device="meta")), "w_hat is on cpu but x is on meta"),
    (dict(bias=torch.randn(4, dtype=torch.float64).int()), "bias must be float64"),
    (dict(mode="causal", levels=[0, 0, 0, 1, 1, 1, 2]), r"levels\[6\] = 2 is out of range: causal levels must be in 0..1"),
    (dict(mode="causal", levels=[0, 1]), "levels has 2 entries but the rank is 7"),
    (dict(levels=[0] * 7), "levels apply only to mode='causal'"),
    (dict(mode="token-local"), "needs tiles that never span tokens"),
])
def test_bad_arguments_name_the_problem(kwargs, message):
    args = dict(x=torch.randn(4, 8), w_hat=torch.randn(7, 4, 2), enc_x=torch.randn(7, 4), dec=torch.randn(4, 7), tile=2)
    args.update(kwargs)
    with pytest.raises(RuntimeError, match=message):
        strassentile.stl_matmul(**args)


def test_tile_argument_validation():
    with pytest.raises(ValueError, match=r"tile=\(2, 2\): pass an int \(4 means <4,4,4>\) or three ints"):
        strassentile.stl_matmul(torch.randn(4, 8), torch.randn(7, 4, 2), torch.randn(7, 4), torch.randn(4, 7), (2, 2))


def test_lean_backward_switch_leaves_the_cpu_op_unchanged():
    """set_lean_backward returns the previous setting; the CPU op (no row blocks) gives the same gradients bit for
    bit either way."""
    torch.manual_seed(0)
    leaves = [torch.randn(2, 9, 13, dtype=torch.float64), torch.randn(7, 7, 6, dtype=torch.float64),
              torch.randn(7, 4, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)]
    grad_y = torch.randn(2, 9, 11, dtype=torch.float64)

    def grads():
        inputs = [t.clone().requires_grad_(True) for t in leaves]
        strassentile.stl_matmul(*inputs, (2, 2, 2), out_features=11).backward(grad_y)
        return [t.grad for t in inputs]

    g0 = grads()
    assert strassentile.set_lean_backward(True) is False
    try:
        g1 = grads()
    finally:
        assert strassentile.set_lean_backward(False) is True
    assert all(torch.equal(a, b) for a, b in zip(g0, g1))


def test_keep_for_backward_switch_and_cpu_ops():
    """set_keep_for_backward returns the previous setting; on the CPU nothing is kept (stl_matmul_keep's second
    output is an empty byte tensor) and results and gradients are those of the plain op, bit for bit."""
    torch.manual_seed(0)
    x = torch.randn(2, 9, 13, dtype=torch.float64)
    w_hat = torch.randn(7, 7, 6, dtype=torch.float64)
    enc_x, dec, bias = torch.randn(7, 4, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64), torch.randn(11, dtype=torch.float64)
    y, kept = torch.ops.strassentile.stl_matmul_keep(x, w_hat, enc_x, dec, [2, 2, 2], bias, "tile", 11, None)
    assert torch.equal(y, strassentile.stl_matmul(x, w_hat, enc_x, dec, (2, 2, 2), bias, out_features=11))
    assert kept.dtype == torch.uint8 and kept.numel() == 0
    grad_y = torch.randn_like(y)
    args = (grad_y, x, w_hat, enc_x, dec, [2, 2, 2], bias, "tile", 11, None, [True] * 5)
    for a, b in zip(torch.ops.strassentile.stl_matmul_backward_kept(*args, kept),
                    torch.ops.strassentile.stl_matmul_backward(*args)):
        assert torch.equal(a, b)

    def grads():
        leaves = [t.clone().requires_grad_(True) for t in (x, w_hat, enc_x, dec, bias)]
        out = strassentile.stl_matmul(*leaves[:4], (2, 2, 2), leaves[4], out_features=11)
        out.backward(grad_y)
        return out.detach(), [t.grad for t in leaves]

    y0, g0 = grads()
    assert strassentile.set_keep_for_backward(True) is False
    try:
        y1, g1 = grads()
    finally:
        assert strassentile.set_keep_for_backward(False) is True
    assert torch.equal(y0, y1) and all(torch.equal(a, b) for a, b in zip(g0, g1))
    assert strassentile.set_keep_z_for_backward(True) is False
    try:
        assert torch.ops.strassentile.backward_switches() == (False, False, True)
        y2, g2 = grads()
    finally:
        assert strassentile.set_keep_z_for_backward(False) is True
    assert torch.equal(y0, y2) and all(torch.equal(a, b) for a, b in zip(g0, g2))


def test_fused_forward_switch_returns_the_previous_setting():
    """set_fused_forward returns the previous policy (True and False meaning "auto" and "never"), refuses an unknown
    one by naming the three, and changes nothing on the CPU."""
    x, w_hat = torch.randn(9, 13, dtype=torch.float64), torch.randn(3, 7, 6, dtype=torch.float64)
    enc_x, dec = torch.randn(3, 4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    y0 = strassentile.stl_matmul(x, w_hat, enc_x, dec, (2, 2, 2), out_features=11)
    previous = strassentile.set_fused_forward(True)
    try:
        assert strassentile.set_fused_forward(False) == "auto"
        assert strassentile.set_fused_forward("always") == "never"
        assert strassentile.set_fused_forward("auto") == "always"
        with pytest.raises(RuntimeError, match="'auto'.*'always'.*'never'"):
            strassentile.set_fused_forward("sometimes")
        assert strassentile.set_fused_forward("always") == "auto"
        assert torch.equal(strassentile.stl_matmul(x, w_hat, enc_x, dec, (2, 2, 2), out_features=11), y0)
    finally:
        strassentile.set_fused_forward(previous)
