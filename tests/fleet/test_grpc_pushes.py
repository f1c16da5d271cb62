"""ct-ops pushes over gRPC: terminal sessions and queries, answered by the
built-in agent and counted by the reference target itself (its Prometheus
metrics), against a target that pushes them after half the heartbeats."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetload.fleet.grpc_pushes import banner
from fleetplane.launch import RunningTarget
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

from .conftest import API_KEY, fleet_target, push_args, run_fleet

AGENTS = 8
LATE_ACK = "heartbeat: no ack before the next tick"


def push_errors(errors: list[dict[str, object]]) -> list[dict[str, object]]:
    """The run's errors but heartbeats acked late (a busy machine, not a push)."""
    return [e for e in errors if e["error"] != LATE_ACK]


@pytest.fixture(scope="module")
def ops_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with fleet_target(tmp_path_factory, "opsdb", *push_args(terminal=0.5, query=0.5)) as t:
        yield t


def target_counts(t: RunningTarget) -> dict[str, float]:
    """The target's own counters (``name{labels}`` → value), ``*_created`` left out."""
    with urllib.request.urlopen(t.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith("fleetplane_grpc_"):
            continue
        name, _, value = line.rpartition(" ")
        if not name.split("{")[0].endswith("_created"):
            out[name] = float(value)
    return out


def delta(before: dict[str, float], after: dict[str, float], name: str) -> int:
    return int(after.get(name, 0.0) - before.get(name, 0.0))


PUSHED_TERMINAL = 'fleetplane_grpc_pushes_total{kind="terminal"}'
PUSHED_QUERY = 'fleetplane_grpc_pushes_total{kind="query"}'
OPENED = "fleetplane_grpc_terminal_sessions_opened_total"
CLOSED = "fleetplane_grpc_terminal_sessions_closed_total"
OUTPUT = "fleetplane_grpc_terminal_output_bytes_total"
PORTS = 'fleetplane_grpc_query_results_total{kind="list_ports"}'
SERVICES = 'fleetplane_grpc_query_results_total{kind="list_services"}'
QUERY_ERRORS = 'fleetplane_grpc_query_results_total{kind="error"}'


def test_terminal_and_query_pushes_answered(ops_target: RunningTarget, tmp_path: Path) -> None:
    before = target_counts(ops_target)
    r = run_fleet(ops_target, tmp_path, "--transport", "grpc", "--agents", str(AGENTS),
                  "--heartbeat-interval", "1s", "--duration", "6s", "--hostname-prefix", "ops")
    assert r.code == 0, r.stderr[-3000:]
    after = target_counts(ops_target)
    f = r.fleet
    assert push_errors(f["errors"]) == [], f["errors"]
    assert f["registrations"] == {"active": AGENTS, "pending": 0, "failed": 0}
    pushes = f["pushes"]
    assert set(pushes) == {"terminal", "query"}, pushes
    # ~6 heartbeats per agent, half followed by each push: dozens of each
    terminal, query = pushes["terminal"], pushes["query"]
    assert terminal >= 10 and query >= 10, pushes
    # Every session the agents finished, the target saw opened and closed
    # cleanly, with one banner each; every answer the agents sent, it counted.
    assert delta(before, after, OPENED) == terminal
    assert delta(before, after, CLOSED) == terminal
    hostname = f"ops-{r.run_id}-00000"
    assert delta(before, after, OUTPUT) == terminal * len(banner(hostname))
    ports, services = delta(before, after, PORTS), delta(before, after, SERVICES)
    assert ports + services == query and ports > 0 and services > 0
    assert delta(before, after, QUERY_ERRORS) == 0
    # A push sent as an agent closed its stream may go unanswered, never the reverse.
    assert terminal <= delta(before, after, PUSHED_TERMINAL) <= terminal + AGENTS
    assert query <= delta(before, after, PUSHED_QUERY) <= query + AGENTS
    assert f["terminal_session"]["count"] == terminal
    assert 0 < f["terminal_session"]["p50"] < 5000
    assert f"pushes handled: query {query:,}, terminal {terminal:,}" in r.stdout
    assert "terminal session p50=" in r.stdout


def test_terminal_and_queries_can_be_turned_off(ops_target: RunningTarget, tmp_path: Path) -> None:
    before = target_counts(ops_target)
    r = run_fleet(ops_target, tmp_path, "--transport", "grpc", "--agents", "5",
                  "--heartbeat-interval", "1s", "--duration", "4s",
                  "--no-terminal", "--no-queries")
    assert r.code == 0, r.stderr[-3000:]
    after = target_counts(ops_target)
    f = r.fleet
    assert push_errors(f["errors"]) == [], f["errors"]
    pushes = f["pushes"]
    assert set(pushes) == {"terminal_ignored", "query_ignored"}, pushes
    # Every push the target sent reached an agent and was ignored; none answered.
    assert pushes["terminal_ignored"] == delta(before, after, PUSHED_TERMINAL) > 0
    assert pushes["query_ignored"] == delta(before, after, PUSHED_QUERY) > 0
    for name in (OPENED, CLOSED, OUTPUT, PORTS, SERVICES, QUERY_ERRORS):
        assert delta(before, after, name) == 0, name
    assert f["terminal_session"] is None


def test_terminal_sessions_the_target_did_not_request_are_refused(ops_target: RunningTarget) -> None:
    before = target_counts(ops_target)
    with grpc.insecure_channel(ops_target.grpc_target) as ch:
        stub = pb_grpc.AgentIngestStub(ch)
        reg = stub.Register(pb.RegisterRequest(hostname="ops-direct", public_key=os.urandom(32),
                                               token=API_KEY), timeout=10)
        cases = [
            ([pb.TerminalFrame(agent_token=reg.agent_token, session_id="term-bogus", data=b"$ ")],
             grpc.StatusCode.NOT_FOUND, "no terminal session was requested with this id"),
            ([pb.TerminalFrame(agent_token="agt-unknown", session_id="term-bogus")],
             grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked agent token"),
            ([], grpc.StatusCode.INVALID_ARGUMENT, "no terminal frames received"),
        ]
        for frames, code, details in cases:
            with pytest.raises(grpc.RpcError) as err:
                list(stub.Terminal(iter(frames), timeout=10))
            assert (err.value.code(), err.value.details()) == (code, details)
    after = target_counts(ops_target)
    for name in (OPENED, CLOSED, OUTPUT):
        assert delta(before, after, name) == 0, name
