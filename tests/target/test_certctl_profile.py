"""Where the certctl profile differs from the fleetplane profile, over real HTTP:
probes, error bodies, certificates, agents, the work poll, job reports, metrics."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from fleetplane.cli import target as target_cmd
from fleetplane.launch import RunningTarget, start_target

from .client import Api, Resp
from .conftest import cert_body

CSR_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"


def agent_body(uid: str) -> dict[str, str]:
    return {"id": f"ag-{uid}", "name": f"ag-{uid}", "hostname": f"{uid}.fleet.local"}


# -- probes ------------------------------------------------------------------------------
def test_probes_certctl(certctl_api: Api) -> None:
    r = certctl_api.get("/health", key=None)
    assert r.status == 200 and r.json == {"status": "healthy"}
    r = certctl_api.get("/ready", key=None)
    assert r.status == 200 and r.json == {"status": "ready", "db": "reachable"}
    for path in ("/healthz", "/readyz", "/metrics", "/version"):
        # Not served: certctl's auth runs before its router, so without a key it is 401 ...
        r = certctl_api.get(path, key=None)
        assert r.is_certctl_text(401, "Authorization header required"), (path, r)
        assert r.headers["www-authenticate"] == 'Bearer realm="certctl"'
        # ... and with one, Go's ServeMux 404.
        r = certctl_api.get(path)
        assert r.status == 404 and r.body == b"404 page not found\n", path
        assert r.content_type == "text/plain; charset=utf-8"
    v = certctl_api.get("/api/v1/version", key=None).json
    assert v["profile"] == "certctl" and "grpc" not in v


def test_probes_fleetplane(api: Api) -> None:
    assert api.get("/healthz", key=None).json == {"status": "ok"}
    assert api.get("/readyz", key=None).json == {"status": "ready"}
    for path in ("/health", "/ready"):
        assert api.get(path, key=None).is_problem(404), path
    v = api.get("/version", key=None).json
    assert v["profile"] == "fleetplane" and ":" in v["grpc"]


def test_metrics_path_certctl(certctl_api: Api) -> None:
    r = certctl_api.get("/api/v1/metrics/prometheus")
    assert r.status == 200 and b"fleetplane_http_request_duration_seconds" in r.body
    assert certctl_api.get("/api/v1/metrics/prometheus", key=None).status == 401


def test_metrics_path_fleetplane(api: Api) -> None:
    assert api.get("/metrics", key=None).status == 200
    assert api.get("/api/v1/metrics/prometheus").is_problem(404)


def test_no_grpc_ingest_in_certctl(certctl_target: RunningTarget) -> None:
    assert "grpc=off" in certctl_target.banner
    host, port = certctl_target.grpc_target.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=2):
        pass


# -- errors ------------------------------------------------------------------------------
def test_auth_failures_certctl(certctl_api: Api) -> None:
    assert certctl_api.get("/api/v1/certificates", key=None).is_certctl_text(401, "Authorization header required")
    r = certctl_api.get("/api/v1/certificates", key=None, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.is_certctl_text(401, "Invalid Authorization header format, expected: Bearer <token>")
    assert certctl_api.get("/api/v1/certificates", key="wrong").is_certctl_text(401, "Invalid API key")
    assert certctl_api.post("/api/v1/agents/x/heartbeat", key="nope").is_certctl_text(401, "Invalid API key")
    assert certctl_api.get("/api/v1/certificates", key="wrong").headers["x-request-id"]


def test_error_bodies_certctl(certctl_api: Api) -> None:
    r = certctl_api.get("/api/v1/certificates/mc-nope")
    assert r.is_certctl_error(404, "certificate 'mc-nope' not found"), r
    r = certctl_api.post("/api/v1/certificates", {"name": "x"})
    assert r.is_certctl_error(400) and "common_name" in r.json["message"]
    assert certctl_api.post("/api/v1/certificates", raw=b"{nope").is_certctl_error(400)
    a, b = certctl_api.get("/api/v1/certificates/x"), certctl_api.get("/api/v1/certificates/x")
    assert a.json["request_id"] != b.json["request_id"]


def test_error_bodies_fleetplane(api: Api) -> None:
    r = api.get("/api/v1/certificates/mc-nope")
    assert r.is_problem(404) and "x-request-id" not in r.headers
    assert api.get("/api/v1/certificates", key="wrong").is_problem(401)


# -- certificates ------------------------------------------------------------------------
def _create_twice(api: Api, uid: str) -> Resp:
    body = cert_body(f"dup-{uid}", environment=f"env-{uid}")
    r = api.post("/api/v1/certificates", body)
    assert r.status == 201 and r.json["status"] == "Pending"
    again = api.post("/api/v1/certificates", body)
    assert api.get(f"/api/v1/certificates?environment=env-{uid}").json["total"] == 1
    return again


def test_duplicate_name_certctl(certctl_api: Api, uid: str) -> None:
    assert _create_twice(certctl_api, uid).is_certctl_error(500, "Failed to create certificate")


def test_duplicate_name_fleetplane(api: Api, uid: str) -> None:
    r = _create_twice(api, uid)
    assert r.is_problem(409) and "already exists" in r.json["detail"]


# -- agents ------------------------------------------------------------------------------
def test_unknown_agent_certctl(certctl_api: Api, uid: str) -> None:
    r = certctl_api.post(f"/api/v1/agents/ag-{uid}/heartbeat", {"version": "1"})
    assert r.is_certctl_error(500, "Failed to record heartbeat"), r
    assert certctl_api.get(f"/api/v1/agents/ag-{uid}/work").is_certctl_error(500, "Failed to get pending work")
    r = certctl_api.post(f"/api/v1/agents/ag-{uid}/jobs/job-x/status", {"status": "Completed"})
    assert r.is_certctl_error(500, "Failed to update job status")


def test_unknown_agent_fleetplane(api: Api, uid: str) -> None:
    assert api.post(f"/api/v1/agents/ag-{uid}/heartbeat", {"version": "1"}).is_problem(404)
    assert api.get(f"/api/v1/agents/ag-{uid}/work").is_problem(404)


def _retire(api: Api, uid: str) -> Resp:
    assert api.post("/api/v1/agents", agent_body(uid)).status == 201
    assert api.post(f"/api/v1/agents/ag-{uid}/heartbeat").json == {"status": "heartbeat_recorded"}
    assert api.delete(f"/api/v1/agents/ag-{uid}").status == 204
    return api.post(f"/api/v1/agents/ag-{uid}/heartbeat")


def test_retired_agent_is_gone_certctl(certctl_api: Api, uid: str) -> None:
    assert _retire(certctl_api, uid).is_certctl_error(410)


def test_retired_agent_is_gone_fleetplane(api: Api, uid: str) -> None:
    assert _retire(api, uid).is_problem(410)


def test_work_poll_shape_certctl(certctl_api: Api, uid: str) -> None:
    assert certctl_api.post("/api/v1/agents", agent_body(uid)).status == 201
    assert certctl_api.get(f"/api/v1/agents/ag-{uid}/work").json == {"jobs": [], "count": 0}


def test_work_poll_shape_fleetplane(api: Api, uid: str) -> None:
    assert api.post("/api/v1/agents", agent_body(uid)).status == 201
    assert api.get(f"/api/v1/agents/ag-{uid}/work").json == {"data": [], "total": 0}


def test_work_poll_claims_assigned_jobs_fleetplane(new_database: Callable[[str], str], uid: str) -> None:
    """fleetplane assigns bulk-renew jobs to online agents; the poll claims them
    and the agent reports on certctl's per-agent path."""
    with start_target(new_database("sqlite"), extra_args=["--renewal-workers", "0"]) as t:
        api = Api(t.url, t.api_key)
        assert api.post("/api/v1/agents", agent_body(uid)).status == 201  # the one online agent
        cert = api.post("/api/v1/certificates", cert_body(f"w-{uid}")).json
        renew = api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": [cert["id"]]}).json
        job = renew["enqueued_jobs"][0]["job_id"]
        work = api.get(f"/api/v1/agents/ag-{uid}/work").json
        assert work["total"] == 1 and work["data"][0]["id"] == job and work["data"][0]["status"] == "Running"
        r = api.post(f"/api/v1/agents/ag-{uid}/jobs/{job}/status", {"status": "Completed"})
        assert r.status == 200 and r.json == {"status": "updated"}
        assert api.get(f"/api/v1/jobs/{job}").json["status"] == "Completed"
        assert api.get(f"/api/v1/certificates/{cert['id']}").json["status"] == "Active"
        r = api.post(f"/api/v1/agents/ag-{uid}/jobs/{job}/status", {"status": "Running"})
        assert r.is_problem(409) and "cannot move from Completed" in r.json["detail"]


def test_agent_status_report_needs_a_status(certctl_api: Api, uid: str) -> None:
    assert certctl_api.post("/api/v1/agents", agent_body(uid)).status == 201
    r = certctl_api.post(f"/api/v1/agents/ag-{uid}/jobs/job-x/status", {})
    assert r.is_certctl_error(400, "Status is required")
    r = certctl_api.post(f"/api/v1/agents/ag-{uid}/jobs/job-x/status", {"status": "Completed"})
    assert r.is_certctl_error(500, "Failed to update job status")  # unknown job: certctl's 500


def test_csr_must_be_a_certificate_request(certctl_api: Api, uid: str) -> None:
    assert certctl_api.post("/api/v1/agents", agent_body(uid)).status == 201
    r = certctl_api.post(f"/api/v1/agents/ag-{uid}/csr", {"csr_pem": f"{CSR_HEADER}\nnope"})
    assert r.is_certctl_error(400, "csr_pem is not a PEM-encoded certificate request")


# -- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(("args", "env", "message"), [
    (["--profile", "nope"], {}, "'nope' is not one of"),
    (["--profile", "certctl"], {"CERTCTL_RATE_LIMIT_RPS": "fast"},
     "CERTCTL_RATE_LIMIT_RPS='fast': expected a positive number"),
    (["--profile", "certctl"], {"CERTCTL_RATE_LIMIT_ENABLED": "maybe"},
     "CERTCTL_RATE_LIMIT_ENABLED='maybe': expected true or false"),
    (["--profile", "certctl"], {"CERTCTL_KEYGEN_MODE": "cloud"},
     "CERTCTL_KEYGEN_MODE='cloud': expected agent or server"),
    (["--rate-limit", "5", "--no-rate-limit"], {}, "--rate-limit and --no-rate-limit contradict"),
])  # fmt: skip
def test_bad_profile_input_is_a_usage_error(args: list[str], env: dict[str, str], message: str) -> None:
    r = CliRunner().invoke(target_cmd, args, env=env)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_start_target_refuses_an_unknown_profile(new_database: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="unknown profile 'nope': expected fleetplane or certctl"):
        start_target(new_database("sqlite"), profile="nope")
