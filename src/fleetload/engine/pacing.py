"""Pacers: when the n-th iteration of an open-loop schedule is due.

A pacer is a pure function of the iteration number, so splitting a schedule
over N workers is exact: worker k runs iterations k, k+N, k+2N... and together
they run precisely the global schedule, with no drift and no rounding of rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Pacer(Protocol):
    def time_of(self, n: int) -> float | None:
        """Seconds from the scenario start at which iteration ``n`` (0-based) is
        due, or None when the schedule has ended before it."""

    def total(self) -> float:
        """Iterations the whole schedule offers (may be fractional)."""

    def rate_at(self, t: float) -> float:
        """Scheduled iterations per second at time ``t``."""


@dataclass(frozen=True, slots=True)
class ConstantPacer:
    rate: float  # iterations per second
    duration: float

    def time_of(self, n: int) -> float | None:
        t = n / self.rate
        return t if t < self.duration else None

    def total(self) -> float:
        return self.rate * self.duration

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration else 0.0


@dataclass(frozen=True, slots=True)
class Segment:
    start: float  # seconds from scenario start
    duration: float
    from_rate: float
    to_rate: float
    before: float  # iterations due before this segment

    def count(self) -> float:
        return (self.from_rate + self.to_rate) * self.duration / 2.0


class LinearPacer:
    """Piecewise-linear rate: k6's ramping-arrival-rate stages."""

    __slots__ = ("_segments", "_total")

    def __init__(self, start_rate: float, stages: Sequence[tuple[float, float]]) -> None:
        segs: list[Segment] = []
        t, rate, before = 0.0, start_rate, 0.0
        for duration, target in stages:
            seg = Segment(t, duration, rate, target, before)
            segs.append(seg)
            before += seg.count()
            t += duration
            rate = target
        self._segments = segs
        self._total = before

    def total(self) -> float:
        return self._total

    def rate_at(self, t: float) -> float:
        for s in self._segments:
            if s.start <= t < s.start + s.duration:
                return s.from_rate + (s.to_rate - s.from_rate) * (t - s.start) / s.duration
        return 0.0

    def time_of(self, n: int) -> float | None:
        if n >= self._total:
            return None
        segs = self._segments
        lo, hi = 0, len(segs) - 1
        while lo < hi:  # last segment whose `before` <= n
            mid = (lo + hi + 1) // 2
            if segs[mid].before <= n:
                lo = mid
            else:
                hi = mid - 1
        seg = segs[lo]
        m = n - seg.before
        if seg.duration <= 0 or m <= 0:
            return seg.start
        a = (seg.to_rate - seg.from_rate) / (2.0 * seg.duration)
        b = seg.from_rate
        disc = b * b + 4.0 * a * m
        if disc < 0:
            return None
        denom = b + math.sqrt(disc)
        if denom <= 0:
            return None
        return seg.start + min(2.0 * m / denom, seg.duration)
