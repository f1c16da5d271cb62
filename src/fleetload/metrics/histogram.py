"""HDR histograms of durations in microseconds (1 µs .. 1 h, 3 significant digits).

Recording one value through hdrh's pure-Python ``record_value`` costs about 1 µs,
and a request records around ten trends, which is the whole CPU budget of a
request at 80k req/s. So samples are buffered as floats and binned in bulk with
numpy, using the same bucket arithmetic as HdrHistogram; the counts array *is*
hdrh's (a numpy view on its ctypes buffer), so encoding to the standard
interval-log format and decoding stay hdrh's own.

Count, sum, min and max are tracked exactly from the raw samples; percentiles
come from the buckets (within 0.1 %) and are clamped to the exact min and max,
so p99 can never exceed max.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_FIGURES = 3

# Bucket layout for (1, 3.6e9, 3): unit magnitude 0, 2048 sub-buckets.
_SUB_BUCKET_HALF_COUNT_MAGNITUDE = 10
_SUB_BUCKET_HALF_COUNT = 1 << _SUB_BUCKET_HALF_COUNT_MAGNITUDE
_SUB_BUCKET_MASK = (1 << (_SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)) - 1
_BINCOUNT_FROM = 4096


def new_hdr() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


@functools.cache
def bucket_layout() -> tuple[int, np.ndarray, np.ndarray]:
    """counts_len, and per-index lowest and highest equivalent values."""
    h = new_hdr()
    n = h.counts_len
    idx = np.arange(n, dtype=np.int64)
    bucket = (idx >> _SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1
    sub = (idx & (_SUB_BUCKET_HALF_COUNT - 1)) + _SUB_BUCKET_HALF_COUNT
    first = bucket < 0
    sub = np.where(first, sub - _SUB_BUCKET_HALF_COUNT, sub)
    bucket = np.where(first, 0, bucket)
    lowest = sub << bucket
    # The size of an equivalent range doubles with each bucket, except that the
    # upper half of a bucket's sub-buckets belongs to the next magnitude.
    size_bucket = np.where(sub >= 2 * _SUB_BUCKET_HALF_COUNT, bucket + 1, bucket)
    highest = lowest + (np.int64(1) << size_bucket) - 1
    return n, lowest, highest


def counts_len() -> int:
    return bucket_layout()[0]


def _bucket_indices_exact(v: np.ndarray) -> np.ndarray:
    """HdrHistogram's index arithmetic on int64 microseconds."""
    # frexp's exponent is the bit length for integers below 2**53.
    pow2ceiling = np.frexp((v | _SUB_BUCKET_MASK).astype(np.float64))[1].astype(np.int64)
    bucket = pow2ceiling - (_SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
    sub = v >> bucket
    out: np.ndarray = ((bucket + 1) << _SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub - _SUB_BUCKET_HALF_COUNT
    return out


# Values below 2**16 µs (65 ms), almost every sample a load test takes, are
# looked up in a table (256 KiB): one gather instead of a dozen array passes.
# Larger values take the arithmetic.
_LUT_BITS = 16


@functools.cache
def _lut() -> np.ndarray:
    return _bucket_indices_exact(np.arange(1 << _LUT_BITS, dtype=np.int64)).astype(np.int32)


def bucket_indices(values_us: np.ndarray) -> np.ndarray:
    """HdrHistogram counts-array index of each value (integral microseconds)."""
    v: np.ndarray = np.clip(values_us, 0, HIGHEST_US).astype(np.int64)
    if not v.size:
        return v
    if int(v.max()) < (1 << _LUT_BITS):
        looked_up: np.ndarray = _lut()[v]
        return looked_up
    small = v < (1 << _LUT_BITS)
    out = _bucket_indices_exact(v)
    out[small] = _lut()[v[small]]
    return out


@dataclass(slots=True)
class Binned:
    """A batch of samples reduced to what merging needs: sparse bucket counts
    plus exact count, sum, min and max (microseconds). Small and picklable, it
    is what workers ship to the parent every interval."""

    index: np.ndarray
    counts: np.ndarray
    count: int
    total: float
    min: float
    max: float

    @classmethod
    def from_seconds(cls, samples: Sequence[float]) -> Binned:
        if isinstance(samples, array):
            raw = np.frombuffer(samples, dtype=np.float64)  # zero-copy
        else:
            raw = np.asarray(samples, dtype=np.float64)
        us = raw * 1e6
        np.maximum(us, 0.0, out=us)
        idx = bucket_indices(np.rint(us))
        if idx.size > _BINCOUNT_FROM:
            # Counting beats sorting once a batch is large.
            dense = np.bincount(idx, minlength=counts_len())
            index = np.nonzero(dense)[0]
            counts = dense[index]
        else:
            index, counts = np.unique(idx, return_counts=True)
        return cls(index, counts.astype(np.uint64), int(us.size), float(us.sum()),
                   float(us.min()), float(us.max()))


class Pending:
    """Samples of one series binned fold by fold: bucket indices are computed
    as samples arrive (vectorized), the counting happens once per interval.
    Merging sparse partials on every fold cost more than the binning itself."""

    __slots__ = ("count", "indices", "max", "min", "total", "zeros")

    def __init__(self) -> None:
        self.indices: list[np.ndarray] = []
        self.zeros = 0  # samples of exactly 0 µs, counted without binning
        self.count = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0

    def add_seconds(self, samples: np.ndarray) -> None:
        if not samples.size:
            return
        us = samples * 1e6
        np.maximum(us, 0.0, out=us)
        self.add_binned_us(bucket_indices(np.rint(us)), int(us.size), float(us.sum()),
                           float(us.min()), float(us.max()))

    def add_binned_us(self, indices: np.ndarray, count: int, total: float, lo: float,
                      hi: float) -> None:
        """Add samples already turned into bucket indices (with their exact
        count, sum, min and max in microseconds)."""
        self.indices.append(indices)
        self.count += count
        self.total += total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def add_zeros(self, count: int) -> None:
        """Add ``count`` samples of 0 µs (phases that did not happen: no
        connect on a reused connection, no TLS on plain HTTP)."""
        self.zeros += count
        self.count += count
        self.min = 0.0

    def binned(self) -> Binned:
        parts = self.indices
        if not parts:
            idx = np.zeros(0, dtype=np.int64)
        else:
            idx = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if idx.size > _BINCOUNT_FROM:
            dense = np.bincount(idx, minlength=counts_len())
            index = np.nonzero(dense)[0]
            counts = dense[index]
        else:
            index, counts = np.unique(idx, return_counts=True)
        counts = counts.astype(np.uint64)
        if self.zeros:
            # value 0 has bucket index 0, which sorts first
            if index.size and index[0] == 0:
                counts[0] += np.uint64(self.zeros)
            else:
                index = np.concatenate((np.zeros(1, dtype=index.dtype), index))
                counts = np.concatenate((np.array([self.zeros], dtype=np.uint64), counts))
        return Binned(index, counts, self.count, self.total, self.min, self.max)


class Histogram:
    """Cumulative histogram for one metric series."""

    __slots__ = ("_hdr", "count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self._hdr = new_hdr()
        self.counts: np.ndarray = np.ctypeslib.as_array(self._hdr.counts)
        self.count = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = 0.0

    def add_binned(self, b: Binned) -> None:
        if not b.count:
            return
        self.counts[b.index] += b.counts.astype(np.uint64, copy=False)
        self.count += b.count
        self.total += b.total
        self.min = min(self.min, b.min)
        self.max = max(self.max, b.max)

    def add(self, other: Histogram) -> None:
        if not other.count:
            return
        self.counts += other.counts
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def record_seconds(self, samples: Sequence[float]) -> None:
        if samples:
            self.add_binned(Binned.from_seconds(samples))

    # -- queries, in microseconds -------------------------------------------
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        return self.percentiles((p,))[0]

    def percentiles(self, ps: Iterable[float]) -> list[float]:
        ps = list(ps)
        if not self.count:
            return [0.0 for _ in ps]
        _, lowest, highest = bucket_layout()
        cumulative = np.cumsum(self.counts)
        out = []
        for p in ps:
            target = max(1, int(min(p, 100.0) * self.count / 100.0 + 0.5))
            i = int(np.searchsorted(cumulative, target))
            value = float(highest[i] if p > 0 else lowest[i])
            out.append(min(max(value, self.min), self.max))
        return out

    def stddev(self) -> float:
        if not self.count:
            return 0.0
        _, lowest, highest = bucket_layout()
        nz = np.nonzero(self.counts)[0]
        mids = (lowest[nz] + highest[nz]) / 2.0
        mean = self.mean()
        return float(np.sqrt((self.counts[nz] * (mids - mean) ** 2).sum() / self.count))

    # -- interval-log encoding ---------------------------------------------
    def encode(self) -> str:
        """Base64 compressed V2 payload, as in the HdrHistogram interval log."""
        _, lowest, highest = bucket_layout()
        nz = np.nonzero(self.counts)[0]
        h = self._hdr
        h.total_count = self.count
        if nz.size:
            h.min_value = int(lowest[nz[0]])
            h.max_value = int(highest[nz[-1]])
        else:
            h.min_value, h.max_value = 0, 0
        encoded: bytes = h.encode()
        return encoded.decode("ascii")

    @classmethod
    def decode(cls, payload: str, *, max_us: float | None = None) -> Histogram:
        """Inverse of :meth:`encode`; exact sum and min are not in the format, so
        the mean is rebuilt from bucket midpoints."""
        decoded = HdrHistogram.decode(payload)
        out = cls()
        src = np.ctypeslib.as_array(decoded.counts)
        n = min(src.size, out.counts.size)
        out.counts[:n] = src[:n]
        out.count = int(out.counts.sum())
        if out.count:
            _, lowest, highest = bucket_layout()
            nz = np.nonzero(out.counts)[0]
            mids = (lowest[nz] + highest[nz]) / 2.0
            out.total = float((out.counts[nz] * mids).sum())
            out.min = float(lowest[nz[0]])
            out.max = float(max_us) if max_us is not None else float(highest[nz[-1]])
        return out

    def binned(self) -> Binned:
        nz = np.nonzero(self.counts)[0]
        return Binned(nz, self.counts[nz].copy(), self.count, self.total, self.min, self.max)
