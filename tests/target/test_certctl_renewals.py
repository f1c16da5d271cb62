"""Renewals in the certctl profile against the fleetplane profile: bulk renew
(one page, unknown ids, unassigned AwaitingCSR jobs), agent keygen and the CSR
that moves a job on, the scheduler's renewal check, and API seeding."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import cert_name, seed_database
from fleetplane.seed_api import seed_via_api

from .client import Api
from .conftest import BACKENDS, launch

QUIET = ["--renewal-workers", "0"]
SEEDED = 120
RENEW_KEYS = {"total_matched", "total_enqueued", "total_skipped", "total_failed", "enqueued_jobs", "errors"}


def db_of(t: RunningTarget) -> str:
    return t.argv[t.argv.index("--db") + 1]


def agent_csr() -> str:
    from fleetload.fleet.http_agent import agent_csr as make

    return make()


@pytest.fixture(scope="module", params=BACKENDS)
def renew_pair(request: pytest.FixtureRequest, new_database: Callable[[str], str]
               ) -> Iterator[tuple[Api, Api]]:  # fmt: skip
    """(certctl, fleetplane), no renewal workers, 120 fixture certificates
    seeded after start-up (so the start-up renewal check found nothing)."""
    backend = request.param
    certctl = launch(new_database, backend, profile="certctl", rate_limit=False, extra_args=QUIET)
    fleet = launch(new_database, backend, extra_args=QUIET)
    try:
        for t in (certctl, fleet):
            seed_database(db_of(t), certs=SEEDED, agents=3)
        yield Api(certctl.url, certctl.api_key), Api(fleet.url, fleet.api_key)
    finally:
        certctl.stop()
        fleet.stop()


def ids_of(api: Api, names: list[str]) -> list[str]:
    body = api.get("/api/v1/certificates?per_page=500&sort=name").json
    by_name = {c["name"]: c["id"] for c in body["data"]}
    return [by_name[n] for n in names]


def test_bulk_renew_criteria_match_one_page_certctl(renew_pair: tuple[Api, Api]) -> None:
    certctl, _ = renew_pair
    r = certctl.post("/api/v1/certificates/bulk-renew", {"team_id": "t-platform"})
    assert r.status == 200 and set(r.json) == RENEW_KEYS
    assert (r.json["total_matched"], r.json["total_enqueued"]) == (50, 50)  # one page of 120
    renewing = certctl.get("/api/v1/certificates?status=RenewalInProgress&per_page=1").json["total"]
    assert renewing == 50
    jobs = [certctl.get(f"/api/v1/jobs/{j['job_id']}").json for j in r.json["enqueued_jobs"]]
    assert {j["status"] for j in jobs} == {"AwaitingCSR"} and {j["agent_id"] for j in jobs} == {None}
    # The same page again: all 50 are renewing now, skipped; the other 70 are never reached.
    again = certctl.post("/api/v1/certificates/bulk-renew", {"team_id": "t-platform"}).json
    assert (again["total_matched"], again["total_enqueued"], again["total_skipped"]) == (50, 0, 50)


def test_bulk_renew_criteria_match_everything_fleetplane(renew_pair: tuple[Api, Api]) -> None:
    _, fleet = renew_pair
    r = fleet.post("/api/v1/certificates/bulk-renew", {"team_id": "t-platform"})
    assert r.status == 200 and set(r.json) == RENEW_KEYS
    assert (r.json["total_matched"], r.json["total_enqueued"]) == (SEEDED, SEEDED)
    job = fleet.get(f"/api/v1/jobs/{r.json['enqueued_jobs'][0]['job_id']}").json
    assert job["status"] == "Pending" and job["agent_id"].startswith("ag-loadtest-")


def test_unknown_ids(renew_pair: tuple[Api, Api]) -> None:
    certctl, fleet = renew_pair
    body = {"certificate_ids": ["mc-nope-1", "mc-nope-2"]}
    quiet = certctl.post("/api/v1/certificates/bulk-renew", body).json
    assert (quiet["total_matched"], quiet["total_failed"], quiet["errors"]) == (0, 0, [])
    loud = fleet.post("/api/v1/certificates/bulk-renew", body).json
    assert loud["total_failed"] == 2
    assert loud["errors"][0] == {"certificate_id": "mc-nope-1", "error": "certificate not found"}


def test_awaiting_csr_until_the_agent_csr(renew_pair: tuple[Api, Api]) -> None:
    certctl, _ = renew_pair
    cert_id = ids_of(certctl, [cert_name(SEEDED)])[0]  # outside the page renewed above
    r = certctl.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [cert_id]}).json
    job_id = r["enqueued_jobs"][0]["job_id"]
    time.sleep(0.3)
    assert certctl.get(f"/api/v1/jobs/{job_id}").json["status"] == "AwaitingCSR"  # nobody moves it
    assert certctl.get("/api/v1/jobs?status=AwaitingCSR&per_page=1").json["total"] >= 1
    csr = certctl.post("/api/v1/agents/ag-loadtest-00001/csr", {"csr_pem": agent_csr(), "certificate_id": cert_id})
    assert csr.status == 202 and csr.json == {"status": "csr_signed"}
    job = certctl.get(f"/api/v1/jobs/{job_id}").json
    assert job["status"] == "Completed" and job["completed_at"]
    cert = certctl.get(f"/api/v1/certificates/{cert_id}").json
    assert cert["status"] == "Active" and cert["last_renewed_at"]


def test_awaiting_csr_reported_on_the_agent_path(renew_pair: tuple[Api, Api]) -> None:
    certctl, _ = renew_pair
    cert_id = ids_of(certctl, [cert_name(SEEDED - 1)])[0]
    job_id = certctl.post("/api/v1/certificates/bulk-renew",
                          {"certificate_ids": [cert_id]}).json["enqueued_jobs"][0]["job_id"]  # fmt: skip
    r = certctl.post(f"/api/v1/agents/ag-loadtest-00002/jobs/{job_id}/status",
                     {"status": "Failed", "error": "no key"})  # fmt: skip
    assert r.status == 200 and r.json == {"status": "updated"}
    assert certctl.get(f"/api/v1/jobs/{job_id}").json["status"] == "Failed"
    assert certctl.get(f"/api/v1/certificates/{cert_id}").json["status"] == "Failed"


def test_workers_stand_in_for_agent_csrs(certctl_api: Api, uid: str) -> None:
    """With renewal workers (the shared certctl target has two), AwaitingCSR
    jobs are completed as if the agents had sent their CSRs."""
    cert = certctl_api.post("/api/v1/certificates", {
        "name": f"w-{uid}", "common_name": f"w-{uid}.example.com", "owner_id": "o-alice",
        "team_id": "t-platform", "issuer_id": "iss-local", "renewal_policy_id": "rp-standard"}).json
    job_id = certctl_api.post("/api/v1/certificates/bulk-renew",
                              {"certificate_ids": [cert["id"]]}).json["enqueued_jobs"][0]["job_id"]  # fmt: skip
    deadline = time.monotonic() + 10
    while certctl_api.get(f"/api/v1/jobs/{job_id}").json["status"] != "Completed":
        assert time.monotonic() < deadline, "the workers never completed the AwaitingCSR job"
        time.sleep(0.05)


def test_keygen_server_starts_jobs_pending(new_database: Callable[[str], str]) -> None:
    env = {**os.environ, "CERTCTL_KEYGEN_MODE": "server"}
    with start_target(new_database("sqlite"), profile="certctl", rate_limit=False, env=env,
                      extra_args=QUIET) as t:  # fmt: skip
        assert "keygen=server" in t.banner
        seed_database(db_of(t), certs=2, agents=0)
        api = Api(t.url, t.api_key)
        r = api.post("/api/v1/certificates/bulk-renew", {"team_id": "t-platform"}).json
        assert api.get(f"/api/v1/jobs/{r['enqueued_jobs'][0]['job_id']}").json["status"] == "Pending"


@pytest.mark.parametrize("backend", BACKENDS)
def test_renewal_check_at_start_up(backend: str, new_database: Callable[[str], str]) -> None:
    """Seeded before start: certctl's scheduler takes every certificate expiring
    within 31 days (the whole 30-day fixture) before serving; fleetplane does not."""
    for profile, moved in (("certctl", 20), ("fleetplane", 0)):
        db = new_database(backend)
        seed_database(db, certs=20, agents=0)
        with start_target(db, profile=profile, rate_limit=False, extra_args=QUIET) as t:
            api = Api(t.url, t.api_key)
            renewing = api.get("/api/v1/certificates?status=RenewalInProgress&per_page=1").json["total"]
            pending = api.get("/api/v1/jobs?status=Pending&per_page=1").json["total"]
            assert (renewing, pending) == (moved, moved), profile
            if profile == "certctl":
                assert "renewals-at-start=20" in t.banner and "renewal-check=every 3600s" in t.banner


def test_renewal_check_off_and_periodic(new_database: Callable[[str], str]) -> None:
    db = new_database("sqlite")
    seed_database(db, certs=5, agents=0)
    with start_target(db, profile="certctl", rate_limit=False,
                      extra_args=[*QUIET, "--renewal-check-interval", "0"]) as t:  # fmt: skip
        assert "renewal-check=off renewals-at-start=0" in t.banner
    with start_target(new_database("sqlite"), profile="certctl", rate_limit=False,
                      extra_args=[*QUIET, "--renewal-check-interval", "500ms"]) as t:  # fmt: skip
        seed_database(db_of(t), certs=4, agents=0)  # after the start-up check
        api = Api(t.url, t.api_key)
        deadline = time.monotonic() + 10
        while api.get("/api/v1/certificates?status=RenewalInProgress&per_page=1").json["total"] < 4:
            assert time.monotonic() < deadline, "the periodic renewal check never ran"
            time.sleep(0.1)
        # A certificate already renewing is not given a second job.
        time.sleep(1.2)
        assert api.get("/api/v1/jobs?per_page=1").json["total"] == 4


def test_seed_through_the_api_against_certctl(new_database: Callable[[str], str]) -> None:
    """Idempotent although certctl answers a duplicate name with a 500, and
    complete although its limiter (here 20/s, burst 10) answers 429s."""
    with start_target(new_database("sqlite"), profile="certctl", rate_limit=20, rate_limit_burst=10,
                      extra_args=QUIET) as t:  # fmt: skip
        first = seed_via_api(t.url, t.api_key, certs=25, agents=10, concurrency=4)
        assert (first.certs_added, first.agents_added) == (25, 10)
        again = seed_via_api(t.url, t.api_key, certs=25, agents=10, concurrency=4)
        assert (again.certs_added, again.certs_skipped, again.agents_skipped) == (0, 25, 10)
