"""The GPU that ``convert(min_speedup=...)`` predicts for, and the predicted dense and STL times of a layer on it.

The model itself is the C++ core's (strassentile/cost_model.hpp, ``predict_speed``), reached through
``torch.ops.strassentile.predict_speed``, so that Python and C++ predict the same. A GPU comes from, in order: the
``speed_model`` argument (a GpuSpec, a JSON file written by ``python -m strassentile.benchmark --calibrate OUT.json``
or a CUDA torch.device), the file named by STRASSENTILE_SPEED_MODEL, or the current CUDA device.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import warnings
from typing import Union

import torch

ENV_VAR = "STRASSENTILE_SPEED_MODEL"
_NUMBERS = ("matmul_flops", "matmul_flops_f32", "bandwidth", "launch_seconds", "gemm_half_inner")


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """One GPU as the speed model sees it: ``matmul_flops`` (FLOP/s a large 16-bit GEMM reaches),
    ``matmul_flops_f32`` (the same for float32), ``bandwidth`` (B/s of a device copy), ``launch_seconds`` (per
    kernel) and ``gemm_half_inner`` (the inner dimension at which a GEMM runs at half its peak rate). ``guessed``:
    scaled from another GPU, not known or measured. ``fused_forward``: the GPU runs the forward's products and
    decode as one kernel for bf16, rank <= 3 and tiles with a·c <= 4 where the model prices it faster
    (``set_fused_forward``): on for the H100 and H200, off for the GPUs scaled from the H200 and for files that do
    not say."""

    name: str
    matmul_flops: float
    matmul_flops_f32: float
    bandwidth: float
    launch_seconds: float
    gemm_half_inner: float
    guessed: bool = False
    fused_forward: bool = True

    @classmethod
    def known(cls, name: str, sm_count: int, clock_hz: float = 0.0) -> "GpuSpec":
        """The core's constants for ``name`` (H200, H100), or the H200's scaled by SM count and clock (guessed)."""
        values, full_name, guessed = torch.ops.strassentile.gpu_spec(name, sm_count, clock_hz)
        return cls(full_name, *values[:len(_NUMBERS)], guessed=guessed, fused_forward=bool(values[len(_NUMBERS)]))

    @classmethod
    def h200(cls) -> "GpuSpec":
        return cls.known("NVIDIA H200", 132)

    @classmethod
    def for_device(cls, device: torch.device | str | int | None = None) -> "GpuSpec":
        """The CUDA ``device``'s (default: the current one), with a warning when it is scaled from the H200."""
        props = torch.cuda.get_device_properties(device)
        clock_hz = float(getattr(props, "clock_rate", 0)) * 1e3  # kHz where torch reports it
        spec = cls.known(props.name, props.multi_processor_count, clock_hz)
        if spec.guessed:
            warnings.warn(f"strassentile: no measured speed model for {props.name}; using the H200's scaled by SM "
                          f"count and clock, a guess. Measure this GPU with `python -m strassentile.benchmark --calibrate "
                          f"OUT.json` and pass speed_model=OUT.json (or set {ENV_VAR}=OUT.json)", stacklevel=3)
        return spec

    @classmethod
    def load(cls, path: str | os.PathLike) -> "GpuSpec":
        """A GPU from a JSON file as ``save`` (and ``--calibrate``) write it."""
        try:
            data = json.loads(pathlib.Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"speed model file {str(path)!r}: cannot read it as JSON ({e}); write one with "
                             "`python -m strassentile.benchmark --calibrate OUT.json`") from e
        missing = [key for key in _NUMBERS if not isinstance(data.get(key) if isinstance(data, dict) else None,
                                                             (int, float))]
        if missing:
            raise ValueError(f"speed model file {str(path)!r}: needs the numbers {', '.join(missing)}; write one with "
                             "`python -m strassentile.benchmark --calibrate OUT.json`")
        return cls(str(data.get("name", pathlib.Path(path).stem)), *(float(data[key]) for key in _NUMBERS),
                   guessed=bool(data.get("guessed", False)), fused_forward=bool(data.get("fused_forward", False)))

    def save(self, path: str | os.PathLike) -> None:
        pathlib.Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    def predict(self, tokens: int, in_features: int, out_features: int, tile: tuple[int, int, int], rank: int,
                bytes_per_element: int = 2, training: bool = False, mode: str = "tile", *,
                learn_basis: bool = True, keep: bool = False, lean: bool = False,
                keep_z: bool = False) -> tuple[float, float]:
        """(dense seconds, STL seconds) of one call of an in_features→out_features layer on ``tokens`` rows, in
        STLLinear's ``mode``, as the op runs it (one-row tiles as their dense equivalent where that is faster:
        ``set_dense_equivalent``). Training: the backward with enc_x and dec trained (``learn_basis``), under
        ``set_keep_for_backward(keep)``, ``set_lean_backward(lean)`` and ``set_keep_z_for_backward(keep_z)``."""
        dense, stl = torch.ops.strassentile.predict_speed(tokens, in_features, out_features, list(tile), rank,
                                                          [*(getattr(self, key) for key in _NUMBERS),
                                                           float(self.fused_forward)], bytes_per_element,
                                                          training, mode, learn_basis, keep, lean, keep_z)
        return dense, stl

    def speedup(self, *args, **kwargs) -> float:
        """Predicted dense time / STL time (above 1: STL faster); arguments as ``predict``'s."""
        dense, stl = self.predict(*args, **kwargs)
        return dense / stl


SpeedModel = Union[GpuSpec, str, os.PathLike, torch.device, None]


def resolve(speed_model: SpeedModel, what: str) -> GpuSpec:
    """The GPU to predict for; ``what`` names the argument that asked for it, for the error."""
    if isinstance(speed_model, GpuSpec):
        return speed_model
    if isinstance(speed_model, torch.device):
        if speed_model.type != "cuda":
            raise ValueError(f"convert: speed_model={speed_model} is no CUDA device; pass a CUDA device, a GpuSpec or "
                             "a file written by `python -m strassentile.benchmark --calibrate OUT.json`")
        return GpuSpec.for_device(speed_model)
    if speed_model is not None:
        return GpuSpec.load(speed_model)
    if os.environ.get(ENV_VAR):
        return GpuSpec.load(os.environ[ENV_VAR])
    if torch.cuda.is_available():
        return GpuSpec.for_device()
    raise ValueError(f"convert: {what} needs a speed model of the GPU the model will run on, and this machine has no "
                     "CUDA device. Pass speed_model=OUT.json (written on that GPU by `python -m strassentile.benchmark "
                     f"--calibrate OUT.json`), speed_model=strassentile.GpuSpec.h200(), or a CUDA device, or set "
                     f"{ENV_VAR}=OUT.json")
