"""constant-arrival-rate: a fixed number of iterations per time unit."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetload.engine.executors.arrival import run_arrivals, split_arrivals
from fleetload.engine.executors.base import Executor, positive, register, seconds
from fleetload.engine.pacing import ConstantPacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError


def default_max_in_flight(rate_per_second: float) -> int:
    """One second of arrivals, at least 100: enough for any target answering
    within a second, small enough that an overloaded target shows drops."""
    return max(100, math.ceil(rate_per_second))


@register
@dataclass(frozen=True)
class ConstantArrivalRate(Executor):
    """Start ``rate`` iterations every ``time_unit`` for ``duration``.

    ``max_in_flight`` (k6's maxVUs) caps concurrent iterations; iterations due
    while it is reached are dropped and counted. ``pre_allocated`` VUs are made
    up front (k6's preAllocatedVUs); more are made on demand up to the cap.
    """

    kind = "constant-arrival-rate"
    open_loop = True

    rate: float = 0.0
    time_unit: float | str = 1.0
    duration: float | str = 0.0
    pre_allocated: int = 0
    max_in_flight: int = 0

    def validate(self) -> None:
        object.__setattr__(self, "duration", seconds(self.duration, "duration"))
        object.__setattr__(self, "time_unit", seconds(self.time_unit, "time_unit"))
        positive(float(self.time_unit), "time_unit")
        positive(float(self.duration), "duration")
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float):
            raise ConfigError(f"rate must be a number, got {self.rate!r}")
        positive(self.rate, "rate")
        if not self.max_in_flight:
            object.__setattr__(self, "max_in_flight", default_max_in_flight(self.per_second))
        positive(self.max_in_flight, "max_in_flight")
        if not self.pre_allocated:
            object.__setattr__(self, "pre_allocated", min(self.max_in_flight, 100))

    @property
    def per_second(self) -> float:
        return self.rate / float(self.time_unit)

    def scheduled_duration(self) -> float:
        return float(self.duration)

    def vus_planned(self) -> int:
        return self.max_in_flight

    def split(self, index: int, count: int) -> ConstantArrivalRate | None:
        return split_arrivals(self, index, count)

    async def run(self, rt: ScenarioRuntime) -> None:
        await run_arrivals(rt, ConstantPacer(self.per_second, float(self.duration)),
                           segment=self.segment, pre_allocated=self.pre_allocated,
                           max_in_flight=self.max_in_flight, vu_id_offset=self.vu_id_offset,
                           graceful_stop=float(self.graceful_stop))

    def describe(self) -> str:
        return (f"{self.per_second:g} iterations/s for {float(self.duration):g}s "
                f"(max {self.max_in_flight} in flight)")
