"""gRPC AgentIngest servicer (grpc.aio), sharing the agents table with REST.

Per-stream activity (pushes sent, task/check results) is accumulated in memory
and written with the next heartbeat's UPDATE, so a stream costs one database
write per heartbeat however chatty it is. Terminal sessions and query answers
are counted in the Prometheus metrics.

With ``tls_cert``/``tls_key`` the port serves TLS; with ``client_ca`` it
requires client certificates, and ``Register`` requires the certificate to
name the registering hostname (subject CN or a DNS SAN).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc

from fleetplane.auth import bearer_token, key_matches
from fleetplane.db import Row
from fleetplane.grpc_tls import names_host, server_credentials
from fleetplane.ids import new_id, new_token
from fleetplane.repo import agents as agents_repo
from fleetplane.repo.agents import GrpcCounters
from fleetplane.state import AppState
from fleetplane.timeutil import now_str
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

_TASK_KINDS = ("restart-service", "rotate-logs", "apply-config", "collect-diagnostics")
_CHECK_NAMES = ("disk-space", "cert-expiry", "ntp-sync", "service-health")
_TASK_STATE_NAMES = {
    pb.TASK_STATE_RUNNING: "running",
    pb.TASK_STATE_SUCCEEDED: "succeeded",
    pb.TASK_STATE_FAILED: "failed",
}
_QUERY_KINDS = (pb.QUERY_KIND_LIST_PORTS, pb.QUERY_KIND_LIST_SERVICES)
QUERY_KIND_NAMES = {pb.QUERY_KIND_LIST_PORTS: "list_ports", pb.QUERY_KIND_LIST_SERVICES: "list_services"}
# Terminal sessions pushed and not yet opened, oldest forgotten first.
MAX_OPEN_SESSIONS = 100_000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _clean(text: str) -> bool:
    return "\x00" not in text and len(text) <= 1024


class IngestServicer(pb_grpc.AgentIngestServicer):
    def __init__(self, state: AppState, rng: random.Random | None = None) -> None:
        self.state = state
        self.rng = rng or random.Random()
        self._sessions: OrderedDict[str, str] = OrderedDict()  # session id -> agent id

    async def _agent_for(self, token: str, context: Any) -> Row:
        if not token:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "agent token required")
        async with self.state.db.transaction(write=False) as tx:
            agent = await agents_repo.get_by_token_hash(tx, token_hash(token))
        if agent is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked agent token")
        assert agent is not None
        if agent["status"] == "Pending":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "agent is pending approval")
        if agent["status"] != "Active":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "agent is retired")
        return agent

    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.RegisterResponse:
        st = self.state
        if not key_matches(request.token or None, (*st.config.api_keys,)):
            st.metrics.registrations.labels("grpc", "unauthenticated").inc()
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid registration token")
        if not request.hostname or not _clean(request.hostname) or not _clean(request.name):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "hostname is required (<= 1024 chars, no NUL)")
        if len(request.public_key) != 32:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "public_key must be a raw 32-byte Ed25519 key")
        labels = dict(request.labels)
        if not all(_clean(k) and _clean(v) for k, v in labels.items()):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "labels must be <= 1024 chars without NUL")
        if st.config.client_ca and not names_host(context.auth_context(), request.hostname):
            st.metrics.registrations.labels("grpc", "certificate_mismatch").inc()
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"certificate does not name {request.hostname}")
        approved = st.config.auto_approve
        # Pending agents get a token too, but it is refused (PERMISSION_DENIED)
        # until approval, so clients can tell "pending" from "unknown".
        token = new_token("agt")
        stamp = now_str()
        row = {
            "id": new_id("ag"),
            "name": request.name or request.hostname,
            "hostname": request.hostname,
            "os": request.os or None,
            "architecture": request.architecture or None,
            "version": request.version or None,
            "labels": json.dumps(labels, ensure_ascii=False, sort_keys=True),
            "run_id": labels.get("run_id"),
            "status": "Active" if approved else "Pending",
            "transport": "grpc",
            "public_key_hex": bytes(request.public_key).hex(),
            "token_hash": token_hash(token),
            "registered_at": stamp,
            "last_heartbeat_at": stamp if approved else None,
        }
        async with st.db.transaction() as tx:
            conflict = await agents_repo.insert(tx, row)
        if conflict:
            st.metrics.registrations.labels("grpc", "conflict").inc()
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"an agent named {row['name']!r} already exists")
        st.metrics.registrations.labels("grpc", "approved" if approved else "pending").inc()
        return pb.RegisterResponse(
            agent_id=row["id"],
            agent_token=token,
            status=pb.REGISTRATION_STATUS_APPROVED if approved else pb.REGISTRATION_STATUS_PENDING,
            heartbeat_interval_ms=st.config.heartbeat_interval_ms,
        )

    def _pushes(self, agent_id: str) -> list[pb.ServerMessage]:
        cfg, m, out = self.state.config, self.state.metrics, []
        if self.rng.random() < cfg.push_task_prob:
            task = pb.Task(task_id=new_id("task"), kind=self.rng.choice(_TASK_KINDS), steps=3)
            out.append(pb.ServerMessage(task=task))
            m.pushes.labels("task").inc()
        if self.rng.random() < cfg.push_check_prob:
            check = pb.Check(check_id=new_id("chk"), name=self.rng.choice(_CHECK_NAMES))
            out.append(pb.ServerMessage(check=check))
            m.pushes.labels("check").inc()
        if self.rng.random() < cfg.push_inventory_prob:
            out.append(pb.ServerMessage(inventory_request=pb.InventoryRequest(request_id=new_id("inv"))))
            m.pushes.labels("inventory").inc()
        if self.rng.random() < cfg.push_terminal_prob:
            session = new_id("term")
            self._sessions[session] = agent_id
            if len(self._sessions) > MAX_OPEN_SESSIONS:
                self._sessions.popitem(last=False)
            out.append(pb.ServerMessage(terminal_request=pb.TerminalRequest(session_id=session, columns=80, rows=24)))
            m.pushes.labels("terminal").inc()
        if self.rng.random() < cfg.push_query_prob:
            query = pb.Query(query_id=new_id("qry"), kind=self.rng.choice(_QUERY_KINDS))
            out.append(pb.ServerMessage(query=query))
            m.pushes.labels("query").inc()
        return out

    async def _flush(self, agent_id: str, heartbeat: bool, c: GrpcCounters) -> None:
        async with self.state.db.transaction() as tx:
            await agents_repo.add_grpc_activity(tx, agent_id, now_str() if heartbeat else None, c)

    async def Heartbeat(
        self, request_iterator: AsyncIterator[pb.AgentMessage], context: Any
    ) -> AsyncIterator[pb.ServerMessage]:
        m = self.state.metrics
        agent: Row | None = None
        pending = GrpcCounters()
        m.grpc_streams.inc()
        try:
            async for msg in request_iterator:
                kind = msg.WhichOneof("body")
                if agent is None:
                    if kind != "hello":
                        await context.abort(
                            grpc.StatusCode.UNAUTHENTICATED, "first message must be hello with the agent token"
                        )
                    agent = await self._agent_for(msg.hello.agent_token, context)
                    continue
                if kind == "heartbeat":
                    await self._flush(agent["id"], True, replace(pending, heartbeats=pending.heartbeats + 1))
                    pending = GrpcCounters()
                    m.heartbeats.labels("grpc").inc()
                    yield pb.ServerMessage(
                        ack=pb.HeartbeatAck(seq=msg.heartbeat.seq, server_time_unix_nanos=time.time_ns())
                    )
                    pushes = self._pushes(agent["id"])
                    for push in pushes:
                        yield push
                    pending = replace(pending, pushes=pending.pushes + len(pushes))
                elif kind == "task_progress":
                    state = msg.task_progress.state
                    m.task_updates.labels(_TASK_STATE_NAMES.get(state, "unspecified")).inc()
                    if state == pb.TASK_STATE_SUCCEEDED:
                        pending = replace(pending, task_results=pending.task_results + 1)
                    elif state == pb.TASK_STATE_FAILED:
                        pending = replace(
                            pending, task_results=pending.task_results + 1, task_failures=pending.task_failures + 1
                        )
                elif kind == "check_result":
                    passed = msg.check_result.passed
                    m.check_results.labels("pass" if passed else "fail").inc()
                    pending = replace(
                        pending,
                        check_results=pending.check_results + 1,
                        check_failures=pending.check_failures + (0 if passed else 1),
                    )
                elif kind == "query_result":
                    result = msg.query_result
                    outcome = "error" if result.error else QUERY_KIND_NAMES.get(result.kind, "unspecified")
                    m.query_results.labels(outcome).inc()
        finally:
            m.grpc_streams.dec()
            if agent is not None and pending:
                await self._flush(agent["id"], False, pending)

    async def SubmitInventory(
        self, request_iterator: AsyncIterator[pb.InventoryChunk], context: Any
    ) -> pb.InventorySummary:
        agent: Row | None = None
        chunks = packages = 0
        request_id = ""
        meta = dict(context.invocation_metadata() or ())
        async for chunk in request_iterator:
            if agent is None:
                token = chunk.agent_token or bearer_token(meta.get("authorization")) or ""
                agent = await self._agent_for(token, context)
            chunks += 1
            packages += len(chunk.packages)
            request_id = request_id or chunk.request_id
        if agent is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no inventory chunks received")
        assert agent is not None
        self.state.metrics.inventory_packages.inc(packages)
        await self._flush(agent["id"], False, GrpcCounters(inventory_packages=packages))
        return pb.InventorySummary(
            agent_id=agent["id"], request_id=request_id, chunks_received=chunks, packages_received=packages
        )


    async def Terminal(self, request_iterator: AsyncIterator[pb.TerminalFrame], context: Any) -> None:
        """A session the agent opened for a pushed TerminalRequest: count its
        output, and end it once the agent half-closes (a clean close)."""
        m = self.state.metrics
        agent: Row | None = None
        async for frame in request_iterator:
            if agent is None:
                agent = await self._agent_for(frame.agent_token, context)
                if self._sessions.get(frame.session_id) != agent["id"]:
                    await context.abort(grpc.StatusCode.NOT_FOUND, "no terminal session was requested with this id")
                del self._sessions[frame.session_id]
                m.terminal_opened.inc()
            m.terminal_bytes.inc(len(frame.data))
        if agent is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no terminal frames received")
        m.terminal_closed.inc()


def build_grpc_server(state: AppState, listen: str) -> tuple[grpc.aio.Server, int]:
    """The AgentIngest server on ``listen``: TLS (and mTLS) as the config says."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_AgentIngestServicer_to_server(IngestServicer(state), server)  # type: ignore[no-untyped-call]
    credentials = server_credentials(state.config)
    port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    if not port:
        raise OSError(f"cannot listen for gRPC on {listen}")
    return server, port
