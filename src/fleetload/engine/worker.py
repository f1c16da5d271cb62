"""Running a plan's scenarios in one process, one event loop.

A worker knows nothing of other workers: it runs its exact share of every
schedule from a common start instant and hands one snapshot per interval to a
sink (the parent's aggregator, directly or through a pipe).

The event loop only records (list appends) and, several times a second, hands
what it recorded to a binning thread; the numpy work, the snapshot and the sink
run on that thread, so the once-a-second work never stalls the schedule.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fleetload.engine.plan import Plan
from fleetload.engine.runtime import ErrorLog, ScenarioRuntime
from fleetload.metrics.binning import Binner
from fleetload.metrics.collector import Batch, Collector
from fleetload.metrics.failure_samples import FailureSamples, ReasonSamples, SampleKey
from fleetload.metrics.scope import WorkerScope, current_scope
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.protocols.http.options import new_client

Sink = Callable[[IntervalSnapshot], None]

# Samples are handed to the binning thread at least ten times per interval,
# and as soon as FOLD_AT are pending (checked every 20 ms): a binning pass
# holds the GIL for each numpy call, and while the thread works the loop gets
# the GIL every _GIL_SWITCH only, so short passes keep the schedule's lag
# short; at low rates the passes stay ten per interval (each has a fixed cost).
FOLDS_PER_INTERVAL = 10
FOLD_CHECKS_PER_INTERVAL = 50
FOLD_AT = 256
# While the binning thread works, the event loop gets the GIL back within this.
_GIL_SWITCH = 0.0001


def _report_failure(future: Future[Any]) -> None:
    # An exception on the binning thread would be lost silently in the future:
    # report it, the run's totals would otherwise be incomplete.
    exc = future.exception()
    if exc is not None:
        print(f"fleetload: internal error while binning metrics: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WorkerSpec:
    run_id: str
    index: int
    count: int
    start_at: float  # perf_counter instant all workers share (CLOCK_MONOTONIC)
    interval: float = 1.0


class Worker:
    def __init__(self, plan: Plan, spec: WorkerSpec, sink: Sink, setup_data: Any = None) -> None:
        self.plan = plan
        self.spec = spec
        self.sink = sink
        self.setup_data = setup_data
        self.collector = Collector()
        self.binner = Binner()
        self._binning: ThreadPoolExecutor | None = None
        self.errors = ErrorLog()
        self.failures = FailureSamples()
        self.runtimes: list[ScenarioRuntime] = []
        self.stopping = asyncio.Event()
        self._index = 0
        self._cpu_mark = (time.perf_counter(), time.process_time())

    async def run(self) -> None:
        spec = self.spec
        client = new_client(self.plan.client)
        # Samples of script code outside a scenario's VUs (fleet agents) go here.
        current_scope.set(WorkerScope(self.collector))
        loop = asyncio.get_running_loop()
        tasks = []
        for sc in self.plan.scenarios:
            executor = sc.executor.split(spec.index, spec.count)
            if executor is None:
                continue
            rt = ScenarioRuntime(name=sc.name, fn=sc.fn, client=client, collector=self.collector,
                                 run_id=spec.run_id, env=self.plan.env, setup_data=self.setup_data,
                                 user_tags=sc.tags, worker_index=spec.index,
                                 worker_count=spec.count, errors=self.errors,
                                 failures=self.failures)
            self.runtimes.append(rt)
            tasks.append(loop.create_task(self._run_scenario(rt, executor)))
        self._binning = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleetload-binning")
        switch = sys.getswitchinterval()
        sys.setswitchinterval(_GIL_SWITCH)
        self._cpu_mark = (time.perf_counter(), time.process_time())
        ticker = loop.create_task(self._tick())
        # What exists now (the loaded code, the plan, the runtimes) lives for
        # the whole run: moved out of the collector's reach, a full collection
        # walks only what the run itself keeps, and stays short enough not to
        # stall the schedule (tens of milliseconds otherwise).
        gc.freeze()
        try:
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            ticker.cancel()
            self._emit(final=True)
            self._binning.shutdown(wait=True)
            sys.setswitchinterval(switch)
            # Several runs may share a process (a ceiling search): what this
            # run left behind must be collectable again.
            gc.unfreeze()
            await client.close()

    async def _run_scenario(self, rt: ScenarioRuntime, executor: Any) -> None:
        start = self.spec.start_at + float(executor.start_time)
        if executor.waits_for_start:
            rt.start = start
            await executor.run(rt)
            return
        delay = start - time.perf_counter()
        if delay > 0:
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                return  # stopped before it started
            except TimeoutError:
                pass
        rt.start = start
        await executor.run(rt)

    def stop(self) -> None:
        """Graceful: no new iterations; running ones get their graceful stop."""
        self.stopping.set()
        for rt in self.runtimes:
            rt.request_stop()

    def abort(self) -> None:
        """Immediate: cancel every running iteration."""
        self.stop()
        for rt in self.runtimes:
            for vu in rt.vus:
                if vu.task is not None and not vu.task.done():
                    vu.task.cancel()

    async def _tick(self) -> None:
        interval = self.spec.interval
        fold_every = interval / FOLDS_PER_INTERVAL
        check_every = interval / FOLD_CHECKS_PER_INTERVAL
        last_fold = time.perf_counter()
        while True:
            due = self.spec.start_at + (self._index + 1) * interval
            now = time.perf_counter()
            if now >= due:
                self._emit(final=False)
                last_fold = now
                continue
            await asyncio.sleep(max(min(due - now, check_every), 0.001))
            now = time.perf_counter()
            if now < due and (now - last_fold >= fold_every
                              or self.collector.pending() >= FOLD_AT):
                self._hand_over(self.binner.add, self.collector.take())
                last_fold = now

    def _hand_over(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._binning is not None
        self._binning.submit(fn, *args).add_done_callback(_report_failure)

    def _emit(self, *, final: bool) -> None:
        """Close an interval: what the loop knows now (live numbers, errors) is
        read here; binning, the snapshot and the sink happen on the thread."""
        spec = self.spec
        start = self._index * spec.interval
        end = (time.perf_counter() - spec.start_at) if final else start + spec.interval
        gauges: dict[Any, float] = {}
        notes: dict[str, float] = {}
        for rt in self.runtimes:
            gauges[("vus", rt.tags)] = float(rt.active)
            gauges[("vus_max", rt.tags)] = float(rt.allocated)
            notes[f"max_behind:{rt.name}"] = rt.behind
            for key, value in rt.status.items():
                prefix = "max_status" if key.startswith("max_") else "status"
                notes[f"{prefix}:{rt.name}:{key}"] = value
        notes["connections"] = float(self._connections())
        # This process's CPU over the interval, as a fraction of one core: the
        # run's validity knows when the generator itself was the limit.
        wall, cpu = time.perf_counter(), time.process_time()
        mark_wall, mark_cpu = self._cpu_mark
        if wall > mark_wall:
            notes["max_cpu"] = (cpu - mark_cpu) / (wall - mark_wall)
        self._cpu_mark = (wall, cpu)
        errors: dict[tuple[str, str], int] = {}
        samples: dict[SampleKey, ReasonSamples] = {}
        if final:
            notes["final"] = 1.0
            errors = self.errors.totals()
            samples = dict(self.failures.by_key)
        self._hand_over(self._close_interval, self.collector.take(), self._index, start,
                        max(end, start), gauges, notes, errors, samples)
        self._index += 1

    def _close_interval(self, batch: Batch, index: int, start: float, end: float,
                        gauges: dict[Any, float], notes: dict[str, float],
                        errors: dict[tuple[str, str], int],
                        samples: dict[SampleKey, ReasonSamples]) -> None:
        """On the binning thread."""
        self.binner.add(batch)
        snap = self.binner.snapshot(index, start, end)
        snap.workers = 1
        snap.gauges.update(gauges)
        snap.notes.update(notes)
        snap.errors = errors
        snap.samples = samples
        self.sink(snap)

    def _connections(self) -> int:
        for rt in self.runtimes:
            return int(rt.client.open_connections)
        return 0
