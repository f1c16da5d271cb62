"""per-vu-iterations: each VU runs a fixed number of iterations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from fleetload.engine.executors.base import FixedVUsExecutor, positive, register, whole
from fleetload.engine.vu import VU


@register
@dataclass(frozen=True)
class PerVUIterations(FixedVUsExecutor):
    kind = "per-vu-iterations"
    DURATIONS: ClassVar[tuple[str, ...]] = ("max_duration",)

    iterations: int = 1
    max_duration: float | str = 600.0

    def validate(self) -> list[str]:
        return [*super().validate(), *whole(self.iterations, "iterations"),
                *positive(self.max_duration, "max_duration")]

    def scheduled_duration(self) -> float:
        return float(self.max_duration)

    def keep_going(self) -> Callable[[VU], bool]:
        limit = self.iterations
        return lambda vu: vu.iteration < limit

    def describe(self) -> str:
        return f"{self.iterations} iterations for each of {self.vus} VUs"
