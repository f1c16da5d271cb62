"""What a plan schedules: its length and the open-loop rate at a moment."""

from __future__ import annotations

from fleetload.engine.executors import ArrivalRateExecutor
from fleetload.engine.plan import Plan


def planned_duration(plan: Plan) -> float:
    """Seconds of scheduled work: the longest scenario from the run's start."""
    return max((float(s.executor.start_time) + s.executor.scheduled_duration()
                for s in plan.scenarios), default=0.0)


def max_duration(plan: Plan) -> float:
    """The longest wall time the plan may take, graceful stops included."""
    return max((s.executor.wall_time_limit() for s in plan.scenarios), default=0.0)


def scheduled_rate(plan: Plan, t: float) -> float | None:
    """Iterations/s the open-loop scenarios ask for ``t`` seconds into the run
    (None when there is no open-loop scenario)."""
    arrivals = [s.executor for s in plan.scenarios
                if isinstance(s.executor, ArrivalRateExecutor)]
    if not arrivals:
        return None
    return sum(ex.pacer().rate_at(t - float(ex.start_time)) for ex in arrivals)
