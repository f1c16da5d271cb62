"""What one process measured in one interval, and how intervals merge.

Workers send one :class:`IntervalSnapshot` per second to the parent; the parent
merges the snapshots of all workers for the same interval exactly (bucket counts
add, exact sums add, min/max combine), so a multi-process run has the same
percentiles as one process would have had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetload.metrics.failure_samples import ReasonSamples, SampleKey, merge_samples
from fleetload.metrics.histogram import Binned
from fleetload.metrics.kinds import SeriesKey

# Gauges that are a total over workers (each worker has its own VUs); any other
# gauge keeps the largest value reported in the interval.
# Gauges counting what each worker holds add up across workers; others
# (a user's gauge, a level) keep the highest value.
SUMMED_GAUGES = frozenset({"vus", "vus_max", "fleet_agents", "fleet_streams",
                           "fleet_connections_open", "mqtt_connected"})


@dataclass(slots=True)
class IntervalSnapshot:
    index: int
    start: float
    end: float
    trends: dict[SeriesKey, Binned] = field(default_factory=dict)
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    rates: dict[SeriesKey, tuple[int, int]] = field(default_factory=dict)
    gauges: dict[SeriesKey, float] = field(default_factory=dict)
    workers: int = 1
    notes: dict[str, float] = field(default_factory=dict)
    """Generator-side numbers for the live line (in flight, open connections...)."""
    errors: dict[tuple[str, str], int] = field(default_factory=dict)
    """Distinct iteration errors per (scenario, text) with counts (sent with a
    worker's last snapshot)."""
    samples: dict[SampleKey, ReasonSamples] = field(default_factory=dict)
    """First response snippets per (scenario, failure reason), with the last snapshot."""


def merge_binned_many(parts: Sequence[Binned]) -> Binned:
    """Several workers' bins of one series merged exactly: one ``np.bincount``
    over all their bucket indexes (about ten times faster than merging them
    pairwise with ``np.unique`` and ``np.add.at``)."""
    if len(parts) == 1:
        return parts[0]
    index = np.concatenate([p.index for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    # float64 weights are exact for counts below 2**53.
    dense = np.bincount(index, weights=counts)
    nz = np.flatnonzero(dense)
    return Binned(nz, dense[nz].astype(np.uint64), sum(p.count for p in parts),
                  sum(p.total for p in parts), min(p.min for p in parts),
                  max(p.max for p in parts))


def merge_binned(a: Binned, b: Binned) -> Binned:
    return merge_binned_many((a, b))


def merge_snapshots(snaps: Sequence[IntervalSnapshot]) -> IntervalSnapshot:
    """The snapshots of one interval from every worker, merged exactly:
    bucket counts and exact sums add, min/max combine, one bincount per series."""
    if len(snaps) == 1:
        return snaps[0]
    first = snaps[0]
    into = IntervalSnapshot(first.index, first.start, first.end, workers=0)
    parts: dict[SeriesKey, list[Binned]] = {}
    for snap in snaps:
        for key, b in snap.trends.items():
            parts.setdefault(key, []).append(b)
        _merge_scalars(into, snap)
    into.trends = {key: merge_binned_many(bins) for key, bins in parts.items()}
    return into


def merge_into(into: IntervalSnapshot, other: IntervalSnapshot) -> None:
    """Merge ``other`` into ``into`` (two snapshots of the same interval)."""
    for key, b in other.trends.items():
        mine = into.trends.get(key)
        into.trends[key] = b if mine is None else merge_binned(mine, b)
    _merge_scalars(into, other)


def _merge_scalars(into: IntervalSnapshot, other: IntervalSnapshot) -> None:
    for key, v in other.counters.items():
        into.counters[key] = into.counters.get(key, 0.0) + v
    for key, (p, t) in other.rates.items():
        mp, mt = into.rates.get(key, (0, 0))
        into.rates[key] = (mp + p, mt + t)
    for key, g in other.gauges.items():
        if key[0] in SUMMED_GAUGES:
            into.gauges[key] = into.gauges.get(key, 0.0) + g
        else:
            into.gauges[key] = max(into.gauges.get(key, g), g)
    for name, v in other.notes.items():
        if name.startswith("max_") or name == "final":
            into.notes[name] = max(into.notes.get(name, v), v)
        else:
            into.notes[name] = into.notes.get(name, 0.0) + v
    for err, n in other.errors.items():
        into.errors[err] = into.errors.get(err, 0) + n
    merge_samples(into.samples, other.samples)
    into.start = min(into.start, other.start)
    into.end = max(into.end, other.end)
    into.workers += other.workers
