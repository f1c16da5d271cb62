"""constant-arrival-rate: a fixed number of iterations per time unit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from fleetload.engine.executors.arrival import ArrivalRateExecutor
from fleetload.engine.executors.base import ScheduleOverrides, positive, register
from fleetload.engine.pacing import ConstantPacer


@register
@dataclass(frozen=True)
class ConstantArrivalRate(ArrivalRateExecutor):
    """Start ``rate`` iterations every ``time_unit`` for ``duration``."""

    kind = "constant-arrival-rate"
    DURATIONS: ClassVar[tuple[str, ...]] = ("time_unit", "duration")

    rate: float = 0.0
    duration: float | str = 0.0

    def validate_rates(self) -> list[str]:
        return [*super().validate_rates(), *positive(self.duration, "duration"),
                *positive(self.rate, "rate")]

    @property
    def per_second(self) -> float:
        return self.rate / float(self.time_unit)

    def peak_per_second(self) -> float:
        return self.per_second

    def rate_per_second(self) -> float:
        return self.per_second

    def pacer(self) -> ConstantPacer:
        return ConstantPacer(self.per_second, float(self.duration))

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
            changes.update(self.cap_changes(o.max_in_flight, per_second))
        return replace(ex, **changes) if changes else ex

    def scheduled_duration(self) -> float:
        return float(self.duration)

    def describe(self) -> str:
        return (f"{self.per_second:g} iterations/s for {float(self.duration):g}s "
                f"(max {self.max_in_flight} in flight)")
