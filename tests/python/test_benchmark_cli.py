"""python -m strassentile.benchmark without a GPU: its arguments, its table and its refusal (no timings here)."""
import argparse

import pytest
import torch

from strassentile import benchmark


def test_shapes_blocks_and_tile_parse():
    args = benchmark.parse_args(["--shapes", "64x32x16,8X8x8", "--blocks", "", "--tile", "2,3,4", "--rank", "12"])
    assert args.shapes == [(64, 32, 16), (8, 8, 8)] and args.blocks == []
    assert args.tile == (2, 3, 4) and args.rank == 12
    defaults = benchmark.parse_args([])
    assert defaults.tile == (4, 4, 4) and defaults.shapes[0] == (16384, 4096, 4096) and defaults.blocks == [(8, 2048, 2048)]


@pytest.mark.parametrize("argv, message", [
    (["--shapes", "64x32"], "--shapes: expected 3 positive sizes joined by 'x', got '64x32'"),
    (["--shapes", "64x0x16"], "got '64x0x16'"),
    (["--tile", "2,3"], "--tile: expected A or A,B,C"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert message in capsys.readouterr().err


def test_without_cuda_it_refuses_with_a_clear_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert benchmark.main(["--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_variants_parse_and_bad_ones_are_named(capsys):
    assert benchmark.parse_args(["--variants", "stl, causal,sparse24"]).variants == ["stl", "causal", "sparse24"]
    assert benchmark.parse_args([]).variants == ["stl"]
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--variants", "stl,monarch"])
    assert ("--variants: expected some of stl, stl-frozen, stl-keep, stl-keepz, stl-lean, stl-pipeline, stl-unfused, "
            "stl-fused, stl-mlp, causal, sparse24, got 'stl,monarch'") in capsys.readouterr().err


def test_markdown_table_has_one_row_per_result():
    row = {"variant": "stl", "dense_fwd_ms": 2.0, "stl_fwd_ms": 1.0, "fwd_ratio": 2.0, "dense_step_ms": 6.0,
           "stl_step_ms": 4.0, "step_ratio": 1.5, "dense_peak_mib": 288.0, "stl_peak_mib": 700.4}
    forward_only = {**row, "variant": "sparse24", "stl_step_ms": None, "step_ratio": None, "stl_peak_mib": None}
    report = {"tile": [4, 4, 4], "rank": 24, "dtype": "bfloat16", "device": "GPU", "reps": 30,
              "results": [{"case": "linear", "shape": "M=8 K=8 N=8", **row},
                          {"case": "linear", "shape": "M=8 K=8 N=8", **forward_only},
                          {"case": "block", "shape": "b", "variant": "causal", "error": "no kernel"}]}
    text = benchmark.markdown(report)
    assert "STL: <4,4,4>, r = 24" in text
    assert "| linear | M=8 K=8 N=8 | stl | 2.000 | 1.000 | 2.00 | 6.000 | 4.000 | 1.50 | 288 | 700 |" in text
    assert "| linear | M=8 K=8 N=8 | sparse24 | 2.000 | 1.000 | 2.00 | 6.000 | n/a | n/a | 288 | n/a |" in text
    assert "| block | b | causal | failed: no kernel |" in text


def test_variant_models_on_the_cpu():
    import strassentile
    dense = benchmark.PreNormBlock(16, 2)

    def make(mode):
        stl = benchmark.copy.deepcopy(dense)
        strassentile.convert(stl, strassentile.STLConfig(mode=mode, init=strassentile.Random()))
        return stl

    frozen = benchmark.variant_model("stl-frozen", dense, make)
    layers = [m for m in frozen.modules() if isinstance(m, strassentile.STLLinear)]
    assert len(layers) == 4 and all(not m.enc_x.requires_grad and not m.dec.requires_grad for m in layers)
    assert all(m.w_hat.requires_grad for m in layers)
    causal = benchmark.variant_model("causal", dense, make)
    assert {m.mode for m in causal.modules() if isinstance(m, strassentile.STLLinear)} == {"causal"}
    # stl-mlp: the same converted block with its MLP as one STLMLP, computing what the separate calls compute.
    x = torch.randn(2, 8, 16)
    torch.manual_seed(3)
    plain = benchmark.variant_model("stl", dense, make)
    torch.manual_seed(3)
    fused = benchmark.variant_model("stl-mlp", dense, make)
    assert isinstance(fused.mlp, strassentile.STLMLP) and isinstance(plain.mlp, benchmark.Mlp)
    assert fused.mlp.fc1.w_hat.equal(plain.mlp.fc1.w_hat) and fused.mlp.fc2.dec.equal(plain.mlp.fc2.dec)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), plain(x))
    layer = strassentile.STLLinear(16, 16, init="random")
    with pytest.raises(NotImplementedError, match="a block variant"):
        benchmark.variant_model("stl-mlp", torch.nn.Linear(16, 16), lambda mode: layer)


def test_keep_and_lean_variants_measure_with_their_switch_and_restore_it(monkeypatch):
    import strassentile

    def state():
        keep = strassentile.set_keep_for_backward(False)
        strassentile.set_keep_for_backward(keep)
        lean = strassentile.set_lean_backward(False)
        strassentile.set_lean_backward(lean)
        return keep, lean

    seen = []

    def fake_measure(timer, model, x, grad):
        seen.append(state())
        return {"fwd_ms": 1.0, "step_ms": 2.0, "peak_mib": 3.0}

    monkeypatch.setattr(benchmark, "measure", fake_measure)
    dense = benchmark.PreNormBlock(16, 2)

    def make(mode):
        stl = benchmark.copy.deepcopy(dense)
        strassentile.convert(stl, strassentile.STLConfig(mode=mode, init=strassentile.Random()))
        return stl

    assert state() == (False, False)
    variants = ["stl", "stl-keep", "stl-lean", "stl-frozen"]
    rows = benchmark.compare(None, dense, make, torch.randn(2, 8, 16), variants)
    assert [r["variant"] for r in rows] == variants
    # dense, then each variant
    assert seen == [(False, False), (False, False), (True, False), (False, True), (False, False)]
    assert state() == (False, False)


def test_block_rejects_a_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match="must be a multiple of --heads"):
        benchmark.PreNormBlock(30, 4)


def test_block_converts_every_linear_and_keeps_all_parameters_learnable():
    import copy

    import strassentile
    block = benchmark.PreNormBlock(16, 2)
    stl = copy.deepcopy(block)
    summary = strassentile.convert(stl, strassentile.STLConfig(init=strassentile.Random()))
    assert sorted(summary.converted) == ["mlp.fc1", "mlp.fc2", "out", "qkv"]
    assert all(p.requires_grad for p in stl.parameters())
    assert stl(torch.randn(2, 8, 16)).shape == (2, 8, 16)
