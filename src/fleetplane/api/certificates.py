"""/api/v1/certificates: create, read, list, delete, bulk renew."""

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
from fleetplane.ari import issuer_aki
from fleetplane.body import read_object
from fleetplane.config import ONLINE_WINDOW_S
from fleetplane.ids import new_id, new_serial
from fleetplane.problems import InvalidField, Problem
from fleetplane.repo import agents as agents_repo
from fleetplane.repo import certificates as repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.repo.certificates import CertFilters
from fleetplane.repo.lookups import Lookups
from fleetplane.timeutil import fmt, normalize, now


def _lookup(body: dict[str, Any], field: str, known: Any, what: str) -> str:
    value = v.required_text(body, field, max_len=128)
    if value not in known:
        raise InvalidField(field, f"unknown {what} {value!r}")
    return value


def build_row(body: dict[str, Any], lookups: Lookups) -> dict[str, Any]:
    """Validate a create body in documented field order; the first bad field wins."""
    name = v.required_text(body, "name", max_len=255)
    common_name = v.common_name(body)
    owner_id = _lookup(body, "owner_id", lookups.owners, "owner")
    team_id = _lookup(body, "team_id", lookups.teams, "team")
    issuer_id = _lookup(body, "issuer_id", lookups.issuers, "issuer")
    policy_id = _lookup(body, "renewal_policy_id", lookups.policies, "renewal policy")
    profile_id = v.text(body, "profile_id", max_len=128)
    if profile_id is not None and profile_id not in lookups.profile_ids:
        raise InvalidField("profile_id", f"unknown profile {profile_id!r}")
    sans = v.string_list(body, "sans")
    for i, san in enumerate(sans):
        v.common_name({f"sans[{i}]": san}, f"sans[{i}]")
    environment = v.text(body, "environment", max_len=64)
    tags = v.string_map(body, "tags")
    t = now()
    expires_at = v.timestamp(body, "expires_at") or fmt(t + timedelta(days=lookups.policies[policy_id]))
    stamp = fmt(t)
    return {
        "id": new_id("mc"),
        "name": name,
        "common_name": common_name,
        "sans": json.dumps(sans, ensure_ascii=False),
        "environment": environment,
        "owner_id": owner_id,
        "team_id": team_id,
        "issuer_id": issuer_id,
        "renewal_policy_id": policy_id,
        "profile_id": profile_id,
        "status": "Pending",
        "expires_at": expires_at,
        "tags": json.dumps(tags, ensure_ascii=False, sort_keys=True),
        "run_id": tags.get("run_id"),
        "serial_hex": format(new_serial(), "x"),
        "aki_hex": issuer_aki(issuer_id).hex(),
        "created_at": stamp,
        "updated_at": stamp,
    }


async def create(request: Request) -> Response:
    st = app_state(request)
    body = await read_object(request)
    assert body is not None
    row = build_row(body, st.lookups)
    async with st.db.transaction() as tx:
        if not await repo.insert(tx, row):
            if st.config.prof.duplicate_certificate_status == 500:
                # certctl: the unique violation escapes as a generic failure.
                raise Problem(500, "Failed to create certificate")
            raise Problem(409, f"a certificate named {row['name']!r} already exists")
        stored = await repo.get(tx, row["id"])
    assert stored is not None
    st.metrics.certificates_created.inc()
    return json_response(serialize.certificate(stored), 201, {"Location": f"/api/v1/certificates/{row['id']}"})


async def get(request: Request) -> Response:
    st = app_state(request)
    cert_id = path_id(request, "id")
    async with st.db.transaction(write=False) as tx:
        row = await repo.get(tx, cert_id)
    if row is None:
        raise Problem(404, f"certificate {cert_id!r} not found")
    return etag_response(request, serialize.certificate(row))


async def delete(request: Request) -> Response:
    st = app_state(request)
    cert_id = path_id(request, "id")
    async with st.db.transaction() as tx:
        removed, _jobs = await repo.delete_many(tx, [cert_id])
    if not removed:
        raise Problem(404, f"certificate {cert_id!r} not found")
    return Response(status_code=204)


def _time_param(request: Request, name: str) -> str | None:
    raw = query_text(request, name)
    if raw is None:
        return None
    try:
        return normalize(raw)
    except (ValueError, OverflowError):
        raise InvalidField(name, "must be an RFC 3339 timestamp") from None


async def list_(request: Request) -> Response:
    st = app_state(request)
    filters = CertFilters(
        status=query_text(request, "status", repo.STATUSES),
        environment=query_text(request, "environment"),
        owner_id=query_text(request, "owner_id"),
        team_id=query_text(request, "team_id"),
        issuer_id=query_text(request, "issuer_id"),
        expires_before=_time_param(request, "expires_before"),
        expires_after=_time_param(request, "expires_after"),
    )
    sort, spec = list_params(request, repo.SORTABLE, "created_at")
    async with st.db.transaction(write=False) as tx:
        result = await repo.list_page(tx, filters, sort, spec)
    data = [serialize.certificate(r) for r in result.rows]
    return etag_response(request, list_body(result, spec, data))


_CRITERIA = ("team_id", "issuer_id", "owner_id", "profile_id")


async def bulk_renew(request: Request) -> Response:
    """Enqueue renewal jobs for the matched certificates and mark them RenewalInProgress.

    fleetplane: every match, jobs round robin to online agents, unknown ids in
    ``errors``. certctl: criteria match one page (50), unknown ids dropped,
    jobs unassigned and AwaitingCSR under agent keygen.
    """
    st = app_state(request)
    prof = st.config.prof
    body = await read_object(request)
    assert body is not None
    criteria = {c: v.text(body, c, max_len=128) for c in _CRITERIA}
    ids = None
    if body.get("certificate_ids") is not None:
        ids = v.string_list(body, "certificate_ids", max_items=10_000)
        ids = list(dict.fromkeys(ids))
    if ids is None and all(value is None for value in criteria.values()):
        raise Problem(
            400,
            "at least one criterion is required: team_id, issuer_id, owner_id, profile_id or certificate_ids",
        )
    t = now()
    stamp = fmt(t)
    online_since = fmt(t - timedelta(seconds=ONLINE_WINDOW_S))
    job_status = "AwaitingCSR" if st.config.keygen_mode == "agent" else "Pending"
    async with st.db.transaction() as tx:
        rows = await repo.find_for_bulk_renew(tx, certificate_ids=ids, page=prof.bulk_renew_page, **criteria)
        errors: list[dict[str, str]] = []
        if prof.bulk_renew_reports_unknown_ids:
            found = {r["id"] for r in rows}
            errors = [{"certificate_id": cid, "error": "certificate not found"} for cid in ids or () if cid not in found]
        eligible = [r["id"] for r in rows if r["status"] not in prof.bulk_renew_skips]
        agents: list[str] = []
        if eligible and prof.bulk_renew_assigns_agents:
            agents = await agents_repo.online_ids(tx, online_since)
        jobs = []
        for cid in eligible:
            agent = agents[next(st.rr) % len(agents)] if agents else None
            jobs.append(
                {"id": new_id("job"), "type": "Renewal", "certificate_id": cid, "agent_id": agent,
                 "status": job_status, "created_at": stamp, "updated_at": stamp}
            )  # fmt: skip
        await jobs_repo.insert_many(tx, jobs)
        await repo.set_status_many(tx, eligible, "RenewalInProgress", stamp)
    if jobs:
        st.jobs_ready.set()
    return json_response(
        {
            "total_matched": len(rows),
            "total_enqueued": len(jobs),
            "total_skipped": len(rows) - len(eligible),
            "total_failed": len(errors),
            "enqueued_jobs": [{"certificate_id": j["certificate_id"], "job_id": j["id"]} for j in jobs],
            "errors": errors,
        }
    )
