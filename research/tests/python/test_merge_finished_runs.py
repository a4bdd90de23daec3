"""research/scripts/merge_finished_runs.py: one record per variant and seed over a convergence sweep's calls."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from merge_finished_runs import main  # noqa: E402


def part(path, variants, seeds, runs):
    path.write_text(json.dumps({"config": {"variants": variants, "seeds": seeds, "shard": "0/1"}, "runs": runs}))
    return str(path)


def run(variant, seed, finished, acc):
    return {"variant": variant, "seed": seed, "finished": finished, "test_accuracy": acc}


def test_later_calls_add_runs_and_seeds_and_unfinished_runs_are_dropped(tmp_path, capsys):
    first = part(tmp_path / "a.json", ["dense", "stl"], [0], [run("dense", 0, True, 0.9), run("stl", 0, False, 0.1)])
    second = part(tmp_path / "b.json", ["stl", "monarch"], [0, 1],
                  [run("stl", 0, True, 0.91), run("monarch", 1, True, 0.92), run("stl", 1, False, 0.2)])
    dest = tmp_path / "merged.json"
    main(["merge", str(dest), "GPU X", "{test_accuracy:.2f}", first, second, str(tmp_path / "missing.json")])
    doc = json.loads(dest.read_text())
    assert doc["gpu"] == "GPU X"
    assert doc["config"]["variants"] == ["dense", "stl", "monarch"]
    assert doc["config"]["seeds"] == [0, 1]
    assert doc["config"]["shard"] == "merged"
    assert [(r["variant"], r["seed"], r["test_accuracy"]) for r in doc["runs"]] == [
        ("dense", 0, 0.9), ("stl", 0, 0.91), ("monarch", 1, 0.92)]
    out = capsys.readouterr().out
    assert "finished runs: 3 of 6" in out
    assert "  stl seed 0: 0.91" in out
