"""The HTTP agents' jobs: a job waiting for the agent's key (AwaitingCSR, agent
key generation) is answered with a CSR, any other is reported on certctl's
per-agent path; both finish the renewal on the target."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import seed_database

from .conftest import API_KEY, api_get, finish_fleet, start_fleet

AGENTS = 6
CERTS = 12


def _post(t: RunningTarget, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(t.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {t.api_key}",
                                          "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _served(t: RunningTarget, route: str) -> float:
    """How many requests the target counted on a route template."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(t.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text)
               if f.name == "fleetplane_http_request_duration_seconds"
               for s in f.samples if s.name.endswith("_count") and s.labels["route"] == route)  # fmt: skip


@pytest.fixture(params=["agent", "server"])
def keygen_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningTarget]:
    """No built-in workers: only the fleet's agents finish the jobs."""
    db = "sqlite:///" + str(tmp_path / "t.db").lstrip("/")
    seed_database(db, certs=CERTS, agents=0)
    with start_target(db, auth_secret=API_KEY,
                      extra_args=["--keygen-mode", request.param, "--renewal-workers", "0"]) as t:  # fmt: skip
        yield t


def test_agents_finish_their_jobs(keygen_target: RunningTarget, tmp_path: Path) -> None:
    t = keygen_target
    keygen = t.argv[t.argv.index("--keygen-mode") + 1]
    proc = start_fleet(t, tmp_path, "--transport", "http", "--agents", str(AGENTS),
                       "--heartbeat-interval", "1s", "--work-poll-interval", "1s", "--duration", "6s")
    try:
        deadline = time.monotonic() + 20
        while api_get(t, "/api/v1/agents?status=Online&per_page=1")["total"] < AGENTS:
            assert time.monotonic() < deadline, "the fleet never came online"
            time.sleep(0.1)
        certs = [c["id"] for c in api_get(t, f"/api/v1/certificates?per_page={CERTS}")["data"]]
        renew = _post(t, "/api/v1/certificates/bulk-renew", {"certificate_ids": certs})
        jobs = [j["job_id"] for j in renew["enqueued_jobs"]]
        assert len(jobs) == CERTS
        r = finish_fleet(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert r.code == 0, r.stderr[-3000:]
    states = {api_get(t, f"/api/v1/jobs/{j}")["status"] for j in jobs}
    assert states == {"Completed"}
    assert api_get(t, "/api/v1/certificates?status=Active&per_page=1")["total"] == CERTS
    assert r.fleet["pushes"].get("job") == CERTS and r.fleet["errors"] == []
    if keygen == "agent":
        assert _served(t, "/api/v1/agents/{id}/csr") == CERTS
        assert _served(t, "/api/v1/agents/{id}/jobs/{job_id}/status") == 0
    else:
        assert _served(t, "/api/v1/agents/{id}/csr") == 0
        assert _served(t, "/api/v1/agents/{id}/jobs/{job_id}/status") == 2 * CERTS  # Running, Completed
