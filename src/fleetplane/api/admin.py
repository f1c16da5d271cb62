"""Admin cleanup of everything a load-test run created.

Convention: a load tool tags what it creates with its run id, certificates via
``tags.run_id`` and agents via ``labels.run_id`` (or a hostname containing the
run id). Deleting the run removes those agents and certificates plus the
certificates' jobs, through the same repository calls as normal deletes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fleetplane.api.common import app_state, json_response, path_id
from fleetplane.auth import WWW_AUTHENTICATE, bearer_token, key_matches
from fleetplane.problems import Problem
from fleetplane.repo import agents as agents_repo
from fleetplane.repo import certificates as certs_repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.timeutil import now_str


async def delete_run(request: Request) -> Response:
    st = app_state(request)
    admin_key = st.config.admin_key
    if not admin_key:
        raise Problem(503, "admin endpoints are disabled: start the target with --admin-key")
    if not key_matches(bearer_token(request.headers.get("authorization")), (admin_key,)):
        raise Problem(401, "missing or invalid admin key", headers={"WWW-Authenticate": WWW_AUTHENTICATE})
    run_id = path_id(request, "run_id")
    if not run_id.strip():
        raise Problem(400, "run_id must not be blank")
    async with st.db.transaction() as tx:
        cert_ids = await certs_repo.ids_for_run(tx, run_id)
        certs, jobs = await certs_repo.delete_many(tx, cert_ids)
        agent_ids = await agents_repo.ids_for_run(tx, run_id)
        await jobs_repo.release_agents(tx, agent_ids, now_str())
        agents = await agents_repo.remove_many(tx, agent_ids)
    return json_response(
        {"run_id": run_id, "agents_removed": agents, "certificates_removed": certs, "jobs_removed": jobs}
    )
