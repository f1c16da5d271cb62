"""Tidy rows (:mod:`fleetload.outputs.tidy`) read back from a finished run:
counts from ``timeline.jsonl``, latency statistics from ``intervals.hlog``."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from pathlib import Path

from fleetload.errors import ConfigError
from fleetload.metrics.histogram import Histogram
from fleetload.outputs.tidy import TidyRow, histogram_rows, timeline_rows
from fleetload.results import rundir
from fleetload.results.hlog import read_hlog
from fleetload.results.timeline import read_timeline

_SCENARIO = re.compile(r"[{,]scenario:([^,}]*)")


def _metric_and_scenario(series: str) -> tuple[str, str]:
    name, _, _ = series.partition("{")
    m = _SCENARIO.search(series)
    return name, (m.group(1) if m else "")


def _nearest(times: list[float], t: float) -> float:
    """The timeline time closest to ``t`` (the hlog rounds start and length apart)."""
    i = bisect.bisect_left(times, t)
    near = [times[j] for j in (i - 1, i) if 0 <= j < len(times)]
    return min(near, key=lambda x: abs(x - t)) if near else t


def export_rows(run_dir: Path) -> Iterator[TidyRow]:
    """Every interval's rows, in the order the live CSV output writes them."""
    timeline_path = run_dir / rundir.TIMELINE
    if not timeline_path.is_file():
        raise ConfigError(f"{run_dir} has no {rundir.TIMELINE}: nothing to export")
    rows = read_timeline(timeline_path)
    times = [float(r["t"]) for r in rows]
    hists: dict[float, dict[tuple[str, str], Histogram]] = {}
    hlog_path = run_dir / rundir.HLOG
    if hlog_path.is_file():
        for entry in read_hlog(hlog_path):
            t = _nearest(times, round(entry.start + entry.length, 3))
            key = _metric_and_scenario(entry.series)
            per = hists.setdefault(t, {})
            h = per.get(key)
            decoded = entry.histogram()
            if h is None:
                per[key] = decoded
            else:
                h.add(decoded)
    for row in rows:
        t = float(row["t"])
        yield from timeline_rows(row)
        yield from histogram_rows(t, hists.get(t, {}))
