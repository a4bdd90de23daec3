"""research/scripts/plot_lm.py: the time to dense's loss is measured on the curve's own validation bytes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from plot_lm import loss_time_table, progress_of  # noqa: E402
from run_groups import by_variant  # noqa: E402


def run(variant, seed, curve, final_val_loss, tokens_per_second=1000.0):
    """A run whose curve is on a validation subset and whose final val_loss is on all validation bytes."""
    return {"variant": variant, "seed": seed, "leaks_future": False, "val_loss": final_val_loss,
            "steady_tokens_per_second": tokens_per_second, "tokens_per_second": tokens_per_second,
            "curve": [{"tokens": t, "val_loss": v} for t, v in curve]}


def test_target_is_dense_at_its_last_curve_point_not_the_final_evaluation():
    # The final evaluation (0.80) is on other bytes than the curve and lower than any curve point: a target taken
    # from it would leave dense itself "not reached".
    runs = [run("dense", 0, [(1000, 1.2), (2000, 1.0)], 0.80),
            run("dense", 1, [(1000, 1.3), (2000, 1.0)], 0.81),
            run("stl", 0, [(1000, 1.0), (2000, 0.9)], 0.75, tokens_per_second=500.0),
            run("lowrank", 0, [(1000, 1.4), (2000, 1.1)], 0.90)]
    table = loss_time_table(by_variant(runs), progress_of(), "test")
    assert "1.0000 nats/byte" in table
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| `")}
    assert rows["`dense`"][:3] == ["2 of 2", "2 ± 0", "1.00×"]
    assert rows["`stl`"][:3] == ["1 of 1", "2 ± 0", "1.00×"]  # 1000 tokens at 500 tokens/s
    assert rows["`lowrank`"][:2] == ["0 of 1", "not reached"]


def test_no_dense_curve_gives_no_table():
    assert loss_time_table(by_variant([run("stl", 0, [], 0.9)]), progress_of(), "test") == ""


def run_main(tmp_path, monkeypatch, later_runs=()):
    """plot_lm's whole script on two finished runs (and `later_runs`, in a second results file) and a probe;
    returns the table it wrote."""
    import json

    import plot_lm

    def full(variant, seed, loss, tps):
        r = run(variant, seed, [(1000, loss + 0.5), (2000, loss)], loss, tps)
        r.update({"test_ppl": 2.0 + loss, "val_ppl": 2.0 + loss, "test_bits_per_byte": loss,
                  "linear_flops_per_token": 10.0, "linear_product_flops_per_token": 8.0,
                  "dense_linear_flops_per_token": 20.0, "linear_params": 5, "params": 9, "tokens": 2000,
                  "stopped_early": False, "steps": 2, "step_losses": [2.0, 1.5]})
        return r

    results = tmp_path / "runs.json"
    results.write_text(json.dumps({"config": {"corpus": ["python"]},
                                   "runs": [full("dense", 0, 1.0, 1000.0), full("stl", 0, 1.2, 500.0)]}))
    files = [str(results)]
    if later_runs:
        later = tmp_path / "later.json"
        later.write_text(json.dumps({"runs": [full(*spec) for spec in later_runs]}))
        files.append(str(later))
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"runs": [{"variant": "dense", "steady_tokens_per_second": 2000.0},
                                          {"variant": "stl", "steady_tokens_per_second": 1000.0}]}))
    table = tmp_path / "table.md"
    monkeypatch.setattr("sys.argv", ["plot_lm.py", *files, str(tmp_path), "--markdown", str(table),
                                     "--throughput", str(probe)])
    plot_lm.main()
    return table.read_text()


def stub_plots(monkeypatch):
    """The tables need no matplotlib (the lab's CI venv has none): the plots are stubbed out."""
    import plot_lm
    for plot in ("plot_curves", "plot_time", "plot_ppl"):
        monkeypatch.setattr(plot_lm, plot, lambda *args, **kwargs: None)


def test_main_writes_the_table(tmp_path, monkeypatch):
    stub_plots(monkeypatch)
    text = run_main(tmp_path, monkeypatch)
    assert "training tokens/s, alone" in text and "| 2,000 |" in text and "| 1,000 |" in text
    assert "| `stl` | 0 of 1 | not reached |" in text


def test_main_reads_seeds_from_several_files_the_later_winning(tmp_path, monkeypatch):
    stub_plots(monkeypatch)
    # A second call's file: stl seed 1, and stl seed 0 again (which replaces the first file's).
    text = run_main(tmp_path, monkeypatch, later_runs=[("stl", 1, 1.4, 500.0), ("stl", 0, 1.0, 500.0)])
    stl = next(line for line in text.splitlines() if line.startswith("| `stl` | 0,1"))
    assert "3.2000 ± 0.2828" in stl  # test ppl 2 + loss over seeds 0 (1.0, the later file's) and 1 (1.4)


def test_main_writes_the_plots(tmp_path, monkeypatch):
    import pytest
    pytest.importorskip("matplotlib")  # research/requirements.txt (make hf-env)
    run_main(tmp_path, monkeypatch)
    for name in ("lm_loss_curves.png", "lm_loss_vs_time.png", "lm_ppl_vs_flops.png"):
        assert (tmp_path / name).stat().st_size > 0
