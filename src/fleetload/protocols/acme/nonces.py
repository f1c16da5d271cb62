"""A per-worker pool of anti-replay nonces.

Every ACME response carries a fresh ``Replay-Nonce``; keeping them means a busy
worker almost never pays a new-nonce round trip (only when the pool runs dry,
e.g. at start or after a burst). Newest first (LIFO): servers such as Boulder
expire nonces, so the freshest is the safest to spend. Bounded, so a server
that sends nonces on GETs too cannot grow the pool without limit.
"""

from __future__ import annotations

from collections import deque

DEFAULT_CAPACITY = 1024


class NoncePool:
    __slots__ = ("_nonces", "added", "fetched", "taken")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._nonces: deque[str] = deque(maxlen=capacity)
        self.added = 0
        self.taken = 0
        self.fetched = 0  # new-nonce round trips (the pool was empty)

    def add(self, nonce: str | None) -> None:
        if nonce:
            self._nonces.append(nonce)
            self.added += 1

    def take(self) -> str | None:
        if not self._nonces:
            return None
        self.taken += 1
        return self._nonces.pop()

    def __len__(self) -> int:
        return len(self._nonces)
