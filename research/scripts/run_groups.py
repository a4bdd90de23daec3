"""Grouping and summary statistics of a training program's runs (the JSON of `strassentile-lab train vit|lm`), shared
by research/scripts/plot_vit.py and plot_lm.py."""
import math
import statistics
from collections import OrderedDict

# Marker per layer kind (the part of a variant spec before ':').
MARKERS = {"dense": "s", "stl": "o", "sparse24": "^", "lowrank": "D"}


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
