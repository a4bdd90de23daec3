"""STL modes causal and token-local from Python: row Jacobians (zero where the mode says so, a visible leak in
mode tile), the op against the core reference in float64, gradcheck, masked coefficients, forward_step against
the full forward (one layer and a small stack), convert and the errors that name the fix."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import strassentile
from strassentile import STLDecodeCache, STLLinear


def row_jacobian(f, x):
    """J[i, j] = max |∂y[s, i, :] / ∂x[s, j, :]| over the batch s, for x (B, S, K)."""
    jac = torch.autograd.functional.jacobian(f, x)  # (B, S, N, B, S, K)
    B = x.shape[0]
    per_seq = torch.stack([jac[s, :, :, s] for s in range(B)])  # (B, S, N, S, K)
    return per_seq.abs().amax(dim=(0, 2, 4))


def causal_inputs(tile, rank, B, S, K, N, seed):
    a, b, c = tile
    g = torch.Generator().manual_seed(seed)
    f64 = dict(dtype=torch.float64, generator=g)
    k, n = math.ceil(K / b), math.ceil(N / c)
    return (torch.randn(B, S, K, **f64), torch.randn(rank, k, n, **f64), torch.randn(rank, a * b, **f64),
            torch.randn(a * c, rank, **f64), [int(v) for v in torch.randint(0, a, (rank,), generator=g)])


layouts = st.fixed_dictionaries({
    "tile": st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)),
    "rank": st.integers(1, 12), "B": st.integers(1, 2), "S": st.integers(1, 9),
    "K": st.integers(1, 7), "N": st.integers(1, 6), "seed": st.integers(0, 2**16),
})


@settings(max_examples=25, deadline=None)
@given(layouts)
def test_causal_rows_never_depend_on_later_rows(p):
    """Dense random enc_x/dec and arbitrary levels: the masks alone make the zero blocks."""
    x, w_hat, enc_x, dec, levels = causal_inputs(**p)
    a = p["tile"][0]
    f = lambda v: strassentile.stl_matmul(v, w_hat, enc_x, dec, p["tile"], None, "causal", p["N"], levels)
    jac = row_jacobian(f, x)
    i, j = torch.meshgrid(torch.arange(p["S"]), torch.arange(p["S"]), indexing="ij")
    allowed = (i // a == j // a) & (j <= i)
    assert (jac[~allowed] == 0).all(), jac
    # and the op is the core reference, in double
    ref = strassentile.stl_matmul_reference(x.reshape(-1, p["K"]), w_hat, enc_x, dec, p["tile"], p["N"], p["S"],
                                            "causal", levels)
    assert torch.allclose(f(x).reshape(-1, p["N"]), ref, rtol=1e-12, atol=1e-12 * ref.abs().max().item())


def test_token_local_rows_depend_only_on_themselves():
    torch.manual_seed(0)
    layer = STLLinear(10, 7, tile=(1, 4, 4), rank=12, mode="token-local").double()
    jac = row_jacobian(layer, torch.randn(2, 5, 10, dtype=torch.float64))
    assert (jac * (1 - torch.eye(5, dtype=torch.float64)) == 0).all()
    assert (jac.diagonal() > 0).all()


def test_tile_mode_leaks_future_rows_with_a_truncated_algorithm():
    torch.manual_seed(1)
    layer = STLLinear(10, 7, tile=2, rank=5, init="truncate:strassen").double()
    jac = row_jacobian(layer, torch.randn(1, 4, 10, dtype=torch.float64))
    assert jac[0, 1] > 1e-3 and jac[2, 3] > 1e-3, jac  # the leak: row 0 reads row 1 of its tile
    assert jac[0, 2] == 0 and jac[1, 3] == 0  # tiles still never mix


def test_gradcheck_through_the_causal_op():
    x, w_hat, enc_x, dec, levels = causal_inputs((3, 2, 2), 7, 2, 5, 5, 3, seed=3)
    bias = torch.randn(3, dtype=torch.float64)
    args = [t.requires_grad_() for t in (x, w_hat, enc_x, dec, bias)]
    f = lambda *t: strassentile.stl_matmul(t[0], t[1], t[2], t[3], (3, 2, 2), t[4], "causal", 3, levels)
    assert torch.autograd.gradcheck(f, args)


def test_masked_coefficients_neither_act_nor_learn():
    torch.manual_seed(4)
    layer = STLLinear(16, 12, tile=4, rank=24, mode="causal")
    lv = torch.tensor(layer._levels)
    rows_x = torch.arange(16) // 4
    ex_mask = (rows_x[None, :] <= lv[:, None]).float()
    dec_mask = (rows_x[:, None] >= lv[None, :]).float()
    assert (layer.enc_x * (1 - ex_mask)).abs().max() == 0 and (layer.dec * (1 - dec_mask)).abs().max() == 0
    x = torch.randn(3, 9, 16)
    y0 = layer(x).detach()
    with torch.no_grad():
        layer.enc_x.add_(100 * (1 - ex_mask))
        layer.dec.add_(100 * (1 - dec_mask))
    y = layer(x)
    assert torch.allclose(y, y0, rtol=1e-6, atol=1e-6)
    y.square().sum().backward()
    assert (layer.enc_x.grad * (1 - ex_mask)).abs().max() == 0
    assert (layer.dec.grad * (1 - dec_mask)).abs().max() == 0


@settings(max_examples=8, deadline=None)
@given(a=st.integers(1, 4), S=st.integers(1, 10), B=st.integers(1, 3), seed=st.integers(0, 1000))
def test_forward_step_equals_the_full_forward_through_a_stack(a, S, B, seed):
    torch.manual_seed(seed)
    first = STLLinear(12, 16, tile=(a, 4, 4), rank=3 * a, mode="causal")
    second = STLLinear(16, 8, tile=(a, 2, 4), rank=4 * a, mode="causal", init=f"truncate:naive-{a}x2x4")
    x = torch.randn(B, S, 12)
    full = second(torch.nn.functional.gelu(first(x)))
    c1, c2 = STLDecodeCache(), STLDecodeCache()
    steps = torch.stack([second.forward_step(torch.nn.functional.gelu(first.forward_step(x[:, s], c1)), c2)
                         for s in range(S)], 1)
    assert ((steps - full).abs().max() / full.abs().max()).item() <= 1e-5
    assert c1.position == S and (c1.rows is None) == (S % a == 0)


def test_token_local_forward_step_needs_no_cache_rows():
    layer = STLLinear(8, 8, tile=(1, 4, 4), rank=8, mode="token-local")
    x, cache = torch.randn(2, 3, 8), STLDecodeCache()
    steps = torch.stack([layer.forward_step(x[:, s], cache) for s in range(3)], 1)
    assert torch.allclose(steps, layer(x), rtol=1e-5, atol=1e-6) and cache.rows is None


def test_causal_inits_respect_the_masks_and_naive_converts_exactly():
    torch.manual_seed(5)
    linear = torch.nn.Linear(10, 6)
    exact = STLLinear.from_linear(linear, "naive-2x2x2", mode="causal")
    x = torch.randn(2, 5, 10)
    assert torch.allclose(exact(x), linear(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="is not causal"):
        STLLinear.from_linear(linear, "strassen", mode="causal")
    t = STLLinear(8, 8, tile=2, rank=5, mode="causal", init="truncate:strassen")
    err = torch.ops.strassentile.relative_error(t.enc_x.double(), t.enc_w.double(), t.dec.double(), [2, 2, 2])
    assert 0 < err < 1
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    strassentile.convert(model, strassentile.STLConfig(tile=2, rank=6, init=strassentile.Random(), mode="causal"))
    assert all(m.mode == "causal" for m in model if isinstance(m, STLLinear))


def test_checkpoint_restores_the_levels():
    src = STLLinear(8, 8, tile=2, rank=5, mode="causal", init="truncate:strassen")
    dst = STLLinear(8, 8, tile=2, rank=5, mode="causal")
    assert src._levels != dst._levels
    dst.load_state_dict(src.state_dict())
    x = torch.randn(2, 4, 8)
    assert dst._levels == src._levels and torch.allclose(dst(x), src(x))


def test_errors_name_the_fix():
    with pytest.raises(RuntimeError, match="mode 'tile' cannot decode token by token"):
        STLLinear(8, 8, tile=2, rank=7).forward_step(torch.randn(2, 8), STLDecodeCache())
    with pytest.raises(RuntimeError, match=r"levels must be in 0..1|out of range"):
        STLLinear(8, 8, tile=2, rank=3, mode="causal", levels=[0, 2, 1])
    with pytest.raises(ValueError, match="only to mode='causal'"):
        STLLinear(8, 8, tile=2, rank=3, levels=[0, 1, 1])
    with pytest.raises(ValueError, match="a = 1"):
        STLLinear(8, 8, tile=2, rank=7, mode="token-local")
    with pytest.raises(RuntimeError, match="not available in mode 'causal'"):
        STLLinear(8, 8, tile=2, rank=5, mode="causal", init="fit")
    x = torch.randn(4, 8)
    with pytest.raises(RuntimeError, match="levels apply only to mode='causal'"):
        strassentile.stl_matmul(x, torch.randn(3, 4, 4), torch.randn(3, 4), torch.randn(4, 3), 2, None, "tile", 8, [0, 0, 1])
