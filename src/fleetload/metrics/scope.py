"""Where a sample recorded by script code goes: the current recording scope.

The engine sets the scope of a scenario (its collector, its tags and a cache
of check series keys) when a VU starts, and a worker-wide scope (no tags) for
everything else it runs; custom metrics and ``check()`` read it from here.
Code running outside a run (``setup()`` in the parent, tests, tools) has no
scope: its samples go nowhere.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from fleetload.metrics.collector import Collector
from fleetload.metrics.kinds import SeriesKey, Tags


class Scope(Protocol):
    collector: Collector
    tags: Tags
    check_keys: dict[tuple[str, Tags | None], SeriesKey]


@dataclass
class WorkerScope:
    """A worker's scope outside any scenario's VUs (fleet agents, hooks)."""

    collector: Collector
    tags: Tags = ()
    check_keys: dict[tuple[str, Tags | None], SeriesKey] = field(default_factory=dict)


current_scope: ContextVar[Scope | None] = ContextVar("fleetload_scope", default=None)

__all__ = ["Scope", "WorkerScope", "current_scope"]
