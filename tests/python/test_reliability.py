"""Inputs a user can pass by mistake: each raises like nn.Linear would, naming the argument and the fix."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import nn

import strassentile as st


def outcome(module, x):
    """The output shape, or None when the module raises."""
    try:
        return tuple(module(x).shape)
    except (RuntimeError, ValueError, TypeError, IndexError):
        return None


@settings(max_examples=60, deadline=None)
@given(in_features=hs.integers(1, 12), out_features=hs.integers(1, 9),
       leading=hs.lists(hs.integers(0, 5), min_size=0, max_size=2), width_delta=hs.integers(-3, 3),
       tile=hs.sampled_from([2, (2, 3, 4), 4]))
def test_stl_linear_raises_exactly_when_nn_linear_does(in_features, out_features, leading, width_delta, tile):
    torch.manual_seed(0)
    dense = nn.Linear(in_features, out_features)
    stl = st.STLLinear(in_features, out_features, tile=tile, rank=4, init="random")
    width = max(in_features + width_delta, 0)
    x = torch.randn(*leading, width)
    assert outcome(stl, x) == outcome(dense, x)


def test_wider_input_is_refused_not_truncated():
    layer = st.STLLinear(10, 6, tile=4, rank=24)
    with pytest.raises(RuntimeError, match=r"in_features K=12 .* in_features=10.*x\[\.\.\., :10\]"):
        layer(torch.randn(4, 12))


def test_stl_mlp_checks_the_input_width():
    mlp = st.STLMLP(st.STLLinear(256, 64, tile=4, rank=24), st.STLLinear(64, 256, tile=4, rank=24))
    with pytest.raises(RuntimeError, match=r"in_features K=255 .* in_features=256"):
        mlp(torch.randn(8, 255))
    assert mlp(torch.randn(8, 256)).shape == (8, 256)


def test_the_width_check_holds_under_dynamic_compile():
    layer = st.STLLinear(256, 32, tile=4, rank=24)
    compiled = torch.compile(layer, dynamic=True, fullgraph=True)
    assert compiled(torch.randn(8, 256)).shape == (8, 32)
    with pytest.raises(Exception, match=r"in_features K=255"):
        compiled(torch.randn(8, 255))


@pytest.mark.parametrize("tile, error", [(4.5, TypeError), ("234", TypeError), (True, TypeError), ([2, 3], ValueError),
                                         ([0, 4, 4], ValueError), (None, TypeError)])
def test_malformed_tiles_name_the_argument(tile, error):
    with pytest.raises(error, match=r"tile=.*pass an int \(4 means <4,4,4>\) or three ints"):
        st.STLLinear(8, 8, tile=tile, rank=24)


@pytest.mark.parametrize("tile", [2**62, [2**32]])
def test_huge_tiles_are_refused_before_allocating(tile):
    with pytest.raises(RuntimeError, match=r"tile=\[.*\] is too large"):
        st.STLLinear(8, 8, tile=tile, rank=24)


def test_stl_matmul_names_a_missing_tensor():
    layer = st.STLLinear(8, 8, tile=4, rank=24)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got NoneType"):
        st.stl_matmul(None, layer.w_hat, layer.enc_x, layer.dec, 4)


def test_stl_linear_names_a_non_tensor_input():
    layer = st.STLLinear(8, 8, tile=4, rank=24)
    with pytest.raises(TypeError, match="STLLinear: x must be a torch.Tensor, got list"):
        layer([[1.0] * 8])


def test_encode_weight_refuses_an_empty_weight():
    enc_w = st.algorithms.get("strassen2").enc_w
    with pytest.raises(RuntimeError, match=r"in_features >= 1 and out_features >= 1"):
        st.encode_weight(torch.zeros(0, 8, dtype=torch.float64), enc_w, 4)


def test_huge_naive_algorithm_is_refused_by_name():
    with pytest.raises(RuntimeError, match=r"naive-100x100x100.*2\^24"):
        st.algorithms.get("naive-100x100x100")


def test_a_bad_data_directory_is_refused_where_it_is_set():
    before = st.algorithms.available()
    with pytest.raises(ValueError, match=r"set_data_dir\('/nonexistent'\).*'' for the built-in algorithms only"):
        st.algorithms.set_data_dir("/nonexistent")
    assert st.algorithms.available() == before
    assert st.algorithms.get("strassen").tile == (2, 2, 2)
