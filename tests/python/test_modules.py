import io

import pytest
import torch
from torch import nn

import strassentile
from strassentile import Exact, Fit, Random, STLConfig, STLLinear, algorithms


def rel_err(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


@pytest.mark.parametrize("name", ["strassen", "winograd", "laderman", "strassen2", "dps-4x4x4-48", "alphatensor-2x4x4"])
def test_from_linear_reproduces_the_layer(name, fmm_dir):
    algorithms.set_data_dir(fmm_dir)
    torch.manual_seed(0)
    dense = nn.Linear(45, 27)
    stl = STLLinear.from_linear(dense, name)
    x = torch.randn(3, 11, 45)
    assert rel_err(stl(x), dense(x)) <= 1e-5
    algorithms.set_data_dir("")


def test_init_scale_matches_linear():
    torch.manual_seed(1)
    x = torch.randn(64, 32, 256)
    dense_var = nn.Linear(256, 256, bias=False)(x).var().item()
    for rank in (8, 24, 48):
        var = STLLinear(256, 256, bias=False, rank=rank)(x).var().item()
        assert 0.7 < var / dense_var < 1.4, rank
    # An exact-algorithm init is an exact copy of a default dense layer: same scale too.
    var = STLLinear(256, 256, bias=False, rank=49, init="strassen2")(x).var().item()
    assert 0.7 < var / dense_var < 1.4


@pytest.mark.parametrize("init", ["fit", "truncate:strassen2", "truncate:naive-4x4x4", "poly"])
def test_approximate_inits_match_linear_scale(init):
    torch.manual_seed(5)
    x = torch.randn(32, 16, 128)
    dense_var = nn.Linear(128, 128, bias=False)(x).var().item()
    var = STLLinear(128, 128, bias=False, rank=24, init=init)(x).var().item()
    assert 0.7 < var / dense_var < 1.4


def test_state_dict_round_trip_and_shape_mismatch():
    torch.manual_seed(2)
    a, b = STLLinear(20, 12, rank=10), STLLinear(20, 12, rank=10)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer))
    x = torch.randn(5, 8, 20)
    assert torch.equal(a(x), b(x))
    with pytest.raises(RuntimeError, match="size mismatch for w_hat"):
        STLLinear(20, 12, rank=11).load_state_dict(a.state_dict())


def test_shapes_freezing_and_cost():
    stl = STLLinear(30, 10, tile=(2, 3, 4), rank=5)
    assert stl.w_hat.shape == (5, 10, 3) and stl.enc_x.shape == (5, 6) and stl.dec.shape == (8, 5)
    assert stl(torch.randn(7, 30)).shape == (7, 10)
    stl.set_train_basis(False)
    stl(torch.randn(7, 30)).sum().backward()
    assert stl.w_hat.grad is not None and stl.enc_x.grad is None and stl.dec.grad is None
    assert stl.cost(8)["dense_flops"] == 2 * 8 * 30 * 10
    assert "tile=<2,3,4>, rank=5" in repr(stl)


@pytest.mark.parametrize("kwargs, message", [
    (dict(init="strassen2", rank=24), "has rank 49 but rank=24 was asked"),
    (dict(init="strassen", rank=7), "is a <2,2,2> algorithm but tile is <4,4,4>"),
    (dict(init="nope"), "unknown algorithm 'nope'"),
    (dict(rank=0), "rank must be >= 1"),
])
def test_init_errors(kwargs, message):
    with pytest.raises(RuntimeError, match=message):
        STLLinear(16, 16, **kwargs)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 3)

    def forward(self, x):
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_convert_exact_keeps_outputs():
    torch.manual_seed(3)
    net = TinyNet()
    x = torch.randn(2, 9, 32)
    before = net(x)
    summary = strassentile.convert(net, STLConfig(init=Exact("strassen2")))
    assert summary.converted == ["fc1", "fc2"]
    assert summary.skipped == [("head", "smaller than one tile (64->3 for <4,4,4>)")]
    assert isinstance(net.fc1, STLLinear) and isinstance(net.head, nn.Linear)
    assert rel_err(net(x), before) <= 1e-5
    assert "converted 2 layer(s)" in str(summary)


def test_convert_random_with_filter_then_train():
    torch.manual_seed(4)
    net = TinyNet()
    summary = strassentile.convert(net, STLConfig(rank=24, init=Random()), filter_fn=lambda module, fqn: fqn == "fc2")
    assert summary.converted == ["fc2"] and ("fc1", "filtered out") in summary.skipped
    assert summary.stl_params == 24 * 16 * 16 + 2 * 24 * 16
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, target = torch.randn(16, 8, 32), torch.randn(16, 8, 3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_convert_rejects_mismatched_algorithm():
    with pytest.raises(ValueError, match="leave tile and rank out or pass the algorithm's"):
        strassentile.convert(TinyNet(), STLConfig(tile=4, rank=24, init=Exact("strassen2")))


class Mixed(nn.Module):
    """Linear layers inside Sequential and ModuleList, odd sizes, and attention projections."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(20, 36), nn.GELU(), nn.Linear(36, 20))
        self.blocks = nn.ModuleList([nn.Linear(20, 20), nn.Linear(20, 2)])
        self.attn = nn.MultiheadAttention(20, num_heads=2, batch_first=True)
        self.q, self.k, self.v = nn.Linear(20, 20), nn.Linear(20, 20), nn.Linear(20, 20)

    def forward(self, x):
        x = self.seq(x)
        x = x + self.attn(x, x, x, need_weights=False)[0]
        att = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) / 20 ** 0.5, -1) @ self.v(x)
        return self.blocks[1](self.blocks[0](x + att))


def test_convert_mixed_model_exact_and_summary_adds_up():
    torch.manual_seed(6)
    model = Mixed()
    x = torch.randn(3, 9, 20)
    before = model(x)
    summary = strassentile.convert(model, STLConfig(tile=4, rank=49, init=Exact("strassen2")))
    assert sorted(summary.converted) == ["blocks.0", "k", "q", "seq.0", "seq.2", "v"]
    skipped = dict(summary.skipped)
    assert "blocks.1" in skipped and "smaller than one tile" in skipped["blocks.1"]
    assert "out_proj.weight directly" in skipped["attn.out_proj"]
    assert isinstance(model.seq[0], STLLinear) and isinstance(model.blocks[0], STLLinear)
    assert rel_err(model(x), before) <= 1e-5
    layers = [model.get_submodule(n) for n in summary.converted]
    assert summary.stl_params == sum(layer.cost(4)["stl_params"] for layer in layers)
    assert summary.dense_params == sum(l.in_features * l.out_features for l in layers)


def test_from_linear_calibration_lowers_output_error():
    torch.manual_seed(7)
    dense = nn.Linear(64, 48)
    # Structured inputs (low-rank plus noise), as real activations are, not i.i.d. Gaussian.
    basis = torch.randn(8, 64)
    calib = torch.randn(64, 16, 8) @ basis + 0.1 * torch.randn(64, 16, 64)
    held_out = torch.randn(8, 16, 8) @ basis + 0.1 * torch.randn(8, 16, 64)

    def held_out_error(layer):
        with torch.no_grad():
            return ((layer(held_out) - dense(held_out)).norm() / dense(held_out).norm()).item()

    # Data-aware basis: fitted to this layer's tile moments, it beats the data-free fit on new inputs.
    blind = STLLinear.from_linear(dense, None, tile=4, rank=24, init="fit")
    aware = STLLinear.from_linear(dense, None, tile=4, rank=24, init="fit", calibration=calib, steps=50, lr=1e-4)
    assert held_out_error(aware) < 0.95 * held_out_error(blind)
    before, after = aware.calibration_error
    assert after <= before
    # Training the basis and w_hat on the calibration inputs lowers the error a lot, and it generalises.
    layer = STLLinear.from_linear(dense, None, tile=4, rank=24, init="truncate:strassen2", calibration=calib, steps=300,
                                  lr=3e-3, train_basis=True)
    before, after = layer.calibration_error
    assert after < 0.5 * before
    assert held_out_error(layer) < 0.5 * before


def test_convert_with_calibration_reports_per_layer_errors():
    torch.manual_seed(8)
    net = TinyNet()
    calib = torch.randn(32, 8, 32)
    summary = strassentile.convert(net, STLConfig(tile=4, rank=24, init=Fit(calib, steps=100, lr=3e-3)))
    assert summary.converted == ["fc1", "fc2"]
    assert set(summary.calibration_error) == {"fc1", "fc2"}
    for before, after in summary.calibration_error.values():
        assert after <= before
