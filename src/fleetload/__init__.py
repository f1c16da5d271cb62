"""fleetload: load testing and capacity planning for fleet control planes.

A load script imports what it needs from here::

    from fleetload import scenario, check, ConstantArrivalRate

    @scenario(ConstantArrivalRate(rate=50, duration="1m"))
    async def heartbeat(vu):
        r = await vu.http.post("/api/v1/agents/ag-1/heartbeat", json={})
        check(r, {"2xx": lambda r: 200 <= r.status < 300})
"""

import os as _os

# numpy's bundled OpenBLAS starts a worker thread per core at import, and
# those threads spin after use. fleetload does no linear algebra: on a load
# generator they would only take cycles from the event loop's core.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from fleetload._version import __version__
from fleetload.engine.executors import (
    ConstantArrivalRate,
    ConstantVUs,
    Executor,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    SharedIterations,
    Stage,
)
from fleetload.engine.plan import Scenario
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError, ExitCode, FleetloadError, ScriptError
from fleetload.fleet import Agent, Fleet, HttpAgent
from fleetload.metrics.checks import check
from fleetload.metrics.custom import Counter, Gauge, Rate, Trend
from fleetload.protocols.http import Response
from fleetload.script.context import ENV as env
from fleetload.script.model import scenario
from fleetload.script.params import Duration, param

__all__ = [
    "VU",
    "Agent",
    "ConfigError",
    "ConstantArrivalRate",
    "ConstantVUs",
    "Counter",
    "Duration",
    "Executor",
    "ExitCode",
    "Fleet",
    "FleetloadError",
    "Gauge",
    "GrpcAgent",
    "HttpAgent",
    "PerVUIterations",
    "RampingArrivalRate",
    "RampingVUs",
    "Rate",
    "Response",
    "Scenario",
    "ScriptError",
    "SharedIterations",
    "Stage",
    "Trend",
    "__version__",
    "check",
    "env",
    "param",
    "scenario",
]


def __getattr__(name: str) -> object:
    # GrpcAgent loads grpc: only when a script asks for it.
    if name == "GrpcAgent":
        from fleetload.fleet.grpc_agent import GrpcAgent

        return GrpcAgent
    raise AttributeError(f"module 'fleetload' has no attribute {name!r}")
