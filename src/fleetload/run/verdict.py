"""The verdict of a run: thresholds first, then Ctrl-C, then validity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetload.errors import ExitCode
from fleetload.metrics.thresholds import Evaluation


def interrupted(stopped_by: str | None) -> bool:
    return bool(stopped_by and ("Ctrl-C" in stopped_by or "aborted" in stopped_by))


def decide(evaluation: Evaluation, validity: Mapping[str, Any],
           stopped_by: str | None) -> tuple[ExitCode, str]:
    """(exit code, verdict). A failed threshold wins over an inconclusive run:
    a target that broke its contract under less load than asked still broke it."""
    if not evaluation.ok:
        return ExitCode.THRESHOLDS_FAILED, "failed"
    if interrupted(stopped_by):
        return ExitCode.INTERRUPTED, "interrupted"
    if not validity["valid"] and not validity.get("allowed"):
        return ExitCode.INCONCLUSIVE, "inconclusive"
    return ExitCode.OK, "passed"
