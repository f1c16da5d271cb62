"""A common start instant without NTP: each node's monotonic-clock offset
from the driver's, estimated from the fastest of repeated round trips.

For one ping the driver reads its clock at ``t0``, the node answers with its
own clock ``r`` and the driver reads ``t1``. Whenever the node read its clock,
it was between ``t0`` and ``t1`` on the driver's clock, so
``offset = r - (t0 + t1) / 2`` is off by at most half the round trip. The
ping with the smallest round trip gives the tightest bound (Cristian's
algorithm); the start instant then goes to each node in its own clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Pings per node: the fastest of these bounds the error.
PINGS = 12
# The start instant is at least this far ahead of the moment it is sent.
MIN_LEAD = 1.0


@dataclass(frozen=True)
class ClockOffset:
    offset: float
    """node clock minus driver clock, seconds"""
    uncertainty: float
    """half the fastest round trip: the offset is within ± this"""
    rtt_min: float


def estimate_offset(ping: Callable[[], float], pings: int = PINGS,
                    clock: Callable[[], float] = time.perf_counter) -> ClockOffset:
    """The offset of the clock behind ``ping`` (which returns that clock's
    reading) from ``clock``, from the minimum round trip of ``pings`` pings."""
    best: tuple[float, float] | None = None
    for _ in range(max(1, pings)):
        t0 = clock()
        remote = ping()
        t1 = clock()
        rtt = t1 - t0
        if best is None or rtt < best[0]:
            best = (rtt, remote - (t0 + t1) / 2.0)
    assert best is not None
    rtt, offset = best
    return ClockOffset(offset=offset, uncertainty=rtt / 2.0, rtt_min=rtt)


def start_instant(now: float, offsets: list[ClockOffset], lead: float = MIN_LEAD) -> float:
    """The shared start on the driver's clock: ``lead`` seconds ahead, plus
    the worst uncertainty, so no node is told a start already past."""
    worst = max((o.uncertainty for o in offsets), default=0.0)
    return now + max(lead, MIN_LEAD) + worst


def in_node_clock(start: float, offset: ClockOffset) -> float:
    return start + offset.offset
