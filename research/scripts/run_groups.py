"""Grouping and summary statistics of a training program's runs (the JSON of `strassentile-lab train vit|lm`), shared
by research/scripts/plot_vit.py, plot_lm.py and merge_finished_runs.py."""
import json
import math
import statistics
from collections import OrderedDict

# Marker per layer kind (the part of a variant spec before ':').
MARKERS = {"dense": "s", "stl": "o", "sparse24": "^", "lowrank": "D"}


def latest_runs(docs, keep=lambda run: True):
    """{(variant, seed): run} over several result documents (a sweep split over calls or machines), the later
    document's run where two have one; only the runs `keep` accepts."""
    runs = {}
    for doc in docs:
        for r in doc["runs"]:
            if keep(r):
                runs[(r["variant"], r["seed"])] = r
    return runs


def load_runs(paths):
    """(the first file's document, the runs of all files: one per variant and seed, the later file's)."""
    docs = []
    for path in paths:
        with open(path) as f:
            docs.append(json.load(f))
    return docs[0], list(latest_runs(docs).values())


def mean_progress(runs, progress):
    """The runs' progress points (progress(run) -> [(seconds, value)]) averaged over the runs, point by point, as far
    as the shortest goes: (seconds, values); empty where a run has none. A missing value (None) counts as NaN."""
    points = [progress(r) for r in runs]
    n = min((len(p) for p in points), default=0)
    xs = [statistics.fmean(p[c][0] for p in points) for c in range(n)]
    ys = [statistics.fmean(float("nan") if p[c][1] is None else p[c][1] for p in points) for c in range(n)]
    return xs, ys


def finish(fig, ax, path, xlabel, ylabel, title, legend_loc="best"):
    """Labels, grid and legend of a one-panel matplotlib figure, saved to path and closed."""
    import matplotlib.pyplot as plt
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc=legend_loc)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def by_variant(runs):
    """Runs grouped by variant, in the order the variants first appear."""
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r["variant"], []).append(r)
    return groups


def mean_std(values):
    """(mean, sample std) of the finite values; (nan, nan) when there are none, std 0 for one value."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


# ---- Time to a target: how long each variant trains before its validation metric reaches dense's ----

def first_reaching(points, target, higher_is_better=True):
    """The first x of the (x, value) points (x ascending) whose value reaches `target`; None if none does."""
    for x, value in points:
        if value is not None and not math.isnan(value) and (value >= target if higher_is_better else value <= target):
            return x
    return None


def time_to_target(groups, progress, target, higher_is_better=True):
    """Per variant: {"variant", "timed" (any run has points), "reached" (runs that reach target), "runs", "seconds"
    (mean, std) over the runs that reach it, "best" (mean, std) of each run's best value}. progress(run) gives its
    (seconds, value) points."""
    rows = []
    for variant, runs in groups.items():
        points = [progress(r) for r in runs]
        times = [first_reaching(p, target, higher_is_better) for p in points]
        reached = [t for t in times if t is not None]
        pick = max if higher_is_better else min
        best = [pick(v for _, v in p if v is not None) for p in points if any(v is not None for _, v in p)]
        rows.append({"variant": variant, "timed": any(points), "runs": len(runs), "reached": len(reached),
                     "seconds": mean_std(reached), "best": mean_std(best)})
    return rows


def time_table(groups, progress, target, higher_is_better, caption, value_header, value, untimed,
               name=lambda variant, runs: f"`{variant}`"):
    """Markdown: `caption`, then per variant the runs reaching `target`, their seconds (mean ± std) and ÷ dense's,
    and each run's best value (`value` formats one number); `untimed` stands where a variant has no points."""
    rows = time_to_target(groups, progress, target, higher_is_better)
    dense_s = next((r["seconds"][0] for r in rows if r["variant"] == "dense"), float("nan"))
    out = [caption, "", f"| variant | runs reaching it | seconds | ÷ dense's | {value_header} |", "|---|---|---|---|---|"]
    for r in rows:
        label = name(r["variant"], groups[r["variant"]])
        if not r["timed"]:
            out.append(f"| {label} | — | {untimed} | — | — |")
            continue
        sec, best = r["seconds"], r["best"]
        timing = f"{sec[0]:.0f} ± {sec[1]:.0f} | {sec[0] / dense_s:.2f}×" if r["reached"] else "not reached | —"
        out.append(f"| {label} | {r['reached']} of {r['runs']} | {timing} | {value(best[0])} ± {value(best[1])} |")
    return "\n".join(out) + "\n"
