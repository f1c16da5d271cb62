"""The node side: one actor per node runs the local worker pool.

The actor holds processes ``g*P .. g*P+P-1`` of the run's ``N*P``, merges their
snapshots of each interval (the same :class:`RunAggregator` a local run uses)
and keeps each merged interval, encoded (:mod:`fleetload.cluster.wire`), until
the driver's next poll acknowledges it. A node whose driver stops polling for
the lease stops generating by itself: load never outlives its controller.

This module imports no Ray: the driver wraps :class:`NodeAgent` with
``ray.remote`` (async actor, one event loop per node).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

from fleetload.cluster import wire
from fleetload.engine.aggregator import RunAggregator
from fleetload.engine.processes import WorkerPool
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.script.recipe import PlanRecipe

# How often the node checks its lease.
_LEASE_CHECK = 0.2


class _Discard(Aggregate):
    """The node only forwards merged intervals: the run's totals are the driver's."""

    def apply(self, snap: IntervalSnapshot) -> None:
        pass


class NodeAgent:
    def __init__(self, recipe: PlanRecipe, run_id: str, node: int, nodes: int, processes: int,
                 interval: float, setup_data: Any, lease: float, clock_skew: float = 0.0) -> None:
        self.recipe = recipe
        self.run_id = run_id
        self.node = node
        self.nodes = nodes
        self.processes = processes
        self.interval = interval
        self.setup_data = setup_data
        self.lease = lease
        # Added to every clock reading this node gives out (tests of the barrier).
        self.skew = clock_skew
        self._merger = RunAggregator(processes, _Discard())
        self._merger.observers.append(self._merged)
        self._ready: dict[int, bytes] = {}
        self._changed = asyncio.Event()
        self._pool: WorkerPool | None = None
        self._done = False
        self._lease_expired = False
        self._last_poll = time.perf_counter()
        self._watch: asyncio.Task[None] | None = None
        self.bytes_sent = 0
        self.plain_bytes = 0  # what the same intervals weigh pickled as is
        self.intervals_sent = 0

    def _clock(self) -> float:
        return time.perf_counter() + self.skew

    async def ping(self) -> float:
        return self._clock()

    async def prepare(self) -> dict[str, Any]:
        """Spawn the processes and wait until every one has built the plan."""
        import ray  # type: ignore[import-not-found, unused-ignore]  # inside a Ray worker

        P = self.processes
        self._pool = WorkerPool(self.recipe, run_id=self.run_id, count=P, interval=self.interval,
                                setup_data=self.setup_data, on_snapshot=self._merger.add,
                                on_exit=self._exited, first=self.node * P,
                                total=self.nodes * P)
        await asyncio.get_running_loop().run_in_executor(None, self._pool.wait_ready)
        address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        return {"id": ray.get_runtime_context().get_node_id(),
                "address": address, "hostname": socket.gethostname(),
                "pid": os.getpid(), "processes": P,
                "workers": [self.node * P + i for i in range(P)]}

    async def start(self, start_at: float) -> float:
        """Start at ``start_at`` on this node's clock; returns how far ahead that was."""
        assert self._pool is not None
        local = start_at - self.skew
        self._last_poll = time.perf_counter()
        self._pool.start(local)
        self._watch = asyncio.get_running_loop().create_task(self._watch_lease())
        return local - time.perf_counter()

    async def poll(self, acked: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]:
        """Merged intervals after ``acked`` (those up to it are dropped), waiting
        up to ``wait`` seconds (and at most half the lease) for one; and whether
        the node has finished.

        The lease is renewed when a poll arrives, not when its answer leaves:
        an answer that cannot reach the driver (a partition) renews nothing.
        """
        self._last_poll = time.perf_counter()
        for k in [k for k in self._ready if k <= acked]:
            del self._ready[k]
        if not self._ready and not self._done:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(wait, self.lease / 2))
            except TimeoutError:
                pass
        # Once done, every merged interval is already in ``_ready``: this answer holds them all.
        return sorted(self._ready.items()), self._done

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.stop()

    async def abort(self) -> None:
        if self._pool is not None:
            self._pool.abort()

    async def stats(self) -> dict[str, float]:
        return {"bytes": float(self.bytes_sent), "plain_bytes": float(self.plain_bytes),
                "intervals": float(self.intervals_sent),
                "lease_expired": float(self._lease_expired)}

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._pool.join, 5.0)

    # -- inside the node -------------------------------------------------------------------
    def _merged(self, snap: IntervalSnapshot, _agg: Aggregate) -> None:
        # "final" is the node's to say (when every process has ended), not one process's.
        snap.notes.pop("final", None)
        data = wire.encode(snap)
        self._ready[snap.index] = data
        self.bytes_sent += len(data)
        self.plain_bytes += wire.plain_size(snap)
        self.intervals_sent += 1
        self._changed.set()

    def _exited(self, i: int) -> None:
        self._merger.worker_exited(i)
        if self._merger.all_done:
            self._merger.finish()
            self._done = True
            self._changed.set()

    async def _watch_lease(self) -> None:
        while not self._done:
            await asyncio.sleep(_LEASE_CHECK)
            if time.perf_counter() - self._last_poll > self.lease and not self._lease_expired:
                self._lease_expired = True
                assert self._pool is not None
                self._pool.abort()
