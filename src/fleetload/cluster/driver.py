"""The driver side of a cluster run: placement, the start barrier, polling.

1. Connect to Ray, reserve one bundle on each of N nodes with a STRICT_SPREAD
   placement group (all or nothing), start one :class:`NodeAgent` per bundle
   with the script shipped in its ``runtime_env``.
2. Every node spawns its processes; the driver estimates each node's clock
   offset (:mod:`fleetload.cluster.barrier`) and gives it the start instant in
   its own clock.
3. One long-poll loop per node feeds the merged intervals to the run's sink
   (the same aggregator, outputs and thresholds as a local run). A node that
   fails, or answers nothing for the lease, is lost: never restarted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fleetload.cluster import wire
from fleetload.cluster.barrier import ClockOffset, estimate_offset, in_node_clock, start_instant
from fleetload.cluster.connection import RayConnection, current, import_ray
from fleetload.cluster.loss import unsent_iterations
from fleetload.cluster.options import ClusterOptions, ClusterReport, LostNode
from fleetload.cluster.ray_nodes import NodeAgent
from fleetload.engine.plan import Plan
from fleetload.errors import ConfigError, FleetloadError
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.script.recipe import PlanRecipe

# Seconds a poll waits on the node for a new interval.
POLL_WAIT = 0.5
PLACEMENT_TIMEOUT = 30.0
PREPARE_TIMEOUT = 120.0
# Nodes whose clocks are measured at once.
PING_THREADS = 8
# CPUs reserved per node for its actor (its processes run beside it).
NODE_CPUS = 1.0


class _Node:
    def __init__(self, index: int, actor: Any) -> None:
        self.index = index
        self.actor = actor
        self.info: dict[str, Any] = {}
        self.offset = ClockOffset(0.0, 0.0, 0.0)
        self.acked = -1
        self.end = 0.0  # end of its last merged interval, seconds into the run
        self.fresh = time.perf_counter()  # when it last delivered a new interval
        self.done = False
        self.lost: LostNode | None = None


class ClusterRun:
    def __init__(self, plan: Plan, recipe: PlanRecipe, run_id: str, options: ClusterOptions,
                 processes: int, interval: float, setup_data: Any) -> None:
        self.ray = import_ray()
        self.plan = plan
        self.recipe = recipe
        self.run_id = run_id
        self.opts = options
        self.processes = processes
        self.interval = interval
        self.setup_data = setup_data
        self.nodes: list[_Node] = []
        self.report = ClusterReport()
        self.start_at = 0.0
        self._connection: RayConnection | None = None  # opened for this run alone
        self._pg: Any = None

    # -- before the start (blocking: run in a thread) -----------------------------------
    def connect(self) -> int:
        ray, opts = self.ray, self.opts
        shared = current(opts.address, self.recipe.script)
        if shared is not None:  # e.g. a ceiling's steps share one connection
            self.recipe = shared.node_recipe(self.recipe)
        elif not ray.is_initialized():
            conn = RayConnection(opts.address, self.recipe.script)
            conn.open()
            self._connection = conn
            self.recipe = conn.node_recipe(self.recipe)
        eligible = [n for n in ray.nodes()
                    if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= NODE_CPUS]
        count = opts.nodes if opts.nodes is not None else len(eligible)
        if count < 1 or count > len(eligible):
            raise FleetloadError(f"--nodes {count}: the Ray cluster at {opts.address} has "
                                 f"{len(eligible)} alive node(s) with a free CPU")
        total = count * self.processes
        if self.plan.max_workers is not None and total > self.plan.max_workers:
            raise ConfigError(f"{self.plan.source} runs in at most {self.plan.max_workers} "
                              f"worker process(es); {count} nodes x {self.processes} is {total}")
        for sc in self.plan.scenarios:  # e.g. an in-flight cap too small for N*P workers
            for i in range(total):
                sc.executor.split(i, total)
        return count

    def place(self, count: int) -> None:
        ray = self.ray
        from ray.util.placement_group import placement_group, remove_placement_group  # type: ignore[import-not-found, unused-ignore]
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy  # type: ignore[import-not-found, unused-ignore]

        pg = placement_group([{"CPU": NODE_CPUS}] * count, strategy="STRICT_SPREAD")
        try:
            ray.get(pg.ready(), timeout=PLACEMENT_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            remove_placement_group(pg)
            raise FleetloadError(f"could not place one actor on each of {count} nodes "
                                 f"(STRICT_SPREAD) within {PLACEMENT_TIMEOUT:.0f}s: not enough "
                                 "nodes with a free CPU") from None
        self._pg = pg
        remote = ray.remote(NodeAgent)
        for g in range(count):
            skew = self.opts.clock_skew[g] if g < len(self.opts.clock_skew) else 0.0
            strategy = PlacementGroupSchedulingStrategy(placement_group=pg,
                                                        placement_group_bundle_index=g)
            actor = remote.options(num_cpus=NODE_CPUS, max_restarts=0, max_task_retries=0,
                                   scheduling_strategy=strategy).remote(
                self.recipe, self.run_id, g, count, self.processes, self.interval, self.setup_data,
                self.opts.lease, skew)
            self.nodes.append(_Node(g, actor))

    def prepare(self) -> None:
        ray = self.ray
        try:
            infos = ray.get([n.actor.prepare.remote() for n in self.nodes],
                            timeout=PREPARE_TIMEOUT)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FleetloadError):
                raise FleetloadError(str(cause)) from None
            raise FleetloadError(f"a node could not start its workers: {cause or exc}") from None
        except ray.exceptions.GetTimeoutError:
            raise FleetloadError(f"the nodes' workers did not start within "
                                 f"{PREPARE_TIMEOUT:.0f}s") from None
        except ray.exceptions.RayError as exc:
            raise FleetloadError(f"a node was lost while its workers started: "
                                 f"{type(exc).__name__}") from None
        for node, info in zip(self.nodes, infos, strict=True):
            node.info = info

    def synchronize(self, lead: float) -> float:
        """Estimate the offsets, send every node the start; the start on our clock."""
        ray = self.ray
        # A few nodes at a time: the bound stays tight, hundreds of nodes take seconds.
        with ThreadPoolExecutor(max_workers=PING_THREADS) as pool:
            offsets = list(pool.map(lambda n: estimate_offset(self._pinger(n.actor)),
                                    self.nodes))
        for node, offset in zip(self.nodes, offsets, strict=True):
            node.offset = offset
        self.start_at = start_instant(time.perf_counter(), [n.offset for n in self.nodes], lead)
        for node in self.nodes:  # the wait for a first interval counts from the start
            node.fresh = self.start_at
        ray.get([n.actor.start.remote(in_node_clock(self.start_at, n.offset))
                 for n in self.nodes])
        self.report.start_spread = max(n.offset.uncertainty for n in self.nodes)
        self.report.nodes = [dict(n.info, node=n.index,
                                  clock_offset_s=round(n.offset.offset, 6),
                                  clock_uncertainty_s=round(n.offset.uncertainty, 6))
                             for n in self.nodes]
        for n in self.report.nodes:
            n.pop("pid", None)
        return self.start_at

    def _pinger(self, actor: Any) -> Callable[[], float]:
        def ping() -> float:
            return float(self.ray.get(actor.ping.remote()))
        return ping

    # -- during the run ---------------------------------------------------------------
    def stop(self) -> None:
        for n in self.nodes:
            if n.lost is None and not n.done:
                n.actor.stop.remote()

    def abort(self) -> None:
        for n in self.nodes:
            if n.lost is None and not n.done:
                n.actor.abort.remote()

    async def poll(self, node: _Node, sink: Callable[[int, IntervalSnapshot], None],
                   on_exit: Callable[[int], None], on_lost: Callable[[LostNode], None]) -> None:
        ray, lease = self.ray, self.opts.lease
        while True:
            ref = node.actor.poll.remote(node.acked, POLL_WAIT)
            try:
                chunks, done = await asyncio.wait_for(asyncio.wrap_future(ref.future()),
                                                      timeout=lease + POLL_WAIT)
            except TimeoutError:
                self._lose(node, f"no answer for {lease + POLL_WAIT:g}s", on_exit, on_lost)
                return
            except ray.exceptions.RayError as exc:
                self._lose(node, f"{type(exc).__name__}", on_exit, on_lost)
                return
            now = time.perf_counter()
            for k, data in chunks:
                if k <= node.acked:
                    continue
                snap = wire.decode(data)
                node.acked, node.end, node.fresh = k, snap.end, now
                sink(node.index, snap)
            if done:
                node.done = True
                on_exit(node.index)
                return
            if now - node.fresh > lease + self.interval:
                self._lose(node, f"no interval for {now - node.fresh:.1f}s", on_exit, on_lost)
                return

    def _lose(self, node: _Node, reason: str, on_exit: Callable[[int], None],
              on_lost: Callable[[LostNode], None]) -> None:
        P = self.processes
        after = max(node.end, time.perf_counter() - self.start_at) if node.acked < 0 \
            else node.end
        lost = LostNode(node.index, str(node.info.get("id", "")),
                        str(node.info.get("address", "")), reason, node.acked,
                        unsent_iterations(self.plan, node.index * P, P, len(self.nodes) * P,
                                          max(after, 0.0)))
        node.lost = lost
        self.report.lost.append(lost)
        try:  # never restarted; if it is only slow, it stops generating now
            self.ray.kill(node.actor, no_restart=True)
        except Exception:
            pass
        on_exit(node.index)
        on_lost(lost)

    # -- after the run ----------------------------------------------------------------
    def close(self) -> None:
        ray = self.ray
        # Any Ray call without a connection would start a local Ray instance.
        if not ray.is_initialized():
            return
        live = [n for n in self.nodes if n.lost is None]
        try:
            stats = ray.get([n.actor.stats.remote() for n in live], timeout=10)
            for n, s in zip(live, stats, strict=True):
                entry = self.report.nodes[n.index] if n.index < len(self.report.nodes) else None
                if entry is not None:
                    entry["bytes_per_interval"] = round(s["bytes"] / max(s["intervals"], 1.0))
                    entry["plain_bytes_per_interval"] = round(s["plain_bytes"]
                                                              / max(s["intervals"], 1.0))
                    if s["lease_expired"]:
                        entry["lease_expired"] = True
            ray.get([n.actor.shutdown.remote() for n in live], timeout=10)
        except Exception:
            pass
        for n in self.nodes:
            try:
                ray.kill(n.actor, no_restart=True)
            except Exception:
                pass
        if self._pg is not None:
            from ray.util.placement_group import remove_placement_group  # type: ignore[import-not-found, unused-ignore]

            remove_placement_group(self._pg)
        if self._connection is not None:
            self._connection.close()
