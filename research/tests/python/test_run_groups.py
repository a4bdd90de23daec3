"""research/scripts/run_groups.py: the time-to-target figures of the convergence experiments."""
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from run_groups import by_variant, first_reaching, time_to_target  # noqa: E402


def test_first_reaching_takes_the_first_point_at_or_past_the_target():
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.65), (4.0, 0.9)]
    assert first_reaching(points, 0.7) == 2.0
    assert first_reaching(points, 0.8) == 4.0
    assert first_reaching(points, 0.95) is None
    assert first_reaching([(1.0, None), (2.0, float("nan")), (3.0, 0.9)], 0.5) == 3.0


def test_first_reaching_a_loss_counts_downwards():
    points = [(10.0, 3.0), (20.0, 2.0), (30.0, 1.5)]
    assert first_reaching(points, 2.0, higher_is_better=False) == 20.0
    assert first_reaching(points, 1.0, higher_is_better=False) is None


def test_time_to_target_averages_the_runs_that_reach_it_and_reports_each_runs_best():
    runs = [
        {"variant": "dense", "curve": [(1.0, 0.6), (2.0, 0.8)]},
        {"variant": "dense", "curve": [(1.5, 0.8), (3.0, 0.85)]},
        {"variant": "stl", "curve": [(1.0, 0.7), (2.0, 0.75)]},
    ]
    rows = {r["variant"]: r for r in time_to_target(by_variant(runs), lambda run: run["curve"], 0.8)}
    assert rows["dense"]["runs"] == 2 and rows["dense"]["reached"] == 2
    assert math.isclose(rows["dense"]["seconds"][0], 1.75)
    assert math.isclose(rows["dense"]["best"][0], 0.825)
    assert rows["stl"]["reached"] == 0 and math.isnan(rows["stl"]["seconds"][0])
    assert math.isclose(rows["stl"]["best"][0], 0.75)


def test_vit_progress_reads_each_epochs_running_total_of_training_seconds():
    from plot_vit import progress_of

    doc = {"config": {"train_images": 1000}}
    run = {"variant": "dense", "epochs": [{"epoch": 1, "train_seconds": 2.0, "val_accuracy": 0.5},
                                          {"epoch": 2, "train_seconds": 4.5, "val_accuracy": 0.6}]}
    assert progress_of(doc)(run) == [(2.0, 0.5), (4.5, 0.6)]
    # With a throughput probe, seconds are epochs × images ÷ the variant's images/s alone.
    assert progress_of(doc, {"dense": 500.0})(run) == [(2.0, 0.5), (4.0, 0.6)]
    assert progress_of(doc, {"stl": 500.0})(run) == []


def test_results_split_over_files_read_as_one_with_the_later_file_winning(tmp_path):
    import json

    from run_groups import load_runs

    first = {"config": {"train_images": 1}, "runs": [{"variant": "dense", "seed": 0, "test_accuracy": 0.90},
                                                     {"variant": "stl", "seed": 0, "test_accuracy": 0.91}]}
    later = {"config": {"train_images": 2}, "runs": [{"variant": "stl", "seed": 0, "test_accuracy": 0.92},
                                                     {"variant": "stl", "seed": 1, "test_accuracy": 0.93}]}
    paths = []
    for name, doc in (("a.json", first), ("b.json", later)):
        (tmp_path / name).write_text(json.dumps(doc))
        paths.append(str(tmp_path / name))
    doc, runs = load_runs(paths)
    assert doc["config"]["train_images"] == 1
    assert sorted((r["variant"], r["seed"], r["test_accuracy"]) for r in runs) == [
        ("dense", 0, 0.90), ("stl", 0, 0.92), ("stl", 1, 0.93)]


def test_vit_variant_selection_keeps_the_named_variants_in_order_and_names_a_missing_one():
    import pytest

    from plot_vit import select

    groups = {"dense": [1], "stl:rank=24,init=random": [2], "stl:rank=24,init=fit": [3]}
    assert list(select(groups, "stl:rank=24,init=fit; dense")) == ["stl:rank=24,init=fit", "dense"]
    assert select(groups, "") is groups
    with pytest.raises(SystemExit, match="init=poly"):
        select(groups, "dense;stl:rank=24,init=poly")
