"""The open-loop scheduling loop shared by the arrival-rate executors.

Iterations start when the clock says so, never when a response arrives. When
all ``max_in_flight`` slots are busy at an iteration's due time, the iteration
is dropped and counted in ``dropped_iterations`` (k6's behaviour); it is never
queued to start late, which would hide the overload.
"""

from __future__ import annotations

import asyncio
import time

from fleetload.engine.executors.base import MIN_SLEEP, finish_gracefully
from fleetload.engine.pacing import Pacer
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.vu import VU

# Sleeps longer than this also watch the stop signal, so a slow schedule
# (one iteration a minute) still stops promptly.
_WATCH_STOP_AFTER = 0.05


async def run_arrivals(rt: ScenarioRuntime, pacer: Pacer, *, segment: tuple[int, int],
                       pre_allocated: int, max_in_flight: int, vu_id_offset: int,
                       graceful_stop: float) -> None:
    index, count = segment
    free: list[VU] = []
    all_vus: list[VU] = []
    next_id = vu_id_offset + 1
    for _ in range(min(pre_allocated, max_in_flight)):
        vu = rt.new_vu(next_id)
        next_id += 1
        free.append(vu)
        all_vus.append(vu)

    iterate = rt.iterate
    rec = rt.iter_rec
    bind = rt.bind

    async def one(vu: VU, due: float) -> None:
        bind(vu)
        try:
            await iterate(vu, due, open_loop=True)
        finally:
            free.append(vu)

    loop = asyncio.get_running_loop()
    create_task = loop.create_task
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
        if free:
            vu = free.pop()
        elif len(all_vus) < max_in_flight:
            vu = rt.new_vu(next_id)
            next_id += 1
            all_vus.append(vu)
        else:
            rec.dropped += 1
            n += count
            t = time_of(n)
            continue
        vu.task = create_task(one(vu, due))
        n += count
        t = time_of(n)
    rt.behind = 0.0
    await finish_gracefully(rt, all_vus, graceful_stop)
