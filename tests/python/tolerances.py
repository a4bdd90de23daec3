"""The accuracy bar of the CUDA op tests, one table for every dtype, set from the rounding the computation does.

float32 (fp32 storage, fp32 accumulation): within 1e-5 relative (Frobenius) of the float64 reference; the errors seen
are about 1e-7.

float16 / bfloat16: the kernels store X̂, Z (and in the backward dZ, dX̂) in the 16-bit dtype and accumulate in fp32.
The yardstick is the error of rounding the exact result itself to the dtype, which is what a dense 16-bit GEMM with
fp32 accumulation (cuBLAS) makes on the same data. The bars are about 1.5x the worst measured on an H200 over these
tests, in units of that yardstick: the output and dX, dŴ ("layer", rounded two or three times on the way: 2.6x
measured, bar 4x); the basis gradients dE_X, dD ("basis": reductions over every tile of 16-bit dX̂ / dZ, only
a·b·r or a·c·r entries, so their error scatters widely between draws: 7.6x the worst seen, a <2,2,2> r = 7 causal
dE_X of 28 entries on an H100, against 5.6x the worst of 16 seeds of the same case; bar 11x); two layers (stl_mlp,
"mlp": bar 3x). Below 512 values the yardstick is at least the dtype's typical rounding error (rounding_error).

The error is measured globally and in every column tile (blocks of the last dimension) against the same global
scale, so an error confined to one tile (a ragged last one, say) is not averaged away by the others: a tile may be
at most 2.5x the bar's global error (room for the noise of a tile of a few elements).
"""
import functools
import math

import torch

F32_RELATIVE = 1e-5
ROUNDING_MULTIPLE = {"layer": 4.0, "basis": 11.0, "mlp": 3.0}
TILE_MULTIPLE = 2.5


def kind_of(name):
    """The bar's kind for the gradient of parameter `name`: the basis gradients are long reductions."""
    return "basis" if name in ("enc_x", "dec") else "layer"


FEW_VALUES = 512


@functools.lru_cache(maxsize=None)
def typical_rounding_error(dtype):
    """Relative Frobenius error of rounding many Gaussian values to `dtype`: the yardstick's expected value."""
    sample = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return relative_error(sample.to(dtype).double(), sample)


def rounding_error(ref, dtype):
    """Relative Frobenius error of rounding the float64 reference to `dtype` (at least 1e-6: exact zeros). Below
    FEW_VALUES values at least the dtype's typical rounding error: a handful of values (a <2,1,2> r = 3 dE_X has 6)
    can round almost exactly by chance."""
    ref = ref.double().cpu()
    error = relative_error(ref.to(dtype).double(), ref)
    if ref.numel() < FEW_VALUES:
        error = max(error, typical_rounding_error(dtype))
    return max(error, 1e-6)


def relative_error(got, ref):
    ref = ref.double().cpu()
    diff = got.double().cpu() - ref
    return (diff.norm() / ref.norm().clamp_min(1e-300)).item()


def allowed_error(ref, dtype, kind="layer"):
    """The relative Frobenius error allowed for a result computed in `dtype` whose float64 value is `ref`."""
    if dtype in (torch.float32, torch.float64):
        return F32_RELATIVE if dtype == torch.float32 else 1e-10
    return ROUNDING_MULTIPLE[kind] * rounding_error(ref, dtype)


def worst_tile(got, ref, width):
    """The largest rms error of a column tile (`width` columns of the last dimension), over the rms of the whole
    reference: the relative error of the worst tile, on the global scale."""
    diff = (got.double().cpu() - ref.double().cpu()).reshape(-1, ref.shape[-1]) if ref.dim() else None
    if diff is None or diff.numel() == 0:
        return 0.0
    scale = ref.double().cpu().pow(2).mean().sqrt().clamp_min(1e-300)
    tiles = math.ceil(ref.shape[-1] / width)
    return max((diff[:, t * width:(t + 1) * width].pow(2).mean().sqrt() / scale).item() for t in range(tiles))


def assert_close(name, got, ref, compute_dtype, tile_width=1, kind="layer"):
    """got (any dtype, any device) against the float64 reference ref, for a computation in compute_dtype: finite,
    the same shape, globally within allowed_error, and no column tile of `tile_width` columns beyond TILE_MULTIPLE
    times it."""
    assert got.shape == ref.shape, f"{name}: shape {tuple(got.shape)} != {tuple(ref.shape)}"
    if ref.numel() == 0:
        return
    assert torch.isfinite(got).all(), f"{name}: non-finite values"
    bar = allowed_error(ref, compute_dtype, kind)
    err = relative_error(got, ref)
    assert err <= bar, f"{name}: relative error {err:.3g} over the bar {bar:.3g} ({compute_dtype})"
    tile = worst_tile(got, ref, tile_width)
    assert tile <= TILE_MULTIPLE * bar, (
        f"{name}: a column tile of {tile_width} has error {tile:.3g}, over {TILE_MULTIPLE:g}x the bar {bar:.3g} "
        f"(global error {err:.3g}): an error confined to some columns")
