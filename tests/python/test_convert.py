"""convert's contract: typed config, in-place replacement that keeps the model's structure (shared layers, tied
weights, frozen layers, hooks), layers read through .weight, and a summary that says what it did and warns."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import strassentile
from strassentile import Exact, FromDense, Random, STLConfig, STLLinear


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


class TwoLayers(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_a_bare_linear_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="itself an nn.Linear.*STLLinear.from_linear"):
        strassentile.convert(nn.Linear(16, 16))


def test_a_layer_under_two_names_becomes_one_stl_layer_under_both():
    model = nn.Module()
    model.shared = nn.Linear(16, 16)
    model.alias = model.shared
    summary = strassentile.convert(model, STLConfig(init=Exact("strassen2")))
    assert isinstance(model.shared, STLLinear) and model.alias is model.shared
    assert summary.converted == ["shared", "alias"] and len(summary.layers) == 1
    assert summary.dense_params == 16 * 16  # counted once


def test_tied_weights_are_kept_and_the_layer_skipped_with_the_reason():
    model = nn.Module()
    model.embed = nn.Embedding(16, 32)
    model.head = nn.Linear(32, 16, bias=False)
    model.head.weight = model.embed.weight
    summary = strassentile.convert(model, STLConfig(init=Random()))
    assert isinstance(model.head, nn.Linear) and model.head.weight is model.embed.weight
    assert summary.skipped == [("head", "its weight is tied to embed.weight: converting would untie them")]


def test_frozen_layers_stay_frozen():
    model = TwoLayers()
    model.fc1.requires_grad_(False)
    strassentile.convert(model, STLConfig(init=Random()))
    assert not any(p.requires_grad for p in model.fc1.parameters())
    assert all(p.requires_grad for p in model.fc2.parameters())


def test_forward_hooks_move_to_the_new_layer_and_their_handles_still_work():
    model = TwoLayers()
    calls = []
    handle = model.fc1.register_forward_hook(lambda module, args, out: calls.append(type(module).__name__))
    summary = strassentile.convert(model, STLConfig(init=Random()))
    model(torch.randn(2, 4, 32))
    assert calls == ["STLLinear"]
    assert any(w.startswith("fc1: 1 forward/backward hook(s) moved") for w in summary.warnings)
    handle.remove()
    model(torch.randn(2, 4, 32))
    assert calls == ["STLLinear"]


def test_summary_warns_when_stl_is_bigger_and_costs_more_flops():
    summary = strassentile.convert(TwoLayers(), STLConfig(tile=4, rank=64, init=Random()))
    assert summary.stl_params > summary.dense_params
    assert any("fc1: STL has more parameters" in w for w in summary.warnings)
    assert any("fc2: STL needs more FLOPs per token" in w for w in summary.warnings)
    assert "warning: fc1" in str(summary)


def test_default_init_keeps_the_trained_function():
    torch.manual_seed(0)
    x = torch.randn(8, 16, 64)
    dense = nn.Sequential(nn.Linear(64, 64))
    target = dense(x).detach()
    fresh = nn.Sequential(nn.Linear(64, 64))
    fresh.load_state_dict(dense.state_dict())
    strassentile.convert(dense)  # FromDense(): projection of the trained weights
    strassentile.convert(fresh, STLConfig(init=Random()))
    with torch.no_grad():
        kept, thrown = rel_err(dense(x), target), rel_err(fresh(x), target)
    assert kept < 0.6 * thrown  # r = 24 of 64 keeps what the rank allows of a random weight
    assert dense[0].init == FromDense().basis


def test_from_dense_basis_is_shared_by_the_layers():
    model = TwoLayers()
    strassentile.convert(model, STLConfig(init=FromDense("truncate:strassen2")))
    assert torch.equal(model.fc1.enc_x, model.fc2.enc_x) and torch.equal(model.fc1.dec, model.fc2.dec)
    assert model.fc1.init == "truncate:strassen2"


def test_config_rejects_an_init_string():
    with pytest.raises(TypeError, match=r"FromDense\(\), Fit\(...\), Exact\(name\) or Random\(\)"):
        strassentile.convert(TwoLayers(), STLConfig(init="random"))


def test_a_linear_subclass_with_its_own_forward_is_skipped():
    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    model = nn.Sequential(Scaled(16, 16))
    summary = strassentile.convert(model, STLConfig(init=Random()))
    assert summary.skipped == [("0", "Scaled overrides nn.Linear.forward")]


class ReadsWeight(nn.Module):
    """As some Hugging Face modules do: F.linear on a child's .weight, and its dtype read for a cast."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(24, 16)

    def forward(self, x):
        return F.linear(x.to(self.proj.weight.dtype), self.proj.weight, self.proj.bias)


def test_a_parent_that_reads_weight_runs_stl_through_f_linear():
    torch.manual_seed(1)
    model = ReadsWeight()
    x = torch.randn(2, 8, 24)
    before = model(x).detach()
    strassentile.convert(model, STLConfig(init=Exact("strassen2")))
    out = model(x)
    assert rel_err(out, before) <= 1e-5
    out.sum().backward()
    assert model.proj.w_hat.grad is not None and model.proj.bias.grad is not None
    weight = model.proj.weight
    assert weight.shape == (16, 24) and weight.dtype == torch.float32 and "STLWeight(16, 24" in repr(weight)
    with pytest.raises(NotImplementedError, match="no dense values: only F.linear"):
        weight + 1


@pytest.mark.parametrize("training", [False, True])
def test_transformer_encoder_layer_runs_after_convert(training):
    torch.manual_seed(2)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    layer.train(training)
    x = torch.randn(3, 8, 16)
    with torch.no_grad():
        before = layer(x)
    summary = strassentile.convert(layer, STLConfig(init=Exact("strassen2")))
    assert sorted(summary.converted) == ["linear1", "linear2"]
    assert "out_proj.weight directly" in dict(summary.skipped)["self_attn.out_proj"]
    with torch.no_grad():  # in eval this is where the fused fast path reads linear1.weight
        assert rel_err(layer(x), before) <= 1e-5


def test_stl_linear_reads_like_nn_linear_and_resets_in_place():
    torch.manual_seed(3)
    layer = STLLinear(32, 16, rank=49, init="strassen2")
    assert (layer.in_features, layer.out_features, layer.bias.shape) == (32, 16, (16,))
    params = list(layer.parameters())
    with torch.no_grad():
        for p in params:
            p.fill_(7.0)
    layer.reset_parameters()
    assert [id(p) for p in layer.parameters()] == [id(p) for p in params]
    assert layer.bias.abs().max() <= 32 ** -0.5
    alg = strassentile.algorithms.get("strassen2")
    assert torch.allclose(layer.enc_x.double(), alg.enc_x) and torch.allclose(layer.dec.double(), alg.dec)
    assert not torch.equal(layer.w_hat, torch.full_like(layer.w_hat, 7.0))


# Speed filter: convert(min_speedup=..., tokens=...) converts only the layers the speed model predicts fast enough.
class NarrowWide(nn.Module):
    def __init__(self):
        super().__init__()
        self.narrow, self.wide = nn.Linear(32, 256), nn.Linear(256, 256)

    def forward(self, x):
        return self.wide(torch.relu(self.narrow(x)))


TOKENS = 65536


def test_a_layer_predicted_below_min_speedup_stays_dense_with_the_reason(tmp_path):
    spec_file = tmp_path / "gpu.json"
    strassentile.GpuSpec.h200().save(spec_file)
    gpu = strassentile.GpuSpec.load(spec_file)
    narrow = gpu.speedup(TOKENS, 32, 256, (4, 4, 4), 24, 4, True)
    wide = gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True)
    assert narrow < wide
    threshold = (narrow * wide) ** 0.5
    model = NarrowWide()
    summary = strassentile.convert(model, STLConfig(init=Random()), min_speedup=threshold, tokens=TOKENS,
                                   speed_model=spec_file)
    assert isinstance(model.wide, STLLinear) and type(model.narrow) is nn.Linear
    assert summary.converted == ["wide"]
    assert summary.skipped == [("narrow", f"predicted {narrow:.2f}x < min_speedup {threshold:g} at {TOKENS} tokens "
                                          "(model: NVIDIA H200, training)")]
    assert summary.predicted_speedup == pytest.approx({"narrow": narrow, "wide": wide})
    assert f"converted wide: predicted {wide:.2f}x" in str(summary)


def test_the_prediction_prices_a_frozen_layer_and_the_backward_switches():
    gpu = strassentile.GpuSpec.h200()
    model = NarrowWide()
    model.narrow.requires_grad_(False)  # frozen: its STL form trains no basis either
    summary = strassentile.convert(model, STLConfig(init=Random()), tokens=TOKENS, speed_model=gpu)
    assert not model.narrow.enc_x.requires_grad and model.wide.enc_x.requires_grad
    assert summary.predicted_speedup == pytest.approx({
        "narrow": gpu.speedup(TOKENS, 32, 256, (4, 4, 4), 24, 4, True, learn_basis=False),
        "wide": gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True)})

    def wide_under(switch) -> float:  # the wide layer's prediction with one backward switch on while convert runs
        previous = switch(True)
        try:
            return strassentile.convert(NarrowWide(), STLConfig(init=Random()), tokens=TOKENS,
                                        speed_model=gpu).predicted_speedup["wide"]
        finally:
            switch(previous)

    plain = gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True)
    lean = wide_under(strassentile.set_lean_backward)
    assert lean == pytest.approx(gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True, lean=True)) and lean < plain
    keep_z = wide_under(strassentile.set_keep_z_for_backward)
    assert keep_z == pytest.approx(gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True, keep_z=True))
    # Z kept skips the product that recomputes it; keeping X̂ too skips an encode more.
    assert plain < keep_z < gpu.speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, True, keep=True)


def test_a_frozen_basis_config_freezes_enc_x_and_dec_and_is_priced_without_their_gradients():
    # <2,2,2> r=3 at 16384x4096x4096 on an H100: the learned-basis step is predicted below the frozen one, so a
    # threshold between them converts the layer only when the config freezes the basis.
    gpu = strassentile.GpuSpec.known("NVIDIA H100 80GB HBM3", 132)
    learned = gpu.speedup(16384, 4096, 4096, (2, 2, 2), 3, 2, True)
    frozen = gpu.speedup(16384, 4096, 4096, (2, 2, 2), 3, 2, True, learn_basis=False)
    assert learned < frozen
    threshold = (learned * frozen) ** 0.5

    def converted(train_basis: bool):
        model = nn.ModuleDict({"fc": nn.Linear(4096, 4096, dtype=torch.bfloat16)})
        config = STLConfig(tile=(2, 2, 2), rank=3, init=Random(), train_basis=train_basis)
        summary = strassentile.convert(model, config, min_speedup=threshold, tokens=16384, speed_model=gpu)
        return model, summary

    model, summary = converted(True)
    assert summary.converted == [] and summary.predicted_speedup["fc"] == pytest.approx(learned)
    model, summary = converted(False)
    assert summary.converted == ["fc"] and summary.predicted_speedup["fc"] == pytest.approx(frozen)
    layer = model["fc"]
    assert not layer.enc_x.requires_grad and not layer.dec.requires_grad
    assert layer.w_hat.requires_grad and layer.bias.requires_grad


def test_one_row_tiles_are_priced_as_the_op_runs_them():
    # <1,4,2> r=3 at a narrow layer: the op runs the dense equivalent there (predicted 0.76x nn.Linear's forward on an
    # H100, measured 0.72x, against 0.36x measured on the STL pipeline), so convert prices that: it converts above a
    # 0.7 threshold, which the pipeline's price (0.37x predicted) would not pass.
    gpu = strassentile.GpuSpec.known("NVIDIA H100 80GB HBM3", 132)
    model = nn.ModuleDict({"fc": nn.Linear(384, 1536, dtype=torch.bfloat16)})
    summary = strassentile.convert(model, STLConfig(tile=(1, 4, 2), rank=3, init=Random(), mode="token-local"),
                                   min_speedup=0.7, tokens=65536, training=False, speed_model=gpu)
    assert summary.converted == ["fc"]
    assert 0.7 < summary.predicted_speedup["fc"] < 1.0


def test_train_basis_must_be_a_bool():
    with pytest.raises(TypeError, match="STLConfig.train_basis must be True or False, got 'no'"):
        strassentile.convert(TwoLayers(), STLConfig(init=Random(), train_basis="no"))


def test_the_speed_model_file_can_come_from_the_environment(tmp_path, monkeypatch):
    spec_file = tmp_path / "gpu.json"
    strassentile.GpuSpec.h200().save(spec_file)
    monkeypatch.setenv("STRASSENTILE_SPEED_MODEL", str(spec_file))
    summary = strassentile.convert(NarrowWide(), STLConfig(init=Random()), tokens=TOKENS, training=False)
    assert summary.converted == ["narrow", "wide"]  # tokens alone: predictions, no filter
    assert summary.predicted_speedup["wide"] == pytest.approx(
        strassentile.GpuSpec.h200().speedup(TOKENS, 256, 256, (4, 4, 4), 24, 4, False))


def test_min_speedup_needs_tokens():
    with pytest.raises(ValueError, match="min_speedup needs tokens=<tokens per call>"):
        strassentile.convert(NarrowWide(), min_speedup=1.0, speed_model=strassentile.GpuSpec.h200())
    with pytest.raises(ValueError, match="min_speedup must be a number > 0"):
        strassentile.convert(NarrowWide(), min_speedup=0, tokens=TOKENS, speed_model=strassentile.GpuSpec.h200())
    with pytest.raises(ValueError, match="tokens must be a positive int"):
        strassentile.convert(NarrowWide(), min_speedup=1.0, tokens=0, speed_model=strassentile.GpuSpec.h200())


def test_min_speedup_without_a_gpu_or_a_speed_model_is_refused_with_the_fix(monkeypatch):
    monkeypatch.delenv("STRASSENTILE_SPEED_MODEL", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = NarrowWide()
    with pytest.raises(ValueError, match="min_speedup needs a speed model.*no CUDA device.*speed_model="):
        strassentile.convert(model, min_speedup=1.0, tokens=TOKENS)
    assert type(model.narrow) is nn.Linear and type(model.wide) is nn.Linear


def test_fresh_layers_start_from_the_basis_asked_and_discard_the_dense_weights():
    torch.manual_seed(0)
    model = TwoLayers()
    dense_w, dense_b = model.fc1.weight.detach().clone(), model.fc1.bias.detach().clone()
    summary = strassentile.convert(model, STLConfig(init=Random(basis="truncate:strassen2")))
    assert summary.converted == ["fc1", "fc2"]
    reference = STLLinear(32, 32, rank=24, init="truncate:strassen2")
    for layer in (model.fc1, model.fc2):
        assert layer.init == "truncate:strassen2"
        # The basis is the truncated algorithm's (deterministic).
        assert torch.equal(layer.enc_x, reference.enc_x) and torch.equal(layer.dec, reference.dec)
    # w_hat is drawn fresh at nn.Linear's output scale, not projected from the dense weight.
    x = torch.randn(4096, 32)
    with torch.no_grad():
        fresh, dense = model.fc1(x) - model.fc1.bias, F.linear(x, dense_w)
        assert 0.5 < (fresh.var() / dense.var()).item() < 2
        assert rel_err(model.fc1(x), F.linear(x, dense_w, dense_b)) > 0.5


def test_a_fresh_basis_that_is_no_init_is_refused_before_anything_converts():
    model = TwoLayers()
    with pytest.raises(ValueError, match=r"Random\(basis='strassen2'\).*'truncate:<algorithm>'"):
        strassentile.convert(model, STLConfig(init=Random(basis="strassen2")))
    assert isinstance(model.fc1, nn.Linear) and isinstance(model.fc2, nn.Linear)


def test_min_speedup_converts_a_tile_format_where_it_measured_faster():
    # <4,2,4> r=12, bf16, 16384 tokens on an H200 measured 1.43x nn.Linear's forward at 4096x4096 and 0.66x at
    # 768x3072 (research/results/perf/layer_profile_fold_444_h200_2026-12-05.log, ..._fastsums_768_...): its <4,2>
    # codec kernels must be priced as the CUDA-core kernels they are, not as the generic one.
    model = nn.ModuleDict({"wide": nn.Linear(4096, 4096), "narrow": nn.Linear(768, 3072)}).to(torch.bfloat16)
    summary = strassentile.convert(model, STLConfig(tile=(4, 2, 4), rank=12, init=Random()), min_speedup=1.0,
                                   tokens=16384, training=False, speed_model=strassentile.GpuSpec.h200())
    assert summary.converted == ["wide"]
    assert [name for name, _ in summary.skipped] == ["narrow"]
    assert summary.predicted_speedup["wide"] > 1.0 > summary.predicted_speedup["narrow"]
