"""Custom metrics for scripts: Counter, Rate, Trend, Gauge (k6's four kinds).

Declare them at the top of a script; record from iterations. Every sample gets
the running scenario's tags plus any tags given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from fleetload.engine.vu import current_vu
from fleetload.errors import ScriptError
from fleetload.metrics.collector import Collector
from fleetload.metrics.kinds import BUILTIN, Contains, Kind, MetricInfo, SeriesKey, Tags, make_tags

_collector: Collector | None = None
DECLARED: dict[str, MetricInfo] = {}


def bind_collector(collector: Collector | None) -> None:
    """Called by the runner: samples recorded outside a run go nowhere."""
    global _collector
    _collector = collector


def _key(name: str, tags: Mapping[str, str] | None) -> SeriesKey:
    vu = current_vu.get()
    base: Tags = vu.tags if vu is not None else ()
    if not tags:
        return (name, base)
    merged = dict(base)
    merged.update({str(k): str(v) for k, v in tags.items()})
    return (name, make_tags(merged))


class _Metric:
    kind: ClassVar[Kind]

    def __init__(self, name: str, *, contains: Contains = Contains.DEFAULT,
                 description: str = "") -> None:
        if name in BUILTIN:
            raise ScriptError(f"metric name {name!r} is a built-in metric")
        existing = DECLARED.get(name)
        if existing is not None and existing.kind is not self.kind:
            raise ScriptError(f"metric {name!r} declared twice with different kinds")
        self.name = name
        self.info = MetricInfo(name, self.kind, contains, description)
        DECLARED[name] = self.info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Counter(_Metric):
    """A cumulative sum (``count`` and ``rate`` per second in the summary)."""

    kind = Kind.COUNTER

    def add(self, value: float = 1.0, tags: Mapping[str, str] | None = None) -> None:
        if _collector is not None:
            _collector.add_counter(_key(self.name, tags), value)


class Rate(_Metric):
    """The share of non-zero (true) samples."""

    kind = Kind.RATE

    def add(self, ok: bool | float, tags: Mapping[str, str] | None = None) -> None:
        if _collector is not None:
            _collector.add_rate(_key(self.name, tags), bool(ok))


class Gauge(_Metric):
    """The last value set (with min and max)."""

    kind = Kind.GAUGE

    def set(self, value: float, tags: Mapping[str, str] | None = None) -> None:
        if _collector is not None:
            _collector.set_gauge(_key(self.name, tags), float(value))

    add = set


class Trend(_Metric):
    """A distribution (avg, min, med, max, percentiles) kept in an HDR histogram.

    With ``time=True`` (the default) values are milliseconds, as in k6. Values
    keep three decimals and must lie between 0 and 3.6 million.
    """

    kind = Kind.TREND

    def __init__(self, name: str, time: bool = True, description: str = "") -> None:
        super().__init__(name, contains=Contains.TIME if time else Contains.DEFAULT,
                         description=description)

    def add(self, value: float, tags: Mapping[str, str] | None = None) -> None:
        if _collector is not None:
            # Histograms count microseconds; a millisecond (or a unit) is 1000 of them.
            _collector.trend(_key(self.name, tags)).append(float(value) / 1000.0)
