"""Running a plan's scenarios in one process, one event loop.

A worker knows nothing of other workers: it runs its exact share of every
schedule from a common start instant and hands one snapshot per interval to a
sink (the parent's aggregator, directly or through a pipe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetload.engine.runtime import ErrorLog, ScenarioRuntime
from fleetload.metrics.collector import Collector
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.protocols.http import HttpClient
from fleetload.script import metrics as script_metrics
from fleetload.script.loader import Plan
from fleetload.script.options import ClientOptions

Sink = Callable[[IntervalSnapshot], None]

# Samples are binned ten times per interval: each pass stays short, so the
# binning never stalls the schedule (at 50k req/s a once-a-second pass took
# tens of milliseconds).
FOLDS_PER_INTERVAL = 10


def make_client(opts: ClientOptions) -> HttpClient:
    return HttpClient(base_url=opts.target, headers=dict(opts.headers), bearer_token=opts.token,
                      insecure=opts.insecure, ca_file=opts.ca_file,
                      connect_timeout=opts.connect_timeout, read_timeout=opts.read_timeout,
                      total_timeout=opts.timeout,
                      max_connections_per_origin=opts.max_connections_per_origin,
                      keep_alive=opts.keep_alive)


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
        self.errors = ErrorLog()
        self.runtimes: list[ScenarioRuntime] = []
        self.stopping = asyncio.Event()
        self._index = 0

    async def run(self) -> None:
        spec = self.spec
        client = make_client(self.plan.client)
        script_metrics.bind_collector(self.collector)
        loop = asyncio.get_running_loop()
        tasks = []
        for sc in self.plan.scenarios:
            executor = sc.executor.split(spec.index, spec.count)
            if executor is None:
                continue
            rt = ScenarioRuntime(name=sc.name, fn=sc.fn, client=client, collector=self.collector,
                                 run_id=spec.run_id, env=self.plan.env, setup_data=self.setup_data,
                                 user_tags=sc.tags, worker_index=spec.index,
                                 worker_count=spec.count, errors=self.errors)
            self.runtimes.append(rt)
            tasks.append(loop.create_task(self._run_scenario(rt, executor)))
        ticker = loop.create_task(self._tick())
        try:
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            ticker.cancel()
            self._emit(final=True)
            await client.close()
            script_metrics.bind_collector(None)

    async def _run_scenario(self, rt: ScenarioRuntime, executor: Any) -> None:
        start = self.spec.start_at + float(executor.start_time)
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
            rt.stopping.set()

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
        while True:
            due = self.spec.start_at + (self._index + 1) * interval
            now = time.perf_counter()
            if now >= due:
                self._emit(final=False)
                continue
            await asyncio.sleep(max(min(due - now, fold_every), 0.001))
            if time.perf_counter() < due:
                self.collector.fold()

    def _emit(self, *, final: bool) -> None:
        spec = self.spec
        start = self._index * spec.interval
        end = (time.perf_counter() - spec.start_at) if final else start + spec.interval
        snap = self.collector.drain(self._index, start, max(end, start))
        snap.workers = 1
        for rt in self.runtimes:
            snap.gauges[("vus", rt.tags)] = float(rt.active)
            snap.gauges[("vus_max", rt.tags)] = float(rt.allocated)
            snap.notes[f"max_behind:{rt.name}"] = rt.behind
            for key, value in rt.status.items():
                prefix = "max_status" if key.startswith("max_") else "status"
                snap.notes[f"{prefix}:{rt.name}:{key}"] = value
        snap.notes["connections"] = float(self._connections())
        if final:
            snap.notes["final"] = 1.0
            snap.errors = dict(self.errors.counts)
            if self.errors.overflow:
                snap.errors["(further distinct errors not listed)"] = self.errors.overflow
        self._index += 1
        self.sink(snap)

    def _connections(self) -> int:
        for rt in self.runtimes:
            return int(rt.client.open_connections)
        return 0
