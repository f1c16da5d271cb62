"""ramping-arrival-rate: the arrival rate follows linear stages."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from fleetload.engine.executors.arrival import ArrivalRateExecutor
from fleetload.engine.executors.base import ScheduleOverrides, register
from fleetload.engine.executors.stages import normalize_stages
from fleetload.engine.pacing import LinearPacer


@register
@dataclass(frozen=True)
class RampingArrivalRate(ArrivalRateExecutor):
    """Iterations per ``time_unit`` go linearly from ``start_rate`` through each
    stage's ``target`` over the stage's ``duration``."""

    kind = "ramping-arrival-rate"

    start_rate: float = 0.0
    stages: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    def _normalise(self) -> None:
        self._set("stages", normalize_stages(self.stages, integer_targets=False))
        super()._normalise()

    def validate_rates(self) -> list[str]:
        problems = super().validate_rates()
        if isinstance(self.start_rate, bool) or not isinstance(self.start_rate, int | float) \
                or self.start_rate < 0:
            problems.append(f"start_rate must be >= 0, got {self.start_rate!r}")
        elif not problems and self.peak_per_second() <= 0:
            problems.append("ramping-arrival-rate needs a rate above 0 in some stage")
        return problems

    def pacer(self) -> LinearPacer:
        unit = float(self.time_unit)
        return LinearPacer(self.start_rate / unit, [(d, t / unit) for d, t in self.stages])

    def scheduled_duration(self) -> float:
        return sum(d for d, _ in self.stages)

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
            changes.update(self.cap_changes(o.max_in_flight, self.peak_per_second()))
        return replace(self, **changes) if changes else self

    def describe(self) -> str:
        unit = float(self.time_unit)
        path = " -> ".join(f"{t / unit:g}/s over {d:g}s" for d, t in self.stages)
        return f"from {self.start_rate / unit:g}/s: {path} (max {self.max_in_flight} in flight)"
