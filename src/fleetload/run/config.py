"""What a run is asked to do besides its plan, and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fleetload.cluster.options import ClusterOptions
from fleetload.outputs.base import Output
from fleetload.results.observations import Observer
from fleetload.results.validity import ValidityRules


@dataclass
class RunConfig:
    workers: int = 1
    out: Path | None = None
    results_root: Path = Path("results")
    stats_interval: float = 5.0
    summary_export: Path | None = None
    quiet: bool = False
    argv: list[str] = field(default_factory=list)
    preflight: bool = True
    interval: float = 1.0
    stream: TextIO | None = None
    observers: list[Observer] = field(default_factory=list)
    """Server-side samplers (``--observe``)."""
    outputs: list[Output] = field(default_factory=list)
    """Outputs beyond the run's own files and the live line (``--output``)."""
    allow_inconclusive: bool = False
    validity: ValidityRules = field(default_factory=ValidityRules)
    cluster: ClusterOptions | None = None
    """Run on a Ray cluster (``--cluster``): ``workers`` processes per node."""


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path
    summary: dict[str, Any]
    text: str
