"""/api/v1/jobs: list, read, status reports from agents."""

from __future__ import annotations

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
from fleetplane.db import Row
from fleetplane.problems import InvalidField, Problem
from fleetplane.renewal import finish_certificate
from fleetplane.repo import jobs as repo
from fleetplane.repo.jobs import JobFilters
from fleetplane.state import AppState
from fleetplane.timeutil import now_str

REPORTABLE = ("Running", "Completed", "Failed")


async def list_(request: Request) -> Response:
    st = app_state(request)
    filters = JobFilters(
        status=query_text(request, "status", repo.STATUSES),
        type=query_text(request, "type", repo.TYPES),
        certificate_id=query_text(request, "certificate_id"),
        agent_id=query_text(request, "agent_id"),
    )
    sort, spec = list_params(request, repo.SORTABLE, "created_at")
    async with st.db.transaction(write=False) as tx:
        result = await repo.list_page(tx, filters, sort, spec)
    return etag_response(request, list_body(result, spec, [serialize.job(r) for r in result.rows]))


async def get(request: Request) -> Response:
    st = app_state(request)
    job_id = path_id(request, "id")
    async with st.db.transaction(write=False) as tx:
        row = await repo.get(tx, job_id)
    if row is None:
        raise Problem(404, f"job {job_id!r} not found")
    return etag_response(request, serialize.job(row))


async def apply_report(st: AppState, job_id: str, status: str, message: str | None) -> Row:
    """Move a job to a reported status (404 unknown job, 409 not allowed from
    its current status); finishing it finishes its certificate's renewal."""
    if status not in REPORTABLE:
        raise InvalidField("status", f"must be one of {', '.join(REPORTABLE)}")
    async with st.db.transaction() as tx:
        job = await repo.get(tx, job_id)
        if job is None:
            raise Problem(404, f"job {job_id!r} not found")
        current = job["status"]
        if status not in repo.TRANSITIONS.get(current, ()):
            raise Problem(409, f"job {job_id!r} cannot move from {current} to {status}")
        if not await repo.set_status(tx, job_id, current, status, message, now_str()):
            raise Problem(409, f"job {job_id!r} changed concurrently; retry")
        if status in repo.TERMINAL:
            await finish_certificate(tx, job, ok=status == "Completed")
            st.metrics.renewals.labels("agent", status).inc()
        row = await repo.get(tx, job_id)
    assert row is not None
    return row


async def report_status(request: Request) -> Response:
    st = app_state(request)
    job_id = path_id(request, "id")
    body = await read_object(request)
    assert body is not None
    status = v.required_text(body, "status", max_len=32)
    message = v.text(body, "message", max_len=4096)
    return json_response(serialize.job(await apply_report(st, job_id, status, message)))
