"""What a run executes: scenarios bound to executors, client options,
thresholds and hooks. Built by the script loader (:mod:`fleetload.script`),
run by the engine's workers; a :class:`PlanSource` rebuilds the same plan in
another process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleetload.engine.executors import Executor
from fleetload.engine.vu import VU
from fleetload.metrics.kinds import BUILTIN, Kind, MetricInfo
from fleetload.metrics.thresholds import ThresholdSet
from fleetload.protocols.http.options import ClientOptions

ScenarioFn = Callable[[VU], Awaitable[Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    fn: ScenarioFn
    executor: Executor
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything a run needs from a script, after CLI overrides."""

    source: str
    scenarios: list[Scenario]
    thresholds: list[ThresholdSet]
    client: ClientOptions
    setup: Callable[..., Any] | None = None
    teardown: Callable[..., Any] | None = None
    metrics: dict[str, MetricInfo] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    handle_summary: Callable[..., Any] | None = None
    """``handle_summary(summary, view) -> dict``: extra top-level summary sections;
    a ``text_sections`` key (``{title: [line, ...]}``) adds to the text summary."""
    max_workers: int | None = None
    """A script that must run in fewer processes (``max_workers = 1``) says so."""
    notes: list[str] = field(default_factory=list)
    """One line each: how the command line's flags applied (shown once, by the CLI)."""

    def kind_of(self, name: str) -> Kind | None:
        info = BUILTIN.get(name) or self.metrics.get(name)
        return info.kind if info else None


class PlanSource(Protocol):
    """Something picklable that builds the plan (a worker process rebuilds it)."""

    def build(self) -> Plan: ...


__all__ = ["Plan", "PlanSource", "Scenario", "ScenarioFn"]
