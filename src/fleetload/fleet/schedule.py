"""One timer heap per worker for a whole fleet.

No task per agent: the heap holds ``(due, seq, local agent index, code)``
entries (numbers only, so the GC untracks them and a heap of 100k ticks costs
no collection time), served by a single loop timer that fires every due entry
in one pass and then sleeps until the next one (at least 1 ms: uvloop timers
have millisecond resolution). ``code`` packs the agent's generation with the
action (low 3 bits), so an entry made stale by a reconnect is skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable

BATCH = 4096
"""Most entries served per timer callback before yielding to the loop."""
EARLY = 0.001
"""Entries due within this much are served in the current pass."""

Entry = tuple[float, int, int, int]
Dispatch = Callable[[float, int, int], None]
"""``dispatch(due, local_index, code)`` for every due entry (index -1: no agent)."""


def code_of(generation: int, action: int) -> int:
    return generation << 3 | action


class TimerHeap:
    def __init__(self, loop: asyncio.AbstractEventLoop, dispatch: Dispatch) -> None:
        self.loop = loop
        self._dispatch = dispatch
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._armed_at = float("inf")
        self.closed = False

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, index: int, code: int) -> None:
        """Schedule an entry, re-arming the timer when it is the earliest."""
        heapq.heappush(self._heap, (due, next(self._seq), index, code))
        if due < self._armed_at:
            self._arm(due)

    def repush(self, due: float, index: int, code: int) -> None:
        """Schedule from inside a dispatch: the timer is re-armed once after the pass."""
        heapq.heappush(self._heap, (due, next(self._seq), index, code))

    def load(self, entries: Iterable[tuple[float, int, int]]) -> None:
        """Many entries at once (a ramp's starts), heapified, then armed."""
        self._heap.extend((due, next(self._seq), i, code) for due, i, code in entries)
        heapq.heapify(self._heap)
        if self._heap:
            self._arm(self._heap[0][0])

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = due
        delay = due - time.perf_counter()
        if delay <= 0:
            self._handle = self.loop.call_soon(self._fire)
        else:
            self._handle = self.loop.call_at(self.loop.time() + max(delay, EARLY), self._fire)

    def _fire(self) -> None:
        """Serve every entry due now (up to :data:`BATCH`), then re-arm once."""
        self._handle = None
        self._armed_at = float("inf")
        if self.closed:
            return
        heap, pop, dispatch = self._heap, heapq.heappop, self._dispatch
        now = time.perf_counter() + EARLY
        n = 0
        while heap and heap[0][0] <= now and n < BATCH:
            due, _, i, code = pop(heap)
            n += 1
            if i >= 0:
                dispatch(due, i, code)
        if heap and not self.closed:
            self._arm(heap[0][0])
