"""Process-wide state shared by HTTP handlers, the gRPC servicer and workers."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from fleetplane.config import TargetConfig
from fleetplane.db import Database
from fleetplane.db.shaping import OverloadWatch
from fleetplane.metrics import Metrics
from fleetplane.repo.lookups import Lookups


@dataclass
class AppState:
    config: TargetConfig
    db: Database
    metrics: Metrics
    lookups: Lookups
    # --unhealthy-after-overload: makes /healthz 503 after the pool queue overflowed.
    overload: OverloadWatch | None = None
    # Set when new renewal jobs exist, so idle workers wake without polling fast.
    jobs_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Round-robin position for assigning renewal jobs to online agents.
    rr: itertools.count[int] = field(default_factory=itertools.count)
    # monotonic time of the last /metrics refresh of the status gauges
    gauges_at: float = 0.0
