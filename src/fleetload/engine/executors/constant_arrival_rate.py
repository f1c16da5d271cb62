"""constant-arrival-rate: a fixed number of iterations per time unit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from fleetload.engine.executors.arrival import (
    cap_changes,
    derive_caps,
    run_arrivals,
    split_arrivals,
)
from fleetload.engine.executors.base import (
    Executor,
    ScheduleOverrides,
    positive,
    register,
    seconds,
)
from fleetload.engine.pacing import ConstantPacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError


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
    derived: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Options validate() filled in because the script left them at 0."""

    def validate(self) -> None:
        object.__setattr__(self, "duration", seconds(self.duration, "duration"))
        object.__setattr__(self, "time_unit", seconds(self.time_unit, "time_unit"))
        positive(float(self.time_unit), "time_unit")
        positive(float(self.duration), "duration")
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float):
            raise ConfigError(f"rate must be a number, got {self.rate!r}")
        positive(self.rate, "rate")
        derive_caps(self, self.per_second)
        positive(self.max_in_flight, "max_in_flight")

    @property
    def per_second(self) -> float:
        return self.rate / float(self.time_unit)

    def rate_per_second(self) -> float:
        return self.per_second

    def overridable(self) -> frozenset[str]:
        return frozenset({"duration", "rate", "max_in_flight"})

    def with_overrides(self, o: ScheduleOverrides) -> ConstantArrivalRate:
        """``rate`` is iterations per second: it replaces the script's rate and
        sets ``time_unit`` to 1 s, so 5,000 per 30 s overridden with 100 is
        100 iterations/s, not 100 per 30 s."""
        ex = super().with_overrides(o)
        changes: dict[str, Any] = {}
        if o.rate is not None:
            changes.update(rate=o.rate, time_unit=1.0)
        if o.rate is not None or o.max_in_flight is not None:
            per_second = o.rate if o.rate is not None else self.per_second
            changes.update(cap_changes(self, o.max_in_flight, per_second))
        return replace(ex, **changes) if changes else ex

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
