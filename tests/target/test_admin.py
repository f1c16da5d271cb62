"""Admin run cleanup removes exactly the run's rows."""

from __future__ import annotations

from fleetplane.launch import RunningTarget

from .client import Api
from .conftest import ADMIN_KEY, cert_body


def _total(api: Api, path: str) -> int:
    return int(api.get(f"{path}?per_page=1").json["total"])


def test_cleanup_removes_exactly_the_run(quiet_target: RunningTarget, uid: str) -> None:
    api = Api(quiet_target.url, quiet_target.api_key)
    run, other = f"run-{uid}", f"other-{uid}"
    mine = [api.post("/api/v1/certificates", cert_body(f"cl-{uid}-{i}", tags={"run_id": run})).json["id"] for i in range(3)]
    theirs = api.post("/api/v1/certificates", cert_body(f"cl-{uid}-o", tags={"run_id": other})).json["id"]
    untagged = api.post("/api/v1/certificates", cert_body(f"cl-{uid}-u")).json["id"]
    a1 = api.post("/api/v1/agents", {"name": f"cl-a1-{uid}", "hostname": "x", "labels": {"run_id": run}}).json["id"]
    a2 = api.post("/api/v1/agents", {"name": f"cl-a2-{uid}", "hostname": f"lt-{run}-0001.local"}).json["id"]
    a3 = api.post("/api/v1/agents", {"name": f"cl-a3-{uid}", "hostname": "y", "labels": {"run_id": other}}).json["id"]
    renew = api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [*mine[:2], theirs]}).json
    assert renew["total_enqueued"] == 3
    certs_before, jobs_before = _total(api, "/api/v1/certificates"), _total(api, "/api/v1/jobs")

    r = api.delete(f"/admin/loadtest/runs/{run}", key=ADMIN_KEY)
    assert r.status == 200, r.body
    assert r.json == {"run_id": run, "agents_removed": 2, "certificates_removed": 3, "jobs_removed": 2}
    for cid in mine:
        assert api.get(f"/api/v1/certificates/{cid}").status == 404
    for aid in (a1, a2):
        assert api.get(f"/api/v1/agents/{aid}").status == 404
    assert api.get(f"/api/v1/certificates/{theirs}").status == 200
    assert api.get(f"/api/v1/certificates/{untagged}").status == 200
    assert api.get(f"/api/v1/agents/{a3}").status == 200
    assert _total(api, "/api/v1/certificates") == certs_before - 3
    assert _total(api, "/api/v1/jobs") == jobs_before - 2
    again = api.delete(f"/admin/loadtest/runs/{run}", key=ADMIN_KEY).json
    assert again["certificates_removed"] == again["agents_removed"] == again["jobs_removed"] == 0


def test_cleanup_needs_admin_key(quiet_target: RunningTarget) -> None:
    api = Api(quiet_target.url, quiet_target.api_key)
    r = api.delete("/admin/loadtest/runs/x")
    assert r.is_problem(401) and r.headers["www-authenticate"].startswith("Bearer")
    assert api.delete("/admin/loadtest/runs/x", key=None).is_problem(401)
    # The admin key also works on /api.
    assert api.get("/api/v1/jobs", key=ADMIN_KEY).status == 200
