"""shared-iterations: VUs share a fixed total of iterations."""

from __future__ import annotations

from dataclasses import dataclass

from fleetload.engine.executors.base import (
    Executor,
    positive,
    register,
    run_vus,
    seconds,
    split_vus,
)
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError


@register
@dataclass(frozen=True)
class SharedIterations(Executor):
    kind = "shared-iterations"

    vus: int = 1
    iterations: int = 1
    max_duration: float | str = 600.0

    def validate(self) -> None:
        object.__setattr__(self, "max_duration", seconds(self.max_duration, "max_duration"))
        positive(self.vus, "vus")
        positive(self.iterations, "iterations")
        positive(float(self.max_duration), "max_duration")
        if self.iterations < self.vus:
            raise ConfigError(f"shared-iterations: iterations ({self.iterations}) must be at "
                              f"least vus ({self.vus})")

    def scheduled_duration(self) -> float:
        return float(self.max_duration)

    def vus_planned(self) -> int:
        return self.vus

    def split(self, index: int, count: int) -> SharedIterations | None:
        # Iterations follow the VUs: cumulative proportional cut, exact in sum.
        lo = self.iterations * offset(self.vus, index, count) // self.vus
        hi = self.iterations * offset(self.vus, index + 1, count) // self.vus
        return split_vus(self, index, count, iterations=hi - lo)

    async def run(self, rt: ScenarioRuntime) -> None:
        end = rt.start + float(self.max_duration)
        remaining = self.iterations

        def keep_going(_: VU) -> bool:
            nonlocal remaining
            if remaining <= 0:
                return False
            remaining -= 1
            return True

        await run_vus(rt, self, self.vus, keep_going, end)

    def describe(self) -> str:
        return f"{self.iterations} iterations shared by {self.vus} VUs"
