"""The agent's side of a job, on certctl's paths: status reports
(``POST /api/v1/agents/{id}/jobs/{job_id}/status``) and CSR submission
(``POST /api/v1/agents/{id}/csr``), which completes a renewal waiting for the
agent's key (AwaitingCSR)."""

from __future__ import annotations

from cryptography import x509
from starlette.requests import Request
from starlette.responses import Response

from fleetplane import validate as v
from fleetplane.api.agents import refuse_inactive
from fleetplane.api.common import app_state, json_response, path_id
from fleetplane.api.jobs import apply_report
from fleetplane.body import read_object
from fleetplane.problems import Problem
from fleetplane.renewal import finish_certificate
from fleetplane.repo import certificates as certs_repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.state import AppState
from fleetplane.timeutil import now_str


def _certctl_failure(st: AppState, p: Problem, failure: str) -> Problem:
    """certctl answers everything but a bad request with a generic 500."""
    if st.config.prof.error_style != "certctl" or p.status in (400, 413, 415):
        return p
    return Problem(500, failure)


async def report_status(request: Request) -> Response:
    st = app_state(request)
    agent_id = path_id(request, "id")
    job_id = path_id(request, "job_id")
    body = await read_object(request)
    assert body is not None
    failure = "Failed to update job status"
    try:
        status = v.text(body, "status", max_len=32)
        if not status:
            raise Problem(400, "Status is required")
        message = v.text(body, "error", max_len=4096) or v.text(body, "message", max_len=4096)
        async with st.db.transaction(write=False) as tx:
            await refuse_inactive(st, tx, agent_id, failure)
        await apply_report(st, job_id, status, message)
    except Problem as p:
        raise _certctl_failure(st, p, failure) from None
    return json_response({"status": "updated"})


def _check_csr(pem: str | None) -> None:
    if not pem:
        raise Problem(400, "csr_pem is required")
    try:
        x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        raise Problem(400, "csr_pem is not a PEM-encoded certificate request") from None


async def submit_csr(request: Request) -> Response:
    """202 ``csr_signed``: the certificate's AwaitingCSR job is Completed and the
    certificate renewed (or, with no job waiting, renewed directly)."""
    st = app_state(request)
    agent_id = path_id(request, "id")
    body = await read_object(request)
    assert body is not None
    failure = "Failed to submit CSR"
    try:
        pem = v.text(body, "csr_pem", max_len=64 * 1024)
        cert_id = v.text(body, "certificate_id", max_len=128)
        _check_csr(pem)
        async with st.db.transaction() as tx:
            await refuse_inactive(st, tx, agent_id, failure)
            if cert_id is None:
                return json_response({"status": "csr_accepted"}, 202)
            if await certs_repo.get(tx, cert_id) is None:
                raise Problem(404, f"certificate {cert_id!r} not found")
            job = await jobs_repo.awaiting_csr_for_certificate(tx, cert_id)
            if job is None:
                await finish_certificate(tx, {"type": "Renewal", "certificate_id": cert_id}, ok=True)
            elif await jobs_repo.set_status(tx, job["id"], "AwaitingCSR", "Completed", "CSR signed", now_str()):
                await finish_certificate(tx, job, ok=True)
                st.metrics.renewals.labels("agent", "Completed").inc()
    except Problem as p:
        raise _certctl_failure(st, p, failure) from None
    return json_response({"status": "csr_signed"}, 202)
