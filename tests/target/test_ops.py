"""Health, version, metrics, OpenAPI, rate limiting, TLS, restart, signals."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from fleetplane.launch import RunningTarget, start_target

from .client import Api
from .conftest import API_KEY, cert_body


def test_health_ready_version(api: Api) -> None:
    assert api.get("/healthz", key=None).json == {"status": "ok"}
    assert api.get("/readyz", key=None).json == {"status": "ready"}
    v = api.get("/version", key=None).json
    assert v["name"] == "fleetplane" and v["version"]


def test_metrics(api: Api, uid: str) -> None:
    api.post("/api/v1/certificates", cert_body(f"met-{uid}"))
    a = api.post("/api/v1/agents", {"name": f"met-{uid}", "hostname": "m"}).json
    api.post(f"/api/v1/agents/{a['id']}/heartbeat")
    r = api.get("/metrics", key=None)
    assert r.status == 200 and r.content_type.startswith("text/plain")
    text = r.body.decode()
    for name in (
        "fleetplane_http_request_duration_seconds_bucket", "fleetplane_http_requests_in_flight",
        "fleetplane_db_pool_size", "fleetplane_db_pool_in_use", "fleetplane_db_pool_waiting",
        "fleetplane_agent_heartbeats_total", "fleetplane_agent_registrations_total", "fleetplane_jobs",
    ):  # fmt: skip
        assert name in text, name
    # Route templates, never raw ids, label the histogram.
    assert 'route="/api/v1/agents/{id}/heartbeat"' in text
    assert a["id"] not in text
    assert re.search(r'fleetplane_agent_heartbeats_total\{transport="rest"\} [1-9]', text)
    assert re.search(r"fleetplane_db_pool_size [1-9]", text)


def test_openapi(api: Api) -> None:
    doc = api.get("/openapi.json", key=None).json
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/certificates", "/api/v1/certificates/bulk-renew", "/api/v1/agents/{id}/heartbeat",
                 "/api/v1/jobs/{id}/status", "/acme/profile/{profile}/renewal-info/{certid}"):  # fmt: skip
        assert path in doc["paths"]


@pytest.fixture(scope="module")
def limited(new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """Rate limited, no admin key (for the 503 case), HTTPS."""
    t = start_target(
        new_database("sqlite"), auth_secret=f"{API_KEY},second-key", rate_limit=5, tls=True,
        extra_args=["--rate-limit-burst", "5"],
    )  # fmt: skip
    yield t
    t.stop()


def test_tls_and_second_key(limited: RunningTarget) -> None:
    assert limited.url.startswith("https://")
    api = Api(limited.url, "second-key", limited.ssl_context())
    assert api.get("/healthz").status == 200
    assert "second-key" not in limited.banner and "api-key=" in limited.banner


def test_rate_limit(limited: RunningTarget) -> None:
    api = Api(limited.url, limited.api_key, limited.ssl_context())
    statuses = [api.get("/api/v1/certificates?per_page=1") for _ in range(12)]
    limited_resp = [r for r in statuses if r.status == 429]
    assert limited_resp, [r.status for r in statuses]
    r = limited_resp[0]
    assert r.is_problem(429) and int(r.headers["retry-after"]) >= 1
    acme = [api.get("/acme/profile/default/new-nonce", key=None) for _ in range(12)]
    hit = [r for r in acme if r.status == 429]
    assert hit and hit[0].json["type"] == "urn:ietf:params:acme:error:rateLimited"
    # Health endpoints are never limited.
    assert all(api.get("/healthz").status == 200 for _ in range(10))


def test_admin_disabled_without_key(limited: RunningTarget) -> None:
    api = Api(limited.url, limited.api_key, limited.ssl_context())
    assert api.delete("/admin/loadtest/runs/r1", key="anything").is_problem(503)


def test_restart_keeps_data_and_ports(new_database: Callable[[str], str], uid: str) -> None:
    db = new_database("sqlite")
    with start_target(db, extra_args=["--renewal-workers", "0"]) as t:
        api = Api(t.url, t.api_key)
        cid = api.post("/api/v1/certificates", cert_body(f"rs-{uid}")).json["id"]
        old_pid = t.pid
        t.kill()
        assert t.proc is not None and t.proc.returncode == -9
        t.restart()
        assert t.pid != old_pid
        assert api.get(f"/api/v1/certificates/{cid}").status == 200
        assert t.stop() == 0  # SIGTERM is a clean stop


def test_start_failure_reports_stderr() -> None:
    from fleetplane.launch import TargetStartError

    with pytest.raises(TargetStartError, match="unsupported database URL"):
        start_target("mysql://nope", startup_timeout=20)
