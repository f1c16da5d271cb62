"""What one process measured in one interval, and how intervals merge.

Workers send one :class:`IntervalSnapshot` per second to the parent; the parent
merges the snapshots of all workers for the same interval exactly (bucket counts
add, exact sums add, min/max combine), so a multi-process run has the same
percentiles as one process would have had.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fleetload.metrics.failure_samples import ReasonSamples, SampleKey, merge_samples
from fleetload.metrics.histogram import Binned
from fleetload.metrics.kinds import SeriesKey

# Gauges that are a total over workers (each worker has its own VUs); any other
# gauge keeps the largest value reported in the interval.
SUMMED_GAUGES = frozenset({"vus", "vus_max"})


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


def merge_binned(a: Binned, b: Binned) -> Binned:
    index = np.concatenate((a.index, b.index))
    counts = np.concatenate((a.counts, b.counts))
    uniq, inverse = np.unique(index, return_inverse=True)
    summed = np.zeros(uniq.size, dtype=np.uint64)
    np.add.at(summed, inverse, counts)
    return Binned(uniq, summed, a.count + b.count, a.total + b.total,
                  min(a.min, b.min), max(a.max, b.max))


def merge_into(into: IntervalSnapshot, other: IntervalSnapshot) -> None:
    for key, b in other.trends.items():
        mine = into.trends.get(key)
        into.trends[key] = b if mine is None else merge_binned(mine, b)
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
