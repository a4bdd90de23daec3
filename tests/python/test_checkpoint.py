"""Checkpoint round trips of single-device STL models (safetensors), converted models included, and the message
when a checkpoint does not fit the model's tile or rank."""
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import strassentile as st


def dense_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 8))


def stl_mlp(tile=4, rank=24, mode="tile"):
    torch.manual_seed(1)
    return nn.Sequential(st.STLLinear(16, 32, tile=tile, rank=rank, mode=mode), nn.GELU(),
                         st.STLLinear(32, 8, tile=tile, rank=rank, mode=mode))


def round_trip(model, fresh, path):
    save_file(model.state_dict(), str(path))
    fresh.load_state_dict(load_file(str(path)))
    x = torch.randn(3, 8, 16)
    assert torch.equal(fresh(x), model(x))
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("mode", ["tile", "causal"])
def test_stl_model_round_trip(tmp_path, mode):
    model = stl_mlp(mode=mode)
    with torch.no_grad():  # as after training: not the values a fresh model starts from
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    round_trip(model, stl_mlp(mode=mode), tmp_path / "stl.safetensors")


def test_causal_levels_come_back_from_the_checkpoint(tmp_path):
    model = nn.Sequential(st.STLLinear(16, 8, tile=4, rank=8, mode="causal", levels=[3, 2, 1, 0, 0, 1, 2, 3]))
    fresh = nn.Sequential(st.STLLinear(16, 8, tile=4, rank=8, mode="causal"))
    round_trip(model, fresh, tmp_path / "causal.safetensors")
    assert fresh[0]._levels == [3, 2, 1, 0, 0, 1, 2, 3]


def test_exactly_converted_model_round_trip(tmp_path):
    model = dense_mlp()
    x = torch.randn(3, 8, 16)
    dense_out = model(x)
    st.convert(model, st.STLConfig(init=st.Exact("strassen2")))
    assert isinstance(model[0], st.STLLinear) and torch.allclose(model(x), dense_out, atol=1e-5)
    fresh = dense_mlp()
    st.convert(fresh, st.STLConfig(init=st.Exact("strassen2")))
    round_trip(model, fresh, tmp_path / "converted.safetensors")


@pytest.mark.parametrize("tile,rank", [(4, 16), ((2, 2, 2), 7)])
def test_loading_another_tile_or_rank_says_so(tmp_path, tile, rank):
    path = tmp_path / "r24.safetensors"
    save_file(stl_mlp().state_dict(), str(path))
    with pytest.raises(RuntimeError, match=r"checkpoint holds an STL layer of rank 24, a·b = 16.*build the model with the "
                                           r"checkpoint's tile, rank"):
        stl_mlp(tile=tile, rank=rank).load_state_dict(load_file(str(path)))


def test_matching_checkpoint_adds_no_message():
    model = stl_mlp()
    assert model[0]._checkpoint_mismatch(model.state_dict(), "0.") is None
    result = stl_mlp().load_state_dict(model.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
