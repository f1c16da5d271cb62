"""Server-side observations sampled during a run (``observations.jsonl``).

An observer is anything with a ``source`` name and an async ``sample()``
returning numbers; the run samples every observer once a second on the same
clock as the latency data, one JSON line per source per sample::

    {"t": 12.003, "source": "postgres", "values": {"connections_active": 17, ...}}
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Protocol

OBSERVATIONS = "observations.jsonl"


class Observer(Protocol):
    source: str

    async def sample(self) -> dict[str, float]:
        """Current values; raise to report a failed sample (it is counted, not fatal)."""

    async def close(self) -> None:
        """Release connections."""


class ObservationRecorder:
    def __init__(self, path: Path, observers: list[Observer], *, t0: float,
                 interval: float = 1.0) -> None:
        self.path = path
        self.observers = observers
        self.t0 = t0  # perf_counter at the run's start
        self.interval = interval
        self.failures: dict[str, int] = {}
        self.last_error: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._file = path.open("w", encoding="utf-8")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        k = 0
        while True:
            await asyncio.gather(*(self._one(o) for o in self.observers))
            self._file.flush()
            k += 1
            due = self.t0 + k * self.interval
            await asyncio.sleep(max(due - time.perf_counter(), 0.01))

    async def _one(self, observer: Observer) -> None:
        t = time.perf_counter() - self.t0
        try:
            values = await asyncio.wait_for(observer.sample(), timeout=self.interval * 0.9)
        except Exception as exc:
            self.failures[observer.source] = self.failures.get(observer.source, 0) + 1
            self.last_error[observer.source] = f"{type(exc).__name__}: {exc}"[:200]
            return
        row = {"t": round(t, 3), "source": observer.source, "values": values}
        self._file.write(json.dumps(row, separators=(",", ":")) + "\n")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for o in self.observers:
            try:
                await o.close()
            except Exception:
                pass
        self._file.close()
