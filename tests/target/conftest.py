"""Fixtures for the fleetplane contract tests.

Targets run as subprocesses on 127.0.0.1 (one per backend per session, plus a
few dedicated ones); PostgreSQL tests use fresh databases created on the
session's server (``pg_server``, tests/support/postgres.py) and dropped afterwards.
"""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from fleetplane.launch import RunningTarget, start_target  # noqa: E402
from tests.support.postgres import PgServer  # noqa: E402

from .client import Api  # noqa: E402

ADMIN_KEY = "test-admin-key"
API_KEY = "test-api-key"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def new_database(tmp_path_factory: pytest.TempPathFactory,
                 pg_server: PgServer) -> Iterator[Callable[[str], str]]:
    """Factory: a fresh empty database URL for a backend ("sqlite" | "postgres")."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "fleetplane.db").lstrip("/")
        base = pg_server.url
        if base is None:
            pytest.skip(pg_server.reason)
        import psycopg

        name = f"fleetplane_test_{secrets.token_hex(4)}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_db(base, name)

    yield make
    base = pg_server.url
    if base and created:
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def launch(new_database: Callable[[str], str], backend: str, **kw: Any) -> RunningTarget:
    """A dedicated target on a fresh database of ``backend`` (the caller stops it)."""
    return _launch(new_database, backend, **kw)


def _launch(new_database: Callable[[str], str], backend: str, **kw: Any) -> RunningTarget:
    kw.setdefault("auth_secret", API_KEY)
    return start_target(new_database(backend), **kw)


@pytest.fixture(scope="session", params=BACKENDS)
def target(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """The shared target per backend: admin key set, fast renewal workers."""
    t = _launch(
        new_database, request.param, admin_key=ADMIN_KEY, pool_size=5,
        extra_args=["--renewal-workers", "2", "--renewal-latency", "0.01"],
    )  # fmt: skip
    t.backend = request.param  # type: ignore[attr-defined]
    yield t
    t.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def quiet_target(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """No renewal workers: jobs stay Pending until an agent handles them."""
    t = _launch(new_database, request.param, admin_key=ADMIN_KEY, extra_args=["--renewal-workers", "0"])
    yield t
    t.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def certctl_target(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """The certctl profile, its rate limiter off (as load tests run it), fast
    renewal workers; agent keygen and the hourly renewal check as certctl's."""
    t = _launch(
        new_database, request.param, profile="certctl", rate_limit=False, admin_key=ADMIN_KEY,
        pool_size=5, extra_args=["--renewal-workers", "2", "--renewal-latency", "0.01"],
    )  # fmt: skip
    t.backend = request.param  # type: ignore[attr-defined]
    yield t
    t.stop()


@pytest.fixture(scope="session")
def certctl_api(certctl_target: RunningTarget) -> Api:
    return Api(certctl_target.url, certctl_target.api_key)


@pytest.fixture(scope="session")
def api(target: RunningTarget) -> Api:
    return Api(target.url, target.api_key)


@pytest.fixture(scope="session")
def quiet_api(quiet_target: RunningTarget) -> Api:
    return Api(quiet_target.url, quiet_target.api_key)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:12]


def cert_body(name_: str, /, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name_,
        "common_name": f"{name_}.example.com",
        "owner_id": "o-alice",
        "team_id": "t-platform",
        "issuer_id": "iss-local",
        "renewal_policy_id": "rp-standard",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}
