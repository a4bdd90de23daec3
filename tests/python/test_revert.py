"""STLLinear.dense_weight / to_linear and strassentile.revert: a converted layer of one-row tiles goes back to the
nn.Linear that computes the same function; layers whose tiles mix rows stay, with the reason."""
import pytest
import torch
from torch import nn

import strassentile as st


def token_local(in_features=13, out_features=7, bias=True, dtype=torch.float64):
    torch.manual_seed(0)
    layer = st.STLLinear(in_features, out_features, tile=(1, 4, 4), rank=12, mode="token-local", bias=bias)
    return layer.to(dtype)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_weight_reproduces_the_layer(bias):
    layer = token_local(bias=bias)
    x = torch.randn(5, 9, 13, dtype=torch.float64)
    w = layer.dense_weight()
    assert w.shape == (7, 13) and w.dtype == torch.float64
    torch.testing.assert_close(torch.nn.functional.linear(x, w, layer.bias), layer(x), rtol=1e-12, atol=1e-12)


def test_to_linear_keeps_bias_dtype_and_trainability():
    layer = token_local(dtype=torch.float32)
    layer.w_hat.requires_grad_(False)
    linear = layer.to_linear()
    assert isinstance(linear, nn.Linear) and linear.weight.dtype == torch.float32
    assert not linear.weight.requires_grad and linear.bias.requires_grad
    x = torch.randn(6, 13)
    torch.testing.assert_close(linear(x), layer(x), rtol=1e-5, atol=1e-5)


def test_tiles_of_several_rows_have_no_dense_weight():
    layer = st.STLLinear(16, 16, tile=4, rank=24)
    with pytest.raises(ValueError, match="a = 4 rows"):
        layer.dense_weight()


def test_revert_undoes_convert_where_a_dense_equivalent_exists():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    shared = nn.Sequential(model, nn.Sequential(nn.Linear(8, 8)))
    st.convert(model, st.STLConfig(tile=(1, 4, 4), rank=12, mode="token-local"))
    st.convert(shared[1], st.STLConfig(tile=(4, 4, 4), rank=24))  # a = 4: no dense equivalent
    x = torch.randn(10, 16)
    before = shared(x)
    report = st.revert(shared)
    assert report == {"0.0": "reverted", "0.2": "reverted", "1.0": report["1.0"]}
    assert report["1.0"].startswith("kept: tile (4, 4, 4)")
    assert isinstance(model[0], nn.Linear) and isinstance(model[2], nn.Linear)
    assert isinstance(shared[1][0], st.STLLinear)
    torch.testing.assert_close(shared(x), before, rtol=1e-5, atol=1e-5)


def test_revert_refuses_a_bare_layer():
    with pytest.raises(ValueError, match="to_linear"):
        st.revert(token_local())
