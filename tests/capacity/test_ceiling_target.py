"""The ceiling search against the real reference target, with its database
pool made the binding constraint on purpose: ``--db-latency 20ms`` holds every
connection 20 ms longer, so a pool of 4 serves at most 4 / 0.02 = 200 reads/s
(far below the target's CPU limit), and ``--unhealthy-after-overload 2`` keeps
``/healthz`` at 503 for 2 s after the pool queue overflowed, so the cooldown
gate has something real to wait for.

PostgreSQL (a fresh database on the session's server, ``pg_server``, dropped
afterwards) when there is one, else SQLite: the load is reads, which take a pooled
connection on both backends (SQLite writes would serialize on its writer lock).
Short steps (1 s warm-up + 2 s window), at most 6 of them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.postgres import PgServer

from .conftest import SCRIPTS, run_cli

POOL = 4
LATENCY_S = 0.02
CAPACITY = POOL / LATENCY_S  # 200 transactions/s


@pytest.fixture
def slow_target(tmp_path: Path, pg_server: PgServer) -> Iterator[Any]:
    from fleetplane.launch import start_target

    base = pg_server.url
    db, name = None, None
    if base is not None:
        import psycopg

        name = f"fleetload_ceiling_{secrets.token_hex(4)}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(base)
        db = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    else:
        db = "sqlite:///" + str(tmp_path / "fleetplane.db").lstrip("/")
    try:
        with start_target(db, pool_size=POOL, extra_args=[
                "--db-latency", f"{LATENCY_S * 1000:g}ms", "--unhealthy-after-overload", "2",
                "--renewal-workers", "0"]) as t:
            yield t
    finally:
        if base is not None and name is not None:
            import psycopg

            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_ceiling_names_the_database_pool_and_waits_for_health(slow_target: Any,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "c"
    r = run_cli("ceiling", str(SCRIPTS / "list_certs.py"), "--target", slow_target.url,
                "--token", slow_target.api_key, "--slo", "p(99)<100",
                "--slo", "http_req_failed:rate<0.01", "--from", "50", "--to", "800",
                "--factor", "4", "--precision", "0.25", "--max-steps", "6",
                "--step-duration", "2s", "--warmup", "1s", "--cooldown-max", "15s",
                "--observe", f"prometheus={slow_target.url}/metrics",
                "--out", str(out), timeout=90)
    assert r.code == 0, r.stderr + r.stdout
    rep: dict[str, Any] = json.loads((out / "ceiling.json").read_text())
    assert rep["status"] in ("found", "max-steps"), rep["headline"]
    ceiling, bad = rep["ceiling_rate"], rep["first_bad_rate"]
    assert ceiling is not None and bad is not None, rep["headline"]
    assert 50 <= ceiling < CAPACITY, rep["headline"]
    assert bad <= 4 * CAPACITY
    constraint = rep["constraint"]
    assert constraint["kind"] == "db-pool", constraint
    assert "database pool" in constraint["text"] and f"/{POOL} in use" in constraint["text"]
    assert "binding constraint: database pool" in r.stdout
    # Every breaking step left /healthz at 503 for 2 s: the next step waited.
    cooldowns = [s["cooldown"] for s in rep["steps"] if s["cooldown"]]
    assert cooldowns and all(c["recovered"] for c in cooldowns), cooldowns
    waited = [c for c in cooldowns if c["polls"] >= 2 and c["waited_s"] >= 1.0]
    assert waited, cooldowns
