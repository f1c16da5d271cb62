"""Exponential reconnect backoff with jitter, as real agents do it."""

from __future__ import annotations

import random

BASE = 1.0
CAP = 60.0
SPREAD = 0.2


def backoff_delay(attempt: int, rng: random.Random, *, base: float = BASE, cap: float = CAP,
                  spread: float = SPREAD) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): ``base * 2**attempt``
    capped at ``cap``, then spread by ±``spread`` so a fleet dropped at once does
    not come back in lockstep. Never above ``cap``."""
    nominal = min(cap, base * (2.0 ** min(attempt, 30)))
    return min(cap, nominal * (1.0 + spread * (2.0 * rng.random() - 1.0)))
