"""Merging the workers' interval snapshots, in order, into the run's totals."""

from __future__ import annotations

from collections.abc import Callable

from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.failure_samples import ReasonSamples, SampleKey, merge_samples
from fleetload.metrics.snapshot import IntervalSnapshot, merge_snapshots

IntervalObserver = Callable[[IntervalSnapshot, Aggregate], None]


class RunAggregator:
    """Finalizes interval k once every worker has reported k or has finished,
    so each interval's merged snapshot covers all workers exactly once."""

    def __init__(self, workers: int, aggregate: Aggregate) -> None:
        self.aggregate = aggregate
        self._last = [-1] * workers
        self._done = [False] * workers
        self._pending: dict[int, list[IntervalSnapshot]] = {}
        self._next = 0
        self.observers: list[IntervalObserver] = []
        self.errors: dict[tuple[str, str], int] = {}
        self.samples: dict[SampleKey, ReasonSamples] = {}

    def add(self, worker: int, snap: IntervalSnapshot) -> None:
        # Snapshots may arrive out of order (several transports): the newest counts.
        self._last[worker] = max(self._last[worker], snap.index)
        if snap.notes.get("final"):
            self._done[worker] = True
        for key, n in snap.errors.items():
            self.errors[key] = self.errors.get(key, 0) + n
        merge_samples(self.samples, snap.samples)
        self._pending.setdefault(snap.index, []).append(snap)
        self._flush()

    def worker_exited(self, worker: int) -> None:
        """A worker that died without its final snapshot must not stall the run."""
        self._done[worker] = True
        self._flush(force=False)

    def finish(self) -> None:
        self._flush(force=True)

    @property
    def all_done(self) -> bool:
        return all(self._done)

    def _ready(self, k: int) -> bool:
        return all(last >= k or done for last, done in zip(self._last, self._done, strict=True))

    def _flush(self, force: bool = False) -> None:
        while self._pending:
            k = self._next
            if k not in self._pending:
                if force or (self._pending and all(self._done)):
                    self._next = min(self._pending)
                    continue
                return
            if not force and not self._ready(k):
                return
            # All workers' parts of interval k, merged at once (one bincount per series).
            snap = merge_snapshots(self._pending.pop(k))
            self._next = k + 1
            self.aggregate.apply(snap)
            for observer in self.observers:
                observer(snap, self.aggregate)

