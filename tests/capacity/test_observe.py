"""``--observe``: each kind against a real server, and the spec parsing."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetload.capacity.observe import build_observers
from fleetload.capacity.observe.postgres import PostgresObserver
from fleetload.capacity.observe.process import ProcessObserver, generator_observer
from fleetload.capacity.observe.prometheus import PrometheusObserver
from fleetload.errors import ConfigError
from tests.support.postgres import PgServer

from .conftest import SCRIPTS, run_cli


def two_samples(observer: Any) -> list[dict[str, float]]:
    async def go() -> list[dict[str, float]]:
        try:
            first = await observer.sample()
            await asyncio.sleep(0.3)
            return [first, await observer.sample()]
        finally:
            await observer.close()

    return asyncio.run(go())


def test_spec_parsing_and_errors() -> None:
    obs = build_observers(("prometheus=http://u:pw@127.0.0.1:1/metrics?token=abc#a_total,b",
                           "postgres=postgresql://me:secret@127.0.0.1:5432/db", f"process={os.getpid()}"))
    sources = [o.source for o in obs]
    assert sources[0].startswith("prometheus:http://127.0.0.1:1/metrics")
    assert sources[1] == "postgres" and sources[2] == f"process:{os.getpid()}"
    assert not any("pw" in s or "secret" in s or "abc" in s for s in sources)
    assert isinstance(obs[0], PrometheusObserver) and obs[0].wanted == frozenset({"a_total", "b"})
    two = build_observers(("postgres=postgresql://a@h1/x", "postgres=postgresql://b:pw@h2/y"))
    assert [o.source for o in two] == ["postgres:h1/x", "postgres:h2/y"]
    for bad in ("prometheus", "nope=1", "prometheus=ftp://x", "postgres=mysql://x",
                "process=", "process=999999999", "prometheus=http://x/metrics#"):
        with pytest.raises(ConfigError):
            build_observers((bad,))


def test_prometheus_against_the_reference_target(target: Any) -> None:
    obs = PrometheusObserver(target.url + "/metrics")
    _, second = two_samples(obs)
    assert second["fleetplane_db_pool_size"] == 4
    assert "fleetplane_db_pool_in_use" in second and "fleetplane_db_pool_waiting" in second
    # histograms are reduced: no buckets, a rate once there are two samples
    assert not any("_bucket" in k for k in second)
    assert "fleetplane_http_request_duration_seconds:rate" in second
    assert all(isinstance(v, float) for v in second.values())
    chosen = PrometheusObserver(target.url + "/metrics", ("fleetplane_db_pool_in_use",))
    assert set(two_samples(chosen)[1]) == {"fleetplane_db_pool_in_use"}
    capped = PrometheusObserver(target.url + "/metrics", max_series=3)
    values = two_samples(capped)[1]
    assert len(values) == 4 and values["prometheus_series_dropped"] > 0


def test_process_by_pid_and_by_name(target: Any) -> None:
    first, second = two_samples(ProcessObserver(str(target.pid)))
    assert "cpu_pct" not in first and second["cpu_pct"] >= 0
    assert second["rss_mb"] > 10 and second["threads"] >= 1 and second["open_files"] > 3
    assert second["processes"] == 1
    by_name = two_samples(ProcessObserver("fleetplane"))[1]  # `python -m fleetplane target`
    assert by_name["processes"] >= 1
    gen = two_samples(generator_observer())[1]
    assert gen["processes"] >= 1 and "cpu_max_pct" in gen
    with pytest.raises(RuntimeError):
        two_samples(ProcessObserver("no-such-process-name-xyz"))


def test_postgres_observer(pg_server_url: str) -> None:
    first, second = two_samples(PostgresObserver(pg_server_url))
    assert second["max_connections"] > 0
    assert 0 <= second["connections_used_pct"] <= 100
    assert "xact:rate" in second and "xact:rate" not in first


def test_run_with_every_observer_writes_observations(target: Any, tmp_path: Path,
                                                      pg_server: PgServer) -> None:
    PG_URL = pg_server.url
    out = tmp_path / "run"
    specs = ["--observe", f"prometheus={target.url}/metrics#fleetplane_db_pool_in_use",
             "--observe", f"process={target.pid}"]
    if PG_URL:
        specs += ["--observe", f"postgres={PG_URL}"]
    r = run_cli("run", str(SCRIPTS / "work.py"), "--target", target.url, "--rate", "20",
                "--duration", "3s", "--quiet", "--out", str(out), *specs)
    assert r.code in (0, 99), r.stderr  # /work is a 404 on the reference target: fine here
    rows = [json.loads(line) for line in (out / "observations.jsonl").read_text().splitlines()]
    sources = {row["source"] for row in rows}
    assert f"process:{target.pid}" in sources
    assert any(s.startswith("prometheus:") for s in sources)
    assert ("postgres" in sources) == bool(PG_URL)
    assert all(-1 < row["t"] < 10 for row in rows)  # one clock with the timeline
    meta = json.loads((out / "meta.json").read_text())
    assert len(meta["observers"]) == len(sources)
