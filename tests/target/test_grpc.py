"""gRPC AgentIngest: Register, Heartbeat stream with pushes, SubmitInventory."""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterator

import grpc
import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

from .client import Api
from .conftest import API_KEY, BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def push_target(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """Every heartbeat is followed by a task, a check and an inventory request."""
    t = start_target(
        new_database(request.param), auth_secret=API_KEY,
        extra_args=["--push-task-prob", "1", "--push-check-prob", "1", "--push-inventory-prob", "1",
                    "--push-terminal-prob", "0", "--push-query-prob", "0"],
    )  # fmt: skip
    yield t
    t.stop()


@pytest.fixture(scope="module")
def pending_target(new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    t = start_target(new_database("sqlite"), auth_secret=API_KEY, extra_args=["--no-auto-approve"])
    yield t
    t.stop()


def _stub(t: RunningTarget) -> tuple[grpc.Channel, pb_grpc.AgentIngestStub]:
    ch = grpc.insecure_channel(t.grpc_target)
    return ch, pb_grpc.AgentIngestStub(ch)


def _register(stub: pb_grpc.AgentIngestStub, host: str, token: str = API_KEY, **labels: str) -> pb.RegisterResponse:
    return stub.Register(
        pb.RegisterRequest(hostname=host, public_key=os.urandom(32), labels=labels, token=token, os="linux"),
        timeout=10,
    )


def test_register_approved_and_errors(push_target: RunningTarget) -> None:
    ch, stub = _stub(push_target)
    with ch:
        r = _register(stub, "g-approved", run_id="grpc-run")
        assert r.status == pb.REGISTRATION_STATUS_APPROVED and r.agent_id.startswith("ag-") and r.agent_token
        agent = Api(push_target.url, push_target.api_key).get(f"/api/v1/agents/{r.agent_id}").json
        assert agent["transport"] == "grpc" and agent["labels"] == {"run_id": "grpc-run"}
        with pytest.raises(grpc.RpcError) as e:
            _register(stub, "g-bad", token="nope")
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            _register(stub, "g-approved")
        assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as e:
            stub.Register(pb.RegisterRequest(hostname="g-key", public_key=b"short", token=API_KEY), timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _stream(stub: pb_grpc.AgentIngestStub, first: pb.AgentMessage) -> tuple[queue.Queue[pb.AgentMessage | None], Iterator[pb.ServerMessage]]:
    outbox: queue.Queue[pb.AgentMessage | None] = queue.Queue()
    outbox.put(first)

    def gen() -> Iterator[pb.AgentMessage]:
        while (m := outbox.get(timeout=20)) is not None:
            yield m

    return outbox, stub.Heartbeat(gen(), timeout=30)


def test_heartbeat_stream_acks_and_pushes(push_target: RunningTarget) -> None:
    ch, stub = _stub(push_target)
    with ch:
        reg = _register(stub, "g-stream")
        outbox, responses = _stream(stub, pb.AgentMessage(hello=pb.Hello(agent_token=reg.agent_token)))
        acks: list[int] = []
        pushes = {"task": 0, "check": 0, "inventory_request": 0}
        rounds = 3
        for seq in range(1, rounds + 1):
            outbox.put(pb.AgentMessage(heartbeat=pb.HeartbeatPing(seq=seq, metrics={"cpu": 0.3, "mem": 0.6})))
            for _ in range(4):  # ack + task + check + inventory request
                msg = next(responses)
                kind = msg.WhichOneof("body")
                if kind == "ack":
                    acks.append(msg.ack.seq)
                    assert msg.ack.server_time_unix_nanos > 0
                    continue
                pushes[kind] += 1
                if kind == "task":
                    for pct in (33, 66):
                        outbox.put(pb.AgentMessage(task_progress=pb.TaskProgress(
                            task_id=msg.task.task_id, state=pb.TASK_STATE_RUNNING, percent=pct)))  # fmt: skip
                    final = pb.TASK_STATE_SUCCEEDED if seq != 2 else pb.TASK_STATE_FAILED
                    outbox.put(pb.AgentMessage(task_progress=pb.TaskProgress(task_id=msg.task.task_id, state=final, percent=100)))
                elif kind == "check":
                    outbox.put(pb.AgentMessage(check_result=pb.CheckResult(check_id=msg.check.check_id, passed=seq != 3)))
        outbox.put(None)
        assert list(responses) == []
        assert acks == [1, 2, 3]
        assert pushes == {"task": rounds, "check": rounds, "inventory_request": rounds}
        api = Api(push_target.url, push_target.api_key)
        agent = api.get(f"/api/v1/agents/{reg.agent_id}").json
        assert agent["heartbeat_count"] == rounds
        assert agent["pushes_sent"] == 3 * rounds
        assert (agent["task_results"], agent["task_failures"]) == (rounds, 1)
        assert (agent["check_results"], agent["check_failures"]) == (rounds, 1)
        assert agent["status"] == "Online"
        text = api.get("/metrics").body.decode()
        assert 'fleetplane_agent_heartbeats_total{transport="grpc"}' in text
        assert 'fleetplane_grpc_pushes_total{kind="task"}' in text
        assert 'fleetplane_grpc_check_results_total{outcome="fail"}' in text


def test_heartbeat_stream_auth(push_target: RunningTarget) -> None:
    ch, stub = _stub(push_target)
    with ch:
        for first in (
            pb.AgentMessage(hello=pb.Hello(agent_token="agt_nope")),
            pb.AgentMessage(heartbeat=pb.HeartbeatPing(seq=1)),
        ):
            outbox, responses = _stream(stub, first)
            with pytest.raises(grpc.RpcError) as e:
                next(responses)
            outbox.put(None)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_submit_inventory(push_target: RunningTarget) -> None:
    ch, stub = _stub(push_target)
    with ch:
        reg = _register(stub, "g-inventory")
        chunks = [
            pb.InventoryChunk(agent_token=reg.agent_token if i == 0 else "", request_id="inv-1",
                              packages=[pb.Package(name=f"pkg{i}-{j}", version="1.0", arch="amd64") for j in range(50)])
            for i in range(4)
        ]  # fmt: skip
        summary = stub.SubmitInventory(iter(chunks), timeout=10)
        assert (summary.chunks_received, summary.packages_received) == (4, 200)
        assert summary.agent_id == reg.agent_id and summary.request_id == "inv-1"
        agent = Api(push_target.url, push_target.api_key).get(f"/api/v1/agents/{reg.agent_id}").json
        assert agent["inventory_packages"] == 200
        with pytest.raises(grpc.RpcError) as e:
            stub.SubmitInventory(iter([pb.InventoryChunk(agent_token="bad")]), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_pending_without_auto_approve(pending_target: RunningTarget) -> None:
    ch, stub = _stub(pending_target)
    with ch:
        reg = _register(stub, "g-pending")
        assert reg.status == pb.REGISTRATION_STATUS_PENDING
        api = Api(pending_target.url, pending_target.api_key)
        assert api.get(f"/api/v1/agents/{reg.agent_id}").json["status"] == "Pending"
        outbox, responses = _stream(stub, pb.AgentMessage(hello=pb.Hello(agent_token=reg.agent_token)))
        with pytest.raises(grpc.RpcError) as e:
            next(responses)
        outbox.put(None)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert api.post(f"/api/v1/agents/{reg.agent_id}/heartbeat").is_problem(403)


def test_rest_and_grpc_share_the_agents_table(push_target: RunningTarget) -> None:
    ch, stub = _stub(push_target)
    with ch:
        reg = _register(stub, "g-shared")
    api = Api(push_target.url, push_target.api_key)
    assert api.post(f"/api/v1/agents/{reg.agent_id}/heartbeat").status == 200
    assert api.delete(f"/api/v1/agents/{reg.agent_id}").status == 204
    ch, stub = _stub(push_target)
    with ch:
        outbox, responses = _stream(stub, pb.AgentMessage(hello=pb.Hello(agent_token=reg.agent_token)))
        with pytest.raises(grpc.RpcError) as e:
            next(responses)
        outbox.put(None)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED



