"""Worker-side recording: cheap appends on the hot path, handed off in batches.

Scripts and the engine ask for a *recorder* once per distinct tag set and keep
it; recording is then a list append or an integer add, with no dictionary work
per request. :meth:`Collector.take` swaps every buffer for an empty one and
returns what was recorded as a :class:`Batch`; the binning (numpy work) happens
elsewhere, off the event loop (:mod:`fleetload.metrics.binning`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetload.metrics.http_timing import RawTimes
from fleetload.metrics.kinds import SeriesKey, Tags


class HttpRecorder:
    """All built-in HTTP metrics for one tag set (scenario, name, method, status...).

    :meth:`Collector.take` swaps ``times`` and ``intended`` for new lists, so
    callers append through the attributes and never keep the lists.

    A request costs two list appends: the response's raw timing tuple
    (:data:`~fleetload.metrics.http_timing.RawTimes`, which also carries
    the byte counts) and its latency origin. The eight trends and the three
    counters are computed from those columns when the samples are binned.
    """

    __slots__ = ("expected", "intended", "tags", "times")

    def __init__(self, tags: Tags, expected: bool = True) -> None:
        self.tags = tags
        self.expected = expected
        self.times: list[RawTimes] = []
        self.intended: list[float] = []

    def record(self, resp: Any, intended: float) -> None:
        """One response (``fleetload.protocols.http.Response``); ``intended`` is
        the latency origin (the iteration's scheduled start)."""
        self.times.append(resp._t)
        self.intended.append(intended)


class IterationRecorder:
    """Per-scenario iteration metrics: one duration per completed iteration
    (that is also the ``iterations`` count), one lag per open-loop start. As
    with :class:`HttpRecorder`, the lists are swapped on :meth:`Collector.take`."""

    __slots__ = ("dropped", "duration", "errors", "interrupted", "lag", "tags")

    def __init__(self, tags: Tags) -> None:
        self.tags = tags
        self.duration: list[float] = []
        self.lag: list[float] = []
        self.dropped = 0
        self.interrupted = 0
        self.errors = 0


@dataclass(slots=True)
class HttpSamples:
    tags: Tags
    expected: bool
    times: list[RawTimes]
    intended: list[float]


@dataclass(slots=True)
class IterationSamples:
    tags: Tags
    duration: list[float]
    lag: list[float]
    dropped: int
    interrupted: int
    errors: int


@dataclass(slots=True)
class Batch:
    """What was recorded between two :meth:`Collector.take` calls."""

    http: list[HttpSamples] = field(default_factory=list)
    iterations: list[IterationSamples] = field(default_factory=list)
    trends: dict[SeriesKey, list[float]] = field(default_factory=dict)
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    rates: dict[SeriesKey, list[int]] = field(default_factory=dict)
    gauges: dict[SeriesKey, float] = field(default_factory=dict)


class Collector:
    """Everything one process records until :meth:`take` hands it over."""

    def __init__(self) -> None:
        self.http: dict[object, HttpRecorder] = {}
        self.iterations: dict[Tags, IterationRecorder] = {}
        self.trends: dict[SeriesKey, list[float]] = {}
        self.counters: dict[SeriesKey, float] = {}
        self.rates: dict[SeriesKey, list[int]] = {}
        self.gauges: dict[SeriesKey, float] = {}

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

    # -- hand-over -------------------------------------------------------------------
    def pending(self) -> int:
        """HTTP responses and iterations recorded since the last :meth:`take`
        (a few additions per recorder: the loop asks before each hand-over)."""
        n = 0
        for rec in self.http.values():
            n += len(rec.times)
        for it in self.iterations.values():
            n += len(it.duration)
        return n

    def take(self) -> Batch:
        """Everything recorded so far, leaving empty buffers behind. Costs a
        few stores per recorder, whatever the sample count: it runs on the
        event loop, the binning of the batch does not."""
        batch = Batch()
        for rec in self.http.values():
            if rec.times:
                batch.http.append(HttpSamples(rec.tags, rec.expected, rec.times, rec.intended))
                rec.times = []
                rec.intended = []
        for it in self.iterations.values():
            if it.duration or it.lag or it.dropped or it.interrupted or it.errors:
                batch.iterations.append(IterationSamples(it.tags, it.duration, it.lag,
                                                         it.dropped, it.interrupted, it.errors))
                it.duration = []
                it.lag = []
                it.dropped = it.interrupted = it.errors = 0
        # Trend buffers may be held by callers (the fleet's recorders keep
        # theirs): copied and emptied in place, never swapped.
        for key, buf in self.trends.items():
            if buf:
                batch.trends[key] = buf[:]
                buf.clear()
        batch.counters, self.counters = self.counters, {}
        batch.rates, self.rates = self.rates, {}
        batch.gauges = dict(self.gauges)  # gauges keep their last value
        return batch
