"""per-vu-iterations: each VU runs a fixed number of iterations."""

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
from fleetload.engine.vu import VU


@register
@dataclass(frozen=True)
class PerVUIterations(Executor):
    kind = "per-vu-iterations"

    vus: int = 1
    iterations: int = 1
    max_duration: float | str = 600.0

    def validate(self) -> None:
        object.__setattr__(self, "max_duration", seconds(self.max_duration, "max_duration"))
        positive(self.vus, "vus")
        positive(self.iterations, "iterations")
        positive(float(self.max_duration), "max_duration")

    def scheduled_duration(self) -> float:
        return float(self.max_duration)

    def vus_planned(self) -> int:
        return self.vus

    def split(self, index: int, count: int) -> PerVUIterations | None:
        return split_vus(self, index, count)

    async def run(self, rt: ScenarioRuntime) -> None:
        end = rt.start + float(self.max_duration)
        limit = self.iterations

        def keep_going(vu: VU) -> bool:
            return vu.iteration < limit

        await run_vus(rt, self, self.vus, keep_going, end)

    def describe(self) -> str:
        return f"{self.iterations} iterations for each of {self.vus} VUs"
