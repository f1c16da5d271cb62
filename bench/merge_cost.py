#!/usr/bin/env python3
"""Cost of merging one interval from W workers, S series each: the merge the
run aggregator does every second, pairwise (``np.unique`` + ``np.add.at``, the
previous method) against all parts at once (one ``np.bincount`` per series).

    .venv/bin/python bench/merge_cost.py [--workers 4,16,64] [--series 80] [--reqs 20000]

Each worker's series holds the bucket indexes of ``reqs / workers / series * 8``
latency samples drawn from a log-normal around 2 ms (eight trends per request,
as the HTTP metrics have). Prints the median of 7 repetitions per size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fleetload.metrics.histogram import Binned
from fleetload.metrics.snapshot import IntervalSnapshot, merge_snapshots


def pairwise(a: Binned, b: Binned) -> Binned:
    index = np.concatenate((a.index, b.index))
    counts = np.concatenate((a.counts, b.counts))
    uniq, inverse = np.unique(index, return_inverse=True)
    summed = np.zeros(uniq.size, dtype=np.uint64)
    np.add.at(summed, inverse, counts)
    return Binned(uniq, summed, a.count + b.count, a.total + b.total, min(a.min, b.min),
                  max(a.max, b.max))


def snapshots(workers: int, series: int, reqs: int, rng: np.random.Generator) -> list[IntervalSnapshot]:
    per = max(1, reqs * 8 // workers // series)
    out = []
    for _ in range(workers):
        trends = {}
        for s in range(series):
            secs = rng.lognormal(np.log(0.002), 0.6, per)
            trends[(f"m{s % 8}", (("name", f"n{s // 8}"),))] = Binned.from_seconds(secs)
        out.append(IntervalSnapshot(0, 0.0, 1.0, trends=trends))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default="4,16,64")
    ap.add_argument("--series", type=int, default=80)
    ap.add_argument("--reqs", type=int, default=20000, help="requests per second, all workers")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    print(f"{'workers':>8} {'series':>7} {'pairwise ms':>12} {'bincount ms':>12} {'ratio':>6}")
    for w in (int(x) for x in args.workers.split(",")):
        snaps = snapshots(w, args.series, args.reqs, rng)
        old, new = [], []
        for _ in range(7):
            t0 = time.perf_counter()
            for key in snaps[0].trends:
                acc = snaps[0].trends[key]
                for sn in snaps[1:]:
                    acc = pairwise(acc, sn.trends[key])
            old.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            merged = merge_snapshots(snaps)
            new.append(time.perf_counter() - t0)
        assert sum(b.count for b in merged.trends.values()) == sum(
            b.count for sn in snaps for b in sn.trends.values())
        o, n = statistics.median(old) * 1e3, statistics.median(new) * 1e3
        print(f"{w:>8} {args.series:>7} {o:>12.1f} {n:>12.1f} {o / n:>5.1f}x")


if __name__ == "__main__":
    main()
