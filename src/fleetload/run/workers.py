"""Running a plan's workers: one in this process, a pool of processes
started together at one instant, or such pools on the nodes of a Ray cluster.
Either way every worker's (or node's) interval snapshots reach
``sink(index, snapshot)``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fleetload.cluster.options import ClusterOptions, ClusterReport, LostNode
from fleetload.engine.plan import Plan
from fleetload.engine.processes import WorkerPool
from fleetload.engine.worker import Worker, WorkerSpec
from fleetload.errors import FleetloadError
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.script.recipe import PlanRecipe

# Wall time past the longest planned scenario before a run is cut hard.
SAFETY_MARGIN = 30.0
# Spawned workers get this long between the start instant and their first iteration.
START_DELAY = 0.3
# Cluster nodes get at least this long (plus the clock uncertainty) before the start.
CLUSTER_START_LEAD = 1.0

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


async def run_on_cluster(plan: Plan, recipe: PlanRecipe, run_id: str, options: ClusterOptions,
                         count: int, interval: float, setup_data: Any, sink: Sink,
                         on_exit: Callable[[int], None], controls: Controls,
                         on_start: Callable[[float], None], deadline: float,
                         on_overrun: Callable[[], None], *, on_nodes: Callable[[int], None],
                         on_node_lost: Callable[[str], None]) -> ClusterReport:
    """``count`` processes on each node of a Ray cluster; every node's merged
    interval reaches ``sink(node, snapshot)``. ``on_nodes(n)`` says how many
    nodes run (before any interval); ``on_node_lost(reason)`` asks to stop the
    run when a node is lost and ``--on-node-loss`` is ``abort``."""
    from fleetload.cluster.driver import ClusterRun

    loop = asyncio.get_running_loop()
    run = ClusterRun(plan, recipe, run_id, options, count, interval, setup_data)
    try:
        nodes = run.connect()  # on this thread: Ray's driver wants the main one
        on_nodes(nodes)
        await loop.run_in_executor(None, run.place, nodes)
        await loop.run_in_executor(None, run.prepare)
        controls.stop, controls.abort = run.stop, run.abort
        start_at = await loop.run_in_executor(None, run.synchronize, CLUSTER_START_LEAD)
        on_start(start_at)

        def lost(node: LostNode) -> None:
            if options.on_node_loss == "abort":
                on_node_lost(node.describe())

        tasks = [loop.create_task(run.poll(n, sink, on_exit, lost)) for n in run.nodes]
        _, pending = await asyncio.wait(tasks, timeout=deadline + start_at - time.perf_counter())
        if pending:
            on_overrun()
            _, pending = await asyncio.wait(pending, timeout=15.0)
            for task in pending:
                task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        await loop.run_in_executor(None, run.close)
    return run.report
