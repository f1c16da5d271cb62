"""Before an HTTP fleet with its own connections starts: where its connections
go, and whether the source ports they need exist (an error when per-agent
connections cannot all be open at once, a warning when per-beat connections
may pile up in TIME_WAIT)."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, cast

from fleetload.errors import ConfigError
from fleetload.fleet import source_addresses
from fleetload.protocols.http.pool import Pool

if TYPE_CHECKING:
    from fleetload.fleet.agent import FleetLike
    from fleetload.fleet.config import Fleet


def sources_of(ex: Fleet) -> list[str]:
    return source_addresses.parse(ex.source_addresses) if ex.source_addresses else []


async def destination(fleet: FleetLike) -> str:
    """The target's ``ip:port`` as the agents connect to it."""
    origin = cast(Pool, fleet.rt.client.prepare("GET", "/").pool)
    if fleet.ex.identities is not None and origin.scheme != "https":
        raise ConfigError("client identities need an https --target (agents present them in "
                          f"the TLS handshake); got {origin.scheme}://{origin.host}:{origin.port}")
    try:
        infos = await origin.loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot resolve {origin.host}: {exc}") from None
    host, port = str(infos[0][4][0]), int(infos[0][4][1])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def check_ports(fleet: FleetLike, mode: str, sources: list[str]) -> None:
    ex = fleet.ex
    dest = await destination(fleet)
    v6 = dest.startswith("[")
    other = [a for a in sources if (":" in a) != v6]
    if other:
        raise ConfigError(f"--source-addresses: {other[0]} is IPv{4 if v6 else 6}, the target "
                          f"{dest} is IPv{6 if v6 else 4}: give addresses of the target's family")
    n = len(sources) or None
    if mode == "per-agent":
        problem = source_addresses.per_agent_problem(ex.agents, n, dest)
        if problem:
            raise ConfigError(problem)
        return
    rate = ex.agents / float(ex.heartbeat_interval)
    if ex.tasks:
        rate += ex.agents / float(ex.work_poll_interval)
    warning = source_addresses.per_beat_problem(rate, n, dest)
    if warning and ex.segment[0] == 0:
        print(f"fleetload: warning: {warning}", file=sys.stderr, flush=True)


__all__ = ["check_ports", "destination", "sources_of"]
