"""Moved to :mod:`fleetload.run` (kept while callers move over)."""

from fleetload.run import RunConfig, RunOutcome, run_test

__all__ = ["RunConfig", "RunOutcome", "run_test"]
