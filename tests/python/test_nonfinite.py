"""Non-finite values follow the modes' dependency structure exactly, forward and backward, on every path.

One Inf or NaN is placed at a chosen row; the set of non-finite outputs (and gradients) must be exactly the set
the mode says depends on it: token-local only that row, causal the rows >= it of its tile, tile its whole tile,
other tiles and sequences never. The causal masks must act by selection: a masked coefficient multiplied by an
Inf gives NaN (0·Inf), which would leak the later row into the earlier ones and break token-by-token decoding.
"""
import math

import pytest
import torch

import strassentile
from strassentile import STLDecodeCache, STLLinear

CUDA = torch.cuda.is_available()
DEVICE_DTYPES = [
    pytest.param(device, dtype, id=f"{device}-{str(dtype).removeprefix('torch.')}",
                 marks=pytest.mark.skipif(device == "cuda" and not CUDA, reason="needs a CUDA device"))
    for device, dtype in (("cpu", torch.float32), ("cpu", torch.float64), ("cuda", torch.float32),
                          ("cuda", torch.float64), ("cuda", torch.bfloat16))
]
BAD_VALUES = [math.inf, -math.inf, math.nan]

# Every mode on the same layout: two sequences of 7 rows (tiles of 3: rows 0-2, 3-5 and 6 plus padding), K = 5,
# N = 4, tile columns of 2. The bad input sits in sequence 0 at row 4 (tile row u = 1 of its tile), column 3.
B, S, K, N, RANK = 2, 7, 5, 4, 7
BAD_SEQ, BAD_ROW, BAD_COL = 0, 4, 3
TILES = {"tile": (3, 2, 2), "token-local": (1, 2, 2), "causal": (3, 2, 2)}
CAUSAL_LEVELS = [2, 0, 1, 2, 1, 0, 2]  # unsorted, every level used: the products run in level order inside


class Layer:
    """Dense random parameters of one mode (the masks alone must make the structure) and its dependency rules."""

    def __init__(self, mode, device, dtype, seed=0):
        self.mode, self.tile = mode, TILES[mode]
        a, b, c = self.tile
        g = torch.Generator().manual_seed(seed)
        rand = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64).to(device, dtype)
        self.w_hat = rand(RANK, math.ceil(K / b), math.ceil(N / c))
        self.enc_x, self.dec = rand(RANK, a * b), rand(a * c, RANK)
        self.levels = CAUSAL_LEVELS if mode == "causal" else None

    def __call__(self, x, w_hat=None, enc_x=None, dec=None):
        w_hat, enc_x, dec = (self.w_hat if w_hat is None else w_hat, self.enc_x if enc_x is None else enc_x,
                             self.dec if dec is None else dec)
        return strassentile.stl_matmul(x, w_hat, enc_x, dec, self.tile, None, self.mode, N, self.levels)

    def depends(self, out_row, in_row):
        """Whether output row out_row of a sequence depends on input row in_row of the same sequence."""
        a = self.tile[0]
        if out_row // a != in_row // a:
            return False
        return out_row >= in_row if self.mode == "causal" else True  # token-local: a = 1, the row itself

    def reads(self, p, u):  # product p reads tile row u
        return self.levels is None or u <= self.levels[p]

    def writes(self, p, u):  # product p reaches output tile row u
        return self.levels is None or u >= self.levels[p]


def rows_expected(layer, row_depends):
    """(B, S) bool: the rows of sequence BAD_SEQ for which row_depends(row), no row of another sequence."""
    out = torch.zeros(B, S, dtype=torch.bool)
    for row in range(S):
        out[BAD_SEQ, row] = row_depends(row)
    return out


def finite_input(device, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, S, K, generator=g, dtype=torch.float64).to(device, dtype)


def nonfinite_rows(t):
    return (~torch.isfinite(t)).any(-1).cpu()


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("mode", list(TILES))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_forward_nonfinite_rows_follow_the_dependencies(mode, device, dtype, bad):
    layer = Layer(mode, device, dtype)
    x = finite_input(device, dtype)
    x[BAD_SEQ, BAD_ROW, BAD_COL] = bad
    expected = rows_expected(layer, lambda row: layer.depends(row, BAD_ROW))
    assert torch.equal(nonfinite_rows(layer(x)), expected)


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("mode", list(TILES))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_grad_x_nonfinite_rows_follow_the_dependencies(mode, device, dtype, bad):
    """A bad incoming gradient at output row BAD_ROW reaches the input rows that row depends on, no others."""
    layer = Layer(mode, device, dtype)
    x = finite_input(device, dtype).requires_grad_()
    grad_y = torch.ones(B, S, N, device=device, dtype=dtype)
    grad_y[BAD_SEQ, BAD_ROW, 1] = bad
    layer(x).backward(grad_y)
    expected = rows_expected(layer, lambda row: layer.depends(BAD_ROW, row))
    assert torch.equal(nonfinite_rows(x.grad), expected)


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("mode", list(TILES))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_basis_gradients_with_a_bad_input(mode, device, dtype, bad):
    """Gradients of Ŵ, E_X and D with a bad input: non-finite exactly where they read it; masked basis entries
    exactly zero; x's own gradient (which does not read x) finite."""
    layer = Layer(mode, device, dtype)
    a, b, c = layer.tile
    u_bad, v_bad, kk_bad = BAD_ROW % a, BAD_COL % b, BAD_COL // b
    params = [t.clone().requires_grad_() for t in (layer.w_hat, layer.enc_x, layer.dec)]
    x = finite_input(device, dtype)
    x[BAD_SEQ, BAD_ROW, BAD_COL] = bad
    x.requires_grad_()
    layer(x, *params).backward(torch.ones(B, S, N, device=device, dtype=dtype))
    grad_w_hat, grad_enc_x, grad_dec = (t.grad.cpu() for t in params)
    assert torch.isfinite(x.grad).all()

    sees_bad = [layer.reads(p, u_bad) for p in range(RANK)]
    expect_w = torch.zeros(grad_w_hat.shape, dtype=torch.bool)
    expect_enc = torch.zeros(grad_enc_x.shape, dtype=torch.bool)
    expect_dec = torch.zeros(grad_dec.shape, dtype=torch.bool)
    for p in range(RANK):
        expect_w[p, kk_bad, :] = sees_bad[p]
        expect_enc[p, u_bad * b + v_bad] = sees_bad[p]
        for q in range(a * c):
            expect_dec[q, p] = sees_bad[p] and layer.writes(p, q // c)
    assert torch.equal(~torch.isfinite(grad_w_hat), expect_w)
    assert torch.equal(~torch.isfinite(grad_enc_x), expect_enc)
    assert torch.equal(~torch.isfinite(grad_dec), expect_dec)

    masked_enc = torch.tensor([[not layer.reads(p, q // b) for q in range(a * b)] for p in range(RANK)])
    masked_dec = torch.tensor([[not layer.writes(p, q // c) for p in range(RANK)] for q in range(a * c)])
    assert (grad_enc_x[masked_enc] == 0).all() and (grad_dec[masked_dec] == 0).all()


@pytest.mark.parametrize("mode", list(TILES))
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_jacobian_is_exactly_zero_without_a_dependency(mode, device, dtype):
    layer = Layer(mode, device, dtype)
    jac = torch.autograd.functional.jacobian(layer, finite_input(device, dtype))  # (B, S, N, B, S, K)
    moved = (jac != 0).any(dim=2).any(dim=-1).cpu()  # (B, S, B, S): does output row (s, i) move with input (t, j)
    for s in range(B):
        for t in range(B):
            for i in range(S):
                for j in range(S):
                    if s != t or not layer.depends(i, j):
                        assert not moved[s, i, t, j], f"output ({s}, {i}) moves with input ({t}, {j})"
                    elif i == j:
                        assert moved[s, i, t, j], f"output ({s}, {i}) ignores its own input row"


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("device,dtype", DEVICE_DTYPES)
def test_forward_step_equals_the_full_forward_with_a_bad_later_row(device, dtype, bad):
    """Token by token, the rows before the bad one never see it: the full forward must agree, finite, there."""
    torch.manual_seed(0)
    layer = STLLinear(K, N, tile=TILES["causal"], rank=RANK, mode="causal", levels=CAUSAL_LEVELS).to(device, dtype)
    x = finite_input(device, dtype)
    x[:, BAD_ROW, BAD_COL] = bad
    with torch.no_grad():
        full = layer(x)
        cache = STLDecodeCache()
        steps = torch.stack([layer.forward_step(x[:, t], cache) for t in range(S)], dim=1)
    bad_rows = ~torch.isfinite(full).all(-1)
    assert bad_rows.any(), "the bad row must reach its own output"
    assert torch.equal(bad_rows, ~torch.isfinite(steps).all(-1))
    a = TILES["causal"][0]
    assert not bad_rows[:, : BAD_ROW].any(), "a later row of the tile reached an earlier output"
    assert not bad_rows[:, (BAD_ROW // a + 1) * a:].any(), "the bad row reached another tile"
    # Same op on fewer rows: the products may run other GEMM kernels, so equal to rounding.
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2}[dtype]
    expected = full[~bad_rows]
    torch.testing.assert_close(steps[~bad_rows], expected, rtol=tol, atol=tol * expected.abs().max().item())
