import contextlib
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


def profiled_kernel_names(fn):
    """Runs fn under the CUDA profiler; returns fn's result and the names of the GPU kernels it launched. Fails, never
    skips, when the profiler records no kernel at all: a GPU test that cannot see its kernels checks nothing."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        out = fn()
        torch.cuda.synchronize()
    names = [e.key for e in prof.key_averages()]
    assert names, ("the CUDA profiler recorded no kernel: CUPTI is missing or unusable on this machine (check that "
                   "libcupti from the CUDA toolkit or the nvidia-cuda-cupti wheel is found), so the test cannot tell "
                   "whether the strassentile kernels ran")
    return out, names


@pytest.fixture
def kernel_names():
    return profiled_kernel_names


@pytest.fixture(autouse=True)
def stl_pipeline_unless_a_test_asks():
    """Every test runs the STL pipeline (set_dense_equivalent("never")), so that what a test covers does not depend on
    the GPU's speed model; the dense-equivalent tests set their own policy. Restored afterwards."""
    import strassentile

    previous = strassentile.set_dense_equivalent("never")
    yield
    strassentile.set_dense_equivalent(previous)


@contextlib.contextmanager
def dense_equivalent(policy):
    """set_dense_equivalent(policy) for the block, the previous setting restored after."""
    import strassentile

    previous = strassentile.set_dense_equivalent(policy)
    try:
        yield
    finally:
        strassentile.set_dense_equivalent(previous)
