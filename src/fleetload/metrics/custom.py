"""Custom metrics: Counter, Rate, Trend, Gauge (k6's four kinds).

Declare them at the top of a script; record from iterations. Every sample gets
the running scenario's tags plus any tags given. Declarations go to the script
load that is in progress (:func:`declaring`), so two scripts loaded in one
process (a ceiling search, tests) never see each other's metrics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar

from fleetload.errors import ScriptError
from fleetload.metrics.kinds import BUILTIN, Contains, Kind, MetricInfo, SeriesKey, Tags, make_tags
from fleetload.metrics.scope import current_scope

_declaring: ContextVar[dict[str, MetricInfo] | None] = ContextVar("fleetload_declaring",
                                                                  default=None)
DECLARED_OUTSIDE: dict[str, MetricInfo] = {}
"""Metrics made outside a script load (tools, tests): kept apart from any load."""


@contextmanager
def declaring() -> Iterator[dict[str, MetricInfo]]:
    """Collect the metrics declared inside the ``with`` block (a script's import)."""
    declared: dict[str, MetricInfo] = {}
    token = _declaring.set(declared)
    try:
        yield declared
    finally:
        _declaring.reset(token)


def _registry() -> dict[str, MetricInfo]:
    d = _declaring.get()
    return d if d is not None else DECLARED_OUTSIDE


def _key(name: str, base: Tags, tags: Mapping[str, str] | None) -> SeriesKey:
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
        registry = _registry()
        existing = registry.get(name)
        if existing is not None and existing.kind is not self.kind:
            raise ScriptError(f"metric {name!r} declared twice with different kinds")
        self.name = name
        self.info = MetricInfo(name, self.kind, contains, description)
        registry[name] = self.info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Counter(_Metric):
    """A cumulative sum (``count`` and ``rate`` per second in the summary)."""

    kind = Kind.COUNTER

    def add(self, value: float = 1.0, tags: Mapping[str, str] | None = None) -> None:
        scope = current_scope.get()
        if scope is not None:
            scope.collector.add_counter(_key(self.name, scope.tags, tags), value)


class Rate(_Metric):
    """The share of non-zero (true) samples."""

    kind = Kind.RATE

    def add(self, ok: bool | float, tags: Mapping[str, str] | None = None) -> None:
        scope = current_scope.get()
        if scope is not None:
            scope.collector.add_rate(_key(self.name, scope.tags, tags), bool(ok))


class Gauge(_Metric):
    """The last value set (with min and max)."""

    kind = Kind.GAUGE

    def set(self, value: float, tags: Mapping[str, str] | None = None) -> None:
        scope = current_scope.get()
        if scope is not None:
            scope.collector.set_gauge(_key(self.name, scope.tags, tags), float(value))

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
        scope = current_scope.get()
        if scope is not None:
            # Histograms count microseconds; a millisecond (or a unit) is 1000 of them.
            scope.collector.trend(_key(self.name, scope.tags, tags)).append(float(value) / 1000.0)


__all__ = ["Counter", "Gauge", "Rate", "Trend", "declaring"]
