"""constant-vus: a fixed number of VUs iterate back to back for a duration."""

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


@register
@dataclass(frozen=True)
class ConstantVUs(Executor):
    kind = "constant-vus"

    vus: int = 1
    duration: float | str = 0.0

    def validate(self) -> None:
        object.__setattr__(self, "duration", seconds(self.duration, "duration"))
        positive(float(self.duration), "duration")
        positive(self.vus, "vus")

    def scheduled_duration(self) -> float:
        return float(self.duration)

    def vus_planned(self) -> int:
        return self.vus

    def split(self, index: int, count: int) -> ConstantVUs | None:
        return split_vus(self, index, count)

    async def run(self, rt: ScenarioRuntime) -> None:
        await run_vus(rt, self, self.vus, None, rt.start + float(self.duration))

    def describe(self) -> str:
        return f"{self.vus} VUs for {float(self.duration):g}s"
