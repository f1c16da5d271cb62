"""Token buckets: one process-wide (``--rate-limit`` in the fleetplane profile)
or one per client IP (the certctl profile, as certctl keys its limiter)."""

from __future__ import annotations

import math
import time


class TokenBucket:
    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = float(burst if burst and burst > 0 else max(1, math.ceil(rate)))
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def take(self, now: float | None = None) -> float:
        """Take one token; returns 0.0 on success or the seconds until one is available."""
        now = time.monotonic() if now is None else now
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def full_at(self, now: float) -> bool:
        """Whether the bucket would be full again at ``now`` (safe to forget)."""
        return self._tokens + (now - self._stamp) * self.rate >= self.capacity


class KeyedTokenBuckets:
    """One bucket per key (a client IP), created full on first use.

    Buckets that have refilled completely are forgotten once the table holds
    ``max_keys`` of them, so a scan from many addresses cannot grow it forever.
    """

    def __init__(self, rate: float, burst: int | None = None, *, max_keys: int = 65_536) -> None:
        TokenBucket(rate, burst)  # validates
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    def _forget_full(self) -> None:
        now = time.monotonic()
        for key in [k for k, b in self._buckets.items() if b.full_at(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
