"""Shared fixtures: a stub HTTP server in its own process, CLI helpers, and the
session's PostgreSQL server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.postgres import PgServer, postgres_server

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Never test stale code: in an editable install the compiled hot-path
    modules shadow their sources, so a source edited since the build would
    go untested."""
    from fleetload._build import stale_modules

    stale = stale_modules()
    if stale:
        pytest.exit(f"compiled modules older than their source: {', '.join(stale)}; rebuild "
                    "(pip install -e .) or delete them (find src -name '*.so' -delete)",
                    returncode=4)


@dataclass
class StubServer:
    url: str
    proc: subprocess.Popen[str]

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
            data: dict[str, int] = json.loads(r.read())
        return data


def start_stub() -> StubServer:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.stubserver"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r}")
    return StubServer(f"http://127.0.0.1:{int(line.split()[1])}", proc)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = start_stub()
    yield server
    server.proc.terminate()
    server.proc.wait(5)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> CliResult:
    """Run the real ``fleetload`` command in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "fleetload", *args], cwd=cwd or ROOT,
                       capture_output=True, text=True, timeout=timeout, env=full_env,
                       check=False)
    return CliResult(p.returncode, p.stdout, p.stderr)


# -- PostgreSQL ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL (tests/support/postgres.py): FLEETLOAD_TEST_PG_URL,
    else a server on 127.0.0.1:5432, else a throwaway cluster; ``url`` is None
    (and ``reason`` says why) when none can be had."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_server_url(pg_server: PgServer) -> str:
    """A PostgreSQL server URL (an admin connection: tests create and drop their
    own databases); the test is skipped, with the reason, when there is none."""
    if pg_server.url is None:
        pytest.skip(pg_server.reason)
    return pg_server.url


# Runs made once per session and shared by the baseline, report and results tests.
from tests.support.runs import (  # noqa: E402, F401
    copy_run,
    fast_run,
    results_root,
    shared_stub,
    slow_run,
    store,
)
