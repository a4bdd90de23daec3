"""What ``convert`` did: one entry per nn.Linear it met, and the warnings a user should read."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class LayerReport:
    """One nn.Linear of the model. ``names``: every name it is registered under (a layer shared by two parents is
    one entry). Converted layers carry their costs (forward, per token, encode/decode included; biases excluded);
    skipped ones the ``reason``."""

    names: list[str]
    converted: bool
    reason: str = ""
    dense_params: float = 0.0
    stl_params: float = 0.0
    dense_flops_per_token: float = 0.0
    stl_flops_per_token: float = 0.0
    # Fit only: relative output error on the calibration inputs, (before, after fitting).
    calibration_error: tuple[float, float] | None = None
    # With convert(tokens=...): the speed model's dense time / STL time at those tokens (above 1: STL faster).
    predicted_speedup: float | None = None

    @property
    def name(self) -> str:
        return self.names[0]


@dataclasses.dataclass
class ConvertSummary:
    layers: list[LayerReport] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def converted(self) -> list[str]:
        return [name for layer in self.layers if layer.converted for name in layer.names]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(name, layer.reason) for layer in self.layers if not layer.converted for name in layer.names]

    @property
    def predicted_speedup(self) -> dict[str, float]:
        return {layer.name: layer.predicted_speedup for layer in self.layers if layer.predicted_speedup is not None}

    @property
    def calibration_error(self) -> dict[str, tuple[float, float]]:
        return {layer.name: layer.calibration_error for layer in self.layers if layer.calibration_error is not None}

    def _total(self, field: str) -> float:
        return sum(getattr(layer, field) for layer in self.layers if layer.converted)

    dense_params = property(lambda self: self._total("dense_params"))
    stl_params = property(lambda self: self._total("stl_params"))
    dense_flops_per_token = property(lambda self: self._total("dense_flops_per_token"))
    stl_flops_per_token = property(lambda self: self._total("stl_flops_per_token"))

    def __str__(self) -> str:
        converted = sum(layer.converted for layer in self.layers)
        text = f"converted {converted} layer(s), skipped {len(self.layers) - converted}"
        if converted:
            text += (f"; parameters {self.dense_params:.0f} -> {self.stl_params:.0f} "
                     f"({self.stl_params / self.dense_params:.2f}x); FLOPs/token {self.dense_flops_per_token:.0f} -> "
                     f"{self.stl_flops_per_token:.0f} ({self.dense_flops_per_token / self.stl_flops_per_token:.2f}x fewer)")
        text += "".join(f"\n  converted {layer.name}: predicted {layer.predicted_speedup:.2f}x" for layer in self.layers
                        if layer.converted and layer.predicted_speedup is not None)
        text += "".join(f"\n  skipped {name}: {why}" for name, why in self.skipped)
        return text + "".join(f"\n  warning: {w}" for w in self.warnings)
