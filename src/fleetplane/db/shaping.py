"""Load-shaping knobs around a Database (``--db-latency``, ``--unhealthy-after-overload``).

``SlowDatabase`` makes every transaction hold its pooled connection
``latency`` seconds longer (an ``asyncio.sleep`` right after the connection is
checked out, before the transaction's first statement): a remote or slower
database in a repeatable form, so that ``pool size / latency`` transactions per
second is a hard ceiling that binds long before the event loop's CPU does.
On SQLite a write transaction also holds the single-writer lock for that long,
so writes top out at ``1 / latency`` per second whatever the pool size.

``OverloadWatch`` remembers the last moment more than ``threshold`` callers
were waiting for a connection; ``/healthz`` answers 503 while that is the case
and for ``hold_s`` seconds afterwards (a load tool's health-gated cooldown can
be tested against it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fleetplane.db.base import Database, Dialect, PoolStats, Tx


class OverloadWatch:
    def __init__(
        self,
        stats: Callable[[], PoolStats],
        threshold: int,
        hold_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stats = stats
        self.threshold = threshold
        self.hold_s = hold_s
        self._clock = clock
        self.last_overload: float | None = None

    def sample(self) -> PoolStats:
        s = self._stats()
        if s.waiting > self.threshold:
            self.last_overload = self._clock()
        return s

    def unhealthy_for(self) -> tuple[PoolStats, float]:
        """Current pool stats and the seconds left until healthy (0 = healthy now)."""
        s = self.sample()
        if self.last_overload is None:
            return s, 0.0
        return s, max(0.0, self.last_overload + self.hold_s - self._clock())


class SlowDatabase:
    """Wraps a Database: ``latency`` extra seconds per transaction, overload sampling."""

    def __init__(self, inner: Database, latency: float = 0.0, watch: OverloadWatch | None = None) -> None:
        self.inner = inner
        self.latency = max(0.0, latency)
        self.watch = watch
        self.dialect: Dialect = inner.dialect
        self.url = inner.url

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def stats(self) -> PoolStats:
        return self.inner.stats()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        watch = self.watch
        if watch is not None:
            watch.sample()  # the queue this caller is about to join
        try:
            async with self.inner.transaction(write=write) as tx:
                if self.latency:
                    await asyncio.sleep(self.latency)
                yield tx
        finally:
            if watch is not None:
                watch.sample()  # the queue left behind when the connection goes back
