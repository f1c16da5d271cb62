"""A process-wide token bucket (``--rate-limit RPS --rate-limit-burst N``)."""

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

    def take(self) -> float:
        """Take one token; returns 0.0 on success or the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
