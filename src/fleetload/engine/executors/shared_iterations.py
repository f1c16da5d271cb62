"""shared-iterations: VUs share a fixed total of iterations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from fleetload.engine.executors.base import (
    FixedVUsExecutor,
    positive,
    register,
    split_vus,
    whole,
)
from fleetload.engine.split import offset
from fleetload.engine.vu import VU


@register
@dataclass(frozen=True)
class SharedIterations(FixedVUsExecutor):
    kind = "shared-iterations"
    DURATIONS: ClassVar[tuple[str, ...]] = ("max_duration",)

    iterations: int = 1
    max_duration: float | str = 600.0

    def validate(self) -> list[str]:
        problems = [*super().validate(), *whole(self.iterations, "iterations"),
                    *positive(self.max_duration, "max_duration")]
        if not problems and self.iterations < self.vus:
            problems.append(f"shared-iterations: iterations ({self.iterations}) must be at "
                            f"least vus ({self.vus})")
        return problems

    def scheduled_duration(self) -> float:
        return float(self.max_duration)

    def split(self, index: int, count: int) -> SharedIterations | None:
        # Iterations follow the VUs: cumulative proportional cut, exact in sum.
        lo = self.iterations * offset(self.vus, index, count) // self.vus
        hi = self.iterations * offset(self.vus, index + 1, count) // self.vus
        return split_vus(self, index, count, iterations=hi - lo)

    def keep_going(self) -> Callable[[VU], bool]:
        remaining = self.iterations

        def take(_: VU) -> bool:
            nonlocal remaining
            if remaining <= 0:
                return False
            remaining -= 1
            return True

        return take

    def describe(self) -> str:
        return f"{self.iterations} iterations shared by {self.vus} VUs"
