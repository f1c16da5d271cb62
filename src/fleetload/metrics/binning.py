"""Turning recorded batches into interval snapshots: the numpy side of metrics.

A :class:`Binner` receives the :class:`~fleetload.metrics.collector.Batch`
objects the event loop hands over several times a second, bins their samples
into HDR bucket indices and sums the counters; :meth:`Binner.snapshot` closes an
interval. It runs on a thread of its own, so no binning pass ever holds up the
schedule for longer than one numpy call.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from fleetload.metrics.collector import Batch, HttpSamples, IterationSamples
from fleetload.metrics.histogram import Pending, bucket_indices
from fleetload.metrics.http_timing import (
    RAW_BLOCKED,
    RAW_BYTES_RECEIVED,
    RAW_BYTES_SENT,
    RAW_FIELDS,
    RAW_FIRST,
    RAW_LAST,
    RAW_SEND,
    RAW_SENT,
    RAW_TLS,
)
from fleetload.metrics.kinds import HTTP_PHASES, SeriesKey
from fleetload.metrics.snapshot import IntervalSnapshot

HTTP_TRENDS = ("http_req_duration", "http_req_latency", *(f"http_req_{p}" for p in HTTP_PHASES))
_ROWS_TIMED = ("http_req_duration", "http_req_latency", "http_req_sending", "http_req_waiting",
               "http_req_receiving")
_PHASES_UNTIMED = ("http_req_blocked", "http_req_connecting", "http_req_tls_handshaking")
_ROWS_ALL = _ROWS_TIMED + _PHASES_UNTIMED
assert set(_ROWS_ALL) == set(HTTP_TRENDS)


def _add(d: dict[SeriesKey, float], key: SeriesKey, v: float) -> None:
    d[key] = d.get(key, 0.0) + v


class Binner:
    """Accumulates one interval: bucket indices per trend series, counters,
    rates and gauges. Not thread-safe: one thread feeds it."""

    def __init__(self) -> None:
        self._trends: dict[SeriesKey, Pending] = {}
        self._counters: dict[SeriesKey, float] = {}
        self._rates: dict[SeriesKey, tuple[int, int]] = {}
        self._gauges: dict[SeriesKey, float] = {}

    def _pending(self, key: SeriesKey) -> Pending:
        p = self._trends.get(key)
        if p is None:
            p = self._trends[key] = Pending()
        return p

    def add(self, batch: Batch) -> None:
        for h in batch.http:
            self._add_http(h)
        for it in batch.iterations:
            self._add_iterations(it)
        for key, buf in batch.trends.items():
            if buf:
                self._pending(key).add_seconds(np.asarray(buf, dtype=np.float64))
        for key, value in batch.counters.items():
            if value:
                _add(self._counters, key, value)
        for key, (passes, total) in batch.rates.items():
            if total:
                self._add_rate(key, passes, total)
        self._gauges.update(batch.gauges)

    def _add_rate(self, key: SeriesKey, passes: int, total: int) -> None:
        p0, t0 = self._rates.get(key, (0, 0))
        self._rates[key] = (p0 + passes, t0 + total)

    def _add_http(self, h: HttpSamples) -> None:
        n = len(h.times)
        if not n:
            return
        tags = h.tags
        # Whole-table numpy operations, one row per trend (contiguous): the
        # per-call overhead of numpy, not the arithmetic, dominates batches of
        # a few thousand samples.
        raw = np.fromiter(chain.from_iterable(h.times), dtype=np.float64,
                          count=n * RAW_FIELDS).reshape(n, RAW_FIELDS)
        last, first, sent, send = (raw[:, RAW_LAST], raw[:, RAW_FIRST], raw[:, RAW_SENT],
                                   raw[:, RAW_SEND])
        # Requests on a kept-alive connection have no blocked, connecting or
        # TLS phase: when none in the batch has, those trends just count zeros.
        phases = raw[:, RAW_BLOCKED:RAW_TLS + 1]
        with_phases = bool(phases.any())
        rows = _ROWS_ALL if with_phases else _ROWS_TIMED
        table = np.empty((len(rows), n), dtype=np.float64)
        np.subtract(last, send, out=table[0])  # duration: first byte out to last byte in
        np.subtract(last, np.asarray(h.intended, dtype=np.float64), out=table[1])  # latency
        np.subtract(sent, send, out=table[2])  # sending
        np.subtract(first, sent, out=table[3])  # waiting
        np.subtract(last, first, out=table[4])  # receiving
        if with_phases:
            table[5:] = phases.T
        us = table * 1e6
        np.maximum(us, 0.0, out=us)
        indices = bucket_indices(np.rint(us))
        totals, lows, highs = us.sum(axis=1), us.min(axis=1), us.max(axis=1)
        for row, name in enumerate(rows):
            self._pending((name, tags)).add_binned_us(
                indices[row], n, float(totals[row]), float(lows[row]), float(highs[row]))
        if not with_phases:
            for name in _PHASES_UNTIMED:
                self._pending((name, tags)).add_zeros(n)
        _add(self._counters, ("http_reqs", tags), n)
        _add(self._counters, ("data_sent", tags), float(raw[:, RAW_BYTES_SENT].sum()))
        _add(self._counters, ("data_received", tags), float(raw[:, RAW_BYTES_RECEIVED].sum()))
        # http_req_failed is a Rate: "passes" are the failed requests, as in k6.
        self._add_rate(("http_req_failed", tags), 0 if h.expected else n, n)

    def _add_iterations(self, it: IterationSamples) -> None:
        tags = it.tags
        if it.duration:
            self._pending(("iteration_duration", tags)).add_seconds(
                np.asarray(it.duration, dtype=np.float64))
        if it.lag:
            self._pending(("iteration_lag", tags)).add_seconds(
                np.asarray(it.lag, dtype=np.float64))
        for name, value in (("iterations", len(it.duration)), ("dropped_iterations", it.dropped),
                            ("interrupted_iterations", it.interrupted),
                            ("iteration_errors", it.errors)):
            if value:
                _add(self._counters, (name, tags), value)

    def snapshot(self, index: int, start: float, end: float) -> IntervalSnapshot:
        """Close the interval: everything added since the last snapshot."""
        snap = IntervalSnapshot(index=index, start=start, end=end,
                                trends={key: p.binned() for key, p in self._trends.items()},
                                counters=self._counters, rates=self._rates,
                                gauges=dict(self._gauges))
        self._trends = {}
        self._counters = {}
        self._rates = {}
        return snap
