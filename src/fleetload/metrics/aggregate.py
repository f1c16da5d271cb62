"""Parent-side totals of a run, queried by metric selectors.

Values for trends are reported in milliseconds (k6's unit); histograms hold
microseconds internally.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from fleetload.metrics.histogram import Histogram
from fleetload.metrics.kinds import BUILTIN, Contains, Kind, MetricInfo, SeriesKey, Tags
from fleetload.metrics.snapshot import IntervalSnapshot

V = TypeVar("V")

TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")


@dataclass(slots=True)
class GaugeStat:
    value: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")

    def set(self, v: float) -> None:
        self.value = v
        self.min = min(self.min, v)
        self.max = max(self.max, v)


@dataclass
class Aggregate:
    """Cumulative per-series state of a whole run."""

    trends: dict[SeriesKey, Histogram] = field(default_factory=dict)
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    rates: dict[SeriesKey, list[int]] = field(default_factory=dict)
    gauges: dict[SeriesKey, GaugeStat] = field(default_factory=dict)
    custom: dict[str, MetricInfo] = field(default_factory=dict)
    elapsed: float = 0.0

    def register(self, info: MetricInfo) -> None:
        self.custom[info.name] = info

    def info(self, name: str) -> MetricInfo | None:
        return BUILTIN.get(name) or self.custom.get(name)

    def apply(self, snap: IntervalSnapshot) -> None:
        for key, b in snap.trends.items():
            h = self.trends.get(key)
            if h is None:
                h = self.trends[key] = Histogram()
            h.add_binned(b)
        for key, v in snap.counters.items():
            self.counters[key] = self.counters.get(key, 0.0) + v
        for key, (p, t) in snap.rates.items():
            cell = self.rates.setdefault(key, [0, 0])
            cell[0] += p
            cell[1] += t
        # Aggregate gauges of all tag sets per name too, so `vus` has a value.
        per_name: dict[str, float] = {}
        for key, v in snap.gauges.items():
            self.gauges.setdefault(key, GaugeStat()).set(v)
            if key[1]:
                per_name[key[0]] = per_name.get(key[0], 0.0) + v
        for name, v in per_name.items():
            self.gauges.setdefault((name, ()), GaugeStat()).set(v)
        self.elapsed = max(self.elapsed, snap.end)

    # -- queries --------------------------------------------------------------------------
    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for d in (self.counters, self.rates, self.gauges, self.trends):
            for name, _ in d:
                seen[name] = None
        return sorted(seen)

    def kind_of(self, name: str) -> Kind | None:
        info = self.info(name)
        if info:
            return info.kind
        for kind, d in ((Kind.TREND, self.trends), (Kind.COUNTER, self.counters),
                        (Kind.RATE, self.rates), (Kind.GAUGE, self.gauges)):
            if any(k[0] == name for k in d):
                return kind
        return None

    def contains(self, name: str) -> Contains:
        info = self.info(name)
        return info.contains if info else Contains.DEFAULT

    def tag_values(self, name: str, tag: str) -> list[str]:
        out: set[str] = set()
        for d in (self.counters, self.rates, self.gauges, self.trends):
            for n, tags in d:
                if n == name:
                    out.update(v for k, v in tags if k == tag)
        return sorted(out)

    def values(self, name: str, tag_filter: Tags = (), *,
               percentiles: tuple[float, ...] = ()) -> dict[str, float] | None:
        """k6 summary values for the union of series matching the filter, or None."""
        kind = self.kind_of(name)
        if kind is Kind.TREND:
            hist = Histogram()
            for h in _matching(self.trends, name, tag_filter):
                hist.add(h)
            if not hist.count and not any(True for _ in _matching(self.trends, name, tag_filter)):
                return None
            return trend_values(hist, percentiles)
        if kind is Kind.COUNTER:
            items = list(_matching(self.counters, name, tag_filter))
            if not items:
                return None
            total = sum(items)
            return {"count": total, "rate": total / self.elapsed if self.elapsed else 0.0}
        if kind is Kind.RATE:
            cells = list(_matching(self.rates, name, tag_filter))
            if not cells:
                return None
            passes = sum(c[0] for c in cells)
            total = sum(c[1] for c in cells)
            return {"rate": passes / total if total else 0.0, "passes": passes,
                    "fails": total - passes}
        if kind is Kind.GAUGE:
            stats = list(_matching(self.gauges, name, tag_filter, exact_untagged=True))
            if not stats:
                return None
            return {"value": sum(s.value for s in stats), "min": min(s.min for s in stats),
                    "max": max(s.max for s in stats)}
        return None


def trend_values(hist: Histogram, extra: tuple[float, ...] = ()) -> dict[str, float]:
    ps = (50.0, 90.0, 95.0, 99.0, *extra)
    pv = [v / 1000.0 for v in hist.percentiles(ps)]
    out = {
        "avg": hist.mean() / 1000.0,
        "min": (hist.min if hist.count else 0.0) / 1000.0,
        "med": pv[0],
        "max": hist.max / 1000.0,
        "p(90)": pv[1],
        "p(95)": pv[2],
        "p(99)": pv[3],
        "count": float(hist.count),
    }
    for p, v in zip(extra, pv[4:], strict=True):
        out[f"p({_fmt_p(p)})"] = v
    return out


def _fmt_p(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else repr(p)


def _matching(d: Mapping[SeriesKey, V], name: str, tag_filter: Tags, *,
              exact_untagged: bool = False) -> Iterator[V]:
    want = dict(tag_filter)
    has_untagged = (name, ()) in d
    for (n, tags), value in d.items():
        if n != name:
            continue
        if exact_untagged and not want and has_untagged and tags:
            # A gauge's untagged series already is the total.
            continue
        if want:
            tagmap = dict(tags)
            if any(tagmap.get(k) != v for k, v in want.items()):
                continue
        yield value
