"""The seam where a run's data leaves the engine: outputs.

An output is told when the run starts, gets every merged interval in order,
and is told when the run ends, with the final summary. The interval log, the
timeline, the live line, abort-on-fail thresholds and the run's files are all
outputs, registered in one list by the run coordinator; a new output (a
dashboard, a Prometheus endpoint, a CSV file) is one module implementing
:class:`Output`. Extra capabilities are small protocols of their own
(:class:`WithRunControl`), found with ``isinstance``.

``add_interval`` is called on the thread that merges the workers' data,
never on a worker's event loop: an output may take a few milliseconds, but
must not block (a network output hands its data to a thread of its own). An
output that raises from ``add_interval`` is reported once and switched off;
the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.snapshot import IntervalSnapshot


@dataclass(frozen=True)
class ScenarioInfo:
    """What an output may know of a scenario before the run."""

    name: str
    executor: str
    description: str
    open_loop: bool


@dataclass(frozen=True)
class RunStart:
    run_id: str
    run_dir: Path
    source: str
    start_wall: float  # seconds since the epoch
    planned: float  # seconds of scheduled work (the longest scenario)
    scenarios: Sequence[ScenarioInfo]
    meta: Mapping[str, Any]
    thresholds: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Interval:
    """One merged interval of the whole run (every worker, every node)."""

    snapshot: IntervalSnapshot
    aggregate: Aggregate  # the run's totals including this interval
    row: Mapping[str, Any]  # per-scenario numbers (a ``timeline.jsonl`` row)
    scheduled_rate: float | None  # iterations/s the open-loop schedules asked for at its end


@dataclass(frozen=True)
class RunEnd:
    summary: Mapping[str, Any]
    text: str  # the text summary
    exit_code: int


class Output(Protocol):
    def description(self) -> str:
        """One line naming the output and where it goes (``timeline.jsonl``, a URL...)."""

    def start(self, run: RunStart) -> None:
        """Before the first interval."""

    def add_interval(self, interval: Interval) -> None:
        """Every merged interval, in order."""

    def stop(self, end: RunEnd | None) -> None:
        """After the last interval; ``end`` is None when the run failed before a summary."""


class RunControl(Protocol):
    def request_stop(self, reason: str) -> None:
        """End the run gracefully (safe from any thread)."""


@runtime_checkable
class WithRunControl(Protocol):
    """An output that may end the run (abort-on-fail thresholds, a stop button)."""

    def set_run_control(self, control: RunControl) -> None: ...


__all__ = ["Interval", "Output", "RunControl", "RunEnd", "RunStart", "ScenarioInfo",
           "WithRunControl"]
