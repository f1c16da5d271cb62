"""The open-loop scheduling loop shared by the arrival-rate executors.

Iterations start when the clock says so, never when a response arrives. When
all ``max_in_flight`` slots are busy at an iteration's due time, the iteration
is dropped and counted in ``dropped_iterations`` (k6's behaviour); it is never
queued to start late, which would hide the overload.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from fleetload.engine.alarm import Alarm
from fleetload.engine.executors.base import Executor, positive
from fleetload.engine.pacing import Pacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError

A = TypeVar("A", bound="ArrivalRateExecutor")

# The alarm is set at least this far ahead: one wake-up starts every
# iteration due by then, which bounds wake-ups to 5,000 a second at any rate.
_COALESCE = 0.0002
_DRAIN_POLL = 0.01


def default_max_in_flight(rate_per_second: float) -> int:
    """One second of arrivals, at least 100: enough for any target answering
    within a second, small enough that an overloaded target shows drops."""
    return max(100, math.ceil(rate_per_second))


@dataclass(frozen=True)
class ArrivalRateExecutor(Executor, ABC):
    """Open loop: iterations start when a :class:`~fleetload.engine.pacing.Pacer`
    says so. ``max_in_flight`` (k6's maxVUs) caps concurrent iterations;
    iterations due while it is reached are dropped and counted.
    ``pre_allocated`` VUs are made up front (k6's preAllocatedVUs); more are
    made on demand up to the cap. Both default to what the peak rate needs."""

    open_loop = True
    waits_for_start = True
    DURATIONS: ClassVar[tuple[str, ...]] = ("time_unit",)

    time_unit: float | str = 1.0
    pre_allocated: int = 0
    max_in_flight: int = 0
    derived: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Options the constructor filled in because the script left them at 0."""

    @abstractmethod
    def pacer(self) -> Pacer:
        """When each iteration is due, in iterations per second."""

    @abstractmethod
    def peak_per_second(self) -> float:
        """The highest rate of the schedule, iterations per second."""

    def scheduled_iterations(self) -> float:
        return self.pacer().total()

    def _normalise(self) -> None:
        """Fill in ``max_in_flight`` and ``pre_allocated`` the script left at 0,
        and remember in ``derived`` that they were derived (an override of the
        rate derives them again; a cap the script gave stays)."""
        peak = self.peak_per_second() if self._rates_valid() else 0.0
        derived = set(self.derived)
        if not self.max_in_flight:
            self._set("max_in_flight", default_max_in_flight(peak))
            derived.add("max_in_flight")
        if not self.pre_allocated:
            self._set("pre_allocated", min(self.max_in_flight, 100))
            derived.add("pre_allocated")
        self._set("derived", frozenset(derived))

    def _rates_valid(self) -> bool:
        return not self.validate_rates()

    def validate_rates(self) -> list[str]:
        """Problems with the rate options (checked before caps are derived)."""
        return positive(self.time_unit, "time_unit")

    def validate(self) -> list[str]:
        return [*self.validate_rates(), *positive(self.max_in_flight, "max_in_flight")]

    def cap_changes(self, max_in_flight: int | None, peak_per_second: float) -> dict[str, Any]:
        """The ``max_in_flight``/``pre_allocated`` changes for an override: the
        given cap (``--max-in-flight``), else a derived cap follows the new peak
        rate; pre-allocated VUs never exceed the cap."""
        derived = self.derived
        if max_in_flight is not None:
            cap = max_in_flight
            derived = derived - {"max_in_flight"}
        elif "max_in_flight" in derived:
            cap = default_max_in_flight(peak_per_second)
        else:
            cap = self.max_in_flight
        pre = min(cap, 100) if "pre_allocated" in derived else min(self.pre_allocated, cap)
        return {"max_in_flight": cap, "pre_allocated": pre, "derived": derived}

    def vus_planned(self) -> int:
        return self.max_in_flight

    def split(self: A, index: int, count: int) -> A:
        """This worker's share: every ``count``-th iteration from ``index`` (set
        by ``segment``), and its part of the in-flight cap."""
        total = self.max_in_flight
        cap = share(total, index, count)
        if cap == 0:
            raise ConfigError(f"max_in_flight ({total}) must be at least the number of workers "
                              f"({count})")
        changes: dict[str, Any] = {"segment": (index, count), "max_in_flight": cap,
                                   "pre_allocated": max(1, share(self.pre_allocated, index, count)),
                                   "vu_id_offset": offset(total, index, count)}
        return replace(self, **changes)

    async def run(self, rt: ScenarioRuntime) -> None:
        await run_arrivals(rt, self.pacer(), segment=self.segment,
                           pre_allocated=self.pre_allocated, max_in_flight=self.max_in_flight,
                           vu_id_offset=self.vu_id_offset,
                           graceful_stop=float(self.graceful_stop))


async def run_arrivals(rt: ScenarioRuntime, pacer: Pacer, *, segment: tuple[int, int],
                       pre_allocated: int, max_in_flight: int, vu_id_offset: int,
                       graceful_stop: float) -> None:
    index, count = segment
    loop = asyncio.get_running_loop()
    create_future = loop.create_future
    rec = rt.iter_rec
    # Each VU is one long-lived task parked on a future: handing it an
    # iteration is a set_result, about half the cost of a task per iteration.
    free: list[VU] = []
    all_vus: list[VU] = []

    def park(vu: VU) -> asyncio.Future[float]:
        fut = vu.wake = create_future()
        free.append(vu)
        return fut

    def new_vu(due: float | None) -> VU:
        vu = rt.new_vu(vu_id_offset + len(all_vus) + 1)
        all_vus.append(vu)
        vu.task = loop.create_task(rt.vu_loop(vu, park=park, first=due))
        return vu

    # Called before the start instant (``waits_for_start``): the pre-allocated
    # VUs are made and parked while nothing is due yet; the alarm below then
    # wakes the loop at the first iteration's due time.
    for _ in range(min(pre_allocated, max_in_flight)):
        new_vu(None)
    await asyncio.sleep(0)  # let the pre-allocated VUs park

    perf = time.perf_counter
    start = rt.start
    time_of = pacer.time_of
    n = index
    t = time_of(n)
    over = create_future()  # the schedule has no further iteration

    def launch_due() -> None:
        """Start every iteration due by now, then set the alarm for the next
        (at least ``_COALESCE`` ahead: at high rates one wake-up starts several)."""
        nonlocal n, t
        if over.done():
            return
        now = perf()
        try:
            if t is not None and start + t <= now:
                rt.behind = now - (start + t)
            while t is not None:
                due = start + t
                if due > now:
                    break
                if free:
                    free.pop().wake.set_result(due)
                elif len(all_vus) < max_in_flight:
                    new_vu(due)
                else:
                    rec.dropped += 1
                n += count
                t = time_of(n)
            if t is None:
                over.set_result(None)
            else:
                alarm.arm(max(start + t, now + _COALESCE))
        except Exception as exc:  # never leave the scheduler waiting forever
            over.set_exception(exc)

    alarm = Alarm(loop, launch_due)
    stopped = loop.create_task(rt.stopping.wait())
    try:
        if t is None:
            over.set_result(None)
        else:
            alarm.arm(start + t)
        await asyncio.wait((over, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        alarm.close()
        stopped.cancel()
        if not over.done():
            over.cancel()
    if over.done() and not over.cancelled():
        over.result()  # a failure while launching, raised here
    rt.behind = 0.0
    await _drain_then_cancel(all_vus, free, graceful_stop)


async def _drain_then_cancel(all_vus: list[VU], free: list[VU], grace: float) -> None:
    """Give running iterations ``grace`` seconds, then cancel every VU task:
    parked ones end quietly, running ones count as interrupted."""
    deadline = time.perf_counter() + grace

    def running() -> bool:
        parked = {id(vu) for vu in free}
        return any(id(vu) not in parked and vu.task is not None and not vu.task.done()
                   for vu in all_vus)

    while running() and time.perf_counter() < deadline:
        await asyncio.sleep(_DRAIN_POLL)
    tasks = [vu.task for vu in all_vus if vu.task is not None and not vu.task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
