"""Several worker processes, each with its own event loop.

Workers are spawned (not forked) and rebuild the plan from its recipe, so no
event loop, socket or thread crosses a fork. Each sends "ready", receives the
shared start instant, then streams one snapshot per interval to the parent.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from fleetload.engine.loop import run_async
from fleetload.engine.plan import PlanSource
from fleetload.engine.worker import Worker, WorkerSpec
from fleetload.errors import FleetloadError
from fleetload.metrics.snapshot import IntervalSnapshot

READY = "ready"
_POLL = 0.05


def _worker_main(recipe: PlanSource, run_id: str, index: int, count: int, interval: float,
                 setup_data: Any, conn: Connection, stop: MpEvent, abort: MpEvent) -> None:
    # The parent owns Ctrl-C and tells workers what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        plan = recipe.build()
    except FleetloadError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send((READY, index))
    start_at = conn.recv()
    worker = Worker(plan, WorkerSpec(run_id, index, count, start_at, interval),
                    sink=lambda snap: conn.send(("snap", snap)), setup_data=setup_data)

    async def main() -> str | None:
        task = asyncio.get_running_loop().create_task(worker.run())
        stopped = False
        while not task.done():
            await asyncio.wait({task}, timeout=_POLL)
            # A parent killed outright (a cluster node lost) leaves no one to stop us.
            if abort.is_set() or os.getppid() != parent:
                worker.abort()
            elif stop.is_set() and not stopped:
                stopped = True
                worker.stop()
        try:
            await task
        except FleetloadError as exc:
            # e.g. a preflight inside an executor: the parent reports it, exit 2.
            return str(exc)
        return None

    problem = run_async(main())
    if problem is not None:
        conn.send(("error", problem))
    conn.send(("done", index))
    conn.close()


class WorkerPool:
    def __init__(self, recipe: PlanSource, *, run_id: str, count: int, interval: float,
                 setup_data: Any, on_snapshot: Callable[[int, IntervalSnapshot], None],
                 on_exit: Callable[[int], None], first: int = 0,
                 total: int | None = None) -> None:
        # Processes first..first+count-1 of ``total`` (a cluster node's part of the run).
        total = count if total is None else total
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        self._abort = ctx.Event()
        self._on_snapshot = on_snapshot
        self._on_exit = on_exit
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._exited: set[int] = set()
        self.all_exited = asyncio.Event()
        self.error: str | None = None
        for i in range(count):
            parent, child = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_worker_main, name=f"fleetload-worker-{i}",
                               args=(recipe, run_id, first + i, total, interval, setup_data,
                                     child, self._stop, self._abort), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for i, conn in enumerate(self._conns):
            if not conn.poll(max(deadline - time.monotonic(), 0.0)):
                self.kill()
                raise FleetloadError(f"worker {i} did not start within {timeout:.0f}s")
            try:
                msg = conn.recv()
            except EOFError:
                self.kill()
                raise FleetloadError(f"worker {i} exited while starting") from None
            if msg[0] == "error":
                self.kill()
                raise FleetloadError(msg[1])

    def start(self, start_at: float) -> None:
        loop = asyncio.get_running_loop()
        for i, conn in enumerate(self._conns):
            conn.send(start_at)
            loop.add_reader(conn.fileno(), self._readable, i)
            # The loop's poll handle makes the pipe non-blocking; a snapshot
            # larger than the pipe's buffer is then readable before its tail
            # has arrived. Reads wait for the rest of a message being sent.
            os.set_blocking(conn.fileno(), True)

    def _readable(self, i: int) -> None:
        conn = self._conns[i]
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == "snap":
                    self._on_snapshot(i, payload)
                elif kind == "error":
                    if self.error is None:
                        self.error = payload
                    self.stop()
                elif kind == "done":
                    self._exit(i)
                    return
        except (EOFError, OSError) as exc:
            # Only a worker that died ends its pipe without "done": its share
            # of the run is missing, so the run has no result to give.
            if self.error is None:
                self.error = (f"worker {i} ended before finishing its share of the run "
                              f"({type(exc).__name__}{': ' + str(exc) if str(exc) else ''}); "
                              "its results are missing")
            self.stop()
            self._exit(i)

    def _exit(self, i: int) -> None:
        if i in self._exited:
            return
        self._exited.add(i)
        asyncio.get_running_loop().remove_reader(self._conns[i].fileno())
        self._on_exit(i)
        if len(self._exited) == len(self._conns):
            self.all_exited.set()

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        self._abort.set()

    def join(self, timeout: float = 10.0) -> None:
        for proc in self._procs:
            proc.join(timeout)
        self.kill()

    def kill(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
