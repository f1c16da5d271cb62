"""Answers to the AgentIngest server's pushes, besides tasks and checks (which
:mod:`grpc_agent` answers on the Heartbeat stream itself).

* An ``inventory_request`` is answered with ``SubmitInventory``: 1,000 to
  3,000 fake packages in chunks of 500.
* A ``terminal_request`` opens a ``Terminal`` stream: one frame carrying the
  agent token, the pushed session id and a banner, then a half-close; the
  agent reads (and discards) what the server writes until the server ends the
  session. ``fleet_terminal_session`` times push to end of session.
* A ``query`` (``list_ports``, ``list_services``) is answered with canned data
  in a ``query_result`` on the Heartbeat stream.
"""

from __future__ import annotations

import random
import time

import grpc.aio

from fleetload.fleet.metrics import FleetStats
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

TERMINAL_TIMEOUT = 30.0
INVENTORY_TIMEOUT = 30.0
CHUNK = 500

PORTS = (
    pb.ListeningPort(port=22, protocol="tcp", process="sshd", address="0.0.0.0"),
    pb.ListeningPort(port=443, protocol="tcp", process="nginx", address="0.0.0.0"),
    pb.ListeningPort(port=123, protocol="udp", process="chronyd", address="127.0.0.1"),
    pb.ListeningPort(port=9100, protocol="tcp6", process="node_exporter", address="::"),
)
SERVICES = (
    pb.ServiceStatus(name="sshd", state="running"),
    pb.ServiceStatus(name="nginx", state="running"),
    pb.ServiceStatus(name="chronyd", state="running"),
    pb.ServiceStatus(name="cups", state="stopped"),
)


_PACKAGES: list[pb.Package] = []


def fake_packages() -> list[pb.Package]:
    """3000 fake packages, built once per process and shared by every inventory."""
    if not _PACKAGES:
        arches = ("amd64", "arm64", "all")
        _PACKAGES.extend(pb.Package(name=f"pkg-{i:05d}", version=f"{1 + i % 7}.{i % 13}.{i % 5}",
                                    arch=arches[i % 3]) for i in range(3000))
    return _PACKAGES


async def submit_inventory(stub: pb_grpc.AgentIngestStub, request_id: str, token: str,
                           rng: random.Random, stats: FleetStats) -> None:
    packages = fake_packages()
    count = CHUNK * rng.randint(2, 6)
    call = stub.SubmitInventory(timeout=INVENTORY_TIMEOUT)
    for i in range(0, count, CHUNK):
        chunk = pb.InventoryChunk(request_id=request_id, packages=packages[i:i + CHUNK])
        if i == 0:
            chunk.agent_token = token
        await call.write(chunk)
        stats.sent(chunk.ByteSize())
    await call.done_writing()
    await call
    stats.push("inventory")


def banner(hostname: str) -> bytes:
    return f"fleetload agent {hostname}\r\n$ ".encode()


def query_answer(query: pb.Query) -> pb.AgentMessage:
    """The canned answer to ``query`` (an ``error`` for a kind the agent does not know)."""
    result = pb.QueryResult(query_id=query.query_id, kind=query.kind)
    if query.kind == pb.QUERY_KIND_LIST_PORTS:
        result.ports.extend(PORTS)
    elif query.kind == pb.QUERY_KIND_LIST_SERVICES:
        result.services.extend(SERVICES)
    else:
        result.error = f"unsupported query kind {query.kind}"
    return pb.AgentMessage(query_result=result)


async def run_terminal(stub: pb_grpc.AgentIngestStub, request: pb.TerminalRequest, token: str,
                       hostname: str, stats: FleetStats) -> None:
    """Open the session, write the banner, half-close, read until the server
    ends it. Raises :class:`grpc.aio.AioRpcError` when it does not end OK."""
    t0 = time.perf_counter()
    call = stub.Terminal(timeout=TERMINAL_TIMEOUT)
    try:
        frame = pb.TerminalFrame(agent_token=token, session_id=request.session_id,
                                 data=banner(hostname))
        await call.write(frame)
        stats.sent(frame.ByteSize())
        await call.done_writing()
        # read() raises AioRpcError when the session ends with an error status
        while await call.read() is not grpc.aio.EOF:
            pass
    except BaseException:
        call.cancel()
        raise
    stats.terminal_session.append(time.perf_counter() - t0)
    stats.push("terminal")
