"""Contract: bulk renew, jobs, the renewal worker, agent work polling."""

from __future__ import annotations

import time

from .client import Api
from .conftest import cert_body


def _certs(api: Api, prefix: str, n: int) -> list[str]:
    return [api.post("/api/v1/certificates", cert_body(f"{prefix}-{i}")).json["id"] for i in range(n)]


def test_bulk_renew_needs_criteria(api: Api) -> None:
    assert api.post("/api/v1/certificates/bulk-renew", {}).is_problem(400)
    assert api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": "x"}).is_problem(400)


def test_bulk_renew_enqueues_then_skips(quiet_api: Api, uid: str) -> None:
    ids = _certs(quiet_api, f"br-{uid}", 3)
    r = quiet_api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [*ids, "mc-missing"]})
    assert r.status == 200, r.body
    res = r.json
    assert set(res) == {"total_matched", "total_enqueued", "total_skipped", "total_failed", "enqueued_jobs", "errors"}
    assert (res["total_matched"], res["total_enqueued"], res["total_skipped"], res["total_failed"]) == (3, 3, 0, 1)
    assert {j["certificate_id"] for j in res["enqueued_jobs"]} == set(ids)
    assert res["errors"] == [{"certificate_id": "mc-missing", "error": "certificate not found"}]
    for cid in ids:
        assert quiet_api.get(f"/api/v1/certificates/{cid}").json["status"] == "RenewalInProgress"
    job = quiet_api.get(f"/api/v1/jobs/{res['enqueued_jobs'][0]['job_id']}").json
    assert job["status"] == "Pending" and job["type"] == "Renewal"
    again = quiet_api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": ids}).json
    assert (again["total_matched"], again["total_enqueued"], again["total_skipped"]) == (3, 0, 3)
    jobs = quiet_api.get(f"/api/v1/jobs?certificate_id={ids[0]}").json
    assert jobs["total"] == 1 and set(jobs) == {"data", "total", "page", "per_page"}


def test_bulk_renew_by_team(quiet_api: Api, uid: str) -> None:
    _certs(quiet_api, f"bt-{uid}", 2)
    r = quiet_api.post("/api/v1/certificates/bulk-renew", {"team_id": "t-platform", "issuer_id": "iss-local"}).json
    assert r["total_enqueued"] >= 2
    assert quiet_api.post("/api/v1/certificates/bulk-renew", {"team_id": "t-nobody"}).json["total_matched"] == 0


def test_agent_work_and_job_status(quiet_api: Api, uid: str) -> None:
    agent = quiet_api.post("/api/v1/agents", {"name": f"w-{uid}", "hostname": f"w-{uid}"}).json
    cid = _certs(quiet_api, f"wk-{uid}", 1)[0]
    job_id = quiet_api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [cid]}).json["enqueued_jobs"][0]["job_id"]
    job = quiet_api.get(f"/api/v1/jobs/{job_id}").json
    assert job["agent_id"] is not None  # round-robin over online agents
    work = quiet_api.get(f"/api/v1/agents/{job['agent_id']}/work")
    assert work.status == 200 and job_id in [j["id"] for j in work.json["data"]]
    assert quiet_api.get(f"/api/v1/jobs/{job_id}").json["status"] == "Running"
    assert quiet_api.get(f"/api/v1/agents/{job['agent_id']}/work").json["data"] == []
    r = quiet_api.post(f"/api/v1/jobs/{job_id}/status", {"status": "Running", "message": "50%"})
    assert r.status == 200 and r.json["message"] == "50%"
    r = quiet_api.post(f"/api/v1/jobs/{job_id}/status", {"status": "Completed", "message": "done"})
    assert r.status == 200 and r.json["status"] == "Completed" and r.json["completed_at"]
    cert = quiet_api.get(f"/api/v1/certificates/{cid}").json
    assert cert["status"] == "Active" and cert["last_renewed_at"]
    assert quiet_api.post(f"/api/v1/jobs/{job_id}/status", {"status": "Failed"}).is_problem(409)
    assert quiet_api.post(f"/api/v1/jobs/{job_id}/status", {"status": "Pending"}).is_problem(400)
    assert quiet_api.post("/api/v1/jobs/job-nope/status", {"status": "Running"}).is_problem(404)
    assert quiet_api.get(f"/api/v1/agents/{agent['id']}/work").status == 200
    assert quiet_api.get("/api/v1/agents/ag-nope/work").is_problem(404)


def test_failed_job_marks_certificate_failed(quiet_api: Api, uid: str) -> None:
    cid = _certs(quiet_api, f"fj-{uid}", 1)[0]
    job_id = quiet_api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [cid]}).json["enqueued_jobs"][0]["job_id"]
    assert quiet_api.post(f"/api/v1/jobs/{job_id}/status", {"status": "Failed", "message": "acme error"}).status == 200
    assert quiet_api.get(f"/api/v1/certificates/{cid}").json["status"] == "Failed"
    # A failed certificate is eligible again.
    assert quiet_api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [cid]}).json["total_enqueued"] == 1


def test_jobs_list_filters(quiet_api: Api) -> None:
    assert quiet_api.get("/api/v1/jobs?status=Bogus").is_problem(400)
    assert quiet_api.get("/api/v1/jobs?type=Renewal&per_page=1").json["per_page"] == 1
    assert quiet_api.get("/api/v1/jobs/job-nope").is_problem(404)


def test_renewal_worker_drains(api: Api, uid: str) -> None:
    ids = _certs(api, f"dr-{uid}", 5)
    res = api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": ids}).json
    assert res["total_enqueued"] == 5
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses = [api.get(f"/api/v1/jobs/{j['job_id']}").json["status"] for j in res["enqueued_jobs"]]
        if all(s == "Completed" for s in statuses):
            break
        time.sleep(0.1)
    assert all(s == "Completed" for s in statuses)
    for cid in ids:
        c = api.get(f"/api/v1/certificates/{cid}").json
        assert c["status"] == "Active" and c["last_renewed_at"]
