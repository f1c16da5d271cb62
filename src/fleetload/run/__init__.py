"""The run coordinator: one test run from start to results.

``run_test(recipe, RunConfig(...))`` builds the plan, checks the target,
creates the run directory, starts the outputs, runs ``setup()``, the workers
(one in process, or a pool of processes), ``teardown()``, and ends the run
with a verdict, the summary and every output stopped. The engine below it
knows nothing of results, reports or the command line.
"""

from fleetload.run.config import RunConfig, RunOutcome
from fleetload.run.coordinator import run_test

__all__ = ["RunConfig", "RunOutcome", "run_test"]
