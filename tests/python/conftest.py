import os
import pathlib

import pytest

FMM_DIR = os.environ.get("STRASSENTILE_FMM_DIR", str(pathlib.Path(__file__).resolve().parents[2] / "data" / "fmm"))


@pytest.fixture
def fmm_dir():
    path = pathlib.Path(FMM_DIR)
    assert (path / "alphatensor" / "factorizations_r.npz").is_file(), (
        f"exact-algorithm data missing at {path}: the repository vendors it in data/fmm; or set STRASSENTILE_FMM_DIR")
    return str(path)


# Per-dtype relative tolerance (max-abs error / max-abs of a float64 reference) of one STL layer.
TOLERANCE = {"float64": 1e-12, "float32": 2e-6, "float16": 4e-3, "bfloat16": 3e-2}
