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
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from fleetload.engine.executors.base import MIN_SLEEP, Executor
from fleetload.engine.pacing import Pacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError

A = TypeVar("A", bound=Executor)

# Sleeps longer than this also watch the stop signal, so a slow schedule
# (one iteration a minute) still stops promptly.
_WATCH_STOP_AFTER = 0.05
_DRAIN_POLL = 0.01


def default_max_in_flight(rate_per_second: float) -> int:
    """One second of arrivals, at least 100: enough for any target answering
    within a second, small enough that an overloaded target shows drops."""
    return max(100, math.ceil(rate_per_second))


class Capped(Protocol):
    """An arrival-rate executor's in-flight cap and the options derived for it."""

    @property
    def max_in_flight(self) -> int: ...
    @property
    def pre_allocated(self) -> int: ...
    @property
    def derived(self) -> frozenset[str]: ...


def derive_caps(ex: Capped, peak_per_second: float) -> None:
    """In ``validate()``: fill in ``max_in_flight`` and ``pre_allocated`` the
    script left at 0, and remember in ``derived`` that they were derived (an
    override of the rate derives them again; a cap the script gave stays)."""
    derived = set(ex.derived)
    if not ex.max_in_flight:
        object.__setattr__(ex, "max_in_flight", default_max_in_flight(peak_per_second))
        derived.add("max_in_flight")
    if not ex.pre_allocated:
        object.__setattr__(ex, "pre_allocated", min(ex.max_in_flight, 100))
        derived.add("pre_allocated")
    object.__setattr__(ex, "derived", frozenset(derived))


def cap_changes(ex: Capped, max_in_flight: int | None, peak_per_second: float) -> dict[str, Any]:
    """The ``max_in_flight``/``pre_allocated`` changes for an override: the
    given cap (``--max-in-flight``), else a derived cap follows the new peak
    rate; pre-allocated VUs never exceed the cap."""
    derived = ex.derived
    if max_in_flight is not None:
        cap = max_in_flight
        derived = derived - {"max_in_flight"}
    elif "max_in_flight" in derived:
        cap = default_max_in_flight(peak_per_second)
    else:
        cap = ex.max_in_flight
    pre = min(cap, 100) if "pre_allocated" in derived else min(ex.pre_allocated, cap)
    return {"max_in_flight": cap, "pre_allocated": pre, "derived": derived}


def split_arrivals(ex: A, index: int, count: int) -> A:
    """An arrival-rate executor's share: every ``count``-th iteration from
    ``index`` (set by ``segment``), and its part of the in-flight cap."""
    total = int(getattr(ex, "max_in_flight"))  # noqa: B009 - both callers have it
    cap = share(total, index, count)
    if cap == 0:
        raise ConfigError(f"max_in_flight ({total}) must be at least the number of workers "
                          f"({count})")
    pre = int(getattr(ex, "pre_allocated"))  # noqa: B009
    changes: dict[str, Any] = {"segment": (index, count), "max_in_flight": cap,
                               "pre_allocated": max(1, share(pre, index, count)),
                               "vu_id_offset": offset(total, index, count)}
    return replace(ex, **changes)


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

    for _ in range(min(pre_allocated, max_in_flight)):
        new_vu(None)
    await asyncio.sleep(0)  # let the pre-allocated VUs park

    perf = time.perf_counter
    stop = rt.stopping
    start = rt.start
    time_of = pacer.time_of
    n = index
    t = time_of(n)
    while t is not None and not stop.is_set():
        due = start + t
        now = perf()
        if due > now:
            wait = max(due - now, MIN_SLEEP)
            if wait > _WATCH_STOP_AFTER:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(wait)
            continue
        rt.behind = now - due
        # Launch every iteration due by now in one go: timers only have
        # millisecond resolution, so at high rates each wake-up finds dozens.
        while True:
            if free:
                free.pop().wake.set_result(due)
            elif len(all_vus) < max_in_flight:
                new_vu(due)
            else:
                rec.dropped += 1
            n += count
            t = time_of(n)
            if t is None:
                break
            due = start + t
            if due > now:
                break
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
