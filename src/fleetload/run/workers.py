"""Running a plan's workers: one in this process, or a pool of processes
started together at one instant. Either way every worker's interval snapshots
reach ``sink(worker_index, snapshot)``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fleetload.engine.processes import WorkerPool
from fleetload.engine.worker import Worker, WorkerSpec
from fleetload.errors import FleetloadError
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.script.loader import Plan
from fleetload.script.recipe import PlanRecipe

# Wall time past the longest planned scenario before a run is cut hard.
SAFETY_MARGIN = 30.0
# Spawned workers get this long between the start instant and their first iteration.
START_DELAY = 0.3

Sink = Callable[[int, IntervalSnapshot], None]


class Controls:
    """How the coordinator stops workers, whichever kind runs."""

    def __init__(self) -> None:
        self.stop: Callable[[], None] | None = None
        self.abort: Callable[[], None] | None = None


async def run_in_process(plan: Plan, run_id: str, interval: float, setup_data: Any, sink: Sink,
                         controls: Controls, on_start: Callable[[float], None],
                         deadline: float, on_overrun: Callable[[], None]) -> None:
    start_at = time.perf_counter() + 0.05
    on_start(start_at)
    # The worker calls the sink on its binning thread: merging, the outputs
    # and thresholds stay off the event loop.
    worker = Worker(plan, WorkerSpec(run_id, 0, 1, start_at, interval),
                    sink=lambda snap: sink(0, snap), setup_data=setup_data)
    controls.stop, controls.abort = worker.stop, worker.abort
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=deadline)
    except TimeoutError:
        on_overrun()
        await task


async def run_in_pool(recipe: PlanRecipe, run_id: str, count: int, interval: float,
                      setup_data: Any, sink: Sink, on_exit: Callable[[int], None],
                      controls: Controls, on_start: Callable[[float], None],
                      deadline: float, on_overrun: Callable[[], None]) -> None:
    pool = WorkerPool(recipe, run_id=run_id, count=count, interval=interval,
                      setup_data=setup_data, on_snapshot=sink, on_exit=on_exit)
    try:
        await asyncio.get_running_loop().run_in_executor(None, pool.wait_ready)
        controls.stop, controls.abort = pool.stop, pool.abort
        start_at = time.perf_counter() + START_DELAY
        on_start(start_at)
        pool.start(start_at)
        try:
            await asyncio.wait_for(pool.all_exited.wait(), timeout=deadline)
        except TimeoutError:
            on_overrun()
            await asyncio.wait_for(pool.all_exited.wait(), timeout=15.0)
    finally:
        pool.join(timeout=5.0)
    if pool.error is not None:
        raise FleetloadError(pool.error)
