"""ramping-arrival-rate: the arrival rate follows linear stages."""

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
from fleetload.engine.executors.stages import normalize_stages
from fleetload.engine.pacing import LinearPacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError


@register
@dataclass(frozen=True)
class RampingArrivalRate(Executor):
    """Iterations per ``time_unit`` go linearly from ``start_rate`` through each
    stage's ``target`` over the stage's ``duration``."""

    kind = "ramping-arrival-rate"
    open_loop = True

    start_rate: float = 0.0
    time_unit: float | str = 1.0
    stages: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    pre_allocated: int = 0
    max_in_flight: int = 0
    derived: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Options validate() filled in because the script left them at 0."""

    def validate(self) -> None:
        object.__setattr__(self, "time_unit", seconds(self.time_unit, "time_unit"))
        positive(float(self.time_unit), "time_unit")
        object.__setattr__(self, "stages", normalize_stages(self.stages, integer_targets=False))
        if self.start_rate < 0:
            raise ConfigError(f"start_rate must be >= 0, got {self.start_rate!r}")
        peak = self.peak_per_second()
        if peak <= 0:
            raise ConfigError("ramping-arrival-rate needs a rate above 0 in some stage")
        derive_caps(self, peak)
        positive(self.max_in_flight, "max_in_flight")

    def pacer(self) -> LinearPacer:
        unit = float(self.time_unit)
        return LinearPacer(self.start_rate / unit, [(d, t / unit) for d, t in self.stages])

    def scheduled_duration(self) -> float:
        return sum(d for d, _ in self.stages)

    def vus_planned(self) -> int:
        return self.max_in_flight

    def peak_per_second(self) -> float:
        return max([self.start_rate, *(t for _, t in self.stages)]) / float(self.time_unit)

    def overridable(self) -> frozenset[str]:
        # No --rate: the rate follows the stages.
        return frozenset({"duration", "max_in_flight"})

    def with_overrides(self, o: ScheduleOverrides) -> RampingArrivalRate:
        changes: dict[str, Any] = {}
        if o.duration is not None:
            # Scale the stages to the new total length, keeping their shape.
            total = self.scheduled_duration()
            factor = o.duration / total if total else 1.0
            changes["stages"] = tuple((d * factor, t) for d, t in self.stages)
        if o.max_in_flight is not None:
            changes.update(cap_changes(self, o.max_in_flight, self.peak_per_second()))
        return replace(self, **changes) if changes else self

    def split(self, index: int, count: int) -> RampingArrivalRate | None:
        return split_arrivals(self, index, count)

    async def run(self, rt: ScenarioRuntime) -> None:
        await run_arrivals(rt, self.pacer(), segment=self.segment,
                           pre_allocated=self.pre_allocated, max_in_flight=self.max_in_flight,
                           vu_id_offset=self.vu_id_offset,
                           graceful_stop=float(self.graceful_stop))

    def describe(self) -> str:
        unit = float(self.time_unit)
        path = " -> ".join(f"{t / unit:g}/s over {d:g}s" for d, t in self.stages)
        return f"from {self.start_rate / unit:g}/s: {path} (max {self.max_in_flight} in flight)"
