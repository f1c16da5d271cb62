"""constant-vus: a fixed number of VUs iterate back to back for a duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fleetload.engine.executors.base import FixedVUsExecutor, positive, register


@register
@dataclass(frozen=True)
class ConstantVUs(FixedVUsExecutor):
    kind = "constant-vus"
    DURATIONS: ClassVar[tuple[str, ...]] = ("duration",)

    duration: float | str = 0.0

    def validate(self) -> list[str]:
        return [*super().validate(), *positive(self.duration, "duration")]

    def scheduled_duration(self) -> float:
        return float(self.duration)

    def describe(self) -> str:
        return f"{self.vus} VUs for {float(self.duration):g}s"
