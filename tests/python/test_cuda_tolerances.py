"""The CUDA tests' accuracy bar (tolerances.py) itself, on the CPU: a result that is the exact one rounded to bf16
passes; an error confined to the ragged last column tile fails, also where it is too small to show in the global
error (the case a global max or Frobenius measure lets through); fp32's bar is 1e-5 relative."""
import pytest
import torch

from tolerances import allowed_error, assert_close


def reference(rows=37, cols=45, seed=0):
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_rounded_exact_result_passes():
    ref = reference()
    assert_close("y", ref.to(torch.bfloat16), ref, torch.bfloat16, 4)
    assert_close("y", ref.float(), ref, torch.float32, 4)


def test_error_confined_to_the_last_ragged_column_tile_fails():
    ref = reference()
    got = ref.to(torch.bfloat16).double()
    got[:, 44:] *= 1.05  # 5% in the last tile of width 4, which holds column 44 alone
    # The former measure, max|got - ref| / max|ref| against bf16's 5e-2, let this through.
    assert ((got - ref).abs().max() / ref.abs().max()).item() < 5e-2
    with pytest.raises(AssertionError):
        assert_close("y", got, ref, torch.bfloat16, 4)


def test_confined_error_below_the_global_bar_fails_by_its_tile():
    ref = reference(rows=64, cols=1001)
    got = ref.to(torch.bfloat16).double()
    got[:, 1000:] *= 1.03  # 3% in the last (one-column) tile: a thousandth of the columns
    global_error = ((got - ref).norm() / ref.norm()).item()
    assert global_error < allowed_error(ref, torch.bfloat16)  # averaged away globally
    with pytest.raises(AssertionError, match="column tile"):
        assert_close("y", got, ref, torch.bfloat16, 4)


def test_fp32_bar_is_1e_minus_5():
    ref = reference()
    assert allowed_error(ref, torch.float32) == 1e-5
    with pytest.raises(AssertionError, match="over the bar"):
        assert_close("y", ref * (1 + 1e-4), ref, torch.float32, 4)


def test_16_bit_bars_are_multiples_of_the_rounding():
    ref = reference()
    rounding = ((ref.to(torch.bfloat16).double() - ref).norm() / ref.norm()).item()
    assert allowed_error(ref, torch.bfloat16) == pytest.approx(4 * rounding)
    assert allowed_error(ref, torch.bfloat16, "basis") == pytest.approx(11 * rounding)
    assert allowed_error(ref, torch.bfloat16, "mlp") == pytest.approx(3 * rounding)
