"""Executors, one module each, registered by their k6 name."""

from fleetload.engine.executors.arrival import ArrivalRateExecutor
from fleetload.engine.executors.base import (
    REGISTRY,
    ClosedLoopExecutor,
    Executor,
    FixedVUsExecutor,
    ScheduleOverrides,
    executor_from_options,
)
from fleetload.engine.executors.constant_arrival_rate import ConstantArrivalRate
from fleetload.engine.executors.constant_vus import ConstantVUs
from fleetload.engine.executors.per_vu_iterations import PerVUIterations
from fleetload.engine.executors.ramping_arrival_rate import RampingArrivalRate
from fleetload.engine.executors.ramping_vus import RampingVUs
from fleetload.engine.executors.shared_iterations import SharedIterations
from fleetload.engine.executors.stages import Stage

__all__ = [
    "REGISTRY",
    "ArrivalRateExecutor",
    "ClosedLoopExecutor",
    "ConstantArrivalRate",
    "ConstantVUs",
    "Executor",
    "FixedVUsExecutor",
    "PerVUIterations",
    "RampingArrivalRate",
    "RampingVUs",
    "ScheduleOverrides",
    "SharedIterations",
    "Stage",
    "executor_from_options",
]
