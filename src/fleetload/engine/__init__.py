"""Running a plan in one process: executors, pacing, the scenario runtime and
VUs, the worker, the multi-process pool and the run aggregator."""

__all__ = [
    "aggregator",
    "executors",
    "loop",
    "pacing",
    "plan",
    "processes",
    "runtime",
    "split",
    "vu",
    "worker",
]
