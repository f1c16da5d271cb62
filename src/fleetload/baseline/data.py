"""A run's per-interval data, shaped for resampling.

The bootstrap resamples one-second intervals, so for every scenario it needs,
per interval: the latency histograms (from ``intervals.hlog``, all series of
the scenario merged) and the counts (from ``timeline.jsonl``). Works the same
on a run directory and on a recorded baseline (same files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fleetload.errors import FleetloadError
from fleetload.metrics.histogram import Histogram
from fleetload.results import rundir
from fleetload.results.hlog import read_hlog
from fleetload.results.store import RunNotFound, load_json
from fleetload.results.timeline import read_timeline

LATENCY_METRICS = ("http_req_duration", "http_req_latency")


class InconclusiveRun(FleetloadError):
    """A run that did not deliver its load, used where a conclusive one is needed."""


def require_conclusive(summary: dict[str, Any], where: Path, *, what: str,
                       allow: bool) -> None:
    """Refuse an inconclusive run (it did not deliver the load asked for) as
    ``what`` unless ``allow``: its numbers describe a different load."""
    run = summary.get("run") or {}
    if allow or run.get("verdict") != "inconclusive":
        return
    reasons = (run.get("validity") or {}).get("reasons") or []
    why = f" ({reasons[0]}{'; ...' if len(reasons) > 1 else ''})" if reasons else ""
    raise InconclusiveRun(f"{where} is an inconclusive run{why}: it cannot be {what} "
                          "(use --allow-inconclusive to use it anyway)")
_SCENARIO_TAG = re.compile(r"[{,]scenario:([^,}]*)")


@dataclass(slots=True)
class SparseHistograms:
    """One row of bucket counts per interval, over the buckets any interval used."""

    buckets: np.ndarray  # HdrHistogram counts-array indices, ascending
    counts: np.ndarray  # shape (intervals, len(buckets))


@dataclass(slots=True)
class ScenarioIntervals:
    reqs: np.ndarray
    failed: np.ndarray
    iterations: np.ndarray
    dt: np.ndarray
    latency: dict[str, SparseHistograms] = field(default_factory=dict)


@dataclass(slots=True)
class RunData:
    path: Path
    summary: dict[str, Any]
    meta: dict[str, Any]
    timeline: list[dict[str, Any]]

    @property
    def scenarios(self) -> dict[str, Any]:
        section: dict[str, Any] = self.summary.get("scenarios") or {}
        return section

    def intervals(self, scenario: str) -> ScenarioIntervals:
        reqs, failed, iterations, dt = _counts(self.timeline, scenario)
        return ScenarioIntervals(reqs, failed, iterations, dt,
                                 latency=_latency(self.path / rundir.HLOG, scenario))


def load_run(path: Path) -> RunData:
    """Read a finished run (or baseline) directory."""
    summary = load_json(path / rundir.SUMMARY)
    if "scenarios" not in summary:
        raise RunNotFound(f"{path / rundir.SUMMARY} is not a fleetload summary (no 'scenarios')")
    meta = summary.get("meta") or {}
    if (path / rundir.META).is_file():
        meta = load_json(path / rundir.META)
    timeline = read_timeline(path / rundir.TIMELINE) if (path / rundir.TIMELINE).is_file() else []
    return RunData(path, summary, meta, timeline)


def _counts(rows: list[dict[str, Any]],
            scenario: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-interval counts, from the first to the last interval with activity:
    seconds before a delayed start or after the last iteration would only dilute
    the rate, while a stalled second in the middle is kept (it is the signal)."""
    table = []
    for row in rows:
        sc = (row.get("scenarios") or {}).get(scenario) or {}
        table.append((float(sc.get("reqs", 0)), float(sc.get("failed", 0)),
                      float(sc.get("iterations", 0)), float(row.get("dt", 1.0))))
    active = [k for k, (reqs, _, its, _) in enumerate(table) if reqs or its]
    arr = np.asarray(table[active[0]: active[-1] + 1] if active else [], dtype=np.float64)
    arr = arr.reshape(-1, 4)
    return arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy()


def _latency(hlog: Path, scenario: str) -> dict[str, SparseHistograms]:
    if not hlog.is_file():
        return {}
    # (metric, interval start) -> merged bucket counts of every series of the scenario
    merged: dict[str, dict[float, Histogram]] = {m: {} for m in LATENCY_METRICS}
    for entry in read_hlog(hlog):
        metric, _, _ = entry.series.partition("{")
        if metric not in merged:
            continue
        found = _SCENARIO_TAG.search(entry.series)
        if found is None or found.group(1) != scenario:
            continue
        per = merged[metric]
        h = entry.histogram()
        if entry.start in per:
            per[entry.start].add(h)
        else:
            per[entry.start] = h
    out = {}
    for metric, per in merged.items():
        if not per:
            continue
        starts = sorted(per)
        nonzero = np.unique(np.concatenate([np.nonzero(per[s].counts)[0] for s in starts]))
        counts = np.stack([per[s].counts[nonzero].astype(np.float64) for s in starts])
        out[metric] = SparseHistograms(nonzero, counts)
    return out
