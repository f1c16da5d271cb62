"""/api/v1/agents: register, read, list, heartbeat, retire, poll work."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleetplane import validate as v
from fleetplane.api import serialize
from fleetplane.api.common import (
    app_state,
    etag_response,
    json_response,
    list_body,
    list_params,
    path_id,
    query_text,
)
from fleetplane.body import read_object
from fleetplane.config import ONLINE_WINDOW_S
from fleetplane.db import Tx
from fleetplane.ids import new_id
from fleetplane.problems import InvalidField, Problem
from fleetplane.repo import agents as repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.state import AppState
from fleetplane.timeutil import fmt, now, now_str
from fleetplane.tls_peer import names_hostname, peer_cert_names


def online_since() -> str:
    return fmt(now() - timedelta(seconds=ONLINE_WINDOW_S))


def build_row(body: dict[str, Any], *, transport: str, status: str = "Active") -> dict[str, Any]:
    agent_id = v.text(body, "id", max_len=128)
    if agent_id is not None and not v.identifier(agent_id):
        raise InvalidField("id", "must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
    name = v.required_text(body, "name", max_len=255)
    hostname = v.required_text(body, "hostname", max_len=253)
    row = {
        "id": agent_id or new_id("ag"),
        "name": name,
        "hostname": hostname,
        "os": v.text(body, "os", max_len=64),
        "architecture": v.text(body, "architecture", max_len=64),
        "version": v.text(body, "version", max_len=64),
    }
    labels = v.string_map(body, "labels")
    stamp = now_str()
    row.update(
        labels=json.dumps(labels, ensure_ascii=False, sort_keys=True),
        run_id=labels.get("run_id"),
        status=status,
        transport=transport,
        registered_at=stamp,
        last_heartbeat_at=stamp if status == "Active" else None,
    )
    return row


async def create(request: Request) -> Response:
    st = app_state(request)
    body = await read_object(request)
    assert body is not None
    row = build_row(body, transport="rest")
    if st.config.client_ca is not None:
        names = peer_cert_names(request.scope)
        if names is None or not names_hostname(names, row["hostname"]):
            st.metrics.registrations.labels("rest", "refused").inc()
            raise Problem(403, f"client certificate does not name {row['hostname']}")
    async with st.db.transaction() as tx:
        conflict = await repo.insert(tx, row)
        stored = None if conflict else await repo.get(tx, row["id"])
    if conflict:
        st.metrics.registrations.labels("rest", "conflict").inc()
        raise Problem(409, f"an agent with this {conflict} already exists ({row[conflict]!r})")
    assert stored is not None
    st.metrics.registrations.labels("rest", "approved").inc()
    return json_response(serialize.agent(stored, online_since()), 201, {"Location": f"/api/v1/agents/{row['id']}"})


async def get(request: Request) -> Response:
    st = app_state(request)
    agent_id = path_id(request, "id")
    async with st.db.transaction(write=False) as tx:
        row = await repo.get(tx, agent_id)
    if row is None:
        raise Problem(404, f"agent {agent_id!r} not found")
    return etag_response(request, serialize.agent(row, online_since()))


async def list_(request: Request) -> Response:
    st = app_state(request)
    status = query_text(request, "status", repo.API_STATUSES)
    sort, spec = list_params(request, repo.SORTABLE, "name")
    since = online_since()
    async with st.db.transaction(write=False) as tx:
        result = await repo.list_page(tx, status, since, sort, spec)
    return etag_response(request, list_body(result, spec, [serialize.agent(r, since) for r in result.rows]))


async def refuse_inactive(st: AppState, tx: Tx, agent_id: str, failure: str) -> None:
    """404/410/403 for an unknown, retired or pending agent. certctl answers an
    unknown agent with a generic 500 (``failure``), a retired one with 410."""
    status = await repo.status_of(tx, agent_id)
    if status is None:
        if st.config.prof.unknown_agent_status == 500:
            raise Problem(500, failure)
        raise Problem(404, f"agent {agent_id!r} not found")
    if status == "Retired":
        raise Problem(410, f"agent {agent_id!r} is retired")
    if status == "Pending":
        raise Problem(403, f"agent {agent_id!r} is awaiting approval")


async def heartbeat(request: Request) -> Response:
    st = app_state(request)
    agent_id = path_id(request, "id")
    body = await read_object(request, required=False) or {}
    version = v.text(body, "version", max_len=64)
    async with st.db.transaction() as tx:
        if not await repo.heartbeat(tx, agent_id, now_str(), version):
            await refuse_inactive(st, tx, agent_id, "Failed to record heartbeat")
    st.metrics.heartbeats.labels("rest").inc()
    return json_response({"status": "heartbeat_recorded"})


async def retire(request: Request) -> Response:
    st = app_state(request)
    agent_id = path_id(request, "id")
    async with st.db.transaction() as tx:
        if not await repo.retire(tx, agent_id, now_str()) and await repo.status_of(tx, agent_id) is None:
            raise Problem(404, f"agent {agent_id!r} not found")
    return Response(status_code=204)


async def work(request: Request) -> Response:
    """Claim (mark Running) this agent's pending jobs and return them, with the
    jobs waiting for its CSR (left AwaitingCSR: the CSR moves them on).

    The shape is the profile's: ``{"data","total"}`` or certctl's ``{"jobs","count"}``.
    """
    st = app_state(request)
    agent_id = path_id(request, "id")
    async with st.db.transaction() as tx:
        await refuse_inactive(st, tx, agent_id, "Failed to get pending work")
        rows = await jobs_repo.claim_for_agent(tx, agent_id, now_str())
        rows += await jobs_repo.awaiting_csr_for_agent(tx, agent_id)
    prof = st.config.prof
    return json_response({prof.work_items_key: [serialize.job(r) for r in rows], prof.work_count_key: len(rows)})
