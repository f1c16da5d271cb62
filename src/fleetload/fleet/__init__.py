"""Fleet simulation: virtual agents with identities, heartbeats, streams and pushes.

``Fleet`` is the executor (registered as ``fleet``); ``Agent`` is the model to
subclass; ``HttpAgent`` (certctl REST protocol) and ``GrpcAgent`` (the reference
target's AgentIngest) are built in. ``GrpcAgent`` is imported on first use, so
HTTP-only fleets never load gRPC.
"""

from __future__ import annotations

from typing import Any

from fleetload.fleet.agent import (
    Agent,
    Disconnected,
    FleetLike,
    PendingApproval,
    RegistrationTimeout,
    Rejected,
    Unregistered,
)
from fleetload.fleet.config import Fleet
from fleetload.fleet.http_agent import HttpAgent
from fleetload.fleet.lifecycle import FleetContext

__all__ = [
    "Agent",
    "Disconnected",
    "Fleet",
    "FleetContext",
    "FleetLike",
    "GrpcAgent",
    "HttpAgent",
    "PendingApproval",
    "RegistrationTimeout",
    "Rejected",
    "Unregistered",
]


def __getattr__(name: str) -> Any:
    if name == "GrpcAgent":
        from fleetload.fleet.grpc_agent import GrpcAgent

        return GrpcAgent
    raise AttributeError(name)
