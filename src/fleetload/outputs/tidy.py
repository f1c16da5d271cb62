"""Tidy rows: one number per line, ``time, scenario, metric, stat, value``.

The same rows come from a run as it goes (``--output csv=FILE``) and from a
finished run's files (``fleetload export``): counts and gauges from the
per-interval timeline row, latency statistics from the interval's histograms
(the snapshot live, ``intervals.hlog`` afterwards). ``time`` is the end of the
interval in seconds since the run started; trend values are milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from fleetload.metrics.histogram import Binned, bucket_layout
from fleetload.metrics.kinds import Tags, scenario_of

COLUMNS = ("time", "scenario", "metric", "stat", "value")

TidyRow = tuple[float, str, str, str, float]

# timeline.jsonl key -> (metric, stat)
TIMELINE_NUMBERS = (
    ("reqs", "http_reqs", "count"),
    ("failed", "http_req_failed", "count"),
    ("iterations", "iterations", "count"),
    ("dropped", "dropped_iterations", "count"),
    ("errors", "iteration_errors", "count"),
    ("checks_failed", "checks", "failed"),
    ("vus", "vus", "value"),
    ("vus_max", "vus_max", "value"),
)
FAIL_REASON = "fail_reason"
TREND_STATS = ("count", "p50", "p95", "p99", "max")
_PERCENTILES = (50.0, 95.0, 99.0)


def timeline_rows(row: Mapping[str, Any]) -> list[TidyRow]:
    """Counts and gauges of one ``timeline.jsonl`` row."""
    t = float(row["t"])
    out: list[TidyRow] = []
    for scenario in sorted(row["scenarios"]):
        sc = row["scenarios"][scenario]
        for key, metric, stat in TIMELINE_NUMBERS:
            if key in sc:
                out.append((t, scenario, metric, stat, float(sc[key])))
        for reason, n in sorted((sc.get("fail_reasons") or {}).items()):
            out.append((t, scenario, FAIL_REASON, reason, float(n)))
    return out


class Distribution(Protocol):
    """What the rows need of a histogram."""

    @property
    def count(self) -> int: ...

    @property
    def max(self) -> float: ...

    def percentiles(self, ps: Iterable[float]) -> list[float]: ...


class SparseHistogram:
    """An interval's series of one (metric, scenario), kept as their sparse
    bucket counts: the same percentiles as a :class:`Histogram` of them,
    without a full-size counts array per series every interval."""

    __slots__ = ("count", "max", "min", "parts")

    def __init__(self) -> None:
        self.parts: list[Binned] = []
        self.count = 0
        self.min = float("inf")
        self.max = 0.0

    def add_binned(self, b: Binned) -> None:
        if not b.count:
            return
        self.parts.append(b)
        self.count += b.count
        self.min = min(self.min, b.min)
        self.max = max(self.max, b.max)

    def percentiles(self, ps: Iterable[float]) -> list[float]:
        wanted = np.asarray(list(ps), dtype=np.float64)
        if not self.count:
            return [0.0] * len(wanted)
        _, lowest, highest = bucket_layout()
        index, counts = _sorted_buckets(self.parts)
        cumulative = np.cumsum(counts)
        targets = np.maximum(1, (np.minimum(wanted, 100.0) * self.count / 100.0 + 0.5)
                             .astype(np.int64))
        found = index[np.minimum(np.searchsorted(cumulative, targets), len(index) - 1)]
        values = np.where(wanted > 0, highest[found], lowest[found]).astype(np.float64)
        return np.clip(values, self.min, self.max).tolist()  # type: ignore[no-any-return]


def _sorted_buckets(parts: Sequence[Binned]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:  # a Binned's index is sorted already
        return parts[0].index, parts[0].counts
    index = np.concatenate([b.index for b in parts])
    counts = np.concatenate([b.counts for b in parts])
    order = np.argsort(index, kind="stable")
    return index[order], counts[order]


def histogram_rows(t: float, hists: Mapping[tuple[str, str], Distribution]) -> list[TidyRow]:
    """Count, p50, p95, p99 and max (ms) per (metric, scenario) histogram."""
    ordered = [(key, h) for key, h in sorted(hists.items(), key=lambda kv: (kv[0][1], kv[0][0]))
               if h.count]
    found = _percentiles([h for _, h in ordered])
    out: list[TidyRow] = []
    for ((metric, scenario), h), ps in zip(ordered, found, strict=True):
        p50, p95, p99 = (_ms(v) for v in ps)
        values = (float(h.count), p50, p95, p99, _ms(h.max))
        out.extend((t, scenario, metric, stat, v) for stat, v in
                   zip(TREND_STATS, values, strict=True))
    return out


def _percentiles(hists: Sequence[Distribution]) -> list[list[float]]:
    """p50, p95 and p99 of each (non-empty) histogram: the sparse ones (an
    interval's) all at once, over their buckets laid end to end, with the
    same result as :meth:`SparseHistogram.percentiles` of each."""
    if not hists or not all(isinstance(h, SparseHistogram) for h in hists):
        return [h.percentiles(_PERCENTILES) for h in hists]
    sparse = [h for h in hists if isinstance(h, SparseHistogram)]
    highest = bucket_layout()[2]  # every wanted percentile is above 0
    parts = [_sorted_buckets(h.parts) for h in sparse]
    index = np.concatenate([i for i, _ in parts])
    cumulative = np.cumsum(np.concatenate([c for _, c in parts]).astype(np.int64))
    ends = np.cumsum([len(i) for i, _ in parts])
    starts = ends - np.array([len(i) for i, _ in parts])
    base = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0)
    counts = np.array([h.count for h in sparse], dtype=np.float64)
    wanted = np.array(_PERCENTILES)
    targets = np.maximum(1, (wanted[None, :] * counts[:, None] / 100.0 + 0.5).astype(np.int64))
    at = np.minimum(np.searchsorted(cumulative, base[:, None] + targets), (ends - 1)[:, None])
    values = highest[index[at]].astype(np.float64)
    low = np.array([h.min for h in sparse])[:, None]
    high = np.array([h.max for h in sparse])[:, None]
    return np.clip(values, low, high).tolist()  # type: ignore[no-any-return]


def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


def merge_sparse(trends: Iterable[tuple[str, Tags, Binned]]) -> dict[tuple[str, str], SparseHistogram]:
    """An interval's trend series merged per (metric, scenario)."""
    out: dict[tuple[str, str], SparseHistogram] = {}
    for metric, tags, b in trends:
        key = (metric, scenario_of(tags))
        h = out.get(key)
        if h is None:
            h = out[key] = SparseHistogram()
        h.add_binned(b)
    return out


def interval_rows(row: Mapping[str, Any], trends: Mapping[tuple[str, Tags], Binned]) -> list[TidyRow]:
    """All tidy rows of one live interval."""
    hists = merge_sparse((m, tags, b) for (m, tags), b in trends.items())
    return timeline_rows(row) + histogram_rows(float(row["t"]), hists)


def format_value(v: float) -> str:
    """Integers without a decimal point, other numbers as Python prints them."""
    return str(int(v)) if float(v).is_integer() else repr(v)


def as_record(r: TidyRow) -> dict[str, Any]:
    return dict(zip(COLUMNS, r, strict=True))


def csv_cells(r: TidyRow) -> tuple[str, str, str, str, str]:
    """One row as CSV cells (``time`` and ``value`` through :func:`format_value`)."""
    return (format_value(r[0]), r[1], r[2], r[3], format_value(r[4]))
