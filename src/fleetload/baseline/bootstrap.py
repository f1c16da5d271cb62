"""Bootstrap over one-second intervals: how much a number moves with noise.

A run's seconds are resampled with replacement (``RESAMPLES`` times) and the
statistic recomputed on each resample: latency percentiles from the summed
interval histograms, rates from the summed interval counts. Resampling whole
seconds, not single requests, keeps the burstiness of a run (a slow second
moves many requests at once), which per-request resampling would hide.

Long runs are resampled in blocks of consecutive seconds (at most ``MAX_BLOCKS``
blocks): neighbouring seconds are correlated, and it bounds the cost.
"""

from __future__ import annotations

import numpy as np

from fleetload.baseline.data import SparseHistograms
from fleetload.metrics.histogram import bucket_layout

RESAMPLES = 1000
MAX_BLOCKS = 600
# Fixed seed: comparing the same two runs twice gives the same verdicts.
SEED = 1_000_003


def _blocks(n: int) -> np.ndarray:
    """Block id of each interval: 1-second blocks up to MAX_BLOCKS intervals."""
    size = max(1, -(-n // MAX_BLOCKS))
    return np.arange(n) // size


def _block_sum(values: np.ndarray) -> np.ndarray:
    """Sum consecutive rows into blocks (rows = intervals)."""
    ids = _blocks(values.shape[0])
    out = np.zeros((int(ids[-1]) + 1, *values.shape[1:]), dtype=np.float64)
    np.add.at(out, ids, values)
    return out


def resample_weights(n: int, rng: np.random.Generator, resamples: int = RESAMPLES) -> np.ndarray:
    """How often each of n blocks is drawn, per resample: shape (resamples, n)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def ratio(numerator: np.ndarray, denominator: np.ndarray, rng: np.random.Generator,
          resamples: int = RESAMPLES) -> np.ndarray | None:
    """Bootstrap distribution of sum(numerator) / sum(denominator)."""
    if numerator.size == 0:
        return None
    blocks = _block_sum(np.stack([numerator, denominator], axis=1))
    w = resample_weights(blocks.shape[0], rng, resamples)
    sums = w @ blocks
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], np.nan)
    return out


def percentile(hist: SparseHistograms | None, p: float, rng: np.random.Generator,
               resamples: int = RESAMPLES) -> np.ndarray | None:
    """Bootstrap distribution of the p-th percentile, in milliseconds, with
    HdrHistogram's rule (the highest value equivalent to the target bucket)."""
    if hist is None or hist.counts.size == 0:
        return None
    blocks = _block_sum(hist.counts)
    w = resample_weights(blocks.shape[0], rng, resamples)
    cum = np.cumsum(w @ blocks, axis=1)
    total = cum[:, -1]
    target = np.maximum(1.0, np.floor(p * total / 100.0 + 0.5))
    idx = np.argmax(cum >= target[:, None], axis=1)
    _, _, highest = bucket_layout()
    values_ms = highest[hist.buckets[idx]].astype(np.float64) / 1000.0
    out: np.ndarray = np.where(total > 0, values_ms, np.nan)
    return out


def new_rng() -> np.random.Generator:
    return np.random.default_rng(SEED)
