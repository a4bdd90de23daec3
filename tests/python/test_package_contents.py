"""The installed package is the library only: the experiments live in the research lab (strassentile_lab)."""
import importlib.util

import strassentile


def test_experiments_are_not_part_of_the_package():
    assert importlib.util.find_spec("strassentile.experiments") is None


def test_public_names_resolve():
    missing = [name for name in strassentile.__all__ if not hasattr(strassentile, name)]
    assert missing == []
