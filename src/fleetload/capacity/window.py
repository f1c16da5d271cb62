"""One ceiling step's measured window, read back from its run directory.

A step runs warm-up + window as one run; everything here looks only at
``t >= warmup`` (the timeline's and the interval log's shared clock, seconds
since the run's start). Throughput counts the window itself; latencies and
failures also take the drain after it, where the slowest answers land.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from fleetload.metrics.histogram import Histogram
from fleetload.metrics.thresholds import Selector
from fleetload.results import rundir
from fleetload.results.hlog import MAX_UNIT_RATIO, read_hlog
from fleetload.results.observations import OBSERVATIONS
from fleetload.results.timeline import read_timeline

from .slo import matches, parse_series

_EPS = 0.01  # interval boundaries are rounded to the millisecond


@dataclass
class SeriesStats:
    """One observed value over the window: first, mean, max and last sample."""

    first: float
    mean: float
    max: float
    last: float

    def to_json(self) -> dict[str, float]:
        return {"first": self.first, "mean": self.mean, "max": self.max, "last": self.last}


@dataclass
class Window:
    run_dir: Path
    start: float
    length: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: float = 0.0
    """Iterations cut off at the graceful stop (from the summary; all after the window)."""
    _hlog: list[tuple[str, dict[str, str], float, str, float]] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: Path, start: float, length: float) -> Window:
        w = cls(run_dir, start, length)
        tl = run_dir / rundir.TIMELINE
        if tl.exists():
            w.rows = [r for r in read_timeline(tl) if r["t"] - r.get("dt", 1.0) >= start - _EPS]
        hl = run_dir / rundir.HLOG
        if hl.exists():
            for e in read_hlog(hl):
                if e.start >= start - _EPS:
                    name, tags = parse_series(e.series)
                    w._hlog.append((name, tags, e.start, e.payload, e.max_ms))
        return w

    # -- latency ----------------------------------------------------------------------
    def histogram(self, selector: Selector) -> Histogram:
        h = Histogram()
        for name, tags, _, payload, max_ms in self._hlog:
            if matches(selector, name, tags):
                h.add(Histogram.decode(payload, max_us=max_ms * MAX_UNIT_RATIO))
        return h

    def percentiles_ms(self, metric: str = "http_req_duration") -> dict[str, float] | None:
        h = self.histogram(Selector(metric))
        if not h.count:
            return None
        p50, p95, p99 = h.percentiles((50.0, 95.0, 99.0))
        return {"p50": p50 / 1000.0, "p95": p95 / 1000.0, "p99": p99 / 1000.0,
                "max": h.max / 1000.0}

    # -- counts -----------------------------------------------------------------------
    def _sum(self, key: str, scenario: str | None, *, in_window: bool = False) -> float:
        total = 0.0
        end = self.start + self.length
        for r in self.rows:
            if in_window and r["t"] - r.get("dt", 1.0) >= end - _EPS:
                continue
            for name, sc in r.get("scenarios", {}).items():
                if scenario is None or name == scenario:
                    total += float(sc.get(key, 0) or 0)
        return total

    def requests(self, scenario: str | None = None) -> float:
        return self._sum("reqs", scenario)

    def failed(self, scenario: str | None = None) -> float:
        return self._sum("failed", scenario)

    def dropped(self, scenario: str | None = None) -> float:
        return self._sum("dropped", scenario)

    def failure_rate(self, scenario: str | None = None) -> float | None:
        reqs = self.requests(scenario) + self.interrupted
        if reqs <= 0:
            return None
        return (self.failed(scenario) + self.interrupted) / reqs

    def achieved_rps(self) -> float:
        return self._sum("reqs", None, in_window=True) / max(self.length, 1e-9)

    def achieved_iterations(self) -> float:
        return self._sum("iterations", None, in_window=True) / max(self.length, 1e-9)

    def lag_p99_ms(self) -> float:
        """Worst per-second scheduler lag p99 in the window (0 if never measured)."""
        worst = 0.0
        for r in self.rows:
            for sc in r.get("scenarios", {}).values():
                lag = sc.get("lag")
                if lag:
                    worst = max(worst, float(lag.get("p99", 0.0)))
        return worst

    # -- observations -----------------------------------------------------------------
    def observations(self) -> dict[str, dict[str, SeriesStats]]:
        path = self.run_dir / OBSERVATIONS
        if not path.exists():
            return {}
        series: dict[str, dict[str, list[float]]] = {}
        end = self.start + self.length
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                row = json.loads(line)
                if not self.start - _EPS <= row["t"] <= end + _EPS:
                    continue
                per = series.setdefault(row["source"], {})
                for k, v in row["values"].items():
                    if isinstance(v, int | float):
                        per.setdefault(k, []).append(float(v))
        return {src: {k: SeriesStats(v[0], fmean(v), max(v), v[-1]) for k, v in per.items() if v}
                for src, per in series.items()}
