"""Per-interval, per-scenario numbers: the run's time axis.

Written as one JSON line per interval (``timeline.jsonl``), so a run that is
killed keeps everything up to its last second, and the HTML report can draw
latency, throughput and VUs over time without decoding the interval log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleetload.metrics.failure_samples import failure_reason
from fleetload.metrics.histogram import Binned, Histogram
from fleetload.metrics.kinds import scenario_of
from fleetload.metrics.snapshot import IntervalSnapshot, merge_binned_many

PERCENTILES = (50.0, 95.0, 99.0)


def _stats(b: Binned | None) -> dict[str, float] | None:
    if b is None or not b.count:
        return None
    h = Histogram()
    h.add_binned(b)
    p50, p95, p99 = (v / 1000.0 for v in h.percentiles(PERCENTILES))
    return {"p50": p50, "p95": p95, "p99": p99, "max": b.max / 1000.0, "avg": b.total / b.count / 1000.0}


def interval_row(snap: IntervalSnapshot) -> dict[str, Any]:
    """Reduce one merged interval to per-scenario numbers."""
    per: dict[str, dict[str, Any]] = {}
    binned: dict[tuple[str, str], list[Binned]] = {}

    def row(name: str) -> dict[str, Any]:
        return per.setdefault(name, {"reqs": 0, "failed": 0, "iterations": 0, "dropped": 0,
                                     "errors": 0, "vus": 0, "vus_max": 0, "checks_failed": 0})

    for (metric, tags), b in snap.trends.items():
        if metric in ("http_req_duration", "http_req_latency", "iteration_lag"):
            binned.setdefault((scenario_of(tags), metric), []).append(b)
    for (metric, tags), v in snap.counters.items():
        sc = scenario_of(tags)
        if metric == "http_reqs":
            row(sc)["reqs"] += v
            if ("expected_response", "false") in tags:
                t = dict(tags)
                reasons = row(sc).setdefault("fail_reasons", {})
                reason = failure_reason(int(t.get("status", "0") or 0), t.get("error"))
                reasons[reason] = reasons.get(reason, 0.0) + v
        elif metric == "iterations":
            row(sc)["iterations"] += v
        elif metric == "dropped_iterations":
            row(sc)["dropped"] += v
        elif metric == "iteration_errors":
            row(sc)["errors"] += v
    for (metric, tags), (passes, total) in snap.rates.items():
        if metric == "http_req_failed":
            row(scenario_of(tags))["failed"] += passes
        elif metric == "checks":
            row(scenario_of(tags))["checks_failed"] += total - passes
    for (metric, tags), v in snap.gauges.items():
        if metric in ("vus", "vus_max") and tags:
            row(scenario_of(tags))[metric] += v
    for (sc, metric), bins in binned.items():
        short = {"http_req_duration": "duration", "http_req_latency": "latency",
                 "iteration_lag": "lag"}[metric]
        row(sc)[short] = _stats(merge_binned_many(bins))
    behind = {k.split(":", 1)[1]: v for k, v in snap.notes.items() if k.startswith("max_behind:")}
    for note, value in snap.notes.items():
        if note.startswith(("status:", "max_status:")):
            _, sc, name = note.split(":", 2)
            row(sc).setdefault("status", {})[name] = value
    return {"i": snap.index, "t": round(snap.end, 3), "dt": round(snap.end - snap.start, 3),
            "scenarios": per, "connections": snap.notes.get("connections", 0.0),
            "behind": behind, "cpu": snap.notes.get("max_cpu")}


class TimelineWriter:
    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_timeline(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows
