"""Worker-side recording: cheap appends on the hot path, binned once a second.

Scripts and the engine ask for a *recorder* once per distinct tag set and keep
it; recording is then a list append or an integer add, with no dictionary work
per request.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from fleetload.metrics.histogram import Pending, bucket_indices
from fleetload.metrics.kinds import HTTP_PHASES, SeriesKey, Tags
from fleetload.metrics.snapshot import IntervalSnapshot

_HTTP_TRENDS = ("http_req_duration", "http_req_latency",
                *(f"http_req_{p}" for p in HTTP_PHASES))


_TIMING_FIELDS = attrgetter("duration", "finished", "blocked", "connecting", "tls_handshaking",
                            "sending", "waiting", "receiving")


def _pending(acc: dict[SeriesKey, Pending], key: SeriesKey) -> Pending:
    p = acc.get(key)
    if p is None:
        p = acc[key] = Pending()
    return p


def _fold(acc: dict[SeriesKey, Pending], key: SeriesKey, buf: list[float]) -> None:
    if not buf:
        return
    _pending(acc, key).add_seconds(np.asarray(buf, dtype=np.float64))
    buf.clear()


class HttpRecorder:
    """All built-in HTTP metrics for one tag set (scenario, name, method, status...).

    A request costs two appends (its timings and its latency origin); the
    eight trends are read out of the timings when the samples are binned.
    """

    __slots__ = ("expected", "failed", "intended", "received", "reqs", "sent", "tags", "timings")

    def __init__(self, tags: Tags, expected: bool = True) -> None:
        self.tags = tags
        self.expected = expected
        self.timings: list[Any] = []  # fleetload.protocols.http.Timings
        self.intended: list[float] = []
        self.reqs = 0
        self.failed = 0
        self.sent = 0
        self.received = 0

    def record(self, resp: Any, intended: float) -> None:
        """One response (``fleetload.protocols.http.Response``); ``intended`` is
        the latency origin (the iteration's scheduled start)."""
        self.timings.append(resp.timings)
        self.intended.append(intended)
        self.reqs += 1
        self.sent += resp.bytes_sent
        self.received += resp.bytes_received
        if not self.expected:
            self.failed += 1

    def fold(self, acc: dict[SeriesKey, Pending]) -> None:
        """Bin the samples taken so far into ``acc`` and empty the buffers."""
        ts = self.timings
        if not ts:
            return
        # One C-level pass over the timings into an n x 8 table, binned in
        # whole-table numpy operations: the per-call overhead of numpy, not
        # the arithmetic, dominates batches of a few thousand samples.
        n = len(ts)
        table = np.fromiter(chain.from_iterable(map(_TIMING_FIELDS, ts)), dtype=np.float64,
                            count=n * len(_HTTP_TRENDS)).reshape(n, len(_HTTP_TRENDS))
        table[:, 1] -= np.asarray(self.intended, dtype=np.float64)  # latency
        ts.clear()
        self.intended.clear()
        us = table * 1e6
        np.maximum(us, 0.0, out=us)
        indices = bucket_indices(np.rint(us))
        totals, lows, highs = us.sum(axis=0), us.min(axis=0), us.max(axis=0)
        tags = self.tags
        for col, name in enumerate(_HTTP_TRENDS):
            _pending(acc, (name, tags)).add_binned_us(
                indices[:, col].copy(), n, float(totals[col]), float(lows[col]),
                float(highs[col]))

    def drain(self, snap: IntervalSnapshot) -> None:
        """Move the counters (trends were folded already) into ``snap``."""
        if not self.reqs:
            return
        tags = self.tags
        _add(snap.counters, ("http_reqs", tags), self.reqs)
        _add(snap.counters, ("data_sent", tags), self.sent)
        _add(snap.counters, ("data_received", tags), self.received)
        # http_req_failed is a Rate: "passes" are the failed requests, as in k6.
        snap.rates[("http_req_failed", tags)] = (self.failed, self.reqs)
        self.reqs = self.failed = self.sent = self.received = 0


class IterationRecorder:
    """Per-scenario iteration metrics."""

    __slots__ = ("dropped", "duration", "errors", "interrupted", "iterations", "lag", "tags")

    def __init__(self, tags: Tags) -> None:
        self.tags = tags
        self.duration: list[float] = []
        self.lag: list[float] = []
        self.iterations = 0
        self.dropped = 0
        self.interrupted = 0
        self.errors = 0

    def fold(self, acc: dict[SeriesKey, Pending]) -> None:
        _fold(acc, ("iteration_duration", self.tags), self.duration)
        _fold(acc, ("iteration_lag", self.tags), self.lag)

    def drain(self, snap: IntervalSnapshot) -> None:
        tags = self.tags
        for name, value in (("iterations", self.iterations), ("dropped_iterations", self.dropped),
                            ("interrupted_iterations", self.interrupted),
                            ("iteration_errors", self.errors)):
            if value:
                _add(snap.counters, (name, tags), value)
        self.iterations = self.dropped = self.interrupted = self.errors = 0


def _add(d: dict[SeriesKey, float], key: SeriesKey, v: float) -> None:
    d[key] = d.get(key, 0.0) + v


class Collector:
    """Everything one process records; :meth:`drain` empties it into a snapshot."""

    def __init__(self) -> None:
        self.http: dict[object, HttpRecorder] = {}
        self.iterations: dict[Tags, IterationRecorder] = {}
        self.trends: dict[SeriesKey, list[float]] = {}
        self.counters: dict[SeriesKey, float] = {}
        self.rates: dict[SeriesKey, list[int]] = {}
        self.gauges: dict[SeriesKey, float] = {}
        self._acc: dict[SeriesKey, Pending] = {}

    # -- recorders kept by callers ------------------------------------------------
    def http_recorder(self, key: object, tags: Tags, expected: bool = True) -> HttpRecorder:
        rec = self.http.get(key)
        if rec is None:
            rec = self.http[key] = HttpRecorder(tags, expected)
        return rec

    def iteration_recorder(self, tags: Tags) -> IterationRecorder:
        rec = self.iterations.get(tags)
        if rec is None:
            rec = self.iterations[tags] = IterationRecorder(tags)
        return rec

    def trend(self, key: SeriesKey) -> list[float]:
        buf = self.trends.get(key)
        if buf is None:
            buf = self.trends[key] = []
        return buf

    # -- generic recording (custom metrics, checks) -----------------------------------
    def add_counter(self, key: SeriesKey, value: float) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + value

    def add_rate(self, key: SeriesKey, ok: bool) -> None:
        cell = self.rates.get(key)
        if cell is None:
            cell = self.rates[key] = [0, 0]
        cell[0] += ok
        cell[1] += 1

    def set_gauge(self, key: SeriesKey, value: float) -> None:
        self.gauges[key] = value

    def fold(self) -> None:
        """Bin what was recorded since the last fold. Called several times a
        second, so the binning never blocks the event loop for long."""
        acc = self._acc
        for rec in self.http.values():
            rec.fold(acc)
        for it in self.iterations.values():
            it.fold(acc)
        for key, buf in self.trends.items():
            _fold(acc, key, buf)

    def drain(self, index: int, start: float, end: float) -> IntervalSnapshot:
        self.fold()
        snap = IntervalSnapshot(index=index, start=start, end=end,
                                trends={key: p.binned() for key, p in self._acc.items()})
        self._acc = {}
        for rec in self.http.values():
            rec.drain(snap)
        for it in self.iterations.values():
            it.drain(snap)
        for key, value in self.counters.items():
            if value:
                _add(snap.counters, key, value)
        self.counters.clear()
        for key, (passes, total) in self.rates.items():
            if total:
                p0, t0 = snap.rates.get(key, (0, 0))
                snap.rates[key] = (p0 + passes, t0 + total)
        self.rates.clear()
        snap.gauges.update(self.gauges)
        return snap
