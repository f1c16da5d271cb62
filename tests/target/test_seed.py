"""Seeding the certctl load-test fixtures: counts, idempotence, both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from fleetplane.launch import start_target
from fleetplane.seed import seed_database
from fleetplane.seed_api import seed_via_api

from .client import Api
from .conftest import API_KEY, BACKENDS, SRC


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_full_fixture_is_idempotent(backend: str, new_database: Callable[[str], str]) -> None:
    db = new_database(backend)
    first = seed_database(db, certs=10_000, agents=5_000)
    print(f"\n[{backend}] {first.summary()}")
    assert (first.certs_added, first.agents_added) == (10_000, 5_000)
    again = seed_database(db, certs=10_000, agents=5_000)
    print(f"[{backend}] {again.summary()}")
    assert (again.certs_added, again.agents_added, again.certs_skipped, again.agents_skipped) == (0, 0, 10_000, 5_000)
    more = seed_database(db, certs=10_010, agents=5_000)
    assert more.certs_added == 10
    with start_target(db, auth_secret=API_KEY, extra_args=["--renewal-workers", "0"]) as t:
        api = Api(t.url, t.api_key)
        certs = api.get("/api/v1/certificates?per_page=2&sort=name").json
        assert certs["total"] == 10_010
        c = certs["data"][0]
        assert c["name"] == "loadtest-bulk-00001" and c["status"] == "Active"
        assert (c["issuer_id"], c["owner_id"], c["team_id"], c["renewal_policy_id"]) == (
            "iss-local", "o-alice", "t-platform", "rp-standard")  # fmt: skip
        assert api.get(f"/acme/profile/default/renewal-info/{c['ari_id']}", key=None).status == 200
        assert api.post("/api/v1/agents/ag-loadtest-00042/heartbeat").status == 200
        agents = api.get("/api/v1/agents?status=Online&per_page=1").json
        assert agents["total"] == 5_000
        oses = [api.get(f"/api/v1/agents/ag-loadtest-{i:05d}").json["os"] for i in range(1, 21)]
        assert (oses.count("linux"), oses.count("windows"), oses.count("darwin")) == (16, 2, 2)


def test_seed_cli_and_api(new_database: Callable[[str], str]) -> None:
    db = new_database("sqlite")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-m", "fleetplane", "seed", "--db", db, "--certs", "30", "--agents", "10"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "certificates added 30" in out and "agents added 10" in out
    with start_target(new_database("sqlite"), auth_secret=API_KEY) as t:
        r = seed_via_api(t.url, API_KEY, certs=40, agents=12, concurrency=4)
        assert (r.certs_added, r.agents_added) == (40, 12)
        r = seed_via_api(t.url, API_KEY, certs=40, agents=12, concurrency=4)
        assert (r.certs_added, r.certs_skipped, r.agents_added, r.agents_skipped) == (0, 40, 0, 12)
        api = Api(t.url, t.api_key)
        assert api.get("/api/v1/agents/ag-loadtest-00012").status == 200
        assert api.get("/api/v1/certificates?per_page=1").json["total"] == 40
